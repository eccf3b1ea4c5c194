"""keras-tuner tuners that log every trial to MLflow through keras-tuner's own hooks.

`TrackedTuner` (random, grid and Bayesian oracles) and `TrackedHyperband`
add, on top of `keras_tuner.Tuner`:

- `on_trial_begin`: create (or, for a rerun trial, reopen) the trial's
  MLflow run;
- `run_trial`: time the training;
- `on_epoch_end`: log the epoch's metrics with `step=epoch`;
- `on_trial_end`: read the trial back through `oracle.get_trial` (which
  also works on distributed workers, whose `OracleClient` exposes little
  else), close the run as FINISHED with the score or FAILED with the
  traceback, then let the oracle end the trial. MLflow is closed first: a
  process killed in between leaves a trial that the oracle reruns into the
  same run, never a run that stays open forever.

On the chief of a distributed search (tuner id containing "chief") `search`
serves the oracle over gRPC like keras-tuner, but polls for the end every
half second rather than every 20 s and can be aborted. Workers refuse
`overwrite=True`: it would delete the directory that the chief and the
other workers share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import keras_tuner
from keras_tuner.src.distribute import utils as dist_utils

from keras_rnnzoo.tuning import tracking
from keras_rnnzoo.tuning.spec import OracleSpec

_log = logging.getLogger(__name__)
CHIEF_POLL_SECONDS = 0.5


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """keras-tuner's grid oracle, with the grid position saved in `oracle.json`.

    keras-tuner 1.4 keeps the grid order (`_ordered_ids`) and the trials to
    expand next (`_populate_next`) only in memory, so a reloaded grid search
    fails with a KeyError or stops early. They are saved and restored here.
    """

    def get_state(self):
        state = super().get_state()
        links = self._ordered_ids
        order, index = [], links._next_index[None]
        while index is not None:
            order.append(links._memory[index])
            index = links._next_index[index]
        state["rnnzoo_grid"] = {"ordered_ids": order, "populate_next": list(self._populate_next)}
        return state

    def set_state(self, state):
        super().set_state(state)
        grid = state.get("rnnzoo_grid")
        if grid is None:
            return
        from keras_tuner.src.tuners.gridsearch import LinkedList

        self._ordered_ids = LinkedList()
        for trial_id in grid["ordered_ids"]:
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(grid["populate_next"])


def make_oracle(spec: OracleSpec, objective: keras_tuner.Objective, max_trials: int, epochs: int, seed: int):
    """The keras-tuner oracle of a spec's `[oracle]` table."""
    common = dict(
        objective=objective,
        seed=seed,
        max_retries_per_trial=spec.max_retries_per_trial,
        max_consecutive_failed_trials=spec.max_consecutive_failed_trials,
    )
    options = dict(spec.options)
    if spec.type == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    if spec.type == "grid":
        return ResumableGridSearchOracle(max_trials=max_trials, **common)
    if spec.type == "bayesian":
        if "num_initial_points" in options:
            options["num_initial_points"] = int(options["num_initial_points"])
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=max_trials, **options, **common)
    return keras_tuner.oracles.HyperbandOracle(
        max_epochs=epochs,
        factor=int(options.get("factor", 3)),
        hyperband_iterations=int(options.get("hyperband_iterations", 1)),
        **common,
    )


