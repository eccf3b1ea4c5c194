"""Run a search from a spec: locally, as the chief of a distributed search, or as a worker.

`run_search` is what `rnnzoo tune SPEC` calls. In order, before anything is
trained: validate the data, check the tracking store is reachable, create
the store and the experiment, then the tuner (reloading an interrupted
search unless `overwrite`), then the parent run. After the last trial
(`finalize`): every trial is checked to have exactly one child run, the
best run is tagged and its id put on the parent, and the best model is
logged with MLflow's Keras flavor and registered in the Model Registry.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import keras_tuner

from keras_rnnzoo.tuning import tracking
from keras_rnnzoo.tuning.hypermodel import RegistryHyperModel, ZooHyperModel
from keras_rnnzoo.tuning.spec import SearchSpec
from keras_rnnzoo.tuning.tasks import TaskData, prepare_data
from keras_rnnzoo.tuning.tuner import TrackedHyperband, TrackedTuner, make_oracle
from keras_rnnzoo.tuning.zoo_tasks import ZOO_TASKS

_log = logging.getLogger(__name__)
_TUNER_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
WORKER_WAIT_SECONDS = 600.0


def parse_address(address: str) -> tuple[str, int]:
    """`"HOST:PORT"` -> `(host, port)`; raises `ValueError` naming the value."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"Expected HOST:PORT for the chief address, got {address!r}.")
    return host.strip("[]"), int(port)


def tuner_id_for(worker: str) -> str:
    """keras-tuner id of worker `worker` (`"3"` -> `"worker3"`); never contains "chief"."""
    tuner_id = f"worker{worker}" if worker.isdigit() else worker
    if "chief" in tuner_id or not tuner_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"Invalid worker id {worker!r}: use letters, digits, '-' or '_', and not 'chief'.")
    return tuner_id


