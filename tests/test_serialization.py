"""Every registered cell and every layer survives `model.save` / `load_model`.

Models are saved once (module fixture) on the current backend; then one
fresh process per backend (the current one and the two others) loads them
all with `keras.saving.load_model(path, safe_mode=True)` after
`import keras_rnnzoo` and must reproduce the outputs (1e-5) and the layer
configs. Registered cells come from `keras_rnnzoo.list_cells()`, so new
cells are covered as soon as they register.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import BACKENDS, random_weights, run_python, to_numpy

import keras_rnnzoo
from keras_rnnzoo import layers
from keras_rnnzoo.layers import RecurrentLayer

BATCH, TIME, FEATURES, UNITS = 2, 4, 3, 4


def _layer_classes() -> dict[str, type]:
    """Every `RecurrentLayer` exported by `keras_rnnzoo.layers`."""
    return {
        name: obj
        for name, obj in vars(layers).items()
        if isinstance(obj, type) and issubclass(obj, RecurrentLayer) and obj is not RecurrentLayer
    }


def _json(config) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _models() -> dict[str, keras.Model]:
    """Small models: one per registered cell, one per layer, a few exotic ones."""
    models = {}
    for name in keras_rnnzoo.list_cells():
        cell = keras_rnnzoo.get_cell(name)(UNITS)
        models[f"cell_{name}"] = keras.Sequential(
            [
                keras.Input((TIME, FEATURES)),
                # Unrolled: a Python loop, cheap to run eagerly on every backend.
                keras.layers.RNN(cell, return_sequences=True, unroll=True),
            ],
            name=f"cell_{name}",
        )
    for name, layer_class in _layer_classes().items():
        models[f"layer_{name}"] = keras.Sequential(
            [
                keras.Input((TIME, FEATURES)),
                keras.layers.Masking(),
                layer_class(UNITS, return_sequences=True, go_backwards=True),
                keras.layers.Dense(2),
            ],
            name=f"layer_{name}",
        )
    # Non-default arguments of the standard layers, Bidirectional, stacking.
    inputs = keras.Input((TIME, FEATURES))
    x = keras.layers.Masking()(inputs)
    x = keras.layers.Bidirectional(
        layers.LSTM(
            UNITS,
            return_sequences=True,
            activation="relu",
            recurrent_activation="hard_sigmoid",
            unit_forget_bias=False,
            kernel_regularizer=keras.regularizers.L2(1e-3),
            recurrent_constraint=keras.constraints.MaxNorm(2.0),
            dropout=0.2,
            recurrent_dropout=0.1,
            seed=3,
        ),
        merge_mode="sum",
    )(x)
    x = layers.GRU(UNITS, reset_after=False, use_bias=False, return_sequences=True)(x)
    x, h = layers.SimpleRNN(3, activation="sigmoid", return_state=True, go_backwards=True)(x)
    models["functional_standard"] = keras.Model(inputs, [x, h], name="functional_standard")
    models["stacked_cells"] = keras.Sequential(
        [
            keras.Input((TIME, FEATURES)),
            keras.layers.RNN(
                keras.layers.StackedRNNCells(
                    [keras_rnnzoo.LSTMCell(UNITS), keras_rnnzoo.GRUCell(3, reset_after=False)]
                )
            ),
        ],
        name="stacked_cells",
    )
    for model in models.values():
        random_weights(model)
    return models


_LOADER = """
import json, sys
import numpy as np
import keras
import keras_rnnzoo  # registers every cell and layer

folder = sys.argv[1]
manifest = json.load(open(f"{folder}/manifest.json"))
x = np.load(f"{folder}/inputs.npy")
outputs, configs = {}, {}
for name in manifest:
    model = keras.saving.load_model(f"{folder}/{name}.keras", safe_mode=True)
    result = keras.tree.flatten(model(x))
    for index, tensor in enumerate(result):
        outputs[f"{name}/{index}"] = keras.ops.convert_to_numpy(tensor)
    configs[name] = [
        json.dumps(layer.get_config(), sort_keys=True, default=str) for layer in model.layers
    ]
