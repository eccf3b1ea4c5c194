"""Kill `rnnzoo tune` during a trial, rerun it: the search resumes, the interrupted
trial reruns into its own MLflow run, and every trial has exactly one run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import pytest

pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")
mlflow = pytest.importorskip("mlflow", reason="needs the `tune` extra (mlflow)")

from keras_rnnzoo.tuning import tracking  # noqa: E402

# The search and its tracking do not depend on the Keras backend.
pytestmark = pytest.mark.backend_independent

SPEC = """
name = "resume"
seed = 5
[task]
type = "classification"
[data]
generator = "sequence_classes"
samples = 192
timesteps = 8
features = 2
classes = 3
[space]
cell = ["gru", "lstm", "simple_rnn"]
units = [4, 6]
[oracle]
type = "grid"
[budget]
max_trials = 3
epochs = 10
batch_size = 16
"""
KILL_DURING_TRIAL = "1"


def _tune(spec, work, **kwargs):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "keras_rnnzoo", "tune", str(spec), "--dir", str(work), "--json"]
    return command, env


def _wait_for_running_trial(client, record, trial_id, process, timeout=240):
    """Poll MLflow until `trial_id`'s run is RUNNING and has logged an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        runs = client.search_runs(
            [record.experiment_id],
            filter_string=f"tags.`{tracking.TAG_TRIAL}` = '{trial_id}' and attributes.status = 'RUNNING'",
        )
        if runs and runs[0].data.metrics:
            return runs[0]
        time.sleep(0.1)
    pytest.fail(f"trial {trial_id} never started training")


def test_kill_during_trial_then_resume(tmp_path):
    spec = tmp_path / "resume.toml"
    spec.write_text(textwrap.dedent(SPEC))
    work = tmp_path / "work"
    command, env = _tune(spec, work)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The record appears once the store, the experiment and the parent run exist.
        deadline = time.monotonic() + 180
        while (record := tracking.SearchRecord.load(work / "resume")) is None:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the search never created its MLflow parent run"
            time.sleep(0.2)
        client = mlflow.tracking.MlflowClient(record.tracking_uri)
        interrupted = _wait_for_running_trial(client, record, KILL_DURING_TRIAL, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    before = tracking.TrialTracker(record, "resume", "grid").child_runs()
    assert sorted(before) == ["0", "1"]
    assert before["1"][0].info.status == "RUNNING"
    assert before["0"][0].info.status == "FINISHED"

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert finished.returncode == 0, finished.stderr[-4000:]
    summary = json.loads(finished.stdout)
    assert summary["tracking"]["parent_run_id"] == record.parent_run_id

    runs = tracking.TrialTracker(record, "resume", "grid").child_runs()
    assert sorted(runs) == ["0", "1", "2"]
    assert all(len(found) == 1 for found in runs.values()), {k: len(v) for k, v in runs.items()}
    rerun = runs[KILL_DURING_TRIAL][0]
    assert rerun.info.run_id == interrupted.info.run_id
    assert rerun.data.tags[tracking.TAG_ATTEMPTS] == "2"
    assert runs["0"][0].data.tags[tracking.TAG_ATTEMPTS] == "1"  # finished trials are not rerun
    for found in runs.values():
        assert found[0].info.status == "FINISHED"
        assert found[0].data.tags[tracking.TAG_STATUS] == "COMPLETED"
    # The rerun logged all its epochs into the same run (after the interrupted attempt's).
    steps = [m.step for m in client.get_metric_history(rerun.info.run_id, "val_accuracy")]
    assert sorted(set(steps)) == list(range(10))
    assert [t["trial_id"] for t in summary["trials"] if t["status"] == "COMPLETED"].__len__() == 3
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