@contextlib.contextmanager
def _tuner_environment(role: str, chief: str | None, tuner_id: str | None):
    saved = {k: os.environ.get(k) for k in _TUNER_ENV}
    try:
        for key in _TUNER_ENV:
            os.environ.pop(key, None)
        if role != "local":
            host, port = parse_address(chief)
            os.environ["KERASTUNER_ORACLE_IP"] = host
            os.environ["KERASTUNER_ORACLE_PORT"] = str(port)
            os.environ["KERASTUNER_TUNER_ID"] = "chief" if role == "chief" else tuner_id
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _long_lived_objects_frozen():
    """Keep the objects alive now (Keras, TensorFlow, MLflow, SQLAlchemy modules) out of
    the garbage collector's scans while the search trains: otherwise every collection
    walks them, and a tracked search (more modules loaded) pays more than an untracked one."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def build_tuner(spec: SearchSpec, data: TaskData, *, tracker=None, overwrite=False, abort_event=None):
    """The tuner of a spec (reads the distributed role from the environment)."""
    if data.task in ZOO_TASKS:
        hypermodel = ZooHyperModel(spec.space, data, seed=spec.seed)
    else:
        hypermodel = RegistryHyperModel(spec.space, data.task, data.input_shape, data.output_size, seed=spec.seed)
    objective = keras_tuner.Objective(spec.objective.name, spec.objective.direction)
    oracle = make_oracle(spec.oracle, objective, spec.budget.max_trials, spec.budget.epochs, spec.seed)
    cls = TrackedHyperband if spec.oracle.type == "hyperband" else TrackedTuner
    return cls(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(spec.directory),
        project_name=spec.name,
        overwrite=overwrite,
        tracker=tracker,
        abort_event=abort_event,
    )


def _wait_for_record(project_dir: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        record = tracking.SearchRecord.load(project_dir)
        if record is not None:
            return record
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"No {tracking.SEARCH_FILE} in {project_dir} after {timeout:.0f} s: start the chief first, "
                "and give every worker the same shared --dir."
            )
        time.sleep(1.0)


def run_search(
    spec: SearchSpec,
    *,
    tracking_uri: str | None = None,
    track: bool = True,
    overwrite: bool = False,
    role: str = "local",
    chief: str | None = None,
    worker: str | None = None,
    verbose: int = 0,
    abort_event=None,
    worker_wait: float = WORKER_WAIT_SECONDS,
) -> dict[str, Any]:
    """Run (or resume) the search of `spec`; returns a JSON-able summary.

    Args:
        spec: a validated `SearchSpec`.
        tracking_uri: MLflow tracking URI; default the embedded SQLite store
            in the spec's directory. Workers default to the chief's.
        track: log to MLflow (False: keras-tuner only, for timing).
        overwrite: start over, deleting the search's directory. Refused on
            workers.
        role: "local", "chief" (serve the oracle at `chief`) or "worker".
        chief: "HOST:PORT" of the chief (roles "chief" and "worker").
        worker: worker id (role "worker").
        verbose: Keras `fit` verbosity.
        abort_event: `threading.Event` that stops a chief early.
        worker_wait: seconds a worker waits for the chief's search record.
    """
    if role not in ("local", "chief", "worker"):
        raise ValueError(f"role must be local, chief or worker, got {role!r}.")
    if role != "local":
        parse_address(chief or "")
    tuner_id = tuner_id_for(worker) if role == "worker" else None
    if role == "worker" and overwrite:
        raise ValueError(
            f"Refusing --overwrite on worker {worker!r}: it would delete the shared directory "
            f"{spec.directory} that the chief and the other workers use. Overwrite on the chief only."
        )
    data = prepare_data(spec.task, spec.data, seed=spec.seed)
    project_dir = Path(spec.directory) / spec.name

    record = None
    if track:
        if role == "worker":
            record = _wait_for_record(project_dir, worker_wait)
            if record.fingerprint != spec.fingerprint():
                raise ValueError(
                    f"{spec.path.name} differs from the spec the chief started the search in {project_dir} with; "
                    "give every worker the same spec file."
                )
            if tracking_uri:
                record.tracking_uri = tracking_uri
            tracking.check_reachable(record.tracking_uri)
        else:
            uri = tracking_uri or tracking.default_tracking_uri(spec.directory)
            tracking.check_reachable(uri)
            experiment_id = tracking.ensure_experiment(
                uri, spec.tracking.experiment, tracking.artifact_location(uri, spec.directory)
            )
            previous = None if overwrite else tracking.SearchRecord.load(project_dir)
            if previous is not None and previous.fingerprint != spec.fingerprint():
                raise ValueError(
                    f"The search in {project_dir} was started from a different spec; pass --overwrite to "
                    "start over, or set another `name` in the spec."
                )
            if previous is not None and (previous.tracking_uri != uri or previous.experiment_id != experiment_id):
                previous = None  # resumed into another store: start a new parent run there
            record = previous or tracking.SearchRecord(uri, experiment_id, spec.tracking.experiment, "", spec.fingerprint())

    with _tuner_environment(role, chief, tuner_id):
        tracker = None
        if record is not None and role != "worker":
            # The tuner (which deletes the project directory on overwrite)
            # comes first; the parent run and its record file after it.
            tuner = build_tuner(spec, data, overwrite=overwrite, abort_event=abort_event)
            if not record.parent_run_id:
                record.parent_run_id = tracking.create_parent_run(
                    record.tracking_uri, record.experiment_id, spec, spec.oracle.type
                )
            record.save(project_dir)
            tracker = tracking.TrialTracker(record, spec.name, spec.oracle.type, spec.tracking.log_trial_models)
            tuner.tracker = tracker
        else:
            if record is not None:
                tracker = tracking.TrialTracker(record, spec.name, spec.oracle.type, spec.tracking.log_trial_models)
            tuner = build_tuner(spec, data, tracker=tracker, overwrite=overwrite, abort_event=abort_event)
        started = time.perf_counter()
        with _long_lived_objects_frozen():
            tuner.search(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=spec.budget.epochs,
                batch_size=spec.budget.batch_size,
                verbose=verbose,
            )
        elapsed = time.perf_counter() - started
        if role == "worker":
            return {
                "role": "worker",
                "tuner_id": tuner.tuner_id,
                "trials_run": tuner.trials_run,
                "trial_seconds": tuner.trial_seconds,
                "tracking_seconds": tuner.tracking_seconds,
                "seconds": elapsed,
            }
        summary = finalize(tuner, tracker, spec, data)
    summary.update(role=role, seconds=elapsed, trial_seconds=tuner.trial_seconds,
                   tracking_seconds=tuner.tracking_seconds)
    return summary


def _trial_row(trial, spec: SearchSpec, run=None) -> dict[str, Any]:
    score = trial.score
    return {
        "trial_id": trial.trial_id,
        "status": trial.status,
        "score": None if score is None or not math.isfinite(score) else float(score),
        "best_step": trial.best_step,
        "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items()},
        "run_id": None if run is None else run.info.run_id,
    }


def finalize(tuner, tracker, spec: SearchSpec, data: TaskData) -> dict[str, Any]:
    """Reconcile runs with trials, tag and register the best, close the parent run."""
    oracle = tuner.oracle
    trials = sorted(oracle.trials.values(), key=lambda t: t.trial_id)
    runs = tracker.child_runs() if tracker is not None else {}
    for trial in trials:
        found = runs.get(trial.trial_id, [])
        if len(found) > 1:
            _log.warning("Trial %s has %d MLflow runs; expected one.", trial.trial_id, len(found))
        if tracker is None:
            continue
        ended = trial.status in ("COMPLETED", "FAILED", "INVALID")
        if not found:  # e.g. its run could not be created: record it from the oracle
            run_id = tracker.begin(trial, "chief")
            found = [tracker.client.get_run(run_id)]
            runs[trial.trial_id] = found
        if ended and found[0].info.status == "RUNNING":
            tracker.end(found[0].info.run_id, trial.status, trial.score, trial.best_step, trial.message)
            runs[trial.trial_id] = [tracker.client.get_run(found[0].info.run_id)]

    best_trials = oracle.get_best_trials(1)
    best = best_trials[0] if best_trials else None
    rows = [_trial_row(t, spec, (runs.get(t.trial_id) or [None])[0]) for t in trials]
    reverse = spec.objective.direction == "max"
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0) if reverse else (r["score"] or 0)))
    summary: dict[str, Any] = {
        "project": spec.name,
        "spec": str(spec.path),
        "directory": str(Path(spec.directory).resolve()),
        "objective": {"name": spec.objective.name, "direction": spec.objective.direction},
        "oracle": spec.oracle.type,
        "searched": spec.searched(),
        "trials": rows,
        "best": None,
        "tracking": None,
    }
    if best is not None:
        summary["best"] = next(r for r in rows if r["trial_id"] == best.trial_id)
    if tracker is None:
        return summary

    record = tracker.record
    client = tracker.client
    summary["tracking"] = {
        "tracking_uri": record.tracking_uri,
        "experiment_id": record.experiment_id,
        "experiment": record.experiment_name,
        "parent_run_id": record.parent_run_id,
        "ui": ui_command(record),
    }
    if best is not None:
        best_run = runs[best.trial_id][0]
        best_run_id = best_run.info.run_id
        for trial_id, trial_runs in runs.items():
            for run in trial_runs:
                if run.data.tags.get(tracking.TAG_BEST) == "true" and run.info.run_id != best_run_id:
                    client.set_tag(run.info.run_id, tracking.TAG_BEST, "false")
        client.set_tag(best_run_id, tracking.TAG_BEST, "true")
        client.set_tag(record.parent_run_id, tracking.TAG_BEST_RUN, best_run_id)
        client.set_tag(record.parent_run_id, tracking.TAG_BEST_TRIAL, best.trial_id)
        client.log_metric(record.parent_run_id, f"best_{spec.objective.name}", float(best.score))
        version = best_run.data.tags.get(tracking.TAG_MODEL_VERSION)
        if version is None:
            version = _log_best_model(tuner, best, best_run_id, record, spec, data)
        summary["best"]["registered_model"] = {"name": spec.tracking.registered_model, "version": int(version)}
    client.set_terminated(record.parent_run_id, status="FINISHED")
    return summary


def _log_best_model(tuner, best, run_id: str, record, spec: SearchSpec, data: TaskData) -> str:
    import keras
    import mlflow
    import mlflow.keras
    from mlflow.models import infer_signature

    import keras_rnnzoo

    with warnings.catch_warnings():
        # keras-tuner's checkpoints hold the trial's optimizer; the logged model is for inference
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.load_model(best)
    sample = keras.tree.map_structure(lambda array: array[:4], data.x_val)
    signature = infer_signature(sample, keras.ops.convert_to_numpy(model.predict(sample, verbose=0)))
    backend = keras.backend.backend()
    requirements = [f"keras=={keras.__version__}", f"keras-rnnzoo=={keras_rnnzoo.__version__}"]
    backend_package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if backend_package:
        from importlib import metadata

        with contextlib.suppress(metadata.PackageNotFoundError):
            requirements.append(f"{backend_package}=={metadata.version(backend_package)}")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(record.tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id):
            info = mlflow.keras.log_model(
                model,
                name="model",
                signature=signature,
                pip_requirements=requirements,
                registered_model_name=spec.tracking.registered_model,
                await_registration_for=60,
            )
            version = str(info.registered_model_version)
            mlflow.set_tag(tracking.TAG_MODEL_VERSION, version)
            mlflow.set_tag("rnnzoo.keras_backend", backend)
    finally:
        mlflow.set_tracking_uri(previous)
    return version


def ui_command(record) -> str:
    """How to look at the search in MLflow's UI."""
    uri = record.tracking_uri
    if uri.startswith(("http://", "https://")):
        return f"open {uri.rstrip('/')}/#/experiments/{record.experiment_id}/runs/{record.parent_run_id}"
    return f"mlflow ui --backend-store-uri {uri} --port 5000   # then open http://127.0.0.1:5000"
