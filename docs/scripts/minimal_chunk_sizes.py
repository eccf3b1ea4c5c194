"""MinGRU / MinLSTM on JAX: the fused loop's chunk size, against the LSTM, in one process.

Each chunk size gets its own pair of models (the size is read when the
training step is traced); contestants are alternated, medians printed.
Chunk 1 is one step per iteration of the outer loop (the loop before
chunking). docs/benchmarks.md, "MinGRU / MinLSTM: chunks of the fused loop".

    KERAS_BACKEND=jax python docs/scripts/minimal_chunk_sizes.py 32,1024,40,128 11 1,16
"""

import sys

from minimal_scan_modes import time_and_print  # the sibling script

from keras_rnnzoo.bench.common import Shape
from keras_rnnzoo.bench.throughput import keras_contestant, keras_layer_factories
from keras_rnnzoo.layers import jax_minimal


def main(shape_text: str = "32,1024,40,128", repeats: int = 7, chunks: str = "1,16") -> None:
    shape = Shape.parse(shape_text)
    factories = keras_layer_factories()
    contestants = {"rnnzoo.LSTM": keras_contestant("rnnzoo.LSTM", "lstm", factories["rnnzoo.LSTM"][1], shape)}
    for chunk in (int(c) for c in chunks.split(",")):
        jax_minimal.CHUNK_STEPS = chunk
        for name in ("rnnzoo.MinGRU", "rnnzoo.MinLSTM"):
            contestant = keras_contestant(name, "gru", factories[name][1], shape)
            contestant.train_step()  # traced now, with this chunk size
            contestant.infer_step()
            contestants[f"{name} chunk {chunk}"] = contestant
    time_and_print(contestants, repeats)


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]), *sys.argv[3:4])
