"""The hand-written backward passes of torch_lstm and torch_layer_norm equal PyTorch's autodiff of the plain loops.

float64, every argument's gradient, with and without masks (rows with
holes and a row without any step), with and without biases and peepholes.
The layers' own tests (tests/test_fast_paths.py) compare the same loops
with Keras's generic loop over the cells, within float32 tolerance.
"""

from __future__ import annotations

import keras
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch code, run on the torch backend")
torch = pytest.importorskip("torch")
F = torch.nn.functional

BATCH, STEPS, FEATURES, UNITS, EPSILON = 3, 6, 4, 5, 1e-3


def _masked(mask, t, new_states, states, output):
    """Keras's masked step: rows without a step keep their states and repeat their previous output."""
    if mask is None:
        return new_states, new_states[0]
    m = mask[:, t : t + 1]
    return [torch.where(m, new, old) for new, old in zip(new_states, states)], torch.where(m, new_states[0], output)


def plain_lstm(x, kernel, bias, h, c, recurrent_kernel, peepholes, mask):
    output, outputs = torch.zeros_like(h), []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + bias + h @ recurrent_kernel
        z_i, z_f, z_c, z_o = z.chunk(4, 1)
        if peepholes is not None:
            z_i, z_f = z_i + peepholes[0] * c, z_f + peepholes[1] * c
        c_new = torch.sigmoid(z_f) * c + torch.sigmoid(z_i) * torch.tanh(z_c)
        if peepholes is not None:
            z_o = z_o + peepholes[2] * c_new
        (h, c), output = _masked(mask, t, [torch.sigmoid(z_o) * torch.tanh(c_new), c_new], [h, c], output)
        outputs.append(output)
    return torch.stack(outputs, 1), h, c


def _block_norm(z, blocks, gamma):
    return F.layer_norm(z.unflatten(-1, (blocks, UNITS)), (UNITS,), eps=EPSILON).flatten(-2) * gamma


def plain_layer_norm_lstm(projected, h, c, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta, mask):
    output, outputs = torch.zeros_like(h), []
    for t in range(projected.shape[1]):
        z_i, z_f, z_c, z_o = (projected[:, t] + _block_norm(h @ recurrent_kernel, 4, recurrent_gamma)).chunk(4, 1)
        c_new = torch.sigmoid(z_f) * c + torch.sigmoid(z_i) * torch.tanh(z_c)
        h_new = torch.sigmoid(z_o) * torch.tanh(F.layer_norm(c_new, (UNITS,), cell_gamma, cell_beta, EPSILON))
        (h, c), output = _masked(mask, t, [h_new, c_new], [h, c], output)
        outputs.append(output)
    return torch.stack(outputs, 1), h, c


def plain_layer_norm_gru(projected, h, recurrent_kernel, recurrent_gamma, recurrent_bias, mask):
    output, outputs = torch.zeros_like(h), []
    for t in range(projected.shape[1]):
        inner = _block_norm(h @ recurrent_kernel, 3, recurrent_gamma)
        if recurrent_bias is not None:
            inner = inner + recurrent_bias
        p = projected[:, t]
        z, r = torch.sigmoid(p[:, : 2 * UNITS] + inner[:, : 2 * UNITS]).chunk(2, 1)
        candidate = torch.tanh(p[:, 2 * UNITS :] + r * inner[:, 2 * UNITS :])
        (h,), output = _masked(mask, t, [z * h + (1 - z) * candidate], [h], output)
        outputs.append(output)
    return torch.stack(outputs, 1), h


MASKS = {
    "no_mask": None,
    "holes_and_empty_row": [[1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0], [1, 1, 0, 1, 1, 1]],
}


def _assert_same_function(fused, plain, arguments, mask):
    """Outputs and every argument's gradient (of a random weighting of all results) agree to 1e-10."""
    mask = None if mask is None else torch.tensor(mask, dtype=torch.bool)
    leaves = [a.clone().requires_grad_() for a in arguments if a is not None]

    def run(function):
        it = iter(leaves)
        results = function(*[None if a is None else next(it) for a in arguments], mask)
        generator = torch.Generator().manual_seed(1)
        weights = [torch.randn(r.shape, generator=generator, dtype=r.dtype) for r in results]
        loss = sum(torch.sum(w * torch.sin(r)) for w, r in zip(weights, results))
        return [r.detach() for r in results], torch.autograd.grad(loss, leaves)

    (got, got_gradients), (expected, expected_gradients) = run(fused), run(plain)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=1e-10, rtol=1e-10)
    for i, (g, e) in enumerate(zip(got_gradients, expected_gradients)):
        torch.testing.assert_close(g, e, atol=1e-10, rtol=1e-10, msg=f"gradient of argument {i}")


