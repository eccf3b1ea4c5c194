"""Loaders for users' sequence data in `.npz` and `.csv` files.

Three shapes of data, as the tuning tasks need them:

- `load_npz(path)`: arrays `x` `(samples, timesteps, features)` and `y`
  (the key names are arguments), optionally `x_val` / `y_val`.
- `load_sequence_csv(path)`: a long table, one row per time step, with a
  sequence-id column, feature columns and a target column that is constant
  within a sequence; every sequence must have the same length.
- `load_series_csv(path)`: a wide table of one or more numeric series (one
  row per time step) for forecasting.

Errors name the file, the column or key, and the offending value.

Example:

>>> import numpy as np, tempfile, os
>>> from keras_rnnzoo.data import sequence_files
>>> path = os.path.join(tempfile.mkdtemp(), "seq.csv")
>>> with open(path, "w") as f:
...     _ = f.write("sequence,a,b,label\\n0,1,2,cat\\n0,3,4,cat\\n1,5,6,dog\\n1,7,8,dog\\n")
>>> x, y, labels = sequence_files.load_sequence_csv(path)
>>> x.shape, y.tolist(), labels
((2, 2, 2), [0, 1], ['cat', 'dog'])
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path

import numpy as np


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    return path


def load_npz(
    path: str | Path, x_key: str = "x", y_key: str = "y"
) -> dict[str, np.ndarray]:
    """Arrays of a `.npz` file: `x`, `y` and, when present, `x_val`, `y_val`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: a key is missing, `x` is not 3-D, or lengths differ.
    """
    path = _existing(path, "data")
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        result = {}
        for role, key in (("x", x_key), ("y", y_key)):
            if key not in archive:
                raise ValueError(f"{path}: no array {key!r} (the {role} key); the file has {keys}.")
            result[role] = archive[key]
        for role in ("x_val", "y_val"):
            name = f"{x_key}_val" if role == "x_val" else f"{y_key}_val"
            if name in archive:
                result[role] = archive[name]
    if ("x_val" in result) != ("y_val" in result):
        raise ValueError(f"{path}: has only one of {x_key}_val / {y_key}_val; give both or neither.")
    for x_role, y_role in (("x", "y"), ("x_val", "y_val")):
        if x_role not in result:
            continue
        x, y = result[x_role], result[y_role]
        if x.ndim != 3:
            raise ValueError(
                f"{path}: {x_role} must have shape (samples, timesteps, features), got {x.shape}."
            )
        if len(x) != len(y):
            raise ValueError(f"{path}: {x_role} has {len(x)} samples but {y_role} has {len(y)}.")
    return result


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: the CSV file is empty.") from None
        rows = [row for row in reader if row]
    if not rows:
        raise ValueError(f"{path}: the CSV file has a header but no rows.")
    return header, rows


def _column_index(path: Path, header: list[str], column: str, role: str) -> int:
    if column not in header:
        raise ValueError(f"{path}: no column {column!r} ({role}); columns are {header}.")
    return header.index(column)


def _to_float(path: Path, value: str, column: str, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"{path}, line {line}: column {column!r} holds {value!r}, not a number."
        ) from None


def load_sequence_csv(
    path: str | Path,
    sequence_column: str = "sequence",
    target_column: str = "label",
    feature_columns: list[str] | None = None,
    numeric_target: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Sequences from a long CSV table: `(x, y, labels)`.

    Rows with the same `sequence_column` value form one sequence, in file
    order. Features are `feature_columns` (default: every other column).
    With `numeric_target=False` the targets are class names, returned as
    indices into the sorted `labels`; otherwise `y` is float32 and `labels`
    is `None`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: a column is missing, a value is not numeric, sequences
            differ in length, or a sequence has more than one target.
    """
    path = _existing(path, "data")
    header, rows = _read_rows(path)
    seq_index = _column_index(path, header, sequence_column, "sequence_column")
    target_index = _column_index(path, header, target_column, "target_column")
    if feature_columns is None:
        feature_columns = [c for c in header if c not in (sequence_column, target_column)]
    if not feature_columns:
        raise ValueError(f"{path}: no feature columns besides {sequence_column!r} and {target_column!r}.")
    feature_indices = [_column_index(path, header, c, "feature_columns") for c in feature_columns]
    sequences: OrderedDict[str, list[list[float]]] = OrderedDict()
    targets: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}.")
        key = row[seq_index]
        target = row[target_index].strip()
        if key in targets and targets[key] != target:
            raise ValueError(
                f"{path}, line {line}: sequence {key!r} has target {target!r} "
                f"but earlier rows have {targets[key]!r}."
            )
        targets[key] = target
        sequences.setdefault(key, []).append(
            [_to_float(path, row[i], header[i], line) for i in feature_indices]
        )
    lengths = {len(steps) for steps in sequences.values()}
    if len(lengths) > 1:
        first = next(iter(sequences))
        odd = next(k for k, s in sequences.items() if len(s) != len(sequences[first]))
        raise ValueError(
            f"{path}: sequences must have equal length; {first!r} has "
            f"{len(sequences[first])} rows but {odd!r} has {len(sequences[odd])}."
        )
    x = np.asarray(list(sequences.values()), dtype="float32")
    raw = [targets[k] for k in sequences]
    if numeric_target:
        y = np.asarray([_to_float(path, v, target_column, 0) for v in raw], dtype="float32")
        return x, y, None
    labels = sorted(set(raw))
    lookup = {label: index for index, label in enumerate(labels)}
    return x, np.asarray([lookup[v] for v in raw], dtype="int32"), labels


def load_series_csv(
    path: str | Path, columns: list[str], time_column: str | None = None
) -> np.ndarray:
    """Numeric `columns` of a CSV file as float32 `(steps, len(columns))`.

    With `time_column`, rows are sorted by it (numerically when possible).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: a column is missing or holds a non-numeric value.
    """
    path = _existing(path, "data")
    header, rows = _read_rows(path)
    if not columns:
        raise ValueError(f"{path}: no series columns given.")
    indices = [_column_index(path, header, c, "columns") for c in columns]
    numbered = list(enumerate(rows, start=2))
    if time_column is not None:
        time_index = _column_index(path, header, time_column, "time_column")
        try:
            numbered.sort(key=lambda item: float(item[1][time_index]))
        except ValueError:
            numbered.sort(key=lambda item: item[1][time_index])
    values = [
        [_to_float(path, row[i], header[i], line) for i in indices] for line, row in numbered
    ]
    return np.asarray(values, dtype="float32")
