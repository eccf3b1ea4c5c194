"""MLflow side of a search: the store, the experiment, the parent run and one child run per trial.

Layout in MLflow:

- one experiment (name from the spec's `[tracking] experiment`), created
  once, before any trial, by the process that starts the search;
- one parent run per search (tag `rnnzoo.role=search`), its id kept in the
  search's project directory (`rnnzoo_search.json`) so that a resumed search
  and every distributed worker log under the same parent;
- one child run per keras-tuner trial (`mlflow.parentRunId`, tags
  `rnnzoo.trial_id`, `rnnzoo.tuner_id`, `rnnzoo.project`, `rnnzoo.oracle`),
  found again by those tags when a trial is rerun (resume, dead worker,
  retry), so a trial never gets a second run.

The embedded default store is SQLite (`sqlite:///<directory>/mlflow.db`)
with artifacts in `<directory>/mlartifacts`; `http(s)://` URIs are MLflow
tracking servers and are checked for reachability before anything trains.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

SEARCH_FILE = "rnnzoo_search.json"
TAG_ROLE = "rnnzoo.role"
TAG_TRIAL = "rnnzoo.trial_id"
TAG_TUNER = "rnnzoo.tuner_id"
TAG_PROJECT = "rnnzoo.project"
TAG_ORACLE = "rnnzoo.oracle"
TAG_STATUS = "rnnzoo.trial_status"
TAG_ATTEMPTS = "rnnzoo.attempts"
TAG_BEST = "rnnzoo.best"
TAG_BEST_RUN = "rnnzoo.best_run_id"
TAG_BEST_TRIAL = "rnnzoo.best_trial_id"
TAG_MODEL_VERSION = "rnnzoo.registered_model_version"
TAG_PARENT = "mlflow.parentRunId"
TRACEBACK_FILE = "traceback.txt"


class TrackingError(RuntimeError):
    """The tracking store cannot be used (unreachable server, bad URI, deleted experiment)."""


@dataclass
class SearchRecord:
    """What every process of a search needs to log into the same place."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    parent_run_id: str
    fingerprint: str

    def save(self, project_dir: Path) -> None:
        project_dir.mkdir(parents=True, exist_ok=True)
        target = project_dir / SEARCH_FILE
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        os.replace(temporary, target)  # atomic: workers never read half a file

    @classmethod
    def load(cls, project_dir: Path) -> SearchRecord | None:
        target = project_dir / SEARCH_FILE
        if not target.is_file():
            return None
        return cls(**json.loads(target.read_text()))


def default_tracking_uri(directory: Path) -> str:
    """`sqlite:///<absolute directory>/mlflow.db`."""
    return f"sqlite:///{(Path(directory).resolve() / 'mlflow.db').as_posix()}"


def artifact_location(tracking_uri: str, directory: Path) -> str | None:
    """Local artifact folder for a SQLite store; `None` (the server decides) otherwise."""
    if tracking_uri.startswith("sqlite:"):
        return (Path(directory).resolve() / "mlartifacts").as_uri()
    return None


def check_reachable(tracking_uri: str, timeout: float = 5.0) -> None:
    """Fail fast on a tracking URI that cannot work.

    Raises:
        TrackingError: an HTTP server does not answer its `/health` endpoint,
            or the URI scheme is not one MLflow can store runs in.
    """
    if tracking_uri.startswith(("http://", "https://")):
        url = tracking_uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                if response.status != 200:
                    raise TrackingError(f"MLflow tracking server {tracking_uri} answered {response.status} on /health.")
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise TrackingError(
                f"MLflow tracking server {tracking_uri} is unreachable ({reason}); "
                "start it (`mlflow server --host HOST --port PORT ...`) or drop --tracking-uri "
                "to use the embedded SQLite store."
            ) from None
        return
    if tracking_uri.startswith("sqlite:///"):
        return
    if tracking_uri.startswith(("postgresql", "mysql", "mssql", "databricks")):
        return
    raise TrackingError(
        f"Unsupported tracking URI {tracking_uri!r}: use http(s)://HOST:PORT for an MLflow server, "
        "sqlite:///PATH for a local store, or a database URI (postgresql://...)."
    )


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(tracking_uri: str, name: str, artifact_root: str | None) -> str:
    """Create the store (for SQLite: the database and its schema) and the experiment, once.

    Safe to call from several processes: an experiment created meanwhile by
    another process is looked up instead. Returns the experiment id.
    """
    from mlflow.exceptions import MlflowException

    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = _client(tracking_uri)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=artifact_root)
            except MlflowException as error:
                if "already exists" not in str(error).lower():
                    raise
                experiment = client.get_experiment_by_name(name)
    except MlflowException as error:
        raise TrackingError(f"MLflow store {tracking_uri}: {error.message}") from None
    if experiment.lifecycle_stage != "active":
        raise TrackingError(
            f"MLflow experiment {name!r} (id {experiment.experiment_id}) is deleted; restore it "
            "(`mlflow experiments restore`) or set another [tracking] experiment in the spec."
        )
    return experiment.experiment_id


