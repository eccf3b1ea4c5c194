"""Search specs: `tuning/*.toml` files, loaded and validated into a `SearchSpec`.

A spec names the task, the data, the search space over the cell registry,
the objective, the oracle and the budget. Everything is checked on load,
before anything is trained or written: errors are `ValueError` (or
`FileNotFoundError` for a missing data file) whose message starts with the
spec file and the dotted key, e.g. ``quickstart.toml: space.cell: unknown
cell 'lstn'; registered cells: ...``.

A minimal spec::

    name = "quickstart"
    seed = 7

    [task]
    type = "classification"          # classification | regression | forecasting

    [data]
    generator = "sequence_classes"   # or: path = "my_data.npz" / "my_data.csv"
    samples = 480

    [space]                          # a value, a list (choice) or a {min, max} range
    cell = ["gru", "lstm"]           # "*" for every registered cell
    units = [8, 16]
    depth = { min = 1, max = 2 }
    learning_rate = { min = 1e-3, max = 1e-2, sampling = "log" }

    [objective]
    name = "val_accuracy"

    [oracle]
    type = "random"                  # random | grid | bayesian | hyperband

    [budget]
    max_trials = 4
    epochs = 2

    [tracking]
    registered_model = "rnnzoo-quickstart"

Example:

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "s.toml")
>>> with open(path, "w") as f:
...     _ = f.write('name = "s"\\n[task]\\ntype = "classification"\\n[data]\\ngenerator = "sequence_classes"\\n'
...                 '[space]\\ncell = ["gru"]\\nunits = [4, 8]\\n')
>>> spec = load_spec(path)
>>> spec.task.type, spec.objective.name, spec.objective.direction, spec.space["units"].values
('classification', 'val_accuracy', 'max', [4, 8])
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASK_TYPES = ("classification", "regression", "forecasting", "keyword-spotting", "captioning",
              "probabilistic-forecasting")
FORECASTING_TASKS = ("forecasting", "probabilistic-forecasting")  # the ones with lookback and horizon
ORACLE_TYPES = ("random", "grid", "bayesian", "hyperband")
GENERATORS = {
    "classification": ("sequence_classes",),
    "regression": (),
    "forecasting": ("seasonal_series",),
    "keyword-spotting": (),
    "captioning": ("shapes",),
    "probabilistic-forecasting": ("series",),
}
# name -> (kind, minimum, maximum) of every tunable hyperparameter.
SPACE_KEYS: dict[str, tuple[str, float | None, float | None]] = {
    "cell": ("str", None, None),
    "units": ("int", 1, None),
    "depth": ("int", 1, 8),
    "bidirectional": ("bool", None, None),
    "dropout": ("float", 0.0, 0.95),
    "learning_rate": ("float", 1e-7, 10.0),
    "clipnorm": ("float", 0.0, None),
}
SPACE_DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "units": 32,
    "depth": 1,
    "bidirectional": False,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "clipnorm": 0.0,
}
TASK_METRICS = {
    "classification": {"loss": "min", "accuracy": "max"},
    "regression": {"loss": "min", "mae": "min"},
    "forecasting": {"loss": "min", "mae": "min"},
    "keyword-spotting": {"loss": "min", "accuracy": "max"},
    "captioning": {"loss": "min"},
    "probabilistic-forecasting": {"loss": "min"},
}
DEFAULT_OBJECTIVE = {"classification": "val_accuracy", "regression": "val_loss", "forecasting": "val_loss",
                     "keyword-spotting": "val_accuracy", "captioning": "val_loss", "probabilistic-forecasting": "val_loss"}
# Hyperparameters a zoo network cannot vary: the value it needs and why.
FIXED_BY_TASK: dict[str, dict[str, tuple[Any, str]]] = {
    "keyword-spotting": {"bidirectional": (False, "the keyword spotter streams, so its layers run forward only")},
    "captioning": {"depth": (1, "the attention decoder has one recurrent cell"),
                   "bidirectional": (False, "the decoder generates words left to right")},
    "probabilistic-forecasting": {
        "depth": (1, "the forecaster's encoder-decoder has a fixed depth"),
        "bidirectional": (False, "the decoder runs forward from the encoder's state"),
        "dropout": (0.0, "the forecaster has no dropout"),
    },
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = ("name", "seed", "directory", "task", "data", "space", "objective", "oracle", "budget", "tracking")


class SpecError(ValueError):
    """A spec value is invalid; the message names the file, the key and the value."""


@dataclass(frozen=True)
class Choice:
    """A hyperparameter: a fixed value (`values` of one), a choice, or a range."""

    name: str
    kind: str  # "str" | "int" | "float" | "bool"
    values: list | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: str = "linear"

    @property
    def is_range(self) -> bool:
        return self.values is None

    def describe(self) -> str:
        if self.values is not None:
            return repr(self.values[0]) if len(self.values) == 1 else repr(self.values)
        step = f", step {self.step}" if self.step else ""
        return f"[{self.min}, {self.max}{step}, {self.sampling}]"


@dataclass(frozen=True)
class TaskSpec:
    type: str
    lookback: int = 24
    horizon: int = 1


@dataclass(frozen=True)
class DataSpec:
    generator: str | None = None
    path: Path | None = None
    options: dict = field(default_factory=dict)
    validation_split: float = 0.2


@dataclass(frozen=True)
class ObjectiveSpec:
    name: str
    direction: str


@dataclass(frozen=True)
class OracleSpec:
    type: str
    options: dict = field(default_factory=dict)
    max_retries_per_trial: int = 0
    max_consecutive_failed_trials: int = 3


@dataclass(frozen=True)
class BudgetSpec:
    max_trials: int = 10
    epochs: int = 2
    batch_size: int = 32


@dataclass(frozen=True)
class TrackingSpec:
    experiment: str
    registered_model: str
    log_trial_models: bool = False


@dataclass(frozen=True)
class SearchSpec:
    """A validated search spec (see the module docstring for the format)."""

    path: Path
    name: str
    seed: int
    directory: Path
    task: TaskSpec
    data: DataSpec
    space: dict[str, Choice]
    objective: ObjectiveSpec
    oracle: OracleSpec
    budget: BudgetSpec
    tracking: TrackingSpec
    raw: dict = field(repr=False, default_factory=dict)

    def fingerprint(self) -> str:
        """sha256 of everything that defines the search (not where it is tracked)."""
        keys = ("task", "data", "space", "objective", "oracle", "budget", "seed")
        text = json.dumps({k: self.raw.get(k) for k in keys}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def searched(self) -> list[str]:
        """Names of the hyperparameters with more than one possible value."""
        return [n for n, c in self.space.items() if c.is_range or len(c.values) > 1]


class _Checker:
    """Error helpers that prefix every message with the spec file name."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path.name}: {key}: {message}")

    def table(self, raw: dict, key: str, allowed: tuple[str, ...] | None) -> dict:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), got {value!r}.")
        if allowed is not None:
            for name in value:
                if name not in allowed:
                    raise self.fail(f"{key}.{name}", f"unknown key; allowed keys: {', '.join(allowed)}.")
        return value

    def integer(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be an integer >= {minimum}, got {value!r}.")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value!r}.")
        return value

    def string(self, value: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}.")
        if choices is not None and value not in choices:
            raise self.fail(key, f"unknown value {value!r}; choose from {', '.join(choices)}.")
        return value


