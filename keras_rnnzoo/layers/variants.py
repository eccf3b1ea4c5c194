"""Sequence layers over the variant cells (`keras_rnnzoo.cells.variants`)."""

from __future__ import annotations

from keras_rnnzoo.cells.variants import (
    CIFGLSTMCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMPCell,
    MGUCell,
    PeepholeLSTMCell,
)
from keras_rnnzoo.layers.recurrent import layer_doc, recurrent_layer

__all__ = ["CIFGLSTM", "IndRNN", "LSTMP", "LayerNormGRU", "LayerNormLSTM", "MGU", "PeepholeLSTM"]

_LSTMP_DOC = """LSTM layer with a recurrent projection: a `keras.layers.RNN` over `keras_rnnzoo.LSTMPCell`.

Takes the arguments of `keras_rnnzoo.LSTMPCell` (`proj_size`, default
`units // 2`) plus those of `keras.layers.RNN` (see `RecurrentLayer`). The output and `h`
have width `proj_size`, the cell state `c` width `units`.

Example:

>>> import numpy as np
>>> from keras_rnnzoo import layers
>>> out, h, c = layers.LSTMP(8, proj_size=3, return_state=True)(np.zeros((2, 5, 4), "float32"))
>>> tuple(out.shape), tuple(h.shape), tuple(c.shape)
((2, 3), (2, 3), (2, 8))
"""

PeepholeLSTM = recurrent_layer(
    PeepholeLSTMCell,
    "PeepholeLSTM",
    layer_doc("PeepholeLSTM", "PeepholeLSTMCell", "Peephole LSTM layer (Gers & Schmidhuber 2000)"),
)
CIFGLSTM = recurrent_layer(
    CIFGLSTMCell,
    "CIFGLSTM",
    layer_doc("CIFGLSTM", "CIFGLSTMCell", "Coupled input-forget gate LSTM layer (Greff et al. 2017)"),
)
LayerNormLSTM = recurrent_layer(
    LayerNormLSTMCell,
    "LayerNormLSTM",
    layer_doc("LayerNormLSTM", "LayerNormLSTMCell", "Layer-normalized LSTM layer (Ba et al. 2016)"),
)
LayerNormGRU = recurrent_layer(
    LayerNormGRUCell,
    "LayerNormGRU",
    layer_doc("LayerNormGRU", "LayerNormGRUCell", "Layer-normalized GRU layer (Ba et al. 2016)"),
)
MGU = recurrent_layer(
    MGUCell, "MGU", layer_doc("MGU", "MGUCell", "Minimal gated unit layer (Zhou et al. 2016)")
)
IndRNN = recurrent_layer(
    IndRNNCell, "IndRNN", layer_doc("IndRNN", "IndRNNCell", "IndRNN layer (Li et al. 2018)")
)
LSTMP = recurrent_layer(LSTMPCell, "LSTMP", _LSTMP_DOC)
