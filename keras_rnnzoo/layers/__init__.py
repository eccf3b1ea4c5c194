"""Sequence layers: one drop-in `keras.layers.RNN` per cell."""

from keras_rnnzoo.layers.recurrent import GRU, LSTM, RecurrentLayer, SimpleRNN, recurrent_layer

__all__ = ["GRU", "LSTM", "RecurrentLayer", "SimpleRNN", "recurrent_layer"]
