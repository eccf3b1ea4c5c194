"""TensorFlow on the CPU: the LSTM's recurrence as one XLA-compiled loop, with a hand-written backward pass.

Keras's generic TensorFlow loop (`tf.while_loop` over the cell, run op by op:
Keras's default `jit_compile="auto"` turns XLA off on a CPU-only machine)
pays TensorFlow's per-operation overhead for every gate of every step, in
the forward pass and again in the autodiff of the loop. Here the input
projection of all steps is one matmul, the time loop is compiled by XLA
(`tf.function(jit_compile=True)`, which fuses each step's gate arithmetic),
and the backward pass is a second compiled loop: one reversed loop for the
state gradients that writes every step's gate gradient, then the kernels'
gradients as one matmul each over all steps. The two are joined by
`tf.custom_gradient`, so this runs inside a training step that Keras does
not compile with XLA.

One `sigmoid` over the whole gate matrix gives all four gates (the
candidate's columns are doubled: `tanh(z) = 2 sigmoid(2 z) - 1`). The
forward pass keeps every step's `h`, `c` and gate activations
(`(time, batch, 6 * units)` floats) for the backward pass, which returns the
input projection's gradient; `dx` is a TensorFlow op outside the compiled
program, so that a first layer's training step prunes it.

Measured (docs/benchmarks.md, "TensorFlow: one sigmoid for the LSTM's four
gates" and "TensorFlow: the LSTM's and GRU's training on XLA loops"):
`rnnzoo.LSTM`'s training step 1.22-1.43x `keras.layers.LSTM`'s speed at
batch 64 x 100 steps x 128 units (median of eleven runs 1.33x; 0.89-1.06x
with Keras's loop), 1.5-1.9x at 32 x 1024 steps. tests/test_fast_paths.py checks outputs, final states and
every gradient against the generic loop, and this function's gradients
against TensorFlow's autodiff of a plain loop in float64.
"""

from __future__ import annotations

import tensorflow as tf

from keras_rnnzoo.layers.tf_loops import (
    candidate_doubled,
    counted_loop,
    input_gradient,
    kernel_and_bias_gradients,
    previous_states,
    project,
    recurrent_kernel_gradient,
)


def lstm_recurrence(x, kernel, recurrent_kernel, bias, h0, c0):
    """Every `h_t` of the LSTM (Keras gate order `i, f, c, o`, sigmoid gates, tanh), and the final `h`, `c`.

    - x: `(time, batch, features)`, time-major, `time` known;
    - kernel `(features, 4 units)`, recurrent_kernel `(units, 4 units)`,
      bias `(4 units,)`; h0, c0 `(batch, units)`.

    Returns `(outputs (time, batch, units), h, c)`; differentiable with respect
    to every argument.

    >>> import tensorflow as tf
    >>> x, h0 = tf.ones((3, 2, 5)), tf.zeros((2, 4))
    >>> outputs, h, c = lstm_recurrence(x, tf.ones((5, 16)), tf.zeros((4, 16)), tf.zeros((16,)), h0, h0)
    >>> outputs.shape, bool(tf.reduce_all(outputs[-1] == h))
    (TensorShape([3, 2, 4]), True)
    """
    x, kernel, recurrent_kernel, bias, h0, c0 = (tf.convert_to_tensor(t) for t in (x, kernel, recurrent_kernel, bias, h0, c0))
    if x.shape[0] is None:
        raise ValueError(f"lstm_recurrence needs a known number of time steps; got inputs of shape {x.shape}.")
    # the inputs' batch size, where the states' is not known statically (states from another layer's loop)
    h0, c0 = (tf.ensure_shape(state, [x.shape[1], None]) for state in (h0, c0))

    @tf.custom_gradient
    def recurrence(x, kernel, recurrent_kernel, bias, h0, c0):
        # stop_gradient: a tape must not differentiate the XLA loop itself (`gradient` does)
        outputs, cells, gates = _forward(*(tf.stop_gradient(t) for t in (x, kernel, recurrent_kernel, bias, h0, c0)))

        def gradient(d_outputs, d_h, d_c):
            saved = (outputs, cells, gates)
            d_projected, *other_gradients = _backward(x, kernel, recurrent_kernel, h0, c0, *saved, d_outputs, d_h, d_c)
            return (input_gradient(x, kernel, d_projected), *other_gradients)

        return (outputs, outputs[-1], cells[-1]), gradient

    return recurrence(x, kernel, recurrent_kernel, bias, h0, c0)


@tf.function(jit_compile=True, autograph=False, reduce_retracing=False)
def _forward(x, kernel, recurrent_kernel, bias, h0, c0):
    steps = x.shape[0]
    # tanh(z) = 2 sigmoid(2 z) - 1: with the candidate's columns doubled, one sigmoid covers all four gates
    doubled = candidate_doubled(h0.shape[1], x.dtype)
    projected = project(x, kernel * doubled, bias * doubled)
    recurrent_kernel = recurrent_kernel * doubled

    def step(t, h, c, outputs, cells, gates):
        sigmoids = tf.sigmoid(projected[t] + h @ recurrent_kernel)
        i, f, s_c, o = tf.split(sigmoids, 4, axis=1)
        c = f * c + i * (2 * s_c - 1)
        h = o * tf.tanh(c)
        return h, c, outputs.write(t, h), cells.write(t, c), gates.write(t, sigmoids)

    arrays = [tf.TensorArray(x.dtype, steps) for _ in range(3)]
    _, _, outputs, cells, gates = counted_loop(steps, step, (h0, c0, *arrays))
    return outputs.stack(), cells.stack(), gates.stack()


@tf.function(jit_compile=True, autograph=False, reduce_retracing=False)
def _backward(x, kernel, recurrent_kernel, h0, c0, outputs, cells, gates, d_outputs, d_h, d_c):
    steps, units = x.shape[0], h0.shape[1]
    previous_c = previous_states(c0, cells)

    def step(t, dh, dc, d_preactivations):
        i, f, s_c, o = tf.split(gates[t], 4, axis=1)
        g = 2 * s_c - 1
        tanh_c = tf.tanh(cells[t])
        dh = dh + d_outputs[t]
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dz = tf.concat(
            [dc * g * i * (1 - i), dc * previous_c[t] * f * (1 - f), dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)], 1
        )
        return tf.matmul(dz, recurrent_kernel, transpose_b=True), dc * f, d_preactivations.write(t, dz)

    carry = (d_h, d_c, tf.TensorArray(x.dtype, steps))
    dh0, dc0, d_preactivations = counted_loop(steps, step, carry, reverse=True)
    dz = tf.reshape(d_preactivations.stack(), [-1, 4 * units])
    d_kernel, d_bias = kernel_and_bias_gradients(x, dz)
    d_recurrent_kernel = recurrent_kernel_gradient(previous_states(h0, outputs), dz)
    return dz, d_kernel, d_recurrent_kernel, d_bias, dh0, dc0


__all__ = ["lstm_recurrence"]
