"""Shared pieces of the XLA-compiled TensorFlow loops (`tf_lstm`, `tf_gru`, `tf_layer_norm`, `tf_minimal`): time-major tensors.

>>> import tensorflow as tf
>>> counted_loop(3, lambda i, total: (total * 10 + i,), (tf.constant(0),))[0].numpy()
np.int32(12)
"""

from __future__ import annotations

import tensorflow as tf


def counted_loop(count, body, carry, reverse=False):
    """`tf.while_loop` over `range(count)` (reversed if asked): `body(i, *carry) -> carry`; returns the last carry."""

    def step(i, *carry):
        return (i + 1, *body(count - 1 - i if reverse else i, *carry))

    return tf.while_loop(lambda i, *_: i < count, step, (tf.constant(0), *carry), maximum_iterations=count)[1:]


def candidate_doubled(units, dtype):
    """`[1, 1, 2, 1]`, each repeated `units` times: doubles the candidate's (`c`) columns of an LSTM's gate matrix.

    With them doubled, one sigmoid gives all four gates: `tanh(z) = 2 sigmoid(2 z) - 1`.
    """
    return tf.repeat(tf.constant([1.0, 1.0, 2.0, 1.0], dtype), units)


def project(x, kernel, bias):
    """`x W + b` for every step at once: `(time, batch, features)` -> `(time, batch, kernel columns)`."""
    return tf.reshape(tf.reshape(x, [-1, x.shape[2]]) @ kernel + bias, [x.shape[0], -1, kernel.shape[1]])


def input_needs_gradient(x) -> bool:
    """Whether a backward pass may need `dx`: False only while a gradient tape records and `x` depends on nothing it watches.

    A Keras training step's tape watches the weights, so a first layer's
    inputs (data) need no gradient. Without a recording tape (`tf.gradients`
    in a graph) every gradient may be asked for: True; True as well where
    TensorFlow's internal `record` module is missing (another version).
    """
    try:
        from tensorflow.python.eager import record  # TensorFlow's own test of what its tapes record
    except ImportError:
        return True
    return not record.could_possibly_record() or bool(record.should_record_backprop(tf.nest.flatten(x)))


def previous_states(initial, states):
    """The state each step starts from: `initial`, then every step's state but the last."""
    return tf.concat([initial[None], states[:-1]], 0)


def kernel_and_bias_gradients(x, d_projected):
    """`(d_kernel, d_bias)` of `project(x, kernel, bias)`, given its gradient flattened to `(time * batch, columns)`."""
    d_kernel = tf.matmul(tf.reshape(x, [-1, x.shape[2]]), d_projected, transpose_a=True)
    return d_kernel, tf.reduce_sum(d_projected, 0)


def input_gradient(x, kernel, d_projected):
    """`dx` of `project(x, kernel, bias)`, given its gradient flattened to `(time * batch, columns)`.

    Called outside the compiled backward pass, as an operation of its own, so
    that a training step whose inputs need no gradient (the first layer's)
    prunes it.
    """
    return tf.reshape(tf.matmul(d_projected, kernel, transpose_b=True), [x.shape[0], -1, x.shape[2]])


def recurrent_kernel_gradient(previous_h, d_preactivations):
    """The recurrent kernel's gradient over all steps, one matmul: `sum_t h_(t-1)^T dz_t`."""
    units = previous_h.shape[2]
    return tf.matmul(tf.reshape(previous_h, [-1, units]), d_preactivations, transpose_a=True)


__all__ = [
    "candidate_doubled",
    "counted_loop",
    "input_gradient",
    "input_needs_gradient",
    "kernel_and_bias_gradients",
    "previous_states",
    "project",
    "recurrent_kernel_gradient",
]
