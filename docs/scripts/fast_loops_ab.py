"""PyTorch backend, one process: training steps of layers with this checkout's fast loops against another checkout's.

Usage: python docs/scripts/fast_loops_ab.py BEFORE_CHECKOUT LAYER[,LAYER...] [REPEATS] [--masked]

BEFORE_CHECKOUT is another checkout of keras-rnnzoo (`git worktree add
/tmp/before COMMIT`); its `keras_rnnzoo/layers/fast.py` is loaded beside
this one and the layers' `fast_inner_loop` is switched between the two for
alternating `train_on_batch` calls (same models, same weights, same batch),
so both sides see the same machine state. Batch 64 x 100 steps x 40 inputs
x 128 units, the layer then a dense layer; `--masked` puts a `Masking`
layer first and pads rows to 50-100 steps. Prints the median ms per side.
"""

import importlib.util
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_rnnzoo import layers  # noqa: E402
from keras_rnnzoo.bench.common import median_ms, time_call  # noqa: E402
from keras_rnnzoo.layers import fast, recurrent  # noqa: E402

BATCH, TIME, FEATURES, UNITS = 64, 100, 40, 128


def load_fast_module(checkout: str):
    path = os.path.join(checkout, "keras_rnnzoo", "layers", "fast.py")
    spec = importlib.util.spec_from_file_location("fast_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(checkout: str, names: list[str], repeats: int, masked: bool) -> None:
    before = load_fast_module(checkout)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, TIME, FEATURES)).astype("float32")
    y = rng.standard_normal((BATCH, 1)).astype("float32")
    if masked:
        lengths = rng.integers(TIME // 2, TIME + 1, BATCH)
        x[np.arange(TIME)[None, :] >= lengths[:, None]] = 0.0
    models = {}
    for name in names:
        keras.utils.set_random_seed(0)
        stack = [keras.layers.Masking(0.0)] if masked else []
        model = keras.Sequential([keras.Input((TIME, FEATURES)), *stack, getattr(layers, name)(UNITS), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        models[name] = model
    times = {}
    for repeat in range(repeats + 1):  # the first round warms up
        for side, module in (("before", before), ("after", fast)):
            recurrent.fast_inner_loop = module.fast_inner_loop
            for name, model in models.items():
                elapsed = time_call(lambda: model.train_on_batch(x, y))
                if repeat:
                    times.setdefault((name, side), []).append(elapsed)
    recurrent.fast_inner_loop = fast.fast_inner_loop
    for name in names:
        print(f"{name}: before {median_ms(times[name, 'before']):.1f} ms, after {median_ms(times[name, 'after']):.1f} ms")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--masked"]
    main(arguments[0], arguments[1].split(","), int(arguments[2]) if len(arguments) > 2 else 11, "--masked" in sys.argv)
