"""Recurrent cells written from scratch with `keras.ops`, one module per family."""

from keras_rnnzoo.cells.base import GatedCell, RecurrentCell
from keras_rnnzoo.cells.gru import GRUCell
from keras_rnnzoo.cells.lstm import LSTMCell
from keras_rnnzoo.cells.simple import SimpleRNNCell

__all__ = ["GRUCell", "GatedCell", "LSTMCell", "RecurrentCell", "SimpleRNNCell"]
