"""Masked batches on the PyTorch backend: `train_on_batch` / `predict_on_batch` ms of a Masking layer, an LSTM or GRU and a dense layer.

Usage: python docs/scripts/masked_batches.py REPEATS LABEL
(batch 64 x 100 steps x 40 inputs x 128 units; right-padded rows of 30-100 steps, and the same batch with nothing masked)
"""

import os
import sys
import time

os.environ["KERAS_BACKEND"] = "torch"
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_rnnzoo import layers  # noqa: E402

B, T, I, H = 64, 100, 40, 128
rng = np.random.default_rng(0)
x = rng.standard_normal((B, T, I)).astype("float32")
lengths = rng.integers(30, T + 1, B)
padded = x * (np.arange(T)[None, :, None] < lengths[:, None, None])
y = rng.standard_normal((B, 1)).astype("float32")
out = []
for name, data in (("GRU right-padded", padded), ("GRU nothing masked", x), ("LSTM right-padded", padded), ("LSTM nothing masked", x)):
    cls = layers.GRU if name.startswith("GRU") else layers.LSTM
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((T, I)), keras.layers.Masking(0.0), cls(H), keras.layers.Dense(1)])
    m.compile("adam", "mse")
    for _ in range(2): m.train_on_batch(data, y)
    ts = []
    for _ in range(int(sys.argv[1])):
        t0 = time.perf_counter(); m.train_on_batch(data, y); ts.append(time.perf_counter() - t0)
    ti = []
    for _ in range(int(sys.argv[1])):
        t0 = time.perf_counter(); m.predict_on_batch(data); ti.append(time.perf_counter() - t0)
    out.append(f"{name}: train {1000*np.median(ts):.1f} infer {1000*np.median(ti):.1f}")
print(sys.argv[2], " | ".join(out))
