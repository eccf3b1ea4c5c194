"""MinGRU / MinLSTM: parallel log-space scan vs sequential linear-space loop, against the LSTM.

One process, one backend (`KERAS_BACKEND`), contestants alternated; a
training step is `train_on_batch` as in `rnnzoo bench` (docs/benchmarks.md,
"Long sequences").

    KERAS_BACKEND=jax python docs/scripts/minimal_scan_modes.py 32,1024,40,128 3
"""

import os
import sys

from keras_rnnzoo.bench.common import Shape, median_ms, time_call
from keras_rnnzoo.bench.throughput import keras_contestant, keras_layer_factories
from keras_rnnzoo.layers import minimal


def main(shape_text: str = "32,1024,40,128", repeats: int = 3) -> None:
    shape = Shape.parse(shape_text)
    factories = keras_layer_factories()
    contestants = {"rnnzoo.LSTM": keras_contestant("rnnzoo.LSTM", "lstm", factories["rnnzoo.LSTM"][1], shape)}
    for sequential in (False, True):
        minimal.force_sequential_scan(sequential)  # the mode is fixed when the step is traced
        for name in ("rnnzoo.MinGRU", "rnnzoo.MinLSTM"):
            contestant = keras_contestant(name, "gru", factories[name][1], shape)
            contestant.train_step()
            contestant.infer_step()
            contestants[f"{name} {'sequential' if sequential else 'parallel'}"] = contestant
    minimal.force_sequential_scan(None)
    time_and_print(contestants, repeats)


def time_and_print(contestants: dict, repeats: int) -> None:
    """Warm up, then time every contestant alternately (order reversed every other repetition); print medians."""
    for contestant in contestants.values():  # warm-up (untimed)
        contestant.train_step()
        contestant.infer_step()
    times = {name: ([], []) for name in contestants}
    for repeat in range(repeats):
        order = list(contestants.items())
        for name, contestant in order if repeat % 2 == 0 else order[::-1]:
            times[name][0].append(time_call(contestant.train_step))
            times[name][1].append(time_call(contestant.infer_step))
    lstm = median_ms(times["rnnzoo.LSTM"][0])
    for name, (train, infer) in times.items():
        print(f"{os.environ.get('KERAS_BACKEND')} {name:28} train {median_ms(train):8.1f} ms  "
              f"infer {median_ms(infer):8.1f} ms  LSTM time / this {lstm / median_ms(train):5.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]))
