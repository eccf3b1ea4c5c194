"""Tracking overhead: per-trial time of the same search without and with MLflow.

`tracking_overhead(spec)` runs the spec's search twice in fresh temporary
directories (identical seeds, so identical trials): first keras-tuner
alone, then with MLflow tracking on the embedded SQLite store. A trial's
time runs from `on_trial_begin` to the end of `on_trial_end`, so it
includes every MLflow call of the trial (run creation, params, per-epoch
metrics, closing the run) but not the end-of-search model registration.
The first trial of each run is left out of the means when there are more
than two, because it pays one-off tracing / store-creation costs.

On a busy machine the A/B difference drowns in noise, so the tracked run
also measures the time spent inside the MLflow calls of every trial
(`tracking_seconds`, timed around each call); `tracking_share_percent` is
that time over the trial time, the overhead that tracking itself adds.

    rnnzoo tune tuning/quickstart.toml --benchmark-tracking
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from pathlib import Path

from keras_rnnzoo.tuning.spec import SearchSpec


def _mean(seconds: dict[str, float]) -> float:
    values = [seconds[k] for k in sorted(seconds)]
    if len(values) > 2:
        values = values[1:]
    return statistics.fmean(values)


def tracking_overhead(spec: SearchSpec, verbose: int = 0) -> dict:
    """Per-trial seconds without and with tracking, and the overhead in percent."""
    from keras_rnnzoo.tuning.search import run_search

    with tempfile.TemporaryDirectory(prefix="rnnzoo-bench-") as root:
        untracked = run_search(
            dataclasses.replace(spec, directory=Path(root) / "untracked"), track=False, verbose=verbose
        )
        tracked = run_search(
            dataclasses.replace(spec, directory=Path(root) / "tracked"), track=True, verbose=verbose
        )
    off, on = _mean(untracked["trial_seconds"]), _mean(tracked["trial_seconds"])
    mlflow_seconds = tracked["tracking_seconds"]
    return {
        "spec": str(spec.path),
        "trials": len(tracked["trial_seconds"]),
        "untracked_mean_s": off,
        "tracked_mean_s": on,
        "overhead_percent": 100.0 * (on - off) / off,
        "tracking_mean_s": _mean(mlflow_seconds),
        "tracking_share_percent": 100.0 * sum(mlflow_seconds.values()) / sum(tracked["trial_seconds"].values()),
        "untracked_trial_seconds": untracked["trial_seconds"],
        "tracked_trial_seconds": tracked["trial_seconds"],
        "tracking_seconds": mlflow_seconds,
    }
