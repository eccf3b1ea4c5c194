"""JAX on the CPU: MinGRU / MinLSTM as one fused loop over chunks of steps, with a hand-written backward pass.

On a CPU the whole-sequence tensors of a minimal RNN (the preactivations
`x W + b`, the coefficients `a`, `b`, their gradients: batch x time x units
each) do not fit in cache, and streaming them through memory costs more than
the recurrence itself. This loop keeps everything per chunk of `CHUNK_STEPS`
steps: a chunk computes `k = x W + b` for its steps in one matmul, the
coefficients `(a, b)`, and then `h_t = a_t h_(t-1) + b_t` step by step in an
inner loop; it stores only `h_t` (the output). The backward pass is one
reversed loop over chunks that recomputes `k` from `x`, runs the state
gradient back through the chunk's steps, takes the coefficients' gradient
with `jax.vjp` (elementwise, so any cell's `coefficients` works) and
accumulates the kernel's gradient one chunk at a time. A sequence whose
length is not a multiple of the chunk is padded with masked steps.

Measured on this CPU (docs/benchmarks.md, "MinGRU / MinLSTM: chunks of the
fused loop on JAX"): chunks of 16 steps instead of one step per iteration
(the seventh session's loop: four small matmuls per step) take a training
step at batch 32 x 1024 steps, 128 inputs, 512 units from 884 to 572 ms
(MinLSTM) and from 699 to 426 ms (MinGRU) on two cores; at 40 inputs and
128 units 5-25 % less on two cores, and for the MinLSTM nothing sure on one.
Saving the preactivations for the backward pass instead of recomputing them,
and unrolling the steps of a chunk in Python, measured slower.
tests/test_fast_paths.py checks outputs and gradients (inputs, kernel,
bias, initial state, with masks, lengths that are and are not multiples of
the chunk) against JAX's autodiff of the plain loop; tests/test_minimal.py
runs the layers through it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from keras_rnnzoo.layers.minimal import masked_coefficients

CHUNK_STEPS = 16


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 6))
def fused_scan(coefficients, x, kernel, bias, h0, keep, chunk=CHUNK_STEPS):
    """Every `h_t` of `h_t = a_t h_(t-1) + b_t`, `(a_t, b_t) = coefficients(x_t kernel + bias)`.

    Args:
        coefficients: the cell's `(a, b)` from preactivations (elementwise).
        x: `(time, batch, features)` float32, time-major.
        kernel: `(features, gates * units)`; bias: `(gates * units,)`.
        h0: `(batch, units)`.
        keep: `(time, batch, 1)` float32, 1 where the step counts and 0 where
            it is masked (the state is carried over).
        chunk: steps per iteration of the outer loop.

    Returns:
        `(time, batch, units)`.

    Example (a decaying running sum, `a = 1/2, b = k`):

    >>> import jax.numpy as jnp
    >>> halve = lambda k: (0.5 * jnp.ones_like(k), k)
    >>> x = jnp.ones((3, 1, 1))
    >>> fused_scan(halve, x, jnp.ones((1, 1)), jnp.zeros((1,)), jnp.zeros((1, 1)), jnp.ones((3, 1, 1)))[:, 0, 0]
    Array([1.  , 1.5 , 1.75], dtype=float32)
    """
    return _forward(coefficients, x, kernel, bias, h0, keep, chunk)[0]


def _pad_time(tensor, steps: int):
    """`tensor` with `steps` zero steps appended along time (axis 0)."""
    return jnp.concatenate([tensor, jnp.zeros((steps,) + tensor.shape[1:], tensor.dtype)]) if steps else tensor


def _chunks(tensor, chunk: int):
    """`(time, ...)` -> `(time / chunk, chunk, ...)`."""
    return tensor.reshape((tensor.shape[0] // chunk, chunk) + tensor.shape[1:])


def _forward(coefficients, x, kernel, bias, h0, keep, chunk):
    steps = x.shape[0]
    padding = -steps % chunk
    x, keep = _pad_time(x, padding), _pad_time(keep, padding)  # padded steps are masked: state carried over

    def chunk_step(h, inputs):
        x_chunk, keep_chunk = inputs
        a, b = masked_coefficients(coefficients, x_chunk @ kernel + bias, keep_chunk)

        def step(h, coefficients_t):
            a_t, b_t = coefficients_t
            h = a_t * h + b_t
            return h, h

        return jax.lax.scan(step, h, (a, b))

    _, outputs = jax.lax.scan(chunk_step, h0, (_chunks(x, chunk), _chunks(keep, chunk)))
    outputs = outputs.reshape((-1,) + outputs.shape[2:])
    return outputs[:steps], (x, kernel, bias, h0, keep, outputs)


def _backward(coefficients, chunk, residuals, output_gradients):
    x, kernel, bias, h0, keep, outputs = residuals
    steps = output_gradients.shape[0]
    output_gradients = _pad_time(output_gradients, outputs.shape[0] - steps)
    previous = jnp.concatenate([h0[None], outputs[:-1]], axis=0)

    def chunk_step(carry, inputs):
        dh, d_kernel, d_bias = carry
        x_chunk, keep_chunk, previous_chunk, d_output_chunk = inputs
        (a, _), coefficients_vjp = jax.vjp(
            lambda k: masked_coefficients(coefficients, k, keep_chunk), x_chunk @ kernel + bias
        )

        def step(dh, inputs_t):
            a_t, h_previous, d_output = inputs_t
            dh = dh + d_output
            return dh * a_t, (dh * h_previous, dh)

        dh, d_coefficients = jax.lax.scan(step, dh, (a, previous_chunk, d_output_chunk), reverse=True)
        (dk,) = coefficients_vjp(d_coefficients)
        flat_x, flat_dk = x_chunk.reshape(-1, x_chunk.shape[-1]), dk.reshape(-1, dk.shape[-1])
        return (dh, d_kernel + flat_x.T @ flat_dk, d_bias + flat_dk.sum(0)), dk @ kernel.T

    initial = (jnp.zeros_like(h0), jnp.zeros_like(kernel), jnp.zeros_like(bias))
    sequences = (_chunks(x, chunk), _chunks(keep, chunk), _chunks(previous, chunk), _chunks(output_gradients, chunk))
    (dh0, d_kernel, d_bias), dx = jax.lax.scan(chunk_step, initial, sequences, reverse=True)
    dx = dx.reshape((-1,) + dx.shape[2:])[:steps]
    return dx, d_kernel, d_bias, dh0, jnp.zeros_like(keep[:steps])


fused_scan.defvjp(_forward, _backward)

__all__ = ["CHUNK_STEPS", "fused_scan"]
