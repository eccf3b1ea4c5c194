"""`rnnzoo tune SPEC`: architecture search over the cell registry, tracked in MLflow.

    rnnzoo tune tuning/quickstart.toml                      # embedded SQLite store
    rnnzoo tune SPEC --tracking-uri http://mlflow:5000      # a tracking server
    rnnzoo tune SPEC --workers 2                            # chief + 2 workers here
    rnnzoo tune SPEC --chief 10.0.0.1:8470 --tracking-uri http://10.0.0.1:5000 --dir /shared/tune
    rnnzoo tune SPEC --worker 1 --chief 10.0.0.1:8470 --dir /shared/tune
    rnnzoo tune SPEC --benchmark-tracking --rounds 2        # per-trial time with / without MLflow

Rerunning the same command after an interruption resumes the search.
"""

from __future__ import annotations

import contextlib
import sys

import click
from rich.table import Table

from keras_rnnzoo.cli.app import app, console, json_option, print_json


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _leaderboard(summary: dict) -> Table:
    objective = summary["objective"]
    searched = summary.get("searched") or []
    table = Table(title=f"{summary['project']}: {objective['name']} ({objective['direction']})")
    for column in ("#", "trial", "status", objective["name"], *searched, "MLflow run"):
        table.add_column(column, no_wrap=column in ("trial", "MLflow run"))
    best = (summary.get("best") or {}).get("trial_id")
    for rank, row in enumerate(summary["trials"], start=1):
        style = "bold green" if row["trial_id"] == best else None
        table.add_row(
            str(rank), row["trial_id"], row["status"], _format(row["score"]),
            *(_format(row["hyperparameters"].get(key)) for key in searched),
            (row["run_id"] or "-")[:12], style=style,
        )
    return table


@app.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Working directory (tuner state, default MLflow store). Default: the spec's `directory`.")
@click.option("--tracking-uri", default=None,
              help="MLflow tracking URI (http://HOST:PORT for a server). Default: sqlite:///DIR/mlflow.db.")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow (keras-tuner only).")
@click.option("--overwrite", is_flag=True, help="Start over instead of resuming (refused on workers).")
@click.option("--chief", default=None, metavar="HOST:PORT", help="Address of the chief (oracle) of a distributed search.")
@click.option("--worker", default=None, metavar="ID", help="Run as worker ID of the chief given by --chief.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Run a chief and N supervised workers on this machine.")
@click.option("--max-restarts", type=click.IntRange(min=0), default=3, show_default=True,
              help="Restarts of a dead worker before giving up.")
@click.option("--supervised", is_flag=True, hidden=True, help="(internal) run the worker itself, unsupervised.")
@click.option("--benchmark-tracking", is_flag=True,
              help="Run the search without and with MLflow (fresh processes, ABBA order, temporary folders) and "
                   "report per-trial times.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True,
              help="With --benchmark-tracking: ABBA rounds (each round runs both conditions once).")
@click.option("--verbose", type=click.IntRange(0, 2), default=0, show_default=True, help="Keras fit verbosity.")
@json_option
def tune(spec, directory, tracking_uri, no_tracking, overwrite, chief, worker, workers, max_restarts,
         supervised, benchmark_tracking, rounds, verbose, json_output) -> None:
    """Search recurrent architectures (cells from the registry) as described by SPEC (a TOML file)."""
    from keras_rnnzoo.tuning.spec import load_spec

    if worker is not None and chief is None:
        raise click.UsageError("--worker needs --chief HOST:PORT.")
    if worker is not None and overwrite:
        raise click.UsageError(
            f"Refusing --overwrite on worker {worker!r}: it would delete the shared directory that the chief "
            "and the other workers use. Overwrite on the chief only."
        )
    if workers is not None and worker is not None:
        raise click.UsageError("--workers launches its own workers; do not combine it with --worker.")
    if benchmark_tracking and (chief or worker or workers):
        raise click.UsageError("--benchmark-tracking runs a local search; drop --chief/--worker/--workers.")
    if no_tracking and tracking_uri:
        raise click.UsageError("--no-tracking and --tracking-uri contradict each other.")
    if chief is not None:
        from keras_rnnzoo.tuning.search import parse_address

        try:
            parse_address(chief)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--chief") from None

    search_spec = load_spec(spec, directory=directory)
    out = sys.stderr if json_output else None
    redirect = contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext()
    with redirect:
        if benchmark_tracking:
            from keras_rnnzoo.tuning.benchmark import tracking_overhead

            result = tracking_overhead(search_spec, rounds=rounds, verbose=verbose)
        elif worker is not None and not supervised:
            from keras_rnnzoo.tuning.distributed import supervise_worker

            code = supervise_worker(search_spec.path, search_spec.directory, search_spec.name, worker, chief,
                                    tracking_uri=tracking_uri, track=not no_tracking, verbose=verbose,
                                    max_restarts=max_restarts)
            if code != 0:
                raise RuntimeError(f"worker {worker} stopped with exit code {code}; see its log in "
                                   f"{search_spec.directory}/{search_spec.name}/workers/")
            result = {"role": "worker", "worker": worker, "exit_code": code}
        elif workers is not None:
            from keras_rnnzoo.tuning.distributed import launch_local

            result = launch_local(search_spec, workers, tracking_uri=tracking_uri, track=not no_tracking,
                                  overwrite=overwrite, verbose=verbose, max_restarts=max_restarts, chief=chief)
        else:
            from keras_rnnzoo.tuning.search import run_search

            role = "worker" if worker is not None else "chief" if chief is not None else "local"
            result = run_search(search_spec, tracking_uri=tracking_uri, track=not no_tracking, overwrite=overwrite,
                                role=role, chief=chief, worker=worker, verbose=verbose)
    if json_output:
        print_json(result)
        return
    if benchmark_tracking:
        console.print(
            f"per-trial time without tracking: {result['untracked_mean_s']:.2f} s, with MLflow: "
            f"{result['tracked_mean_s']:.2f} s, overhead {result['overhead_percent']:+.1f}% "
            f"({result['trials']} trials, {result['runs_per_condition']} fresh runs each, ABBA order); time inside MLflow calls: {result['tracking_mean_s']:.3f} s "
            f"per trial, {result['tracking_share_percent']:.2f}% of trial time"
        )
        return
    if result.get("role") == "worker":
        console.print(f"worker {result.get('tuner_id', worker)} done.")
        return
    console.print(_leaderboard(result))
    tracking_info = result.get("tracking")
    best = result.get("best")
    if best and best.get("registered_model"):
        model = best["registered_model"]
        console.print(f"best: trial {best['trial_id']} -> registered model {model['name']} v{model['version']} "
                      f"(run {best['run_id']})", soft_wrap=True)
    if tracking_info:
        console.print(f"MLflow: experiment {tracking_info['experiment']!r} (id {tracking_info['experiment_id']}), "
                      f"parent run {tracking_info['parent_run_id']}", soft_wrap=True)
        console.print(f"open the MLflow UI: {tracking_info['ui']}", soft_wrap=True, highlight=False)
