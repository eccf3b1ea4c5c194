"""Task adapters: turn a spec's data into train/validation arrays and a model head.

One adapter per task type:

- `classification`: sequences `(timesteps, features)` -> one of `classes`
  labels; softmax head, sparse categorical cross-entropy, accuracy.
- `regression`: sequences -> a float vector; linear head, MSE, MAE.
- `forecasting`: one long series `(steps, channels)` cut into windows of
  `lookback` steps that predict the next `horizon` steps of every channel;
  standardized with the statistics of the training part only, split in time
  order (the validation windows come strictly after the training ones).
- `keyword-spotting`, `captioning`, `probabilistic-forecasting`: the zoo
  models' own networks and data (`keras_rnnzoo.tuning.zoo_tasks`).

Example:

>>> from keras_rnnzoo.tuning.spec import DataSpec, TaskSpec
>>> data = prepare_data(TaskSpec("classification"), DataSpec(generator="sequence_classes",
...                     options={"samples": 40, "timesteps": 6}), seed=0)
>>> data.x_train.shape, data.x_val.shape, data.output_size
((32, 6, 2), (8, 6, 2), 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from keras_rnnzoo.tuning.spec import DataSpec, TaskSpec


@dataclass
class TaskData:
    """Arrays of one search plus what the model head needs."""

    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    output_size: int
    labels: list[str] | None = None
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[1:])


def _load_generated(task: TaskSpec, data: DataSpec, seed: int):
    options = dict(data.options)
    options.setdefault("seed", seed)
    if data.generator == "sequence_classes":
        from keras_rnnzoo.data import sequence_classes

        return sequence_classes.generate(**options)
    from keras_rnnzoo.data import seasonal_series

    return seasonal_series.generate(**options)


def _load_file(task: TaskSpec, data: DataSpec):
    from keras_rnnzoo.data import sequence_files

    options = dict(data.options)
    if data.path.suffix == ".npz":
        if task.type == "forecasting":
            arrays = np.load(data.path, allow_pickle=False)
            key = options.get("x_key", "series")
            if key not in arrays:
                raise ValueError(f"{data.path}: no array {key!r}; the file has {list(arrays.keys())}.")
            series = np.asarray(arrays[key], dtype="float32")
            return series[:, None] if series.ndim == 1 else series
        return sequence_files.load_npz(data.path, options.get("x_key", "x"), options.get("y_key", "y"))
    if task.type == "forecasting":
        return sequence_files.load_series_csv(data.path, options["columns"], options.get("time_column"))
    x, y, labels = sequence_files.load_sequence_csv(
        data.path,
        sequence_column=options.get("sequence_column", "sequence"),
        target_column=options.get("target_column", "label" if task.type == "classification" else "target"),
        feature_columns=options.get("feature_columns"),
        numeric_target=task.type == "regression",
    )
    return {"x": x, "y": y, "labels": labels}


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, shuffle: bool):
    count = len(x)
    n_val = max(1, int(round(count * fraction)))
    if n_val >= count:
        raise ValueError(f"validation_split={fraction} leaves no training samples out of {count}.")
    order = np.random.default_rng(seed).permutation(count) if shuffle else np.arange(count)
    train, val = order[: count - n_val], order[count - n_val :]
    return x[train], y[train], x[val], y[val]


def _windows(series: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    count = len(series) - lookback - horizon + 1
    index = np.arange(lookback)[None, :] + np.arange(count)[:, None]
    target = np.arange(horizon)[None, :] + np.arange(count)[:, None] + lookback
    x = series[index]
    y = series[target].reshape(count, -1)
    return x.astype("float32"), y.astype("float32")


def prepare_data(task: TaskSpec, data: DataSpec, seed: int = 0) -> TaskData:
    """Load or generate the data of a spec and split it for training.

    Raises:
        FileNotFoundError: the data file is missing.
        ValueError: the data does not fit the task (shapes, labels, length).
    """
    from keras_rnnzoo.tuning.zoo_tasks import ZOO_TASKS, prepare_zoo_data

    if task.type in ZOO_TASKS:
        return prepare_zoo_data(task, data, seed)
    loaded = _load_generated(task, data, seed) if data.generator else _load_file(task, data)
    source = data.generator or str(data.path)
    if task.type == "forecasting":
        series = np.asarray(loaded, dtype="float32")
        if series.ndim == 1:
            series = series[:, None]
        needed = task.lookback + task.horizon + 1
        if series.ndim != 2 or len(series) < needed * 2:
            raise ValueError(
                f"{source}: forecasting with lookback={task.lookback}, horizon={task.horizon} "
                f"needs a series of at least {needed * 2} steps, got shape {series.shape}."
            )
        if not np.all(np.isfinite(series)):
            raise ValueError(f"{source}: the series holds NaN or infinite values.")
        x, y = _windows(series, task.lookback, task.horizon)
        n_val = max(1, int(round(len(x) * data.validation_split)))
        # Training statistics only: the boundary is the last step any training window sees.
        boundary = len(x) - n_val + task.lookback + task.horizon - 1
        mean = series[:boundary].mean(axis=0)
        std = series[:boundary].std(axis=0) + 1e-6
        x, y = _windows((series - mean) / std, task.lookback, task.horizon)
        return TaskData(
            "forecasting",
            x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:],
            output_size=y.shape[1],
            info={"source": source, "mean": mean.tolist(), "std": std.tolist(),
                  "lookback": task.lookback, "horizon": task.horizon},
        )

    if isinstance(loaded, tuple):
        loaded = {"x": loaded[0], "y": loaded[1]}
    x = np.asarray(loaded["x"], dtype="float32")
    labels = loaded.get("labels")
    if x.ndim != 3:
        raise ValueError(f"{source}: x must have shape (samples, timesteps, features), got {x.shape}.")
    if "x_val" in loaded:
        x_train, y_train = x, np.asarray(loaded["y"])
        x_val, y_val = np.asarray(loaded["x_val"], dtype="float32"), np.asarray(loaded["y_val"])
        if x_val.shape[1:] != x.shape[1:]:
            raise ValueError(f"{source}: x_val steps have shape {x_val.shape[1:]}, x has {x.shape[1:]}.")
    else:
        x_train, y_train, x_val, y_val = _split(x, np.asarray(loaded["y"]), data.validation_split, seed, True)
    if task.type == "classification":
        y_all = np.concatenate([y_train, y_val])
        if not np.issubdtype(y_all.dtype, np.integer) or y_all.ndim != 1 or y_all.min() < 0:
            raise ValueError(
                f"{source}: classification labels must be a 1-D array of integers >= 0, "
                f"got dtype {y_all.dtype} and shape {y_all.shape}."
            )
        classes = int(y_all.max()) + 1
        if classes < 2:
            raise ValueError(f"{source}: classification needs at least 2 classes, found {classes}.")
        return TaskData("classification", x_train, y_train.astype("int32"), x_val, y_val.astype("int32"),
                        output_size=classes, labels=labels, info={"source": source})
    y_train, y_val = y_train.astype("float32"), y_val.astype("float32")
    if y_train.ndim == 1:
        y_train, y_val = y_train[:, None], y_val[:, None]
    return TaskData("regression", x_train, y_train, x_val, y_val, output_size=y_train.shape[1],
                    info={"source": source})


def head_and_loss(task: str, output_size: int):
    """`(output layer, loss, metrics)` of a task."""
    import keras

    if task == "classification":
        return keras.layers.Dense(output_size, activation="softmax", name="head"), \
            "sparse_categorical_crossentropy", ["accuracy"]
    return keras.layers.Dense(output_size, name="head"), "mse", ["mae"]
