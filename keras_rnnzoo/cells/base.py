"""Shared plumbing of every keras_rnnzoo cell.

`RecurrentCell` owns what all cells have in common: argument checks, the
initializers / regularizers / constraints of the three standard weights
(`kernel`, `recurrent_kernel`, `bias`), input and recurrent dropout with one
mask per sequence, zero initial states and `get_config`. Subclasses write
`build` (usually one call to `add_standard_weights`) and `call` (the gate
equations, with `keras.ops` only).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras
from keras import activations, constraints, initializers, ops, regularizers

# Not exported by Keras, but `keras.layers.RNN` recognises dropout-capable
# cells by this class: it creates their masks once per sequence, outside the
# time loop (required on JAX, where masks cannot be created inside the scan).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

_WEIGHT_ARGUMENTS = ("kernel", "recurrent", "bias")


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base class of keras_rnnzoo cells (not a cell by itself).

    Args:
        units: positive integer, width of the hidden state.
        activation: activation of the candidate / output.
        use_bias: whether to add a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer:
            initializers of `kernel`, `recurrent_kernel` and `bias`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            regularizers of the same weights.
        kernel_constraint, recurrent_constraint, bias_constraint:
            constraints of the same weights.
        dropout: fraction of the inputs dropped (same mask at every step).
        recurrent_dropout: fraction of the recurrent state dropped (same mask
            at every step).
        seed: random seed of the dropout masks.
    """

    # True: on JAX, the layer's time loop recomputes each step in the backward
    # pass instead of storing its intermediate values (`jax.checkpoint`; see
    # `keras_rnnzoo.layers.fast`). Worth it where a step makes many
    # intermediates from little state, as layer normalization does.
    rematerialize_step: bool = False

    def __init__(
        self,
        units: int,
        activation="tanh",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        check_units(units, type(self).__name__)
        check_rate(dropout, "dropout")
        check_rate(recurrent_dropout, "recurrent_dropout")
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = self.units
        self.output_size = self.units

    # ----------------------------------------------------------------- build
    def check_step_shape(self, input_shape) -> int:
        """Validate a per-step input shape `(batch, features)`; return features."""
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects sequences of shape "
                "(batch, time, features), that is steps of shape "
                f"(batch, features) with a known feature size; got a step of "
                f"shape {tuple(input_shape)}."
            )
        return int(input_shape[-1])

    def add_standard_weights(
        self,
        input_dim: int,
        gates: int,
        *,
        recurrent_rows: int | None = None,
        recurrent_columns: int | None = None,
        bias_shape: tuple[int, ...] | None = None,
        bias_initializer=None,
    ) -> None:
        """Create `kernel`, `recurrent_kernel` and (if `use_bias`) `bias`.

        Shapes follow Keras: `kernel` is `(input_dim, gates * units)`,
        `recurrent_kernel` `(units, gates * units)`, `bias` `(gates * units,)`.
        """
        width = gates * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(
                recurrent_rows or self.units,
                recurrent_columns or width,
            ),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=bias_shape or (width,),
                name="bias",
                initializer=bias_initializer or self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    # ------------------------------------------------------------------ call
    def check_step(self, inputs, states: Sequence) -> None:
        """Refuse integer inputs and states whose width is not `state_size`."""
        if not keras.backend.is_float_dtype(inputs.dtype):
            raise TypeError(
                f"{type(self).__name__} expects floating-point inputs; got "
                f"dtype {keras.backend.standardize_dtype(inputs.dtype)}. "
                "Cast the sequences, e.g. keras.ops.cast(x, 'float32')."
            )
        expected = self.state_size
        expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
        for index, (state, width) in enumerate(zip(states, expected)):
            actual = state.shape[-1] if len(state.shape) else None
            if len(state.shape) != 2 or (actual is not None and actual != width):
                raise ValueError(
                    f"{type(self).__name__} state {index} must have shape "
                    f"(batch, {width}); got {tuple(state.shape)}."
                )

    def dropped_inputs(self, inputs, training):
        """`inputs` times this sequence's input dropout mask when training."""
        if training and 0.0 < self.dropout < 1.0:
            return inputs * self.get_dropout_mask(inputs)
        return inputs

    def dropped_state(self, state, training):
        """`state` times this sequence's recurrent dropout mask when training."""
        if training and 0.0 < self.recurrent_dropout < 1.0:
            return state * self.get_recurrent_dropout_mask(state)
        return state

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size
        sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        for prefix in _WEIGHT_ARGUMENTS:
            config[f"{prefix}_initializer"] = initializers.serialize(
                getattr(self, f"{prefix}_initializer")
            )
            config[f"{prefix}_regularizer"] = regularizers.serialize(
                getattr(self, f"{prefix}_regularizer")
            )
            config[f"{prefix}_constraint"] = constraints.serialize(
                getattr(self, f"{prefix}_constraint")
            )
        return {**super().get_config(), **config}


class GatedCell(RecurrentCell):
    """A `RecurrentCell` with gates: adds `recurrent_activation` (default sigmoid)."""

    def __init__(self, units: int, recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
        }


def check_units(units, owner: str) -> None:
    """Raise `ValueError` unless `units` is a positive integer."""
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        raise ValueError(
            f"{owner} expects `units` to be a positive integer; got {units!r}."
        )


def check_rate(rate, name: str) -> None:
    """Raise `ValueError` unless `0 <= rate < 1`."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1); got {rate!r}.")
