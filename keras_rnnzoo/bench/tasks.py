"""Long-memory tasks: the adding problem and the copy task.

Both need information carried across a gap of `length` steps, the setting
in which Elman RNNs fail from vanishing gradients and gated cells succeed
(Hochreiter & Schmidhuber, "Long Short-Term Memory", 1997, experiments 4
and 2; the copy-memory form of Arjovsky et al. 2016).

- **adding**: input `(length, 2)`: a value in U(0, 1) and a marker that is 1
  at two steps (one in each half); target: the sum of the two marked values.
  Metric: test MSE. Trivial baseline: always predicting 1, MSE = 1/6.
  Solved: MSE below a tenth of the baseline.
- **copy**: `COPY_SYMBOLS` symbols from an alphabet of 8, then `length`
  blanks, a delimiter, and the model must output the symbols in order.
  Metric: accuracy on the recalled symbols. Trivial baseline: chance, 1/8.
  Solved: accuracy of at least 0.9.

Every cell trains with the same budget (Adam, gradient clipping, `train_steps`
batches of fresh data) and is scored on 512 held-out sequences.
"""

from __future__ import annotations

import time

import numpy as np

TASKS = ("adding", "copy")
DEFAULT_LENGTHS = (50, 200, 1000)
QUICK_LENGTHS = (10, 20)
TASK_CELLS = ("SimpleRNN", "LSTM", "GRU", "MinGRU", "MinLSTM")
COPY_SYMBOLS = 10
COPY_ALPHABET = 8
ADDING_BASELINE_MSE = 1.0 / 6.0
SOLVED_FRACTION_OF_BASELINE = 0.1
COPY_SOLVED_ACCURACY = 0.9
TEST_SEQUENCES = 512


def adding_batch(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """`(inputs (batch, length, 2), targets (batch, 1))` of the adding problem."""
    if length < 2:
        raise ValueError(f"the adding problem needs length >= 2; got {length}.")
    values = rng.uniform(size=(batch, length))
    markers = np.zeros((batch, length))
    half = length // 2
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, length, size=batch)
    rows = np.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return np.stack([values, markers], -1).astype("float32"), targets[:, None].astype("float32")


def copy_batch(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """`(one-hot inputs (batch, T, alphabet + 2), target ids (batch, T))`, T = length + 2 * symbols.

    Ids: 0 blank, 1..8 symbols, 9 delimiter (inputs only). Targets are blank
    except for the last `COPY_SYMBOLS` steps, which hold the symbols.
    """
    if length < 1:
        raise ValueError(f"the copy task needs length >= 1; got {length}.")
    k = COPY_SYMBOLS
    total = length + 2 * k
    symbols = rng.integers(1, COPY_ALPHABET + 1, size=(batch, k))
    ids = np.zeros((batch, total), dtype="int64")
    ids[:, :k] = symbols
    ids[:, k + length - 1] = COPY_ALPHABET + 1  # delimiter: "now repeat"
    targets = np.zeros((batch, total), dtype="int64")
    targets[:, -k:] = symbols
    inputs = np.eye(COPY_ALPHABET + 2, dtype="float32")[ids]
    return inputs, targets


def _model(task: str, cell: str, length: int, units: int, learning_rate: float):
    import keras

    from keras_rnnzoo import layers

    layer_class = getattr(layers, cell, None)
    if layer_class is None:
        raise ValueError(f"unknown cell {cell!r}; choose from {list(TASK_CELLS)}.")
    if task == "adding":
        model = keras.Sequential([keras.Input((length, 2)), layer_class(units), keras.layers.Dense(1)])
        loss = "mse"
    else:
        steps = length + 2 * COPY_SYMBOLS
        model = keras.Sequential(
            [
                keras.Input((steps, COPY_ALPHABET + 2)),
                layer_class(units, return_sequences=True),
                keras.layers.Dense(COPY_ALPHABET + 1),
            ]
        )
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(learning_rate, clipnorm=1.0), loss)
    return model


def run_task(
    task: str,
    cells: list[str],
    lengths: list[int],
    *,
    backend: str,
    units: int = 64,
    batch: int = 64,
    train_steps: int = 2000,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> tuple[list[dict], list[dict]]:
    """Train each cell on `task` at each length; returns `(results, errors)`."""
    import keras

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {list(TASKS)}.")
    make_batch = adding_batch if task == "adding" else copy_batch
    results, errors = [], []
    for length in lengths:
        test_x, test_y = make_batch(np.random.default_rng(10_000 + seed), TEST_SEQUENCES, length)
        for cell in cells:
            keras.utils.set_random_seed(seed)
            rng = np.random.default_rng(seed)
            start = time.perf_counter()
            try:
                model = _model(task, cell, length, units, learning_rate)
                for _ in range(train_steps):
                    model.train_on_batch(*make_batch(rng, batch, length))
                predictions = np.asarray(model.predict(test_x, batch_size=128, verbose=0))
            except Exception as error:  # noqa: BLE001 - reported, the others still run
                errors.append({"contestant": f"{task}/{cell}/{length}", "error": f"{type(error).__name__}: {error}"})
                continue
            if task == "adding":
                value = float(np.mean((predictions - test_y) ** 2))
                baseline = ADDING_BASELINE_MSE
                solved = value < SOLVED_FRACTION_OF_BASELINE * baseline
                metric = "mse"
            else:
                recalled = predictions[:, -COPY_SYMBOLS:].argmax(-1)
                value = float(np.mean(recalled == test_y[:, -COPY_SYMBOLS:]))
                baseline = 1.0 / COPY_ALPHABET
                solved = value >= COPY_SOLVED_ACCURACY
                metric = "accuracy"
            results.append(
                {
                    "backend": backend,
                    "task": task,
                    "cell": cell,
                    "length": length,
                    "units": units,
                    "batch": batch,
                    "train_steps": train_steps,
                    "metric": metric,
                    "value": round(value, 5),
                    "baseline": round(baseline, 5),
                    "solved": bool(solved),
                    "train_seconds": round(time.perf_counter() - start, 2),
                }
            )
    return results, errors
