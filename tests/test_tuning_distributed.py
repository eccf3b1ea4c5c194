"""Distributed search on loopback: a real `mlflow server` backed by PostgreSQL,
a chief and two supervised workers (`rnnzoo tune --workers 2`); one worker is
killed mid-trial, its supervisor restarts it under the same tuner id, and every
trial ends up exactly once in MLflow.

PostgreSQL comes from `.ci/postgres.sh` (Debian package); the test reads
`RNNZOO_TEST_POSTGRES_URI` (default postgresql://rnnzoo:rnnzoo@127.0.0.1:5432/rnnzoo),
a role allowed to create databases, and works in a fresh database of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import keras
import pytest

pytest.importorskip("keras_tuner", reason="needs the `tune` extra (keras-tuner)")
mlflow = pytest.importorskip("mlflow", reason="needs the `tune` extra (mlflow)")

from keras_rnnzoo.tuning import tracking  # noqa: E402
from keras_rnnzoo.tuning.distributed import free_port  # noqa: E402

# The search and its tracking do not depend on the Keras backend.
pytestmark = pytest.mark.backend_independent

DEFAULT_POSTGRES = "postgresql://rnnzoo:rnnzoo@127.0.0.1:5432/rnnzoo"
SPEC = """
name = "dist"
seed = 11
[task]
type = "classification"
[data]
generator = "sequence_classes"
samples = 192
timesteps = 8
features = 2
classes = 3
[space]
cell = ["gru", "lstm"]
units = [4, 6]
[oracle]
type = "grid"
[budget]
max_trials = 4
epochs = 10
batch_size = 16
[tracking]
registered_model = "dist-best"
"""


@pytest.fixture
def postgres_database():
    """A fresh PostgreSQL database (dropped afterwards); skips without a server."""
    psycopg = pytest.importorskip("psycopg", reason="needs psycopg (the `tune` extra) for PostgreSQL")
    admin_uri = os.environ.get("RNNZOO_TEST_POSTGRES_URI", DEFAULT_POSTGRES)
    try:
        admin = psycopg.connect(admin_uri, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(
            f"PostgreSQL not available at {admin_uri} ({str(error).strip().splitlines()[0]}); "
            "run `source .ci/postgres.sh` or set RNNZOO_TEST_POSTGRES_URI"
        )
    name = f"rnnzoo_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        # SQLAlchemy (MLflow's store) with the psycopg 3 driver, in the new database.
        base = admin_uri.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def mlflow_server(postgres_database, tmp_path):
    """`mlflow server` on a free loopback port, runs in PostgreSQL, artifacts proxied to tmp_path."""
    port = free_port()
    executable = Path(sys.executable).with_name("mlflow")
    log = (tmp_path / "mlflow-server.log").open("wb")
    server = subprocess.Popen(
        [str(executable), "server", "--backend-store-uri", postgres_database,
         "--artifacts-destination", (tmp_path / "server-artifacts").as_uri(),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (tmp_path / "mlflow-server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def _running_run_of(client, record, tuner_id):
    runs = client.search_runs(
        [record.experiment_id],
        filter_string=f"tags.`{tracking.TAG_TUNER}` = '{tuner_id}' and attributes.status = 'RUNNING'",
    )
    return next((run for run in runs if run.data.metrics), None)


def test_chief_two_workers_one_killed(tmp_path, mlflow_server):
    spec = tmp_path / "dist.toml"
    spec.write_text(textwrap.dedent(SPEC))
    work = tmp_path / "shared"
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "keras_rnnzoo", "tune", str(spec), "--dir", str(work), "--workers", "2",
         "--tracking-uri", mlflow_server, "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while (record := tracking.SearchRecord.load(work / "dist")) is None:
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the chief never created its MLflow parent run"
            time.sleep(0.2)
        client = mlflow.tracking.MlflowClient(mlflow_server)
        while (victim := _running_run_of(client, record, "worker1")) is None:
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "worker1 never trained a trial"
            time.sleep(0.1)
        pid = int((work / "dist" / "workers" / "worker1.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        assert client.get_run(victim.info.run_id).info.status == "RUNNING", "worker1 was killed after its trial ended"
        stdout, stderr = launcher.communicate(timeout=400)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert launcher.returncode == 0, stderr[-4000:]
    summary = json.loads(stdout)

    assert summary["workers"]["worker1"]["restarts"] == 1
    assert summary["workers"]["worker1"]["exit_codes"] == [-signal.SIGKILL, 0]
    assert summary["workers"]["worker0"]["exit_codes"] == [0]
    assert summary["tracking"]["tracking_uri"] == mlflow_server

    runs = tracking.TrialTracker(record, "dist", "grid").child_runs()
    assert sorted(runs) == ["0", "1", "2", "3"]
    assert all(len(found) == 1 for found in runs.values()), {k: len(v) for k, v in runs.items()}
    assert {t["trial_id"] for t in summary["trials"] if t["status"] == "COMPLETED"} == {"0", "1", "2", "3"}
    for found in runs.values():
        assert found[0].info.status == "FINISHED"
    killed = runs[victim.data.tags[tracking.TAG_TRIAL]][0]
    assert killed.info.run_id == victim.info.run_id
    assert killed.data.tags[tracking.TAG_ATTEMPTS] == "2"
    assert killed.data.tags[tracking.TAG_TUNER] == "worker1"  # rerun by the restarted worker1
    assert {found[0].data.tags[tracking.TAG_TUNER] for found in runs.values()} <= {"worker0", "worker1"}

    versions = client.search_model_versions("name = 'dist-best'")
    assert [v.run_id for v in versions] == [summary["best"]["run_id"]]
    assert client.get_run(record.parent_run_id).info.status == "FINISHED"
