"""Sequence layers: one drop-in `keras.layers.RNN` per cell."""

from keras_rnnzoo.layers.minimal import MinGRU, MinLSTM
from keras_rnnzoo.layers.recurrent import GRU, LSTM, RecurrentLayer, SimpleRNN, recurrent_layer
from keras_rnnzoo.layers.variants import (
    CIFGLSTM,
    LSTMP,
    MGU,
    IndRNN,
    LayerNormGRU,
    LayerNormLSTM,
    PeepholeLSTM,
)

__all__ = [
    "CIFGLSTM",
    "GRU",
    "IndRNN",
    "LSTM",
    "LSTMP",
    "LayerNormGRU",
    "LayerNormLSTM",
    "MGU",
    "MinGRU",
    "MinLSTM",
    "PeepholeLSTM",
    "RecurrentLayer",
    "SimpleRNN",
    "recurrent_layer",
]