def _random(*shape, scale=0.7):
    return scale * torch.randn(*shape, dtype=torch.float64)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_recurrence(peephole, mask):
    from keras_rnnzoo.layers.torch_lstm import lstm_recurrence

    torch.manual_seed(0)
    peepholes = [_random(UNITS) for _ in range(3)] if peephole else None
    arguments = [_random(BATCH, STEPS, FEATURES), _random(FEATURES, 4 * UNITS), _random(4 * UNITS)]
    arguments += [_random(BATCH, UNITS), _random(BATCH, UNITS), _random(UNITS, 4 * UNITS)]

    def fused(x, kernel, bias, h, c, recurrent_kernel, *rest):
        *peepholes, mask = rest
        return lstm_recurrence(x, kernel, bias, h, c, recurrent_kernel, peepholes or None, mask)

    def plain(x, kernel, bias, h, c, recurrent_kernel, *rest):
        *peepholes, mask = rest
        return plain_lstm(x, kernel, bias, h, c, recurrent_kernel, peepholes or None, mask)

    _assert_same_function(fused, plain, arguments + (peepholes or []), MASKS[mask])


def test_lstm_recurrence_without_bias():
    from keras_rnnzoo.layers.torch_lstm import lstm_recurrence

    torch.manual_seed(0)
    x, kernel, h, c = _random(BATCH, STEPS, FEATURES), _random(FEATURES, 4 * UNITS), _random(BATCH, UNITS), _random(BATCH, UNITS)
    recurrent_kernel = _random(UNITS, 4 * UNITS)
    got = lstm_recurrence(x, kernel, None, h, c, recurrent_kernel)
    expected = plain_lstm(x, kernel, torch.zeros(4 * UNITS, dtype=torch.float64), h, c, recurrent_kernel, None, None)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mask", MASKS)
def test_layer_norm_lstm_recurrence(mask):
    from keras_rnnzoo.layers.torch_layer_norm import layer_norm_lstm_recurrence

    torch.manual_seed(0)
    arguments = [_random(BATCH, STEPS, 4 * UNITS), _random(BATCH, UNITS), _random(BATCH, UNITS), _random(UNITS, 4 * UNITS)]
    arguments += [1 + _random(4 * UNITS, scale=0.3), 1 + _random(UNITS, scale=0.3), _random(UNITS, scale=0.3)]
    fused = lambda *a: layer_norm_lstm_recurrence(*a[:-1], EPSILON, a[-1])
    _assert_same_function(fused, plain_layer_norm_lstm, arguments, MASKS[mask])


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_layer_norm_gru_recurrence(use_bias, mask):
    from keras_rnnzoo.layers.torch_layer_norm import layer_norm_gru_recurrence

    torch.manual_seed(0)
    arguments = [_random(BATCH, STEPS, 3 * UNITS), _random(BATCH, UNITS), _random(UNITS, 3 * UNITS)]
    arguments += [1 + _random(3 * UNITS, scale=0.3), _random(3 * UNITS) if use_bias else None]
    fused = lambda *a: layer_norm_gru_recurrence(*a[:-1], EPSILON, a[-1])
    _assert_same_function(fused, plain_layer_norm_gru, arguments, MASKS[mask])


def test_torch_compile_runs_the_loop_outside_the_graph():
    """Keras's `jit_compile=True` on PyTorch: same results, and the traced graph does not grow with the steps."""
    from keras_rnnzoo import layers

    layer = layers.LayerNormGRU(UNITS, return_sequences=True)
    layer(torch.zeros((2, 4, FEATURES)))  # built outside the trace
    counts = []
    for steps in (8, 24):
        x = torch.randn(2, steps, FEATURES)
        torch._dynamo.reset()
        counts.append(torch._dynamo.explain(lambda x: layer(x))(x).op_count)
        compiled = torch.compile(lambda x: layer(x), backend="eager")
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), layer(x), atol=1e-6, rtol=1e-6)
    torch._dynamo.reset()
    assert counts[0] == counts[1], counts