class TrackingMixin:
    """MLflow tracking and distributed fixes for a `keras_tuner.Tuner` subclass.

    Args:
        tracker: a `TrialTracker`, or `None` for no tracking.
        abort_event: a `threading.Event`; when set, a chief stops serving
            (used by the single-machine launcher when a worker cannot be
            kept alive).
    """

    def __init__(self, *args, tracker=None, abort_event: threading.Event | None = None, **kwargs):
        self.tracker = tracker
        self.abort_event = abort_event
        self.trial_seconds: dict[str, float] = {}
        self.tracking_seconds: dict[str, float] = {}
        self.trials_run: list[str] = []
        self._runs: dict[str, str] = {}
        self._started: dict[str, float] = {}
        if kwargs.get("overwrite") and dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
            raise ValueError(
                f"Refusing overwrite=True on worker {os.environ.get('KERASTUNER_TUNER_ID')!r}: it would delete "
                f"the shared directory {kwargs.get('directory')!r} used by the chief and the other workers."
            )
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------- search
    def search(self, *fit_args, **fit_kwargs):
        if dist_utils.is_chief_oracle():
            self.save()
            self._serve_oracle()
            return
        super().search(*fit_args, **fit_kwargs)

    def _serve_oracle(self) -> None:
        import grpc
        from concurrent import futures

        from keras_tuner.src import protos
        from keras_tuner.src.distribute import oracle_chief

        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        servicer = oracle_chief.OracleServicer(self.oracle)
        protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
        if server.add_insecure_port(address) == 0:
            raise RuntimeError(f"The chief cannot listen on {address} (address in use or not local).")
        server.start()
        _log.info("Oracle serving on %s", address)
        try:
            while True:
                time.sleep(CHIEF_POLL_SECONDS)
                if self.abort_event is not None and self.abort_event.is_set():
                    raise RuntimeError("Search aborted: a worker could not be kept running (see its log).")
                if servicer.stop_triggered and oracle_chief.exit_chief(self.oracle):
                    break
        finally:
            server.stop(grace=1.0)

    def on_search_begin(self):
        super().on_search_begin()
        if not self._is_worker():
            # Write oracle and tuner state now, so that a search killed during
            # its first trial reloads (and reruns that trial) instead of
            # starting over.
            self.save()

    # ------------------------------------------------------------- trials
    def on_trial_begin(self, trial):
        self._started[trial.trial_id] = time.perf_counter()
        super().on_trial_begin(trial)
        if self.tracker is not None:
            with self._timed(trial.trial_id):
                self._runs[trial.trial_id] = self.tracker.begin(trial, self.tuner_id)

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)
        run_id = self._runs.get(trial.trial_id)
        if run_id is not None:
            with self._timed(trial.trial_id):
                self.tracker.log_epoch(run_id, epoch, logs)

    def on_trial_end(self, trial):
        run_id = self._runs.pop(trial.trial_id, None)
        reported = trial.status
        if run_id is not None:
            with self._timed(trial.trial_id):
                self._close_run(trial, run_id)
        super().on_trial_end(trial)
        if run_id is not None and reported != "COMPLETED":
            with self._timed(trial.trial_id):
                # The oracle turns INVALID into FAILED once retries are used up.
                final = self.oracle.get_trial(trial.trial_id).status
                if final != reported:
                    self.tracker.client.set_tag(run_id, tracking.TAG_STATUS, final)
        started = self._started.pop(trial.trial_id, None)
        if started is not None:
            self.trial_seconds[trial.trial_id] = time.perf_counter() - started
        self.trials_run.append(trial.trial_id)

    def _close_run(self, trial, run_id: str) -> None:
        record = self.oracle.get_trial(trial.trial_id)
        name = self.oracle.objective.name
        score = best_step = None
        if trial.status == "COMPLETED" and record.metrics.exists(name):
            score = record.metrics.get_best_value(name)
            best_step = record.metrics.get_best_step(name)
        started = self._started.get(trial.trial_id)
        self.tracker.end(
            run_id,
            trial.status,
            score,
            best_step,
            trial.message,
            seconds=None if started is None else time.perf_counter() - started,
            checkpoint=Path(self._get_checkpoint_fname(trial.trial_id)),
        )

    @contextlib.contextmanager
    def _timed(self, trial_id: str):
        """Add the time spent in MLflow calls to `tracking_seconds[trial_id]`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.tracking_seconds[trial_id] = self.tracking_seconds.get(trial_id, 0.0) + time.perf_counter() - started


class TrackedTuner(TrackingMixin, keras_tuner.Tuner):
    """`keras_tuner.Tuner` with MLflow tracking (random, grid, Bayesian oracles)."""


class TrackedHyperband(TrackingMixin, keras_tuner.Tuner):
    """Hyperband with MLflow tracking: keras-tuner's `Hyperband` epochs and warm starts."""

    def run_trial(self, trial, *fit_args, **fit_kwargs):
        values = trial.hyperparameters.values
        if "tuner/epochs" in values:
            fit_kwargs["epochs"] = values["tuner/epochs"]
            fit_kwargs["initial_epoch"] = values["tuner/initial_epoch"]
        return super().run_trial(trial, *fit_args, **fit_kwargs)

    def _build_hypermodel(self, hp):
        from keras_tuner.src import utils
        from keras_tuner.src.backend import config

        model = super()._build_hypermodel(hp)
        if "tuner/trial_id" in hp.values:
            trial_id = hp.values["tuner/trial_id"]
            if config.multi_backend() and not model.built:
                model.build_from_config(utils.load_json(self._get_build_config_fname(trial_id)))
            model.load_weights(self._get_checkpoint_fname(trial_id))
        return model
