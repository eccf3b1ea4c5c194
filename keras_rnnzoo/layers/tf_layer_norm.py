"""TensorFlow on the CPU: the layer-normalized LSTM's recurrence as one XLA-compiled loop, with a hand-written backward pass.

The `LayerNormLSTMCell` twin of `tf_lstm` (read its docstring for why): the
state-independent part, `LN(x W) * input_gamma + b` for all steps, stays on
TensorFlow's tape (computed by the caller, `fast._tf_compiled_loop`); the
time loop, which normalizes each gate block of `h W_h` and the new cell
state at every step, and its backward pass are each one
`tf.function(jit_compile=True)`, joined by `tf.custom_gradient`. The
backward pass runs layer normalization's gradient by hand
(`_normalization_gradient`), sums the gains' gradients over the steps and
takes the recurrent kernel's gradient for all steps in one matmul.

The forward pass keeps every step's `h`, `c`, gate activations, normalized
recurrent projection and normalized cell state with their reciprocal
standard deviations (`(time, batch, 11 * units + 5)` floats).

Measured (docs/benchmarks.md, "TensorFlow: one sigmoid for the LSTM's four
gates ..."): a layer-normalized LSTM's training step at batch 64 x 100 steps
x 128 units 128-139 ms against 146-188 ms on Keras's loop, 1.44-1.64x the
LSTM's. Moving the input normalization into the compiled programs as well
measured no faster. tests/test_fast_paths.py checks outputs, final states
and every gradient against Keras's generic loop over the cell, and this
function's gradients against TensorFlow's autodiff of a plain loop in
float64.
"""

from __future__ import annotations

import tensorflow as tf

from keras_rnnzoo.layers.tf_loops import candidate_doubled, counted_loop, previous_states, recurrent_kernel_gradient


def layer_norm_lstm_recurrence(projected, h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, epsilon):
    """Every `h_t` of `LayerNormLSTMCell` over `projected = LN(x W) * input_gamma + b`, and the final `h`, `c`.

    - projected: `(time, batch, 4 units)`, time-major, `time` known (gate
      blocks `i, f, c, o`);
    - recurrent_kernel `(units, 4 units)`, recurrent_gamma `(4 units,)`,
      cell_gamma and cell_beta `(units,)`; h0, c0 `(batch, units)`;
    - epsilon: added to each variance.

    Returns `(outputs (time, batch, units), h, c)`; differentiable with respect
    to every tensor argument.

    >>> import tensorflow as tf
    >>> zeros, ones = tf.zeros((1, 2)), tf.ones((2,))
    >>> outputs, h, c = layer_norm_lstm_recurrence(
    ...     tf.zeros((3, 1, 8)), zeros, zeros, tf.zeros((2, 8)), tf.ones((8,)), ones, ones, 1e-3)
    >>> outputs.shape, round(float(h[0, 0]), 3)  # sigmoid(0) * tanh(LN(0) + 1)
    (TensorShape([3, 1, 2]), 0.381)
    """
    arguments = (projected, h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta)
    arguments = [tf.convert_to_tensor(t) for t in arguments]
    projected = arguments[0]
    if projected.shape[0] is None:
        raise ValueError(f"layer_norm_lstm_recurrence needs a known number of time steps; got {projected.shape}.")
    arguments[1:3] = [tf.ensure_shape(state, [projected.shape[1], None]) for state in arguments[1:3]]  # see tf_lstm
    epsilon = float(epsilon)

    @tf.custom_gradient
    def recurrence(*arguments):
        # stop_gradient: a tape must not differentiate the XLA loop itself (`gradient` does)
        saved = _forward(*(tf.stop_gradient(t) for t in arguments), epsilon)
        outputs, cells = saved[0], saved[1]

        def gradient(d_outputs, d_h, d_c):
            return _backward(*arguments[1:], *saved, d_outputs, d_h, d_c)

        return (outputs, outputs[-1], cells[-1]), gradient

    return recurrence(*arguments)


