"""The registry hypermodel: any registered cell (users' own too), stacking,
bidirectional layers, task heads, and an untracked search through the tuner."""

from __future__ import annotations

import textwrap

import keras
import numpy as np
import pytest

keras_tuner = pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")

from keras_rnnzoo.tuning import load_spec  # noqa: E402
from keras_rnnzoo.tuning.hypermodel import RegistryHyperModel  # noqa: E402
from keras_rnnzoo.tuning.spec import Choice  # noqa: E402


def space(**values):
    defaults = dict(cell="gru", units=4, depth=1, bidirectional=False, dropout=0.0, learning_rate=0.01, clipnorm=0.0)
    defaults.update(values)
    kinds = dict(cell="str", units="int", depth="int", bidirectional="bool", dropout="float",
                 learning_rate="float", clipnorm="float")
    return {k: Choice(k, kinds[k], values=v if isinstance(v, list) else [v]) for k, v in defaults.items()}


def test_stack_shapes_and_compile():
    model = RegistryHyperModel(space(cell="lstm", depth=2, bidirectional=True, dropout=0.1, clipnorm=1.0),
                               "classification", (7, 3), 5).build(keras_tuner.HyperParameters())
    names = [layer.name for layer in model.layers]
    assert names[1:] == ["bidirectional_0", "dropout_0", "bidirectional_1", "dropout_1", "head"]
    assert model.get_layer("bidirectional_0").output.shape == (None, 7, 8)  # sequences between layers
    assert model.output_shape == (None, 5)
    assert model.optimizer.clipnorm == 1.0
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    assert type(model.get_layer("bidirectional_0").forward_layer.cell).__name__ == "LSTMCell"


def test_regression_head_is_linear():
    model = RegistryHyperModel(space(), "forecasting", (5, 1), 3).build(keras_tuner.HyperParameters())
    assert model.output_shape == (None, 3)
    assert model.get_layer("head").activation.__name__ == "linear"


def test_declared_space_matches_spec(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent("""
        [task]
        type = "classification"
        [data]
        generator = "sequence_classes"
        [space]
        cell = ["gru", "mgu"]
        units = { min = 8, max = 32, step = 8 }
        bidirectional = [false, true]
        learning_rate = { min = 1e-4, max = 1e-2, sampling = "log" }
    """))
    spec = load_spec(path)
    hp = keras_tuner.HyperParameters()
    RegistryHyperModel(spec.space, "classification", (4, 2), 3).build(hp)
    declared = {p.name: p for p in hp.space}
    assert declared["cell"].values == ["gru", "mgu"]
    assert (declared["units"].min_value, declared["units"].max_value, declared["units"].step) == (8, 32, 8)
    assert isinstance(declared["bidirectional"], keras_tuner.engine.hyperparameters.Boolean)
    assert declared["learning_rate"].sampling == "log"
    assert isinstance(declared["depth"], keras_tuner.engine.hyperparameters.Fixed)


def test_users_own_cell_is_searchable(tmp_path, clean_registry):
    @clean_registry.register_cell("scaled_rnn_for_test")
    class ScaledRNNCell(keras.layers.SimpleRNNCell):
        """A user's cell: a SimpleRNN cell registered under its own name."""

    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent("""
        [task]
        type = "classification"
        [data]
        generator = "sequence_classes"
        [space]
        cell = ["scaled_rnn_for_test"]
        units = 3
    """))
    spec = load_spec(path)
    model = RegistryHyperModel(spec.space, "classification", (4, 2), 2).build(keras_tuner.HyperParameters())
    assert isinstance(model.get_layer("rnn_0").cell, ScaledRNNCell)
    history = model.fit(np.zeros((4, 4, 2), "float32"), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_untracked_regression_search_from_npz(tmp_path):
    from keras_rnnzoo.tuning import run_search

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5, 2)).astype("float32")
    np.savez(tmp_path / "reg.npz", x=x, y=x[:, :, 0].sum(axis=1))
    path = tmp_path / "reg.toml"
    path.write_text(textwrap.dedent("""
        name = "reg"
        [task]
        type = "regression"
        [data]
        path = "reg.npz"
        [space]
        cell = ["gru", "simple_rnn"]
        units = 4
        [objective]
        name = "val_mae"
        [oracle]
        type = "grid"
        [budget]
        max_trials = 2
        epochs = 1
    """))
    summary = run_search(load_spec(path, directory=tmp_path / "work"), track=False)
    assert summary["tracking"] is None
    assert [t["status"] for t in summary["trials"]] == ["COMPLETED", "COMPLETED"]
    assert {t["hyperparameters"]["cell"] for t in summary["trials"]} == {"gru", "simple_rnn"}
    assert summary["objective"] == {"name": "val_mae", "direction": "min"}
    scores = [t["score"] for t in summary["trials"]]
    assert scores == sorted(scores)  # leaderboard order: best (lowest) first
    assert not (tmp_path / "work" / "mlflow.db").exists()
