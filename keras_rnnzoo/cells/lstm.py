"""The long short-term memory cell."""

from __future__ import annotations

from keras import initializers, ops

from keras_rnnzoo.cells.base import GatedCell
from keras_rnnzoo.registry import register_cell


@register_cell("lstm")
class LSTMCell(GatedCell):
    """LSTM cell, weight-compatible with `keras.layers.LSTMCell`.

    Gates in Keras order `i, f, c, o` (input, forget, candidate, output), all
    four computed by one fused matrix product per step. With
    `z = x_t W + h_{t-1} U + b` split into four blocks:

        i = σ(z_i)   f = σ(z_f)   g = tanh(z_c)   o = σ(z_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    (σ = `recurrent_activation`, tanh = `activation`.) States: `[h, c]`.

    Args:
        units: positive integer, width of `h` and `c`.
        activation: default `"tanh"`.
        recurrent_activation: gate activation, default `"sigmoid"`.
        unit_forget_bias: add 1 to the forget-gate bias at initialization
            (Jozefowicz et al. 2015).
        use_bias, initializers, regularizers, constraints, dropout,
        recurrent_dropout, seed: as in `keras.layers.LSTMCell`.

    Example:

    >>> import numpy as np, keras
    >>> layer = keras.layers.RNN(LSTMCell(4), return_state=True)
    >>> output, h, c = layer(np.zeros((2, 5, 3), "float32"))
    >>> output.shape, c.shape
    ((2, 4), (2, 4))

    Reference: S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory",
    Neural Computation 1997; F. A. Gers et al., "Learning to Forget", 2000.
    """

    gates = 4

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [self.units, self.units]

    def build(self, input_shape):
        self.add_standard_weights(
            self.check_step_shape(input_shape),
            gates=self.gates,
            bias_initializer=self._forget_bias_initializer() if self.unit_forget_bias else None,
        )

    def _forget_bias_initializer(self):
        """Bias initializer that puts ones on the forget-gate block (block 1)."""
        base = self.bias_initializer
        units = self.units

        def initializer(shape, dtype=None):
            blocks = [
                base((units,), dtype=dtype),
                initializers.Ones()((units,), dtype=dtype),
                base((shape[0] - 2 * units,), dtype=dtype),
            ]
            return ops.concatenate(blocks)

        return initializer

    def gate_preactivations(self, inputs, h_previous, training):
        """`x W + h U + b` for all gates at once, dropout applied."""
        z = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        z = z + ops.matmul(self.dropped_state(h_previous, training), self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        return z

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states[0], states[1]
        self.check_step(inputs, states)
        z = self.gate_preactivations(inputs, h_previous, training)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        o = self.recurrent_activation(z_o)
        c = f * c_previous + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