def _normalize(a, blocks, epsilon):
    """Each of the `blocks` equal slices of `a`'s last axis standardized: `(normalized, 1 / std)` (`(rows, blocks)`)."""
    width = a.shape[1]
    a = tf.reshape(a, [-1, blocks, width // blocks])
    centered = a - tf.reduce_mean(a, -1, keepdims=True)
    rstd = tf.math.rsqrt(tf.reduce_mean(centered * centered, -1, keepdims=True) + epsilon)
    return tf.reshape(centered * rstd, [-1, width]), rstd[:, :, 0]


def _normalization_gradient(d_normalized, normalized, rstd, blocks):
    """The gradient of `_normalize`'s input: `rstd (d - mean(d) - n mean(d n))` per block."""
    width = normalized.shape[1]
    d, n = (tf.reshape(t, [-1, blocks, width // blocks]) for t in (d_normalized, normalized))
    mean_d, mean_dn = tf.reduce_mean(d, -1, keepdims=True), tf.reduce_mean(d * n, -1, keepdims=True)
    return tf.reshape(rstd[:, :, None] * (d - mean_d - n * mean_dn), [-1, width])


@tf.function(jit_compile=True, autograph=False, reduce_retracing=False)
def _forward(projected, h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, epsilon):
    steps = projected.shape[0]
    doubled = candidate_doubled(h0.shape[1], projected.dtype)  # one sigmoid for all four gates, as in tf_lstm
    doubled_gamma = recurrent_gamma * doubled

    def step(t, h, c, *arrays):
        r_hat, r_rstd = _normalize(h @ recurrent_kernel, 4, epsilon)
        sigmoids = tf.sigmoid(projected[t] * doubled + r_hat * doubled_gamma)
        i, f, s_c, o = tf.split(sigmoids, 4, axis=1)
        c = f * c + i * (2 * s_c - 1)
        c_hat, c_rstd = _normalize(c, 1, epsilon)
        h = o * tf.tanh(c_hat * cell_gamma + cell_beta)
        values = (h, c, sigmoids, r_hat, r_rstd, c_hat, c_rstd)
        return (h, c, *(array.write(t, value) for array, value in zip(arrays, values)))

    arrays = [tf.TensorArray(projected.dtype, steps) for _ in range(7)]
    _, _, *arrays = counted_loop(steps, step, (h0, c0, *arrays))
    return tuple(array.stack() for array in arrays)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=False)
def _backward(
    h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta,
    outputs, cells, gates, r_hats, r_rstds, c_hats, c_rstds, d_outputs, d_h, d_c,
):  # fmt: skip
    steps, units = outputs.shape[0], h0.shape[1]
    previous_c = previous_states(c0, cells)

    def step(t, dh, dc, d_cell_gamma, d_cell_beta, d_preactivations, d_recurrent):
        i, f, s_c, o = tf.split(gates[t], 4, axis=1)
        g = 2 * s_c - 1
        c_hat = c_hats[t]
        tanh_c = tf.tanh(c_hat * cell_gamma + cell_beta)
        dh = dh + d_outputs[t]
        d_o = dh * tanh_c * o * (1 - o)
        d_c_normalized = dh * o * (1 - tanh_c * tanh_c)
        d_cell_gamma += tf.reduce_sum(d_c_normalized * c_hat, 0)
        d_cell_beta += tf.reduce_sum(d_c_normalized, 0)
        dc = dc + _normalization_gradient(d_c_normalized * cell_gamma, c_hat, c_rstds[t], 1)
        dz = tf.concat([dc * g * i * (1 - i), dc * previous_c[t] * f * (1 - f), dc * i * (1 - g * g), d_o], 1)
        dr = _normalization_gradient(dz * recurrent_gamma, r_hats[t], r_rstds[t], 4)
        dh = tf.matmul(dr, recurrent_kernel, transpose_b=True)
        return dh, dc * f, d_cell_gamma, d_cell_beta, d_preactivations.write(t, dz), d_recurrent.write(t, dr)

    zeros = tf.zeros_like(cell_gamma)
    arrays = [tf.TensorArray(outputs.dtype, steps) for _ in range(2)]
    carry = (d_h, d_c, zeros, zeros, *arrays)
    dh0, dc0, d_cell_gamma, d_cell_beta, d_preactivations, d_recurrent = counted_loop(steps, step, carry, reverse=True)
    dz = d_preactivations.stack()
    d_recurrent_gamma = tf.reduce_sum(tf.reshape(dz * r_hats, [-1, 4 * units]), 0)
    d_recurrent = tf.reshape(d_recurrent.stack(), [-1, 4 * units])
    d_recurrent_kernel = recurrent_kernel_gradient(previous_states(h0, outputs), d_recurrent)
    return dz, dh0, dc0, d_recurrent_kernel, d_recurrent_gamma, d_cell_gamma, d_cell_beta


__all__ = ["layer_norm_lstm_recurrence"]
