"""keras-rnnzoo: recurrent cells from scratch for Keras 3, a model zoo, and tracked search.

>>> import keras, keras_rnnzoo
>>> model = keras.Sequential([keras.Input((10, 3)), keras_rnnzoo.layers.LSTM(8), keras.layers.Dense(1)])
>>> model.output_shape
(None, 1)
"""

from keras_rnnzoo._startup import query_devices as _query_devices
from keras_rnnzoo._startup import quiet_keras_import as _quiet_keras_import
from keras_rnnzoo._startup import started_by_cli as _started_by_cli

_CLI = _started_by_cli()
with _quiet_keras_import(enabled=_CLI):  # the CLI hides TensorFlow's startup chatter
    import keras as _keras  # noqa: F401

    if _CLI:
        _query_devices()

from keras_rnnzoo import layers  # noqa: E402
from keras_rnnzoo._version import __version__
from keras_rnnzoo.cells import (
    CIFGLSTMCell,
    GRUCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    LSTMPCell,
    MGUCell,
    PeepholeLSTMCell,
    RecurrentCell,
    SimpleRNNCell,
)
from keras_rnnzoo.registry import get_cell, list_cells, register_cell
from keras_rnnzoo import zoo  # noqa: E402  (after the cells: presets deserialize them)

__all__ = [
    "CIFGLSTMCell",
    "GRUCell",
    "IndRNNCell",
    "LSTMCell",
    "LSTMPCell",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "MGUCell",
    "PeepholeLSTMCell",
    "RecurrentCell",
    "SimpleRNNCell",
    "__version__",
    "get_cell",
    "layers",
    "list_cells",
    "register_cell",
    "zoo",
]
