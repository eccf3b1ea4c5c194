"""PyTorch: the layer-normalized LSTM's and GRU's recurrences as one loop with a hand-written backward pass.

`LayerNormLSTMCell` and `LayerNormGRUCell` (`reset_after=True`) normalize
each gate block of the recurrent projection `h W_h` (and the LSTM its new
cell state) at every step. On PyTorch's autograd tape a step of the
layer-normalized LSTM was about 20 nodes, and the backward pass
accumulated the recurrent kernel's and the gains' gradients step by step
(a small matmul and reductions per step). Here, as in `torch_lstm`, the
forward pass runs off the tape and keeps each step's intermediates; the
backward pass calls PyTorch's layer-norm backward kernel directly, collects
the gains' gradients per step in one accumulator each, and takes the
recurrent kernel's gradient for all steps in one matmul.

The state-independent part, `LN(x W) * gamma + b` for all steps, stays on
the tape (computed by the caller, `fast._torch_layer_norm_loop`).
tests/test_fast_paths.py checks outputs, final states and gradients against
Keras's generic loop over the cells, and these functions against PyTorch's
autodiff of the same loops.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from keras_rnnzoo.layers.torch_lstm import (
    masked_step,
    recurrent_kernel_gradient,
    sigmoid_backward,
    step_gradients,
    step_weights,
    tanh_backward,
)

# The overloads themselves: calling `torch.ops.aten.X` picks one per call, which cost more than
# the operation on a small tensor (native_layer_norm: 14 us through `torch.ops.aten`, 6.7 us as
# `torch.native_layer_norm`; its backward 17 us, 13 us as `.default`).
_layer_norm = torch.native_layer_norm
_layer_norm_backward = torch.ops.aten.native_layer_norm_backward.default


@torch.compiler.disable  # under torch.compile the loop runs eagerly, as torch_minimal's does
def layer_norm_lstm_recurrence(projected, h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, epsilon, mask=None):
    """`(outputs, h, c)` of `LayerNormLSTMCell` over `projected = LN(x W) * input_gamma + b`.

    `projected` is `(batch, steps, 4 units)` (gate blocks `i, f, c, o`), the
    weights as the cell holds them, `mask` None or a boolean `(batch,
    steps)` (masked steps keep the state and repeat the output).

    Example (no recurrent weights: each gate block normalizes to zeros):

    >>> import torch
    >>> zeros, ones = torch.zeros(1, 2), torch.ones(2)
    >>> outputs, h, c = layer_norm_lstm_recurrence(
    ...     torch.zeros(1, 3, 8), zeros, zeros, torch.zeros(2, 8), torch.ones(8), ones, ones, 1e-3)
    >>> outputs.shape, round(h[0, 0].item(), 3)  # sigmoid(0) * tanh(LN(0) + 1)
    (torch.Size([1, 3, 2]), 0.381)
    """
    outputs, h, c = _LayerNormLSTM.apply(
        projected.transpose(0, 1), h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, float(epsilon), mask
    )
    return outputs.transpose(0, 1), h, c


@torch.compiler.disable
def layer_norm_gru_recurrence(projected, h0, recurrent_kernel, recurrent_gamma, recurrent_bias, epsilon, mask=None):
    """`(outputs, h)` of `LayerNormGRUCell(reset_after=True)` over `projected = LN(x W) * input_gamma + b_x`.

    `projected` is `(batch, steps, 3 units)` (gate blocks `z, r, h`);
    `recurrent_bias` may be None; `mask` as in `layer_norm_lstm_recurrence`.

    Example (no recurrent weights and zero projections: `z = 1/2`, candidate 0):

    >>> import torch
    >>> outputs, h = layer_norm_gru_recurrence(
    ...     torch.zeros(1, 2, 3), torch.ones(1, 1), torch.zeros(1, 3), torch.ones(3), None, 1e-3)
    >>> [round(v, 2) for v in outputs[0, :, 0].tolist()]
    [0.5, 0.25]
    """
    outputs, h = _LayerNormGRU.apply(
        projected.transpose(0, 1), h0, recurrent_kernel, recurrent_gamma, recurrent_bias, float(epsilon), mask
    )
    return outputs.transpose(0, 1), h


def _block_norm(r, blocks, epsilon):
    """Each of the `blocks` gate blocks of `r` normalized on its own: `(normalized, mean, rstd)`."""
    batch, width = r.shape
    normalized, mean, rstd = _layer_norm(r.view(batch, blocks, width // blocks), [width // blocks], None, None, epsilon)
    return normalized.view(batch, width), mean, rstd


def _block_norm_backward(d_normalized, r, mean, rstd, blocks):
    batch, width = r.shape
    shape = (batch, blocks, width // blocks)
    d_r, _, _ = _layer_norm_backward(
        d_normalized.view(shape), r.view(shape), [width // blocks], mean, rstd, None, None, [True, False, False]
    )
    return d_r.view(batch, width)


class _LayerNormLSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, projected, h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, epsilon, mask):
        steps, units = projected.shape[0], h0.shape[-1]
        keep = step_weights(mask, projected.dtype)
        h, c, output = h0, c0, torch.zeros_like(h0)
        saved, states, cells, outputs = [], [], [], []
        for t in range(steps):
            r = torch.mm(h, recurrent_kernel)
            r_hat, r_mean, r_rstd = _block_norm(r, 4, epsilon)
            z = torch.addcmul(projected[t], r_hat, recurrent_gamma)
            i, f = torch.sigmoid(z[:, : 2 * units]).chunk(2, 1)
            g, o = torch.tanh(z[:, 2 * units : 3 * units]), torch.sigmoid(z[:, 3 * units :])
            c_new = torch.addcmul(i * g, f, c)
            c_norm, c_mean, c_rstd = _layer_norm(c_new, [units], cell_gamma, cell_beta, epsilon)
            tanh_c = torch.tanh(c_norm)
            (h, c), output = masked_step(keep, t, (h, c), (o * tanh_c, c_new), output)
            saved.append((r, r_hat, r_mean, r_rstd, i, f, g, o, c_new, c_mean, c_rstd, tanh_c))
            states.append(h)
            cells.append(c)
            outputs.append(output)
        ctx.save_for_backward(h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, keep)
        ctx.saved, ctx.states, ctx.cells = saved, states, cells
        return torch.stack(outputs), h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, d_h, d_c):
        h0, c0, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, keep = ctx.saved_tensors
        saved, states, cells = ctx.saved, ctx.states, ctx.cells
        steps = len(states)
        d_projected = d_outputs.new_empty((steps, h0.shape[0], recurrent_kernel.shape[1]))
        d_recurrent = torch.empty_like(d_projected)  # written step by step: stacking a list at the end copies it again
        d_recurrent_gamma = torch.zeros_like(d_projected[0])  # summed over the batch at the end
        d_cell_gamma, d_cell_beta = torch.zeros_like(cell_gamma), torch.zeros_like(cell_beta)
        recurrent_kernel_t = recurrent_kernel.T
        dh, dc, d_carried = d_h, d_c, torch.zeros_like(h0)
        for t in reversed(range(steps)):
            (dh_new, dc_new), skipped, d_carried = step_gradients(keep, t, d_outputs[t], (dh, dc), d_carried)
            r, r_hat, r_mean, r_rstd, i, f, g, o, c_new, c_mean, c_rstd, tanh_c = saved[t]
            d_o = sigmoid_backward(dh_new * tanh_c, o)
            d_c_norm = tanh_backward(dh_new * o, tanh_c)
            d_c_new, d_gamma, d_beta = _layer_norm_backward(
                d_c_norm, c_new, [c_new.shape[-1]], c_mean, c_rstd, cell_gamma, cell_beta, [True, True, True]
            )
            d_cell_gamma += d_gamma
            d_cell_beta += d_beta
            dc_new = dc_new + d_c_new
            d_i = sigmoid_backward(dc_new * g, i)
            d_f = sigmoid_backward(dc_new * (cells[t - 1] if t else c0), f)
            d_g = tanh_backward(dc_new * i, g)
            d_z = torch.cat([d_i, d_f, d_g, d_o], 1, out=d_projected[t])
            d_recurrent_gamma.addcmul_(d_z, r_hat)
            d_r = _block_norm_backward(d_z * recurrent_gamma, r, r_mean, r_rstd, 4)
            d_recurrent[t] = d_r
            dc = dc_new * f
            dh = torch.mm(d_r, recurrent_kernel_t)
            if skipped is not None:
                dh, dc = dh + skipped[0], dc + skipped[1]
        d_recurrent_kernel = recurrent_kernel_gradient(h0, states, d_recurrent)
        return d_projected, dh, dc, d_recurrent_kernel, d_recurrent_gamma.sum(0), d_cell_gamma, d_cell_beta, None, None


class _LayerNormGRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, projected, h0, recurrent_kernel, recurrent_gamma, recurrent_bias, epsilon, mask):
        steps, units = projected.shape[0], h0.shape[-1]
        keep = step_weights(mask, projected.dtype)
        h, output = h0, torch.zeros_like(h0)
        saved, states, outputs = [], [], []
        for t in range(steps):
            r = torch.mm(h, recurrent_kernel)
            r_hat, r_mean, r_rstd = _block_norm(r, 3, epsilon)
            inner = r_hat * recurrent_gamma if recurrent_bias is None else torch.addcmul(recurrent_bias, r_hat, recurrent_gamma)
            p = projected[t]
            update, reset = torch.sigmoid(p[:, : 2 * units] + inner[:, : 2 * units]).chunk(2, 1)
            inner_h = inner[:, 2 * units :]
            candidate = torch.tanh(torch.addcmul(p[:, 2 * units :], reset, inner_h))
            difference = h - candidate
            (h,), output = masked_step(keep, t, (h,), (torch.addcmul(candidate, update, difference),), output)
            saved.append((r, r_hat, r_mean, r_rstd, update, reset, inner_h, candidate, difference))
            states.append(h)
            outputs.append(output)
        ctx.save_for_backward(h0, recurrent_kernel, recurrent_gamma, recurrent_bias, keep)
        ctx.saved, ctx.states = saved, states
        return torch.stack(outputs), h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, d_h):
        h0, recurrent_kernel, recurrent_gamma, recurrent_bias, keep = ctx.saved_tensors
        saved, states = ctx.saved, ctx.states
        steps = len(states)
        d_projected = d_outputs.new_empty((steps, h0.shape[0], recurrent_kernel.shape[1]))
        d_inners, d_recurrent = torch.empty_like(d_projected), torch.empty_like(d_projected)
        d_recurrent_gamma = torch.zeros_like(d_projected[0])  # summed over the batch at the end
        recurrent_kernel_t = recurrent_kernel.T
        dh, d_carried = d_h, torch.zeros_like(h0)
        for t in reversed(range(steps)):
            (dh_new,), skipped, d_carried = step_gradients(keep, t, d_outputs[t], (dh,), d_carried)
            r, r_hat, r_mean, r_rstd, update, reset, inner_h, candidate, difference = saved[t]
            d_update = sigmoid_backward(dh_new * difference, update)
            d_a = tanh_backward(dh_new - dh_new * update, candidate)  # through the candidate's preactivation
            d_reset = sigmoid_backward(d_a * inner_h, reset)
            torch.cat([d_update, d_reset, d_a], 1, out=d_projected[t])
            d_inner = torch.cat([d_update, d_reset, d_a * reset], 1, out=d_inners[t])
            d_recurrent_gamma.addcmul_(d_inner, r_hat)
            d_r = _block_norm_backward(d_inner * recurrent_gamma, r, r_mean, r_rstd, 3)
            d_recurrent[t] = d_r
            dh = torch.addmm(dh_new * update, d_r, recurrent_kernel_t)
            if skipped is not None:
                dh = dh + skipped[0]
        d_recurrent_kernel = recurrent_kernel_gradient(h0, states, d_recurrent)
        d_recurrent_bias = None if recurrent_bias is None else d_inners.sum((0, 1))
        return d_projected, dh, d_recurrent_kernel, d_recurrent_gamma.sum(0), d_recurrent_bias, None, None


__all__ = ["layer_norm_gru_recurrence", "layer_norm_lstm_recurrence"]
