"""Recurrent cells written from scratch with `keras.ops`, one module per family."""

from keras_rnnzoo.cells.base import GatedCell, RecurrentCell
from keras_rnnzoo.cells.gru import GRUCell
from keras_rnnzoo.cells.lstm import LSTMCell
from keras_rnnzoo.cells.simple import SimpleRNNCell
from keras_rnnzoo.cells.variants import (
    CIFGLSTMCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMPCell,
    MGUCell,
    PeepholeLSTMCell,
)

__all__ = [
    "CIFGLSTMCell",
    "GRUCell",
    "GatedCell",
    "IndRNNCell",
    "LSTMCell",
    "LSTMPCell",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "MGUCell",
    "PeepholeLSTMCell",
    "RecurrentCell",
    "SimpleRNNCell",
]
