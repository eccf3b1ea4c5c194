"""The LSTM / GRU time loop for JAX on accelerators: hoisted input projection, unrolled scan.

Keras's generic JAX loop (`lax.scan` over the cell, one step per iteration)
is the fastest choice on the CPU, where hoisting and unrolling measured
slower (a training step of 64 x 100 steps: generic 47-69 ms, hoisted with
the backward below 86 ms, unrolled by 8 159 ms).
On a GPU the per-iteration overhead of `lax.scan` dominates at these sizes,
so there the layer computes the input projection of every step as one
matmul, then scans only the recurrent matmul and the gate arithmetic,
unrolled `UNROLL` steps per iteration.

Without a mask, the LSTM and the `reset_after=True` GRU also have a
hand-written backward pass (`jax.custom_vjp`), as cuDNN does it: the
backward scan carries only the state gradients (one matmul per step), and
the recurrent kernel's gradient is one matmul over all steps afterwards,
instead of autodiff's per-step accumulation. On an H200 at batch 256, 1024
steps, 128 inputs, 512 units (docs/benchmarks.md): generic loop 87 ms per
training step, hoisted scan with autodiff 56 ms, with this backward 41.5 ms
(unroll 1: 54 ms; 16: 43.5 ms), PyTorch's cuDNN LSTM 43-47 ms. At batch 64,
100 steps, 40 inputs, 128 units, in a jitted stateless training step
(`rnnzoo bench --train-loop jax`): 1.90-2.11 ms against cuDNN's 2.0-2.7 ms
(unroll 4: 2.06 ms, 16: 1.93, 50: 2.59, fully unrolled: 1.81 after 23 s of
compilation); `train_on_batch` adds about 1 ms per call.

`fast.fast_inner_loop` calls `hoisted_scan` when `accelerator_loop_applies`;
tests/test_fast_paths.py forces it on the CPU and checks outputs, final
states and gradients against the generic loop.

Mixed precision is supported: the weights are cast once to the dtype of
the sequences (the policy's compute dtype), as the generic loop's per-step
autocast would.
"""

from __future__ import annotations

UNROLL = 8
# The hand-written backward passes below (False: JAX autodiff of the scan, to compare).
HAND_WRITTEN_BACKWARD = True

# None: decide by the default JAX platform; True / False force it (tests, benchmarks).
_FORCED: bool | None = None


def force_accelerator_loop(enabled: bool | None) -> None:
    """Force the hoisted, unrolled loop on (True) or off (False); None restores auto."""
    global _FORCED
    _FORCED = enabled


def accelerator_loop_applies() -> bool:
    """True when JAX computes on a GPU or TPU (or the loop is forced on)."""
    if _FORCED is not None:
        return _FORCED
    import jax

    return jax.default_backend() != "cpu"