def create_parent_run(tracking_uri: str, experiment_id: str, spec, oracle_tag: str) -> str:
    """Start the parent run of a search; logs the spec summary and the spec file."""
    from mlflow.entities import Param

    client = _client(tracking_uri)
    run = client.create_run(
        experiment_id,
        run_name=f"search-{spec.name}",
        tags={TAG_ROLE: "search", TAG_PROJECT: spec.name, TAG_ORACLE: oracle_tag, "rnnzoo.spec": str(spec.path)},
    )
    params = {
        "task": spec.task.type,
        "objective": f"{spec.objective.name} ({spec.objective.direction})",
        "oracle": oracle_tag,
        "max_trials": spec.budget.max_trials,
        "epochs": spec.budget.epochs,
        "batch_size": spec.budget.batch_size,
        "seed": spec.seed,
        **{f"space.{name}": choice.describe() for name, choice in spec.space.items()},
    }
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.log_text(run.info.run_id, spec.path.read_text(), f"spec/{spec.path.name}")
    return run.info.run_id


def _plain_metrics(values: dict[str, Any]) -> dict[str, float]:
    metrics = {}
    for key, value in (values or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            metrics[key] = number
    return metrics


class TrialTracker:
    """Logs keras-tuner trials as child runs of one parent run.

    Args:
        record: where to log (`SearchRecord`).
        project: keras-tuner project name (tag).
        oracle: oracle type (tag).
        log_trial_models: also upload every trial's best-epoch checkpoint.
    """

    def __init__(self, record: SearchRecord, project: str, oracle: str, log_trial_models: bool = False):
        self.record = record
        self.project = project
        self.oracle = oracle
        self.log_trial_models = log_trial_models
        self.client = _client(record.tracking_uri)

    # ------------------------------------------------------------ lookups
    def child_runs(self) -> dict[str, list]:
        """trial id -> child runs of this search (normally exactly one each)."""
        runs: dict[str, list] = {}
        token = None
        while True:
            page = self.client.search_runs(
                [self.record.experiment_id],
                filter_string=f"tags.`{TAG_PARENT}` = '{self.record.parent_run_id}'",
                max_results=1000,
                page_token=token,
            )
            for run in page:
                runs.setdefault(run.data.tags.get(TAG_TRIAL, ""), []).append(run)
            token = page.token
            if not token:
                return runs

    def find_run(self, trial_id: str):
        runs = self.client.search_runs(
            [self.record.experiment_id],
            filter_string=(
                f"tags.`{TAG_PARENT}` = '{self.record.parent_run_id}' and tags.`{TAG_TRIAL}` = '{trial_id}'"
            ),
            max_results=2,
        )
        return runs[0] if runs else None

    # ------------------------------------------------------------- trials
    def begin(self, trial, tuner_id: str) -> str:
        """Create the trial's run, or reopen it when the trial is rerun; returns its id."""
        from mlflow.entities import Param, RunTag

        existing = self.find_run(trial.trial_id)
        if existing is not None:
            run_id = existing.info.run_id
            attempts = int(existing.data.tags.get(TAG_ATTEMPTS, "1")) + 1
            self.client.update_run(run_id, status="RUNNING")
            self.client.log_batch(
                run_id,
                tags=[RunTag(TAG_ATTEMPTS, str(attempts)), RunTag(TAG_TUNER, tuner_id), RunTag(TAG_STATUS, "RUNNING")],
            )
            _log.info("Trial %s rerun (attempt %d) into MLflow run %s", trial.trial_id, attempts, run_id)
            return run_id
        run = self.client.create_run(
            self.record.experiment_id,
            run_name=f"trial-{trial.trial_id}",
            tags={
                TAG_PARENT: self.record.parent_run_id,
                TAG_ROLE: "trial",
                TAG_TRIAL: trial.trial_id,
                TAG_TUNER: tuner_id,
                TAG_PROJECT: self.project,
                TAG_ORACLE: self.oracle,
                TAG_ATTEMPTS: "1",
                TAG_STATUS: "RUNNING",
            },
        )
        params = [Param(str(k), str(v)) for k, v in sorted(trial.hyperparameters.values.items())]
        if params:
            self.client.log_batch(run.info.run_id, params=params)
        return run.info.run_id

    def log_epoch(self, run_id: str, epoch: int, logs: dict | None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, int(epoch)) for k, v in _plain_metrics(logs).items()]
        if metrics:
            # Synchronous on purpose: one small batch costs a few milliseconds,
            # while MLflow's asynchronous queue adds about a second per run
            # when `set_terminated` shuts it down.
            self.client.log_batch(run_id, metrics=metrics)

    def end(self, run_id: str, status: str, score: float | None, best_step: int | None,
            message: str | None, seconds: float | None = None, checkpoint: Path | None = None) -> None:
        """Close a trial's run: FINISHED with the score, or FAILED with the traceback."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = []
        if score is not None and math.isfinite(score):
            metrics.append(Metric("score", float(score), now, int(best_step or 0)))
        if best_step is not None:
            metrics.append(Metric("best_step", float(best_step), now, 0))
        if seconds is not None:
            metrics.append(Metric("trial_seconds", float(seconds), now, 0))
        failed = status != "COMPLETED" or score is None or not math.isfinite(score)
        if status == "COMPLETED" and failed:
            status = "INVALID"
            message = message or "The trial completed but its objective is missing or not a finite number."
        self.client.log_batch(run_id, metrics=metrics, tags=[RunTag(TAG_STATUS, status)])
        if failed:
            self.client.log_text(run_id, message or f"Trial ended with status {status}.", TRACEBACK_FILE)
        elif self.log_trial_models and checkpoint is not None and checkpoint.is_file():
            self.client.log_artifact(run_id, str(checkpoint), "checkpoint")
        self.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")