def load_spec(path: str | Path, *, directory: str | Path | None = None) -> SearchSpec:
    """Read and validate a TOML search spec.

    Args:
        path: the `.toml` file.
        directory: working directory of the search (tuner state, default
            MLflow store); overrides the spec's `directory` key. Relative
            paths are relative to the current directory.

    Raises:
        FileNotFoundError: the spec or its data file does not exist.
        SpecError: (a `ValueError`) a key or value is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Search spec not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path.name}: not valid TOML: {error}") from None
    return parse_spec(raw, path, directory=directory)


def parse_spec(raw: dict, path: str | Path, *, directory: str | Path | None = None) -> SearchSpec:
    """Validate an already-parsed spec dict (`path` names it in errors and anchors data paths)."""
    path = Path(path)
    check = _Checker(path)
    for key in raw:
        if key not in _TOP_KEYS:
            raise check.fail(key, f"unknown key; allowed top-level keys: {', '.join(_TOP_KEYS)}.")
    name = check.string(raw.get("name", path.stem), "name")
    if not _NAME.match(name):
        raise check.fail("name", f"{name!r} may hold only letters, digits, '_', '-' and '.'.")
    seed = check.integer(raw.get("seed", 0), "seed")
    work_dir = Path(directory) if directory is not None else Path(
        check.string(raw.get("directory", ".rnnzoo/tune"), "directory")
    )

    task = _parse_task(check, raw)
    data = _parse_data(check, raw, task, path)
    space = _parse_space(check, raw)
    _check_fixed_by_task(check, space, task)
    objective = _parse_objective(check, raw, task)
    oracle = _parse_oracle(check, raw)
    budget = _parse_budget(check, raw)
    tracking_raw = check.table(raw, "tracking", ("experiment", "registered_model", "log_trial_models"))
    tracking = TrackingSpec(
        experiment=check.string(tracking_raw.get("experiment", f"rnnzoo-{name}"), "tracking.experiment"),
        registered_model=check.string(
            tracking_raw.get("registered_model", f"rnnzoo-{name}"), "tracking.registered_model"
        ),
        log_trial_models=_boolean(check, tracking_raw.get("log_trial_models", False), "tracking.log_trial_models"),
    )
    if oracle.type == "grid":
        for choice in space.values():
            if choice.is_range and choice.kind == "float" and not choice.step:
                raise check.fail(
                    f"space.{choice.name}",
                    "the grid oracle needs a discrete space: give this float range a `step` or a list.",
                )
    if oracle.type == "hyperband" and budget.epochs < 2:
        raise check.fail("budget.epochs", f"hyperband needs at least 2 epochs (its max_epochs), got {budget.epochs}.")
    return SearchSpec(
        path=path.resolve(),
        name=name,
        seed=seed,
        directory=work_dir,
        task=task,
        data=data,
        space=space,
        objective=objective,
        oracle=oracle,
        budget=budget,
        tracking=tracking,
        raw=raw,
    )


def _boolean(check: _Checker, value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise check.fail(key, f"must be true or false, got {value!r}.")
    return value


def _parse_task(check: _Checker, raw: dict) -> TaskSpec:
    task_raw = raw.get("task")
    if task_raw is None:
        raise check.fail("task", f"missing; add [task] with type = one of {', '.join(TASK_TYPES)}.")
    if isinstance(task_raw, str):
        task_raw = {"type": task_raw}
    task_raw = check.table({"task": task_raw}, "task", ("type", "lookback", "horizon"))
    task_type = check.string(task_raw.get("type"), "task.type", TASK_TYPES)
    if task_type not in FORECASTING_TASKS:
        for key in ("lookback", "horizon"):
            if key in task_raw:
                raise check.fail(f"task.{key}", f"only applies to forecasting tasks, not {task_type!r}.")
        return TaskSpec(task_type)
    return TaskSpec(
        task_type,
        lookback=check.integer(task_raw.get("lookback", 24), "task.lookback", 2),
        horizon=check.integer(task_raw.get("horizon", 1), "task.horizon", 1),
    )


_FILE_OPTIONS = {
    "classification": ("x_key", "y_key", "sequence_column", "target_column", "feature_columns"),
    "regression": ("x_key", "y_key", "sequence_column", "target_column", "feature_columns"),
    "forecasting": ("columns", "time_column"),
    "keyword-spotting": (),
    "captioning": ("format", "image_dir", "image_size", "max_length"),
    "probabilistic-forecasting": ("columns", "time_column", "season_length", "windows_per_series"),
}
_GENERATOR_OPTIONS = {
    "sequence_classes": ("samples", "timesteps", "features", "classes", "noise", "seed"),
    "seasonal_series": ("length", "channels", "period", "trend", "noise", "seed"),
    "shapes": ("samples", "image_size"),
    "series": ("count", "windows_per_series"),
}
# What `data.path` names for each task.
_PATH_KINDS = {
    "classification": ("file", (".npz", ".csv"), "a .npz or .csv file"),
    "regression": ("file", (".npz", ".csv"), "a .npz or .csv file"),
    "forecasting": ("file", (".npz", ".csv"), "a .npz or .csv file"),
    "keyword-spotting": ("folder", None, "a Speech Commands v2 folder"),
    "captioning": ("file", (".json", ".txt"), "a COCO captions .json or a Flickr8k token .txt file"),
    "probabilistic-forecasting": ("file", (".csv",), "a .csv file of series columns"),
}


def _parse_data(check: _Checker, raw: dict, task: TaskSpec, spec_path: Path) -> DataSpec:
    data_raw = check.table(raw, "data", None)
    generator, file = data_raw.get("generator"), data_raw.get("path")
    if (generator is None) == (file is None):
        raise check.fail("data", "give exactly one of `generator` (bundled data) or `path` (a .npz or .csv file).")
    split = data_raw.get("validation_split", 0.2)
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
        raise check.fail("data.validation_split", f"must be a number in (0, 1), got {split!r}.")
    options = {k: v for k, v in data_raw.items() if k not in ("generator", "path", "validation_split")}
    if generator is not None:
        if not GENERATORS[task.type]:
            raise check.fail("data.generator", f"no bundled generator for task {task.type!r}; give data.path instead.")
        generator = check.string(generator, "data.generator", GENERATORS[task.type])
        allowed = _GENERATOR_OPTIONS[generator]
        for key, value in options.items():
            if key not in allowed:
                raise check.fail(f"data.{key}", f"unknown option of generator {generator!r}; allowed: {', '.join(allowed)}.")
            check.number(value, f"data.{key}")
        return DataSpec(generator=generator, options=options, validation_split=float(split))
    file = Path(check.string(file, "data.path"))
    if not file.is_absolute():
        file = spec_path.resolve().parent / file
    return _data_path(check, task, file, options, float(split), spec_path)


def _data_path(check: _Checker, task: TaskSpec, file: Path, options: dict, split: float, spec_path: Path) -> DataSpec:
    kind, suffixes, what = _PATH_KINDS[task.type]
    if kind == "folder" and not file.is_dir():
        raise FileNotFoundError(f"{spec_path.name}: data.path: {task.type} needs {what}; no folder {file}")
    if kind == "file":
        if file.suffix not in suffixes:
            raise check.fail("data.path", f"unsupported file type {file.suffix!r} of {str(file)!r}: {task.type} "
                                          f"needs {what}.")
        if not file.is_file():
            raise FileNotFoundError(f"{spec_path.name}: data.path: data file not found: {file}")
    allowed = _FILE_OPTIONS[task.type]
    for key in options:
        if key not in allowed:
            raise check.fail(f"data.{key}", f"unknown option for {task.type} data; allowed: {', '.join(allowed) or 'none'}.")
    if task.type == "captioning":
        if options.get("format") not in ("coco", "flickr8k"):
            raise check.fail("data.format", f"must be 'coco' or 'flickr8k', got {options.get('format')!r}.")
        if "image_dir" in options:
            image_dir = Path(check.string(options["image_dir"], "data.image_dir"))
            options["image_dir"] = image_dir if image_dir.is_absolute() else spec_path.resolve().parent / image_dir
    if task.type in FORECASTING_TASKS and file.suffix == ".csv" and "columns" not in options:
        raise check.fail("data.columns", "required for a forecasting CSV: the list of series columns.")
    return DataSpec(path=file, options=options, validation_split=split)


def _check_fixed_by_task(check: _Checker, space: dict[str, Choice], task: TaskSpec) -> None:
    for name, (needed, reason) in FIXED_BY_TASK.get(task.type, {}).items():
        choice = space[name]
        if choice.values != [needed]:
            raise check.fail(f"space.{name}", f"must be {needed!r} for {task.type} ({reason}); got {choice.describe()}.")


def _parse_space(check: _Checker, raw: dict) -> dict[str, Choice]:
    from keras_rnnzoo import registry

    space_raw = check.table(raw, "space", tuple(SPACE_KEYS))
    if "cells" in space_raw:  # tolerated plural spelling would hide typos elsewhere
        raise check.fail("space.cells", "unknown key; did you mean `cell`?")
    space: dict[str, Choice] = {}
    for name, (kind, low, high) in SPACE_KEYS.items():
        value = space_raw.get(name, SPACE_DEFAULTS[name])
        key = f"space.{name}"
        if name == "cell" and value == "*":
            value = registry.list_cells()
        if isinstance(value, dict):
            space[name] = _parse_range(check, key, name, kind, value, low, high)
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            raise check.fail(key, "empty list: give at least one value.")
        cleaned = []
        for item in values:
            cleaned.append(_check_value(check, key, kind, item, low, high))
        if len(set(map(repr, cleaned))) != len(cleaned):
            raise check.fail(key, f"duplicate values in {values!r}.")
        if name == "cell":
            known = registry.list_cells()
            for cell in cleaned:
                if cell not in known:
                    raise check.fail(key, f"unknown cell {cell!r}; registered cells: {', '.join(known)}.")
        space[name] = Choice(name, kind, values=cleaned)
    return space


def _check_value(check: _Checker, key: str, kind: str, item: Any, low, high):
    if kind == "str":
        return check.string(item, key)
    if kind == "bool":
        return _boolean(check, item, key)
    if kind == "int" and (isinstance(item, bool) or not isinstance(item, int)):
        raise check.fail(key, f"must be an integer, got {item!r}.")
    item = check.number(item, key)
    if low is not None and item < low or high is not None and item > high:
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise check.fail(key, f"value {item!r} out of bounds; must be {bounds}.")
    return float(item) if kind == "float" else item


def _parse_range(check: _Checker, key: str, name: str, kind: str, value: dict, low, high) -> Choice:
    if kind in ("str", "bool"):
        raise check.fail(key, f"a {{min, max}} range needs a numeric hyperparameter; give a list of values instead of {value!r}.")
    for option in value:
        if option not in ("min", "max", "step", "sampling"):
            raise check.fail(f"{key}.{option}", "unknown key; a range has min, max, step and sampling.")
    if "min" not in value or "max" not in value:
        raise check.fail(key, f"a range needs both min and max, got {value!r}.")
    minimum = _check_value(check, f"{key}.min", kind, value["min"], low, high)
    maximum = _check_value(check, f"{key}.max", kind, value["max"], low, high)
    if minimum >= maximum:
        raise check.fail(key, f"empty range: min={value['min']!r} must be below max={value['max']!r}.")
    sampling = check.string(value.get("sampling", "linear"), f"{key}.sampling", ("linear", "log", "reverse_log"))
    if sampling != "linear" and minimum <= 0:
        raise check.fail(f"{key}.sampling", f"{sampling} sampling needs min > 0, got min={value['min']!r}.")
    step = value.get("step")
    if step is not None:
        step = check.number(step, f"{key}.step")
        if step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise check.fail(f"{key}.step", f"must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}.")
        if sampling == "linear" and step > maximum - minimum:
            raise check.fail(f"{key}.step", f"step {step!r} is larger than the range [{minimum}, {maximum}].")
    return Choice(name, kind, min=minimum, max=maximum, step=step, sampling=sampling)


def _parse_objective(check: _Checker, raw: dict, task: TaskSpec) -> ObjectiveSpec:
    objective_raw = raw.get("objective", {})
    if isinstance(objective_raw, str):
        objective_raw = {"name": objective_raw}
    objective_raw = check.table({"objective": objective_raw}, "objective", ("name", "direction"))
    name = check.string(objective_raw.get("name", DEFAULT_OBJECTIVE[task.type]), "objective.name")
    metrics = TASK_METRICS[task.type]
    known = [*metrics, *(f"val_{m}" for m in metrics)]
    if name not in known:
        raise check.fail(
            "objective.name", f"unknown objective {name!r} for task {task.type!r}; choose from {', '.join(known)}."
        )
    inferred = metrics[name.removeprefix("val_")]
    direction = check.string(objective_raw.get("direction", inferred), "objective.direction", ("min", "max"))
    if direction != inferred:
        raise check.fail(
            "objective.direction", f"{direction!r} contradicts {name!r}, which is better when {inferred}imized."
        )
    return ObjectiveSpec(name, direction)


_ORACLE_OPTIONS = {
    "random": (),
    "grid": (),
    "bayesian": ("num_initial_points", "alpha", "beta"),
    "hyperband": ("factor", "hyperband_iterations"),
}


def _parse_oracle(check: _Checker, raw: dict) -> OracleSpec:
    oracle_raw = raw.get("oracle", {})
    if isinstance(oracle_raw, str):
        oracle_raw = {"type": oracle_raw}
    oracle_raw = check.table({"oracle": oracle_raw}, "oracle", None)
    oracle_type = check.string(oracle_raw.get("type", "random"), "oracle.type", ORACLE_TYPES)
    common = ("type", "max_retries_per_trial", "max_consecutive_failed_trials")
    allowed = (*common, *_ORACLE_OPTIONS[oracle_type])
    options = {}
    for key, value in oracle_raw.items():
        if key not in allowed:
            raise check.fail(f"oracle.{key}", f"unknown option of the {oracle_type} oracle; allowed: {', '.join(allowed)}.")
        if key not in common:
            options[key] = check.number(value, f"oracle.{key}")
    if "factor" in options and (not isinstance(options["factor"], int) or options["factor"] < 2):
        raise check.fail("oracle.factor", f"must be an integer >= 2, got {options['factor']!r}.")
    return OracleSpec(
        oracle_type,
        options,
        max_retries_per_trial=check.integer(oracle_raw.get("max_retries_per_trial", 0), "oracle.max_retries_per_trial"),
        max_consecutive_failed_trials=check.integer(
            oracle_raw.get("max_consecutive_failed_trials", 3), "oracle.max_consecutive_failed_trials", 1
        ),
    )


def _parse_budget(check: _Checker, raw: dict) -> BudgetSpec:
    budget_raw = check.table(raw, "budget", ("max_trials", "epochs", "batch_size"))
    return BudgetSpec(
        max_trials=check.integer(budget_raw.get("max_trials", 10), "budget.max_trials", 1),
        epochs=check.integer(budget_raw.get("epochs", 2), "budget.epochs", 1),
        batch_size=check.integer(budget_raw.get("batch_size", 32), "budget.batch_size", 1),
    )
