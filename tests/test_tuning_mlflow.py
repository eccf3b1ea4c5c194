"""A tiny search on the embedded SQLite store: parent and child runs, params,
per-epoch metrics, a FAILED run with its traceback, and the registered best model."""

from __future__ import annotations

import textwrap

import keras
import numpy as np
import pytest

pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")
mlflow = pytest.importorskip("mlflow", reason="needs the `tune` extra (mlflow)")

from keras_rnnzoo.cli import main  # noqa: E402
from keras_rnnzoo.tuning import load_spec, run_search  # noqa: E402
from keras_rnnzoo.tuning import tracking  # noqa: E402

# The search and its tracking do not depend on the Keras backend.
pytestmark = pytest.mark.backend_independent

SPEC = """
name = "tiny"
seed = 3
[task]
type = "classification"
[data]
generator = "sequence_classes"
samples = 96
timesteps = 5
features = 2
classes = 3
[space]
cell = ["gru", "broken_for_test"]
units = [4]
learning_rate = [0.01]
[oracle]
type = "grid"
[budget]
max_trials = 2
epochs = 2
batch_size = 32
[tracking]
experiment = "tiny-experiment"
registered_model = "tiny-best"
"""


@pytest.fixture
def broken_cell(clean_registry):
    @clean_registry.register_cell("broken_for_test")
    class BrokenCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            raise RuntimeError("this cell is broken on purpose")

    return BrokenCell


def test_search_is_tracked_in_mlflow(tmp_path, broken_cell, capsys):
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(textwrap.dedent(SPEC))
    spec = load_spec(spec_path, directory=tmp_path / "work")
    summary = run_search(spec)

    uri = summary["tracking"]["tracking_uri"]
    assert uri == f"sqlite:///{(tmp_path / 'work' / 'mlflow.db').as_posix()}"
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny-experiment")
    assert experiment.experiment_id == summary["tracking"]["experiment_id"]
    assert experiment.artifact_location == (tmp_path / "work" / "mlartifacts").as_uri()

    mlflow.set_tracking_uri(uri)
    try:
        frame = mlflow.search_runs([experiment.experiment_id])
    finally:
        mlflow.set_tracking_uri(None)
    assert len(frame) == 3  # one parent, one child per trial
    parents = frame[frame["tags.rnnzoo.role"] == "search"]
    children = frame[frame["tags.rnnzoo.role"] == "trial"]
    assert len(parents) == 1 and len(children) == 2
    parent_id = parents["run_id"].iloc[0]
    assert parent_id == summary["tracking"]["parent_run_id"]
    assert set(children["tags.mlflow.parentRunId"]) == {parent_id}
    assert sorted(children["tags.rnnzoo.trial_id"]) == ["0", "1"]
    assert set(children["tags.rnnzoo.tuner_id"]) == {"tuner0"}
    assert set(children["tags.rnnzoo.project"]) == {"tiny"}
    assert set(children["tags.rnnzoo.oracle"]) == {"grid"}
    assert parents["status"].iloc[0] == "FINISHED"
    assert parents["params.oracle"].iloc[0] == "grid"

    good = children[children["params.cell"] == "gru"].iloc[0]
    bad = children[children["params.cell"] == "broken_for_test"].iloc[0]
    assert good["status"] == "FINISHED" and good["params.units"] == "4" and good["params.learning_rate"] == "0.01"
    assert good["tags.rnnzoo.best"] == "true"
    assert good["metrics.score"] == pytest.approx(summary["best"]["score"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        history = client.get_metric_history(good["run_id"], key)
        assert sorted(m.step for m in history) == [0, 1], key
    best_value = max(m.value for m in client.get_metric_history(good["run_id"], "val_accuracy"))
    assert good["metrics.score"] == pytest.approx(best_value)

    assert bad["status"] == "FAILED" and bad["tags.rnnzoo.trial_status"] == "FAILED"
    traceback_file = client.download_artifacts(bad["run_id"], tracking.TRACEBACK_FILE, str(tmp_path))
    with open(traceback_file) as handle:
        assert "this cell is broken on purpose" in handle.read()

    parent = client.get_run(parent_id)
    assert parent.data.tags[tracking.TAG_BEST_RUN] == good["run_id"]
    assert parent.data.tags[tracking.TAG_BEST_TRIAL] == good["tags.rnnzoo.trial_id"]
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best_value)

    versions = client.search_model_versions("name = 'tiny-best'")
    assert [v.run_id for v in versions] == [good["run_id"]]
    assert summary["best"]["registered_model"] == {"name": "tiny-best", "version": int(versions[0].version)}
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.keras.load_model(f"models:/tiny-best/{versions[0].version}")
    finally:
        mlflow.set_tracking_uri(None)
    x = np.zeros((3, 5, 2), "float32")
    probabilities = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    # Running the finished search again (through the CLI) resumes it: the same
    # leaderboard, no new runs, no new model version.
    capsys.readouterr()
    assert main(["tune", str(spec_path), "--dir", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert "tiny: val_accuracy (max)" in out
    assert good["run_id"][:12] in out and bad["run_id"][:12] in out
    assert f"registered model tiny-best v{versions[0].version}" in out
    assert f"open the MLflow UI: mlflow ui --backend-store-uri {uri}" in out
    assert len(client.search_runs([experiment.experiment_id])) == 3
    assert len(client.search_model_versions("name = 'tiny-best'")) == 1
