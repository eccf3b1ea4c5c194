"""The gated recurrent unit cell."""

from __future__ import annotations

from keras import ops

from keras_rnnzoo.cells.base import GatedCell
from keras_rnnzoo.registry import register_cell


@register_cell("gru")
class GRUCell(GatedCell):
    """GRU cell, weight-compatible with `keras.layers.GRUCell`.

    Gates in Keras order `z, r, h` (update, reset, candidate). With
    `W` = `kernel`, `U` = `recurrent_kernel`, σ = `recurrent_activation`:

        z = σ(x W_z + h_{t-1} U_z + b_z)
        r = σ(x W_r + h_{t-1} U_r + b_r)
        reset_after=True  (Keras / cuDNN default):
            g = tanh(x W_h + b_h + r * (h_{t-1} U_h + b'_h))
        reset_after=False (Cho et al. 2014):
            g = tanh(x W_h + (r * h_{t-1}) U_h + b_h)
        h_t = z * h_{t-1} + (1 - z) * g

    With `reset_after=True` the bias has shape `(2, 3 * units)`: one row for
    the input projection, one for the recurrent projection.

    Args:
        units: positive integer, width of the hidden state.
        reset_after: apply the reset gate after the recurrent matmul.
        activation, recurrent_activation, use_bias, initializers,
        regularizers, constraints, dropout, recurrent_dropout, seed:
            as in `keras.layers.GRUCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(GRUCell(4, reset_after=False))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 4)

    Reference: K. Cho et al., "Learning Phrase Representations using RNN
    Encoder-Decoder for Statistical Machine Translation", EMNLP 2014.
    """

    gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def build(self, input_shape):
        width = self.gates * self.units
        self.add_standard_weights(
            self.check_step_shape(input_shape),
            gates=self.gates,
            bias_shape=(2, width) if self.reset_after else (width,),
        )

    def call(self, inputs, states, training=False):
        h_previous = states[0] if isinstance(states, (list, tuple)) else states
        self.check_step(inputs, [h_previous])
        units = self.units
        x = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        h_dropped = self.dropped_state(h_previous, training)
        # ops.split, not three slices: the slices' gradients are three pads and two adds
        # (`rnnzoo bench`, JAX on the CPU: training 0.87-0.92x keras.layers.GRU with slices, 1.04x with split)
        if self.reset_after:
            inner = ops.matmul(h_dropped, self.recurrent_kernel)
            if self.bias is not None:
                x = x + self.bias[0]
                inner = inner + self.bias[1]
            inner_z, inner_r, inner_h = ops.split(inner, 3, axis=-1)
        else:
            inner_z, inner_r = ops.split(ops.matmul(h_dropped, self.recurrent_kernel[:, : 2 * units]), 2, axis=-1)
            if self.bias is not None:
                x = x + self.bias
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        z = self.recurrent_activation(x_z + inner_z)
        r = self.recurrent_activation(x_r + inner_r)
        if self.reset_after:
            recurrent_candidate = r * inner_h
        else:
            recurrent_candidate = ops.matmul(r * h_dropped, self.recurrent_kernel[:, 2 * units :])
        candidate = self.activation(x_h + recurrent_candidate)
        h = z * h_previous + (1.0 - z) * candidate
        return h, [h] if isinstance(states, (list, tuple)) else h

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
