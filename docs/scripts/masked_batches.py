"""Masked batches on the PyTorch backend: `train_on_batch` / `predict_on_batch` ms of a Masking layer, an LSTM or GRU and a dense layer.

Usage: python docs/scripts/masked_batches.py REPEATS LABEL
(batch 64 x 100 steps x 40 inputs x 128 units; right-padded rows of 30-100 steps, and the same batch with nothing masked)
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_rnnzoo import layers  # noqa: E402
from keras_rnnzoo.bench.common import median_ms, time_call  # noqa: E402

BATCH, TIME, FEATURES, UNITS = 64, 100, 40, 128


def main(repeats: int, label: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, TIME, FEATURES)).astype("float32")
    lengths = rng.integers(30, TIME + 1, BATCH)
    padded = x * (np.arange(TIME)[None, :, None] < lengths[:, None, None])
    y = rng.standard_normal((BATCH, 1)).astype("float32")
    cases = {"GRU right-padded": (layers.GRU, padded), "GRU nothing masked": (layers.GRU, x),
             "LSTM right-padded": (layers.LSTM, padded), "LSTM nothing masked": (layers.LSTM, x)}
    results = []
    for name, (layer_class, data) in cases.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((TIME, FEATURES)), keras.layers.Masking(0.0), layer_class(UNITS), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        for _ in range(2):  # warm-up
            model.train_on_batch(data, y)
        train = [time_call(lambda: model.train_on_batch(data, y)) for _ in range(repeats)]
        infer = [time_call(lambda: model.predict_on_batch(data)) for _ in range(repeats)]
        results.append(f"{name}: train {median_ms(train):.1f} infer {median_ms(infer):.1f}")
    print(label, " | ".join(results))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