np.savez(f"{folder}/outputs_{keras.backend.backend()}.npz", **outputs)
json.dump(configs, open(f"{folder}/configs_{keras.backend.backend()}.json", "w"))
print("loaded", len(manifest), "models on", keras.backend.backend())
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Save every model once; return (folder, expected outputs, expected configs)."""
    folder = tmp_path_factory.mktemp("saved_models")
    x = np.random.default_rng(0).normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    x[1, -1] = 0.0  # a masked step for the models that start with Masking
    np.save(folder / "inputs.npy", x)
    expected, configs = {}, {}
    models = _models()
    for name, model in models.items():
        model.save(folder / f"{name}.keras")
        for index, array in enumerate(to_numpy(model(x))):
            expected[f"{name}/{index}"] = array
        configs[name] = [_json(layer.get_config()) for layer in model.layers]
    (folder / "manifest.json").write_text(json.dumps(sorted(models)))
    return folder, expected, configs


@pytest.mark.parametrize("target", BACKENDS)
def test_load_in_fresh_process(saved, target, backend):
    """Saved on this backend, loaded with safe_mode=True on `target`."""
    folder, expected, configs = saved
    run_python(_LOADER, backend=target, args=(str(folder),))
    loaded = np.load(folder / f"outputs_{target}.npz")
    assert sorted(loaded.files) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(
            loaded[key], value, atol=1e-5, rtol=1e-5, err_msg=f"{key}: {backend} -> {target}"
        )
    loaded_configs = json.loads((folder / f"configs_{target}.json").read_text())
    for name, layer_configs in configs.items():
        assert loaded_configs[name] == layer_configs, name


def test_every_cell_and_layer_is_covered(saved):
    _, expected, _ = saved
    names = {key.split("/")[0] for key in expected}
    for cell in keras_rnnzoo.list_cells():
        assert f"cell_{cell}" in names
    assert {"layer_SimpleRNN", "layer_LSTM", "layer_GRU"} <= names


@pytest.mark.parametrize("name", sorted(keras_rnnzoo.list_cells()))
def test_cell_is_registered_with_keras(name):
    cls = keras_rnnzoo.get_cell(name)
    if cls.__module__.startswith("keras_rnnzoo"):
        assert keras.saving.get_registered_name(cls) == f"keras_rnnzoo>{cls.__name__}"
    assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls


@pytest.mark.parametrize("name", sorted(_layer_classes()))
def test_layer_is_registered_with_keras(name):
    cls = _layer_classes()[name]
    assert keras.saving.get_registered_name(cls) == f"keras_rnnzoo>{name}"
    assert keras.saving.get_registered_object(f"keras_rnnzoo>{name}") is cls


@pytest.mark.parametrize("name", sorted(keras_rnnzoo.list_cells()))
def test_cell_config_round_trip(name):
    cls = keras_rnnzoo.get_cell(name)
    cell = cls(UNITS, dropout=0.25, recurrent_dropout=0.5, seed=11, use_bias=False)
    config = cell.get_config()
    clone = cls.from_config(config)
    assert _json(clone.get_config()) == _json(config)
    assert (clone.units, clone.dropout, clone.recurrent_dropout, clone.seed) == (UNITS, 0.25, 0.5, 11)
    assert clone.use_bias is False
    # Through Keras's own (de)serialization too.
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(again) is cls and _json(again.get_config()) == _json(config)


@pytest.mark.parametrize(
    "layer_class, extra",
    [
        (layers.SimpleRNN, {"activation": "relu"}),
        (layers.LSTM, {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
        (layers.GRU, {"reset_after": False, "recurrent_activation": "hard_sigmoid"}),
    ],
)
def test_layer_config_round_trip(layer_class, extra):
    layer = layer_class(
        5,
        return_sequences=True,
        return_state=True,
        go_backwards=True,
        stateful=False,
        unroll=True,
        use_bias=False,
        kernel_initializer="he_normal",
        recurrent_initializer="glorot_uniform",
        kernel_regularizer=keras.regularizers.L1(0.01),
        recurrent_regularizer=keras.regularizers.L2(0.02),
        bias_regularizer="l2",
        activity_regularizer="l1",
        kernel_constraint=keras.constraints.NonNeg(),
        recurrent_constraint=keras.constraints.MaxNorm(3.0),
        bias_constraint=keras.constraints.UnitNorm(),
        dropout=0.1,
        recurrent_dropout=0.2,
        seed=42,
        name="my_layer",
        **extra,
    )
    config = layer.get_config()
    clone = layer_class.from_config(config)
    assert _json(clone.get_config()) == _json(config)
    assert clone.name == "my_layer" and clone.units == 5
    assert (clone.return_sequences, clone.return_state, clone.go_backwards, clone.unroll) == (
        True,
        True,
        True,
        True,
    )
    cell = clone.cell
    assert (cell.dropout, cell.recurrent_dropout, cell.seed, cell.use_bias) == (0.1, 0.2, 42, False)
    for key, value in extra.items():
        assert config[key] == value
    assert isinstance(cell.kernel_constraint, keras.constraints.NonNeg)
    assert isinstance(cell.recurrent_regularizer, keras.regularizers.L2)
    # Keras's built-in accepts the same config keys (drop-in signature).
    keras_class = getattr(keras.layers, layer_class.__name__)
    builtin = keras_class(**config)
    assert builtin.cell.recurrent_dropout == 0.2
