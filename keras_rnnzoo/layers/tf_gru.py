"""TensorFlow on the CPU: the GRU's recurrence (`reset_after=True`) as one XLA-compiled loop, with a hand-written backward pass.

The GRU twin of `tf_lstm` (read its docstring for why): the input projection
of all steps is one matmul, the time loop and the backward pass are each one
`tf.function(jit_compile=True)`, joined by `tf.custom_gradient`. The forward
pass keeps every step's `h`, gates `z`, `r`, candidate and the candidate's
recurrent term (`(time, batch, 5 * units)` floats); `dx` is left to a
TensorFlow op outside the compiled backward pass, as in `tf_lstm`.

Measured (docs/benchmarks.md, "TensorFlow: the LSTM's and GRU's training on
XLA loops"): `rnnzoo.GRU`'s training step 1.41-1.55x `keras.layers.GRU`'s
speed at batch 64 x 100 steps x 128 units (1.14-1.29x before); no gain at
32 x 1024 steps. tests/test_fast_paths.py checks outputs, final states and
every gradient against the generic loop, and this function's gradients
against TensorFlow's autodiff of a plain loop in float64.
"""

from __future__ import annotations

import tensorflow as tf

from keras_rnnzoo.layers.tf_loops import (
    counted_loop,
    input_gradient,
    kernel_and_bias_gradients,
    previous_states,
    project,
    recurrent_kernel_gradient,
)


def gru_recurrence(x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0):
    """Every `h_t` of Keras's `reset_after=True` GRU (gate order `z, r, h`, sigmoid gates, tanh), and the final `h`.

    - x: `(time, batch, features)`, time-major, `time` known;
    - kernel `(features, 3 units)`, recurrent_kernel `(units, 3 units)`,
      input_bias and recurrent_bias `(3 units,)` (the rows of Keras's
      `(2, 3 units)` bias); h0 `(batch, units)`.

    Returns `(outputs (time, batch, units), h)`; differentiable with respect to
    every argument.

    >>> import tensorflow as tf
    >>> x, h0, bias = tf.ones((3, 2, 5)), tf.zeros((2, 4)), tf.zeros((12,))
    >>> outputs, h = gru_recurrence(x, tf.ones((5, 12)), tf.zeros((4, 12)), bias, bias, h0)
    >>> outputs.shape, bool(tf.reduce_all(outputs[-1] == h))
    (TensorShape([3, 2, 4]), True)
    """
    arguments = (x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0)
    x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0 = (tf.convert_to_tensor(t) for t in arguments)
    if x.shape[0] is None:
        raise ValueError(f"gru_recurrence needs a known number of time steps; got inputs of shape {x.shape}.")
    h0 = tf.ensure_shape(h0, [x.shape[1], None])  # see tf_lstm.lstm_recurrence

    @tf.custom_gradient
    def recurrence(x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0):
        # stop_gradient: a tape must not differentiate the XLA loop itself (`gradient` does)
        weights = (x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0)
        outputs, saved = _forward(*(tf.stop_gradient(t) for t in weights))

        def gradient(d_outputs, d_h):
            d_projected, *other_gradients = _backward(x, kernel, recurrent_kernel, h0, outputs, saved, d_outputs, d_h)
            return (input_gradient(x, kernel, d_projected), *other_gradients)

        return (outputs, outputs[-1]), gradient

    return recurrence(x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=False)
def _forward(x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0):
    steps = x.shape[0]
    projected = project(x, kernel, input_bias)

    def step(t, h, outputs, saved):
        x_z, x_r, x_h = tf.split(projected[t], 3, axis=1)
        inner_z, inner_r, inner_h = tf.split(h @ recurrent_kernel + recurrent_bias, 3, axis=1)
        z, r = tf.sigmoid(x_z + inner_z), tf.sigmoid(x_r + inner_r)
        candidate = tf.tanh(x_h + r * inner_h)
        h = candidate + z * (h - candidate)
        return h, outputs.write(t, h), saved.write(t, tf.concat([z, r, candidate, inner_h], 1))

    arrays = [tf.TensorArray(x.dtype, steps) for _ in range(2)]
    _, outputs, saved = counted_loop(steps, step, (h0, *arrays))
    return outputs.stack(), saved.stack()


@tf.function(jit_compile=True, autograph=False, reduce_retracing=False)
def _backward(x, kernel, recurrent_kernel, h0, outputs, saved, d_outputs, d_h):
    steps, units = x.shape[0], h0.shape[1]
    previous_h = previous_states(h0, outputs)

    def step(t, dh, d_projected, d_inner):
        z, r, candidate, inner_h = tf.split(saved[t], 4, axis=1)
        dh = dh + d_outputs[t]
        d_candidate = dh * (1 - z) * (1 - candidate * candidate)
        dz = dh * (previous_h[t] - candidate) * z * (1 - z)
        dr = d_candidate * inner_h * r * (1 - r)
        d_inner_t = tf.concat([dz, dr, d_candidate * r], 1)
        dh_previous = dh * z + tf.matmul(d_inner_t, recurrent_kernel, transpose_b=True)
        return dh_previous, d_projected.write(t, tf.concat([dz, dr, d_candidate], 1)), d_inner.write(t, d_inner_t)

    carry = (d_h, tf.TensorArray(x.dtype, steps), tf.TensorArray(x.dtype, steps))
    dh0, d_projected, d_inner = counted_loop(steps, step, carry, reverse=True)
    d_projected = tf.reshape(d_projected.stack(), [-1, 3 * units])
    d_inner = tf.reshape(d_inner.stack(), [-1, 3 * units])
    d_kernel, d_input_bias = kernel_and_bias_gradients(x, d_projected)
    d_recurrent_kernel = recurrent_kernel_gradient(previous_h, d_inner)
    return d_projected, d_kernel, d_recurrent_kernel, d_input_bias, tf.reduce_sum(d_inner, 0), dh0


__all__ = ["gru_recurrence"]
