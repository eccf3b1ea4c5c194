"""Architecture search over the cell registry with keras-tuner, every trial tracked in MLflow.

Needs the `tune` extra (`pip install "keras-rnnzoo[tune]"`: keras-tuner,
mlflow, tensorboard). From Python::

    from keras_rnnzoo.tuning import load_spec, run_search
    summary = run_search(load_spec("tuning/quickstart.toml"))
    summary["best"]

From the shell: `rnnzoo tune tuning/quickstart.toml`.

Modules: `spec` (TOML specs and their validation), `tasks` (data and heads
per task), `hypermodel` (the space over registered cells), `tracking`
(MLflow store, parent and child runs), `tuner` (keras-tuner hooks),
`search` (local / chief / worker runs and the end-of-search bookkeeping),
`distributed` (worker supervision and the single-machine launcher),
`benchmark` (tracking overhead).
"""

from keras_rnnzoo.tuning.spec import SearchSpec, SpecError, load_spec, parse_spec

__all__ = ["SearchSpec", "SpecError", "load_spec", "parse_spec", "run_search"]


def __getattr__(name):
    # keras-tuner and MLflow load only when a search is actually run.
    if name == "run_search":
        from keras_rnnzoo.tuning.search import run_search

        return run_search
    raise AttributeError(f"module 'keras_rnnzoo.tuning' has no attribute {name!r}")
