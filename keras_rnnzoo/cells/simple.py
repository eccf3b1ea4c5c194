"""The Elman recurrent cell."""

from __future__ import annotations

from keras import ops

from keras_rnnzoo.cells.base import RecurrentCell
from keras_rnnzoo.registry import register_cell


@register_cell("simple_rnn")
class SimpleRNNCell(RecurrentCell):
    """Elman recurrent cell, weight-compatible with `keras.layers.SimpleRNNCell`.

    Equation (Elman 1990), with `W` = `kernel`, `U` = `recurrent_kernel`:

        h_t = activation(x_t W + h_{t-1} U + b)

    Args:
        units: positive integer, width of the hidden state.
        activation: default `"tanh"`.
        use_bias, initializers, regularizers, constraints, dropout,
        recurrent_dropout, seed: as in `keras.layers.SimpleRNNCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(SimpleRNNCell(4))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 4)

    Reference: J. L. Elman, "Finding Structure in Time", Cognitive Science 1990.
    """

    def build(self, input_shape):
        self.add_standard_weights(self.check_step_shape(input_shape), gates=1)

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        self.check_step(inputs, [previous])
        h = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        if self.bias is not None:
            h = h + self.bias
        h = h + ops.matmul(self.dropped_state(previous, training), self.recurrent_kernel)
        if self.activation is not None:
            h = self.activation(h)
        return h, [h] if isinstance(states, (list, tuple)) else h
