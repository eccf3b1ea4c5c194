"""PyTorch: the LSTM recurrence (peepholes and masks optional) as one loop with a hand-written backward pass.

The tight loop in `fast.py` used to record every step's dozen gate
operations on PyTorch's autograd tape; its backward pass then replayed
about twice as many, each a node of the autograd engine on a small
`(batch, units)` tensor. Here the forward pass runs without the tape and
writes the gate activations and cell states of all steps into time-major
buffers; the backward pass runs the gradient back through the steps with
one matmul and a handful of elementwise operations per step, and takes the
recurrent kernel's and the peepholes' gradients for all steps at once
(one `(units, steps * batch) @ (steps * batch, 4 units)` matmul).

It serves what PyTorch's fused LSTM kernel does not: peephole LSTMs,
batches with padding (a masked step keeps the previous state and output),
and single streaming steps. tests/test_fast_paths.py checks outputs, final
states and gradients against Keras's generic loop over the cells, and
`lstm_recurrence` against PyTorch's autodiff of the same loop.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

# `d activation / d input` from the activation's output, as PyTorch's own backward passes compute it
sigmoid_backward, tanh_backward = torch.ops.aten.sigmoid_backward.default, torch.ops.aten.tanh_backward.default


# Under `torch.compile` (Keras's `jit_compile=True`) the loop runs eagerly, as torch_minimal's does.
@torch.compiler.disable
def lstm_recurrence(x, kernel, bias, h0, c0, recurrent_kernel, peepholes=None, mask=None):
    """`(outputs, h, c)` of the LSTM over `x` (`(batch, steps, features)`).

    Weights as Keras's `LSTMCell` holds them (gate blocks `i, f, c, o`);
    `bias` may be None; `peepholes` is None or the `(units,)` weights
    `(p_i, p_f, p_o)`; `mask` is None or a boolean `(batch, steps)`: a
    masked step keeps the state and repeats the previous output (zeros
    before a row's first step), as Keras's masked loop does. `outputs` is
    `(batch, steps, units)`.

    Example (one unit; the input opens every gate and drives the candidate to 1):

    >>> import torch
    >>> kernel = torch.tensor([[9.0, 9.0, 9.0, 9.0]])
    >>> zeros = torch.zeros(1, 1)
    >>> outputs, h, c = lstm_recurrence(torch.ones(1, 2, 1), kernel, None, zeros, zeros, torch.zeros(1, 4))
    >>> round(c.item(), 2)
    2.0
    """
    units = h0.shape[-1]

    def gates_last(weight):  # i, f, c, o -> i, f, o, c: the three sigmoid gates side by side
        return torch.cat([weight[..., : 2 * units], weight[..., 3 * units :], weight[..., 2 * units : 3 * units]], -1)

    projected = torch.matmul(x, gates_last(kernel))
    if bias is not None:
        projected = projected + gates_last(bias)
    p_i, p_f, p_o = (None, None, None) if peepholes is None else peepholes
    outputs, h, c = _LSTMRecurrence.apply(
        projected.transpose(0, 1), h0, c0, gates_last(recurrent_kernel), p_i, p_f, p_o, mask
    )
    return outputs.transpose(0, 1), h, c


def step_weights(mask, dtype):
    """The `(batch, steps)` boolean mask as `(steps, batch, 1)` weights 1 (step) and 0 (masked), or None."""
    return None if mask is None else mask.T.to(dtype).unsqueeze(-1)


def masked_step(keep, t, states, new_states, output):
    """`(states, output)` after step `t`: rows whose weight is 0 keep their old states and previous output."""
    if keep is None:
        return new_states, new_states[0]
    k = keep[t]  # torch.lerp is exact at weights 0 and 1
    return tuple(torch.lerp(old, new, k) for old, new in zip(states, new_states)), torch.lerp(output, new_states[0], k)


def step_gradients(keep, t, d_output, d_states, d_carried):
    """Backward through `masked_step`: `(d_new_states, d_kept_states or None, d_carried)`.

    `d_carried` is the gradient reaching a masked step's repeated output (the
    output of the row's last real step); pass zeros before the last step.
    """
    if keep is None:
        return (d_output + d_states[0], *d_states[1:]), None, d_carried
    k = keep[t]
    d_carried = d_carried + d_output
    d_new = ((d_carried + d_states[0]) * k, *(d * k for d in d_states[1:]))
    return d_new, tuple(d - d * k for d in d_states), d_carried - d_carried * k


def recurrent_kernel_gradient(h0, states, d_recurrent):
    """`sum_t h_(t-1)^T d(h_(t-1) W)` over all steps in one matmul (`d_recurrent`: `(steps, batch, width)`)."""
    previous = torch.stack([h0, *states[:-1]])
    return torch.mm(previous.reshape(-1, h0.shape[-1]).T, d_recurrent.reshape(-1, d_recurrent.shape[-1]))


class _LSTMRecurrence(torch.autograd.Function):
    """Time-major inside: `projected` is `(steps, batch, 4 units)` with gate blocks `i, f, o, c`.

    The forward pass keeps each step's gate activations and cell state as
    the separate tensors it computed (no copies into larger buffers: writing
    into strided slices measured twice the cost of an operation); the
    backward pass computes the activations' derivatives from them step by
    step, on tensors that stay in cache.
    """

    @staticmethod
    def forward(ctx, projected, h0, c0, recurrent_kernel, p_i, p_f, p_o, mask):
        steps, batch, _ = projected.shape
        units = h0.shape[-1]
        peephole = p_i is not None
        keep = step_weights(mask, projected.dtype)
        p_if = torch.stack([p_i, p_f]) if peephole else None
        h, c, output = h0, c0, torch.zeros_like(h0)
        saved, states, cells, outputs = [], [], [], []
        for t in range(steps):
            z = torch.addmm(projected[t], h, recurrent_kernel)
            if peephole:  # i and f see the old cell state, o the new one
                z_if = z[:, : 2 * units].view(batch, 2, units)
                i, f = torch.sigmoid(torch.addcmul(z_if, p_if, c.unsqueeze(1))).unbind(1)
            else:
                i, f, o = torch.sigmoid(z[:, : 3 * units]).chunk(3, 1)
            g = torch.tanh(z[:, 3 * units :])
            c_new = torch.addcmul(i * g, f, c)
            if peephole:
                o = torch.sigmoid(torch.addcmul(z[:, 2 * units : 3 * units], p_o, c_new))
            tanh_c = torch.tanh(c_new)
            h_new = o * tanh_c
            (h, c), output = masked_step(keep, t, (h, c), (h_new, c_new), output)
            saved.append((i, f, o, g, c_new, tanh_c))
            states.append(h)
            cells.append(c)
            outputs.append(output)
        ctx.save_for_backward(h0, c0, recurrent_kernel, p_i, p_f, p_o, keep)
        ctx.saved, ctx.states, ctx.cells = saved, states, cells
        return torch.stack(outputs), h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, d_h, d_c):
        h0, c0, recurrent_kernel, p_i, p_f, p_o, keep = ctx.saved_tensors
        saved, states, cells = ctx.saved, ctx.states, ctx.cells
        steps, units = len(states), h0.shape[-1]
        peephole = p_i is not None
        d_z = d_outputs.new_empty((steps, h0.shape[0], 4 * units))
        recurrent_kernel_t = recurrent_kernel.T
        dh, dc = d_h, d_c
        d_carried = torch.zeros_like(h0)  # the gradient of a masked step's repeated output
        for t in reversed(range(steps)):
            (dh_new, dc_new), skipped, d_carried = step_gradients(keep, t, d_outputs[t], (dh, dc), d_carried)
            i, f, o, g, c_new, tanh_c = saved[t]
            c_previous = cells[t - 1] if t else c0
            d_o = sigmoid_backward(dh_new * tanh_c, o)
            dc_new = dc_new + tanh_backward(dh_new * o, tanh_c)
            if peephole:
                dc_new = dc_new.addcmul_(d_o, p_o)
            d_i = sigmoid_backward(dc_new * g, i)
            d_f = sigmoid_backward(dc_new * c_previous, f)
            d_g = tanh_backward(dc_new * i, g)
            torch.cat([d_i, d_f, d_o, d_g], 1, out=d_z[t])
            dc = dc_new * f
            if peephole:
                dc = dc.addcmul_(d_i, p_i).addcmul_(d_f, p_f)
            dh = torch.mm(d_z[t], recurrent_kernel_t)
            if skipped is not None:
                dh, dc = dh + skipped[0], dc + skipped[1]
        d_recurrent_kernel = recurrent_kernel_gradient(h0, states, d_z)
        d_peepholes = (None, None, None)
        if peephole:
            previous_cells = torch.stack([c0, *cells[:-1]])
            d_i, d_f, d_o, _ = d_z.chunk(4, -1)
            new_cells = torch.stack([step[4] for step in saved])
            d_peepholes = tuple((d * c).sum((0, 1)) for d, c in ((d_i, previous_cells), (d_f, previous_cells), (d_o, new_cells)))
        return (d_z, dh, dc, d_recurrent_kernel, *d_peepholes, None)


__all__ = ["lstm_recurrence"]
