"""Sequence layers around keras_rnnzoo cells, with `keras.layers.LSTM`'s signature.

Each layer is a `keras.layers.RNN` that builds its own cell from the cell
arguments it receives, so `layers.LSTM(32, dropout=0.1, return_sequences=True)`
reads like `keras.layers.LSTM` and round-trips through `get_config`.
"""

from __future__ import annotations

import inspect
import re

import keras
from keras import ops

from keras_rnnzoo.cells import GRUCell, LSTMCell, SimpleRNNCell
from keras_rnnzoo.layers.fast import fast_inner_loop
from keras_rnnzoo.registry import SERIALIZATION_PACKAGE

# Layer arguments that the cell receives too (as keras.layers.LSTM does).
_SHARED_WITH_CELL = ("dtype", "trainable")
# Keys of `Layer.get_config` that describe the cell itself, not the layer.
_CELL_ONLY_KEYS = ("name", "trainable", "dtype")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class RecurrentLayer(keras.layers.RNN):
    """A `keras.layers.RNN` whose cell is `cell_class(units, **cell_arguments)`.

    Subclasses set `cell_class`. Every constructor argument of the cell is
    accepted by the layer; the remaining ones are `keras.layers.RNN`'s.

    Args:
        units: positive integer, width of the hidden state.
        return_sequences: return the whole output sequence, not the last step.
        return_state: also return the final states.
        go_backwards: process the sequence in reverse.
        stateful: carry the final states of each batch into the next one
            (reset with `reset_state()`).
        unroll: unroll the time loop (fixed-length sequences only).
        zero_output_for_mask: output zeros (not the last output) at masked steps.
        use_cudnn: accepted for drop-in compatibility with `keras.layers.LSTM`;
            `"auto"` or `False` (these layers never call cuDNN).
        **kwargs: cell arguments (`activation`, `dropout`, ...) and layer
            arguments (`name`, `dtype`, `activity_regularizer`, ...).

    Call arguments:
        sequences: `(batch, time, features)` floating-point tensor.
        initial_state: list of `(batch, size)` tensors, one per cell state.
        mask: `(batch, time)` boolean tensor of steps to use.
        training: enables dropout.
    """

    cell_class: type = None

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_cudnn="auto",
        **kwargs,
    ):
        if use_cudnn not in ("auto", False):
            raise ValueError(
                f"{type(self).__name__} runs its from-scratch cell, never cuDNN: "
                f"use_cudnn must be 'auto' or False; got {use_cudnn!r}."
            )
        cell_parameters = _constructor_parameters(self.cell_class)
        cell_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in cell_parameters}
        for key in _SHARED_WITH_CELL:
            if key in kwargs:
                cell_kwargs[key] = kwargs[key]
        cell = self.cell_class(units, name=_snake_name(self.cell_class), **cell_kwargs)
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @property
    def units(self) -> int:
        return self.cell.units

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_call_arguments(sequences, initial_state)
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def compute_output_spec(self, sequences, initial_state=None, **kwargs):
        # Symbolic calls (functional models) never reach `call`: check here too.
        self._check_call_arguments(sequences, initial_state)
        return super().compute_output_spec(sequences, initial_state=initial_state, **kwargs)

    def _check_call_arguments(self, sequences, initial_state) -> None:
        if not keras.backend.is_float_dtype(sequences.dtype):
            raise TypeError(
                f"{type(self).__name__} expects floating-point sequences; got "
                f"dtype {keras.backend.standardize_dtype(sequences.dtype)}."
            )
        if initial_state is not None:
            _check_initial_state(self, initial_state, sequences)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # Backend-specific fast loops (layers/fast.py); None -> generic loop.
        result = fast_inner_loop(self, sequences, initial_state, mask, training)
        if result is not None:
            return result
        return super().inner_loop(sequences, initial_state, mask, training=training)

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in _CELL_ONLY_KEYS:
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_initial_state(layer, initial_state, sequences) -> None:
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    sizes = layer.state_size
    if len(states) != len(sizes):
        raise ValueError(
            f"{type(layer).__name__} has {len(sizes)} state(s) of sizes {sizes}; "
            f"initial_state has {len(states)} tensor(s)."
        )
    batch = sequences.shape[0]
    for index, (state, size) in enumerate(zip(states, sizes)):
        shape = tuple(state.shape) if hasattr(state, "shape") else tuple(ops.shape(state))  # static: None if unknown
        ok = len(shape) == 2 and shape[1] in (None, size)
        ok = ok and (batch is None or shape[0] is None or shape[0] == batch)
        if not ok:
            raise ValueError(
                f"{type(layer).__name__} initial_state[{index}] must have shape "
                f"(batch={batch}, {size}); got {shape}."
            )


def _constructor_parameters(cls) -> set[str]:
    """Names accepted by `cls.__init__`, following `**kwargs` up the MRO."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras.") or klass is object:
            break  # Layer's own arguments (name, dtype, ...) are the layer's
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters
        names.update(
            name
            for name, parameter in parameters.items()
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
        )
        if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
            break
    names.discard("self")
    names.discard("units")
    return names


def _snake_name(cls) -> str:
    """`LSTMCell` -> `lstm_cell`, `LayerNormGRUCell` -> `layer_norm_gru_cell`."""
    return _CAMEL_BOUNDARY.sub("_", cls.__name__).lower()


def recurrent_layer(cell_class: type, name: str, doc: str) -> type:
    """Create and register the layer class `name` that runs `cell_class`."""
    layer = type(name, (RecurrentLayer,), {"cell_class": cell_class, "__doc__": doc})
    layer.__module__ = "keras_rnnzoo.layers"
    return keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)(layer)


_DOC = """{what}: a `keras.layers.RNN` over `keras_rnnzoo.{cell}`.

Takes the arguments of `keras_rnnzoo.{cell}` plus those of
`keras.layers.RNN` (see `RecurrentLayer`).

Example:

>>> import numpy as np
>>> from keras_rnnzoo import layers
>>> layers.{name}(8, return_sequences=True)(np.zeros((2, 5, 3), "float32")).shape
(2, 5, 8)
"""


def layer_doc(name: str, cell: str, what: str) -> str:
    return _DOC.format(name=name, cell=cell, what=what)


SimpleRNN = recurrent_layer(SimpleRNNCell, "SimpleRNN", layer_doc("SimpleRNN", "SimpleRNNCell", "Elman RNN layer"))
LSTM = recurrent_layer(LSTMCell, "LSTM", layer_doc("LSTM", "LSTMCell", "LSTM layer"))
GRU = recurrent_layer(GRUCell, "GRU", layer_doc("GRU", "GRUCell", "GRU layer"))
