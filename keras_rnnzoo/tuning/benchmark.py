"""Tracking overhead: per-trial time of the same search without and with MLflow.

`tracking_overhead(spec, rounds=2)` runs the spec's search `2 * rounds`
times, each in a fresh Python process and a fresh temporary folder, in
ABBA order (untracked, tracked, tracked, untracked, ...) so that neither
condition always runs first or on a warmer machine. Seeds are identical,
so every run trains the same trials. A trial's time runs from
`on_trial_begin` to the end of `on_trial_end`: it includes every MLflow
call of the trial (run creation, params, per-epoch metrics, closing the
run) but not the end-of-search model registration.

Per condition, each trial's time is the median over its runs; the first
trial is left out when there are more than two (one-off tracing and
store-creation costs). `overhead_percent` compares the summed medians.
The tracked runs also time every MLflow call (`tracking_share_percent`),
the part of the difference that tracking itself causes; the rest is noise.

    rnnzoo tune tuning/quickstart.toml --benchmark-tracking --rounds 2
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from keras_rnnzoo.tuning.spec import SearchSpec


def run_order(rounds: int) -> list[bool]:
    """ABBA order of the runs: `False` untracked, `True` tracked.

    >>> run_order(2)
    [False, True, True, False]
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}.")
    return [bool((index + 1) // 2 % 2) for index in range(2 * rounds)]


def median_trial_seconds(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per trial id, the median of its seconds over `runs` (trials every run has)."""
    common = set.intersection(*(set(run) for run in runs))
    return {trial: statistics.median(run[trial] for run in runs) for trial in sorted(common)}


def _steady(seconds: dict[str, float]) -> dict[str, float]:
    keys = sorted(seconds)
    return {k: seconds[k] for k in (keys[1:] if len(keys) > 2 else keys)}


def summarize(untracked_runs: list[dict], tracked_runs: list[dict]) -> dict:
    """Overhead figures from the JSON summaries of the untracked and tracked runs."""
    off = _steady(median_trial_seconds([run["trial_seconds"] for run in untracked_runs]))
    on = _steady(median_trial_seconds([run["trial_seconds"] for run in tracked_runs]))
    trials = sorted(set(off) & set(on))
    if not trials:
        raise ValueError("The tracked and untracked runs have no trial in common; nothing to compare.")
    off_total, on_total = sum(off[t] for t in trials), sum(on[t] for t in trials)
    mlflow = _steady(median_trial_seconds([run["tracking_seconds"] for run in tracked_runs]))
    mlflow_total = sum(mlflow.get(t, 0.0) for t in trials)
    return {
        "trials": len(trials),
        "runs_per_condition": len(tracked_runs),
        "untracked_mean_s": off_total / len(trials),
        "tracked_mean_s": on_total / len(trials),
        "overhead_percent": 100.0 * (on_total - off_total) / off_total,
        "tracking_mean_s": mlflow_total / len(trials),
        "tracking_share_percent": 100.0 * mlflow_total / on_total,
        "untracked_trial_seconds": off,
        "tracked_trial_seconds": on,
        "tracking_seconds": mlflow,
    }


def _search_in_fresh_process(spec: SearchSpec, directory: Path, track: bool, verbose: int) -> dict:
    command = [sys.executable, "-m", "keras_rnnzoo.cli", "tune", str(spec.path), "--dir", str(directory),
               "--json", "--verbose", str(verbose)]
    if not track:
        command.append("--no-tracking")
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark search ({'tracked' if track else 'untracked'}) failed with exit code "
                           f"{done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def tracking_overhead(spec: SearchSpec, rounds: int = 2, verbose: int = 0) -> dict:
    """Per-trial seconds without and with tracking, and the overhead in percent."""
    order = run_order(rounds)
    results: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="rnnzoo-bench-") as root:
        for index, track in enumerate(order):
            directory = Path(root) / f"{index}-{'tracked' if track else 'untracked'}"
            results[track].append(_search_in_fresh_process(spec, directory, track, verbose))
    return {"spec": str(spec.path), "order": ["tracked" if t else "untracked" for t in order],
            **summarize(results[False], results[True])}
