"""Sweep the JAX time loop of `layers.LSTM` on a GPU (docs/benchmarks.md, "GPU").

Compares, in one process and alternating nothing (each configuration is a
fresh model): Keras's generic loop (fast paths off), the hoisted scan with
JAX autodiff, and the hand-written backward pass at several unroll factors,
against PyTorch's `nn.LSTM` (cuDNN) measured before and after. A training
step is `train_on_batch` on a batch already on the device, as in
`rnnzoo bench`; medians of the timed steps after two untimed ones.

    KERAS_BACKEND=jax OUT=results python docs/scripts/jax_gpu_loop_sweep.py

Prints one JSON line per configuration and writes `$OUT/sweep.json`.
"""

import json
import os
import time

import keras

from keras_rnnzoo.bench.common import Shape, median_ms, time_call
from keras_rnnzoo.bench.throughput import keras_contestant, keras_layer_factories, torch_contestant
from keras_rnnzoo.layers import jax_scan
from keras_rnnzoo.layers.fast import set_fast_paths

SMALL, LARGE = Shape(64, 100, 40, 128), Shape(256, 1024, 128, 512)


def measure(label, shape, repeats, policy="float32", fast=True, hand_written=True, unroll=8, torch=False):
    keras.config.set_dtype_policy(policy)
    set_fast_paths(fast)
    jax_scan.HAND_WRITTEN_BACKWARD, jax_scan.UNROLL = hand_written, unroll
    if torch:
        contestant = torch_contestant("lstm", shape)
    else:
        contestant = keras_contestant("rnnzoo.LSTM", "lstm", keras_layer_factories()["rnnzoo.LSTM"][1], shape)
    started = time.perf_counter()
    for _ in range(2):
        contestant.train_step()
        contestant.infer_step()
    warmup = time.perf_counter() - started
    train, infer = [], []
    for _ in range(repeats):
        train.append(time_call(contestant.train_step))
        infer.append(time_call(contestant.infer_step))
    row = {"label": label, "shape": str(shape), "policy": policy, "train_ms": round(median_ms(train), 3),
           "infer_ms": round(median_ms(infer), 3), "warmup_s": round(warmup, 1)}
    print(json.dumps(row), flush=True)
    return row


def main():
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
