"""Sweep the JAX time loop of `layers.LSTM` on a GPU (docs/benchmarks.md, "GPU").

Compares, in one process and alternating nothing (each configuration is a
fresh model): Keras's generic loop (fast paths off), the hoisted scan with
JAX autodiff, and the hand-written backward pass at several unroll factors,
against PyTorch's `nn.LSTM` (cuDNN) measured before and after. A training
step is `train_on_batch` on a batch already on the device, as in
`rnnzoo bench`; medians of the timed steps after two untimed ones.

    KERAS_BACKEND=jax OUT=results python docs/scripts/jax_gpu_loop_sweep.py

`... jax_gpu_loop_sweep.py train-loop` instead times the steps as a jitted
stateless JAX step (`rnnzoo bench --train-loop jax`), without
`train_on_batch`'s per-call bookkeeping: the unroll factor at the small
shape, the built-ins and the GRU beside PyTorch, and bfloat16.

Prints one JSON line per configuration and writes `$OUT/sweep.json`
(`$OUT/train_loop.json`).
"""

import json
import os
import sys
import time

import keras

from keras_rnnzoo.bench.common import Shape, median_ms, time_call
from keras_rnnzoo.bench.throughput import keras_contestant, keras_layer_factories, torch_contestant
from keras_rnnzoo.layers import jax_scan
from keras_rnnzoo.layers.fast import set_fast_paths

SMALL, LARGE = Shape(64, 100, 40, 128), Shape(256, 1024, 128, 512)


def measure(label, shape, repeats, policy="float32", fast=True, hand_written=True, unroll=8, torch=False,
            name="rnnzoo.LSTM", train_loop="keras"):
    keras.config.set_dtype_policy(policy)
    set_fast_paths(fast)
    jax_scan.HAND_WRITTEN_BACKWARD, jax_scan.UNROLL = hand_written, unroll
    family, make_layer = keras_layer_factories()[name]
    if torch:
        contestant = torch_contestant(family, shape)
    else:
        contestant = keras_contestant(name, family, make_layer, shape, train_loop=train_loop)
    started = time.perf_counter()
    for _ in range(2):
        contestant.train_step()
        contestant.infer_step()
    warmup = time.perf_counter() - started
    train, infer = [], []
    for _ in range(repeats):
        train.append(time_call(contestant.train_step))
        infer.append(time_call(contestant.infer_step))
    row = {"label": label, "shape": str(shape), "policy": policy, "train_loop": None if torch else train_loop, "train_ms": round(median_ms(train), 3),
           "infer_ms": round(median_ms(infer), 3), "warmup_s": round(warmup, 1)}
    print(json.dumps(row), flush=True)
    return row


def train_loop_study():
    rows = []
    jax_loop = {"train_loop": "jax"}
    rows.append(measure("torch.nn.LSTM", SMALL, 40, torch=True))
    rows.append(measure("hand-written u8, train_on_batch", SMALL, 40))
    for unroll in (4, 8, 16, 25, 50, 100):
        rows.append(measure(f"hand-written u{unroll}", SMALL, 40, unroll=unroll, **jax_loop))
    rows.append(measure("keras.LSTM", SMALL, 40, name="keras.LSTM", **jax_loop))
    rows.append(measure("torch.nn.LSTM (again)", SMALL, 40, torch=True))
    rows.append(measure("torch.nn.GRU", SMALL, 40, torch=True, name="rnnzoo.GRU"))
    rows.append(measure("rnnzoo.GRU u8", SMALL, 40, name="rnnzoo.GRU", **jax_loop))
    rows.append(measure("keras.GRU", SMALL, 40, name="keras.GRU", **jax_loop))
    rows.append(measure("hand-written u8", SMALL, 40, policy="mixed_bfloat16", **jax_loop))
    rows.append(measure("torch.nn.LSTM", LARGE, 7, torch=True))
    rows.append(measure("hand-written u8", LARGE, 7, **jax_loop))
    rows.append(measure("hand-written u8", LARGE, 7, policy="mixed_bfloat16", **jax_loop))
    return rows


def main():
    if sys.argv[1:] == ["train-loop"]:
        rows = train_loop_study()
        with open(os.path.join(os.environ.get("OUT", "."), "train_loop.json"), "w") as handle:
            json.dump(rows, handle, indent=1)
        return
    rows = []
    for shape, repeats in ((SMALL, 30), (LARGE, 7)):
        rows.append(measure("torch.nn.LSTM", shape, repeats, torch=True))
        rows.append(measure("generic (fast paths off)", shape, repeats, fast=False))
        rows.append(measure("hoisted autodiff u8", shape, repeats, hand_written=False))
        for unroll in (1, 4, 8, 16):
            rows.append(measure(f"hand-written u{unroll}", shape, repeats, unroll=unroll))
        rows.append(measure("torch.nn.LSTM (again)", shape, repeats, torch=True))
    for unroll in (1, 8):
        rows.append(measure(f"hand-written u{unroll}", LARGE, 7, policy="mixed_bfloat16", unroll=unroll))
    with open(os.path.join(os.environ.get("OUT", "."), "sweep.json"), "w") as handle:
        json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
