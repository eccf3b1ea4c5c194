"""PyTorch on the CPU: MinGRU / MinLSTM as one loop over chunks of steps, with a hand-written backward pass.

The PyTorch twin of `jax_minimal.fused_scan` (read its docstring for the
loop): chunks of `CHUNK_STEPS` steps, each computing its preactivations
`x W + b` in one matmul and its coefficients `(a, b)`, then
`h_t = a_t h_(t-1) + b_t` with one `addcmul` per step; only the outputs are
stored. The backward pass runs the chunks in reverse, recomputes the
preactivations, runs the state gradient back through the chunk's steps
(two operations per step), takes the coefficients' gradient with
`torch.autograd.grad` (so any cell's `coefficients` works) and accumulates
the kernel's gradient per chunk.

Eager PyTorch pays for every whole-sequence elementwise operation in memory
traffic (a `(1024, 32, 128)` float32 tensor is 16 MiB, far beyond this
CPU's 1 MiB of L2 cache per core): the log-space parallel scan makes dozens
of such passes. A chunk's tensors (64 steps: 1 MiB at 128 units) stay in
cache, and 64 steps amortize the per-operation overhead (about 6 us) of the
matmul and the gate arithmetic. Measured (docs/benchmarks.md, "MinGRU /
MinLSTM: a chunked loop on PyTorch"), training step at batch 32 x 1024
steps, 40 inputs, 128 units: MinGRU 320-364 -> 111-122 ms, MinLSTM 418-454
-> 134-157 ms (the parallel scan before; PyTorch's fused LSTM 332-431 ms);
of 16, 32, 64, 128 and 256 steps per chunk, 64 was the fastest or within
2 % of it at 1024 steps (at 100 steps 32 measured 10-20 % faster).
tests/test_fast_paths.py checks outputs and gradients (inputs, kernel, bias,
initial state, with masks, lengths that are and are not multiples of the
chunk) against PyTorch's autodiff of the plain loop.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from keras_rnnzoo.layers.minimal import masked_coefficients

CHUNK_STEPS = 64


# Under `torch.compile` (Keras's `jit_compile=True`) the loop runs eagerly: traced, its Python
# loops would unroll into a graph of thousands of operations (on a busy machine a 256-step
# model's `fit` had not finished compiling after 400 s; with the loop left out it took 44 s).
@torch.compiler.disable
def fused_scan(coefficients, x, kernel, bias, h0, keep=None, chunk: int = CHUNK_STEPS):
    """Every `h_t` of `h_t = a_t h_(t-1) + b_t`, `(a_t, b_t) = coefficients(x_t kernel + bias)`.

    Arguments and result as `jax_minimal.fused_scan`, with PyTorch tensors;
    `keep` may be None (no mask), which skips the masking arithmetic.

    Example (a decaying running sum, `a = 1/2, b = k`):

    >>> import torch
    >>> halve = lambda k: (0.5 * torch.ones_like(k), k)
    >>> x = torch.ones((3, 1, 1))
    >>> fused_scan(halve, x, torch.ones((1, 1)), torch.zeros((1,)), torch.zeros((1, 1)))[:, 0, 0].tolist()
    [1.0, 1.5, 1.75]
    """
    return _FusedScan.apply(x, kernel, bias, h0, keep, coefficients, int(chunk))


def _preactivations(x_chunk, kernel, bias):
    """`x W + b` of one chunk, `(steps, batch, gates * units)`, in one matmul."""
    steps, batch, features = x_chunk.shape
    return torch.addmm(bias, x_chunk.reshape(steps * batch, features), kernel).view(steps, batch, -1)


def _chunk_of(keep, start: int, chunk: int):
    return None if keep is None else keep[start : start + chunk]


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, h0, keep, coefficients, chunk):
        x = x.contiguous()  # time-major in memory: each chunk is one block, for the forward and the backward pass
        outputs = x.new_empty(x.shape[:2] + h0.shape[-1:])
        h = h0
        for start in range(0, x.shape[0], chunk):
            k = _preactivations(x[start : start + chunk], kernel, bias)
            a, b = masked_coefficients(coefficients, k, _chunk_of(keep, start, chunk))
            for a_t, b_t, h_t in zip(a.unbind(0), b.unbind(0), outputs[start : start + chunk].unbind(0)):
                h = torch.addcmul(b_t, a_t, h, out=h_t)
        ctx.coefficients, ctx.chunk = coefficients, chunk
        ctx.save_for_backward(x, kernel, bias, h0, keep, outputs)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs):
        x, kernel, bias, h0, keep, outputs = ctx.saved_tensors
        coefficients, chunk = ctx.coefficients, ctx.chunk
        steps, batch, features = x.shape
        needs_dx = ctx.needs_input_grad[0]
        dh = torch.zeros_like(h0)
        d_kernel, d_bias = torch.zeros_like(kernel), torch.zeros_like(bias)
        dx = x.new_empty(x.shape) if needs_dx else None  # contiguous, whatever the strides of x
        for start in reversed(range(0, steps, chunk)):
            x_chunk = x[start : start + chunk]
            length = x_chunk.shape[0]
            k = _preactivations(x_chunk, kernel, bias).requires_grad_()
            with torch.enable_grad():
                a, b = masked_coefficients(coefficients, k, _chunk_of(keep, start, chunk))
            # d h_t (all that reaches h_t) is the gradient of b_t; a_t's is that times h_(t-1)
            db = torch.empty_like(b)
            for db_t, d_output_t, a_t in zip(
                reversed(db.unbind(0)), reversed(d_outputs[start : start + length].unbind(0)), reversed(a.detach().unbind(0))
            ):
                torch.add(dh, d_output_t, out=db_t)
                dh = db_t * a_t
            previous = outputs[start - 1 : start + length - 1] if start else torch.cat([h0[None], outputs[: length - 1]])
            (dk,) = torch.autograd.grad((a, b), k, (db * previous, db))
            dk = dk.reshape(length * batch, -1)
            d_kernel.addmm_(x_chunk.reshape(length * batch, features).T, dk)
            d_bias += dk.sum(0)
            if needs_dx:
                torch.mm(dk, kernel.T, out=dx[start : start + length].view(length * batch, features))
        return dx, d_kernel, d_bias, dh, None, None, None


__all__ = ["CHUNK_STEPS", "fused_scan"]