def hoisted_scan(layer, cell, sequences, initial_state, mask, training, is_lstm: bool):
    """`(last_output, outputs, states)` like `keras.layers.RNN.inner_loop`."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(sequences)
    dtype = x.dtype
    kernel = jnp.asarray(cell.kernel.value).astype(dtype)
    recurrent_kernel = jnp.asarray(cell.recurrent_kernel.value).astype(dtype)
    bias = None if cell.bias is None else jnp.asarray(cell.bias.value).astype(dtype)
    states = [jnp.asarray(s).astype(dtype) for s in initial_state]
    if training and cell.dropout > 0.0:
        x = x * jnp.asarray(cell.get_dropout_mask(x[:, 0, :])).astype(dtype)[:, None, :]
    if mask is not None:
        mask = jnp.asarray(mask).astype(bool)
        if mask.ndim == 3:
            mask = mask[..., 0]
    if layer.go_backwards:
        x = jnp.flip(x, 1)
        mask = None if mask is None else jnp.flip(mask, 1)

    projected = jnp.matmul(x, kernel)
    recurrent_bias = None
    if bias is not None:
        if is_lstm or not cell.reset_after:
            projected = projected + bias
        else:
            projected = projected + bias[0]
            recurrent_bias = bias[1]
    unroll = max(1, min(UNROLL, x.shape[1]))
    if HAND_WRITTEN_BACKWARD and mask is None and (is_lstm or cell.reset_after):
        projected = jnp.swapaxes(projected, 0, 1)
        if is_lstm:
            outputs, h, c = lstm_sequence(projected, states[0], states[1], recurrent_kernel, unroll)
            final = [h, c]
        else:
            if recurrent_bias is None:
                recurrent_bias = jnp.zeros((recurrent_kernel.shape[1],), dtype)
            outputs, h = gru_sequence(projected, states[0], recurrent_kernel, recurrent_bias, unroll)
            final = [h]
        outputs = jnp.swapaxes(outputs, 0, 1)
        return outputs[:, -1], outputs, final
    step = _lstm_step(recurrent_kernel) if is_lstm else _gru_step(cell, recurrent_kernel, recurrent_bias)

    def body(carry, inputs):
        states, output = carry
        p_t, mask_t = inputs
        new_states = step(p_t, states)
        if mask_t is None:
            return (new_states, new_states[0]), new_states[0]
        keep = mask_t[:, None]
        new_states = [jnp.where(keep, new, old) for new, old in zip(new_states, states)]
        output = jnp.where(keep, new_states[0], output)
        return (new_states, output), output

    time_major_mask = None if mask is None else jnp.swapaxes(mask, 0, 1)
    (final, _), outputs = jax.lax.scan(
        body,
        (states, jnp.zeros_like(states[0])),
        (jnp.swapaxes(projected, 0, 1), time_major_mask),
        unroll=unroll,
    )
    outputs = jnp.swapaxes(outputs, 0, 1)
    last = outputs[:, -1]
    if mask is not None and layer.zero_output_for_mask:
        outputs = jnp.where(mask[..., None], outputs, 0)
        last = jnp.where(mask[:, -1:], last, 0)
    return last, outputs, list(final)


def _lstm_gates(p_t, h, c, recurrent_kernel):
    """One LSTM step from the projected input: `(h, c)` and the activations `(i, f, g, o, tanh c)`."""
    import jax
    import jax.numpy as jnp

    z_i, z_f, z_c, z_o = jnp.split(p_t + jnp.matmul(h, recurrent_kernel), 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jnp.tanh(z_c), jax.nn.sigmoid(z_o)
    c = f * c + i * g
    tanh_c = jnp.tanh(c)
    return o * tanh_c, c, (i, f, g, o, tanh_c)


def _lstm_step(recurrent_kernel):
    def step(p_t, states):
        h, c, _ = _lstm_gates(p_t, states[0], states[1], recurrent_kernel)
        return [h, c]

    return step


def _gru_gates(p_t, h, recurrent_kernel, recurrent_bias):
    """One `reset_after=True` GRU step: the new `h` and `(z, r, n, inner_n)`."""
    import jax
    import jax.numpy as jnp

    units = h.shape[-1]
    inner = jnp.matmul(h, recurrent_kernel)
    if recurrent_bias is not None:
        inner = inner + recurrent_bias
    z = jax.nn.sigmoid(p_t[:, :units] + inner[:, :units])
    r = jax.nn.sigmoid(p_t[:, units : 2 * units] + inner[:, units : 2 * units])
    inner_n = inner[:, 2 * units :]
    n = jnp.tanh(p_t[:, 2 * units :] + r * inner_n)
    return z * h + (1.0 - z) * n, (z, r, n, inner_n)


def _gru_step(cell, recurrent_kernel, recurrent_bias):
    import jax
    import jax.numpy as jnp

    units = cell.units

    def step(p_t, states):
        (h,) = states
        if cell.reset_after:
            return [_gru_gates(p_t, h, recurrent_kernel, recurrent_bias)[0]]
        inner = jnp.matmul(h, recurrent_kernel[:, : 2 * units])
        z = jax.nn.sigmoid(p_t[:, :units] + inner[:, :units])
        r = jax.nn.sigmoid(p_t[:, units : 2 * units] + inner[:, units : 2 * units])
        candidate = jnp.tanh(p_t[:, 2 * units :] + jnp.matmul(r * h, recurrent_kernel[:, 2 * units :]))
        return [z * h + (1.0 - z) * candidate]

    return step


# ------------------------------------------------ hand-written backward passes
def _lstm_forward(projected, h0, c0, recurrent_kernel, unroll):
    """Time-major LSTM; returns `(outputs, h, c)` and the residuals for the backward pass."""
    import jax

    def body(carry, p_t):
        h, c = carry
        h_new, c_new, activations = _lstm_gates(p_t, h, c, recurrent_kernel)
        return (h_new, c_new), (h_new, (h, c, *activations))

    (h, c), (outputs, saved) = jax.lax.scan(body, (h0, c0), projected, unroll=unroll)
    return (outputs, h, c), (saved, recurrent_kernel)


def _lstm_backward(unroll, residuals, cotangents):
    import jax
    import jax.numpy as jnp

    saved, kernel = residuals
    d_outputs, d_h, d_c = cotangents
    kernel_t = kernel.T

    def body(carry, inputs):
        d_h, d_c = carry
        d_out, (h_prev, c_prev, i, f, g, o, tanh_c) = inputs
        d_h = d_h + d_out
        d_o = d_h * tanh_c
        d_c = d_c + d_h * o * (1.0 - tanh_c * tanh_c)
        d_z = jnp.concatenate(
            [d_c * g * i * (1.0 - i), d_c * c_prev * f * (1.0 - f), d_c * i * (1.0 - g * g), d_o * o * (1.0 - o)], -1
        )
        return (jnp.matmul(d_z, kernel_t), d_c * f), d_z

    (d_h0, d_c0), d_projected = jax.lax.scan(body, (d_h, d_c), (d_outputs, saved), reverse=True, unroll=unroll)
    h_prev = saved[0]
    d_kernel = jnp.einsum("tbh,tbg->hg", h_prev, d_projected, preferred_element_type="float32").astype(kernel.dtype)
    return d_projected, d_h0, d_c0, d_kernel


def _gru_forward(projected, h0, recurrent_kernel, recurrent_bias, unroll):
    """Time-major `reset_after=True` GRU; returns `(outputs, h)` and the residuals."""
    import jax

    def body(h, p_t):
        h_new, activations = _gru_gates(p_t, h, recurrent_kernel, recurrent_bias)
        return h_new, (h_new, (h, *activations))

    h, (outputs, saved) = jax.lax.scan(body, h0, projected, unroll=unroll)
    return (outputs, h), (saved, recurrent_kernel)


def _gru_backward(unroll, residuals, cotangents):
    import jax
    import jax.numpy as jnp

    saved, kernel = residuals
    d_outputs, d_h = cotangents
    kernel_t = kernel.T

    def body(d_h, inputs):
        d_out, (h_prev, z, r, n, inner_n) = inputs
        d_h = d_h + d_out
        d_n = d_h * (1.0 - z) * (1.0 - n * n)
        d_z = d_h * (h_prev - n) * z * (1.0 - z)
        d_r = d_n * inner_n * r * (1.0 - r)
        d_inner = jnp.concatenate([d_z, d_r, d_n * r], -1)
        return d_h * z + jnp.matmul(d_inner, kernel_t), (jnp.concatenate([d_z, d_r, d_n], -1), d_inner)

    d_h0, (d_projected, d_inner) = jax.lax.scan(body, d_h, (d_outputs, saved), reverse=True, unroll=unroll)
    d_kernel = jnp.einsum("tbh,tbg->hg", saved[0], d_inner, preferred_element_type="float32").astype(kernel.dtype)
    d_bias = jnp.sum(d_inner, (0, 1), dtype="float32").astype(kernel.dtype)
    return d_projected, d_h0, d_kernel, d_bias


def _with_backward(forward, backward, unroll_position):
    """`forward(*args)[0]` as a `jax.custom_vjp` function whose gradient is `backward`.

    `args[unroll_position]` is the (static) unroll factor.
    """
    import functools

    import jax

    @functools.partial(jax.custom_vjp, nondiff_argnums=(unroll_position,))
    def function(*args):
        return forward(*args)[0]

    function.defvjp(forward, backward)
    return function


def _custom_vjp_functions():
    """Build the `jax.custom_vjp` functions once (JAX is imported lazily)."""
    return _with_backward(_lstm_forward, _lstm_backward, 4), _with_backward(_gru_forward, _gru_backward, 4)


_FUNCTIONS: tuple | None = None


def lstm_sequence(projected, h0, c0, recurrent_kernel, unroll):
    """`(outputs, h, c)` of the LSTM over time-major `projected` inputs (custom gradient)."""
    global _FUNCTIONS
    _FUNCTIONS = _FUNCTIONS or _custom_vjp_functions()
    return _FUNCTIONS[0](projected, h0, c0, recurrent_kernel, unroll)


def gru_sequence(projected, h0, recurrent_kernel, recurrent_bias, unroll):
    """`(outputs, h)` of the `reset_after=True` GRU over time-major inputs (custom gradient)."""
    global _FUNCTIONS
    _FUNCTIONS = _FUNCTIONS or _custom_vjp_functions()
    return _FUNCTIONS[1](projected, h0, recurrent_kernel, recurrent_bias, unroll)
