"""Backend-specific fast time loops for keras_rnnzoo's recurrent layers.

`RecurrentLayer.inner_loop` asks `fast_inner_loop` first; it returns `None`
whenever no fast path applies, and the layer then runs Keras's generic loop
over the cell (`keras.layers.RNN.inner_loop`). Every fast path computes the
same function as that loop (tests/test_fast_paths.py checks outputs, final
states and gradients against it, with masks, within 1e-5).

What was measured (2 CPU cores, batch 64, 100 steps, 40 inputs, 128 units;
see docs/benchmarks.md for `rnnzoo bench` numbers):

- **PyTorch backend.** Keras runs any RNN there as a Python loop that calls
  the cell layer once per step (~4.6 s per training step for this LSTM).
  Without a mask, the LSTM and the `reset_after=True` GRU call PyTorch's own
  fused recurrent kernels (`torch._VF.lstm` / `torch._VF.gru`, the ones under
  `nn.LSTM` / `nn.GRU`, cuDNN on a GPU) with our weights re-laid out: Keras
  LSTM gates `i, f, c, o` are PyTorch's `i, f, g, o`; Keras GRU gates
  `z, r, h` become PyTorch's `r, z, n`, and Keras `reset_after=True` is
  PyTorch's GRU (bias row 0 = `b_ih`, row 1 = `b_hh`). A mask that masks
  nothing counts as none, and the GRU takes its fused kernel on right-padded
  sequences too (each row's steps come first; the outputs after them and the
  final state are the row's last step's, `_right_padded_outputs`; the LSTM
  cannot, as the kernel does not return the cell state of that step). With
  another mask, or for the `reset_after=False` GRU, a tight PyTorch loop
  runs instead: the input projection of all steps is one matmul, then each
  step is one `addmm` and the gate arithmetic on raw tensors (no Keras layer
  call per step); the LSTM's loop (`torch_lstm`) runs off the autograd tape
  with a hand-written backward pass. Single
  steps (streaming, batch 1) also take these loops: PyTorch's CPU LSTM kernel
  spent up to ~100 ms per call setting up oneDNN for a one-step sequence.
- **PyTorch backend, variants.** The CIFG LSTM is an LSTM with tied gates,
  since `σ(-z) = 1 - σ(z)` (`_fused_weights`): its forget-gate weights are
  its input gate's negated, so it runs the LSTM's kernel and loop (training
  step 142 -> 63 ms, the plain LSTM's time). The MGU runs a tight loop of
  its own, one `addmm` for the forget gate and one for the candidate per
  step (0.84-0.99x the plain LSTM's time; 1.3-1.6x as a `reset_after=False`
  GRU with tied gates, whose first matmul computed the forget block twice).
  The peephole LSTM runs the LSTM's loop with its peepholes (155 -> 119
  ms in one process as a loop on the autograd tape; 116-121 -> 94-95 ms
  with `torch_lstm`'s hand-written backward pass), and the layer-normalized
  LSTM and (`reset_after`) GRU the loops of `torch_layer_norm` on PyTorch's
  layer-norm kernels with `LN(x W)` computed for all steps at once (LSTM
  293 -> 158 ms, GRU 241 -> 105 ms on the tape; hand-written backward
  passes: LSTM 145-154 -> 139-142 ms, GRU 118-122 -> 99 ms; both
  `docs/scripts/fast_loops_ab.py`).
- **TensorFlow on the CPU, LSTM, GRU and layer-normalized LSTM training.**
  Unmasked training calls of the LSTM, the `reset_after=True` GRU and the
  layer-normalized LSTM run `tf_lstm`'s / `tf_gru`'s / `tf_layer_norm`'s
  loops: the input projection of all steps at once, the time loop and a
  hand-written backward pass each one XLA-compiled function (Keras's
  default `jit_compile="auto"` turns XLA off on a CPU-only machine, so
  Keras's own loop runs op by op). Training step at the default shape:
  LSTM 1.22-1.43x the built-in's speed (median of eleven `rnnzoo bench`
  runs 1.33x; Keras's loop: 0.89-1.06x), 1.5-1.9x at 1024 steps; GRU
  1.41-1.68x (before 1.14-1.29x); layer-normalized LSTM 128-139 ms against
  146-188 ms. Inference keeps Keras's loop (a tie with the built-ins there),
  and so do SavedModel / TFLite / ONNX exports: tf2onnx cannot convert an
  XLA-compiled function.
- **JAX on the CPU, and other TensorFlow cells.** Keras's generic loop
  (`lax.scan`, `tf.while_loop`) over the fused-gate cell is already as fast
  as the built-in layers. Hoisting the input projection and unrolling
  measured slower on the CPU, so the plain cells take no fast path there.
- **JAX on a GPU or TPU.** The LSTM and GRU hoist the input projection out
  of the time loop and unroll the scan (`jax_scan.py`), with masks, input
  dropout and mixed precision; the other cells run the generic loop.
- **JAX, cells with `rematerialize_step`** (the layer-normalized LSTM and
  GRU): Keras's generic loop with each step under `jax.checkpoint`, so
  that the backward pass recomputes a step's intermediates (the three layer
  normalizations' centred values, statistics, gates) from the step's inputs
  and state instead of storing them for all steps and reading them back.
  A training step of the layer-normalized LSTM (`train_on_batch`, one
  process, 9 alternating repetitions): 161 ms -> 126 ms (plain LSTM 94 ms),
  layer-normalized GRU 132 -> 119 ms; the plain LSTM under the same
  treatment went 94 -> 106 ms, so it stays a per-cell choice.

- **Every other keras_rnnzoo cell on PyTorch** (SimpleRNN, IndRNN, LSTMP,
  the `reset_after=False` layer-norm GRU, and the cells above where their
  loops do not apply: other activations, recurrent dropout while training): a loop that calls the cell's `call` directly on raw
  tensors, skipping Keras's per-step layer call (input checks, autocast
  scopes, name scopes) and `backend.rnn`'s structure handling. Dropout
  masks are the cell's cached per-sequence masks, as in the generic loop.

Not taken (generic loop): `unroll=True`, mixed precision on PyTorch (inputs
of another dtype than the weights), cells from outside keras_rnnzoo, and
`set_fast_paths(False)`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import keras
from keras import activations

from keras_rnnzoo.cells.base import RecurrentCell
from keras_rnnzoo.cells.gru import GRUCell
from keras_rnnzoo.cells.lstm import LSTMCell
from keras_rnnzoo.cells.variants import (
    CIFGLSTMCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    MGUCell,
    PeepholeLSTMCell,
    block_layer_norm,
)
from keras_rnnzoo.layers import jax_scan

_ENABLED = True


def set_fast_paths(enabled: bool) -> None:
    """Turn the fast loops on (default) or off for every layer."""
    global _ENABLED
    _ENABLED = bool(enabled)


def fast_paths_enabled() -> bool:
    return _ENABLED


@contextlib.contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    """Context manager: run the enclosed calls with fast paths on or off.

    >>> with fast_paths(False):
    ...     pass  # layers called here use Keras's generic loop
    """
    previous = _ENABLED
    set_fast_paths(enabled)
    try:
        yield
    finally:
        set_fast_paths(previous)


def fast_inner_loop(layer, sequences, initial_state, mask, training):
    """`(last_output, outputs, states)` like `keras.layers.RNN.inner_loop`, or `None`."""
    backend = keras.backend.backend()
    if not _ENABLED or layer.unroll or backend not in ("torch", "jax", "tensorflow"):
        return None
    cell = layer.cell
    if not isinstance(cell, RecurrentCell):
        return None
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    if backend == "tensorflow":
        # Training only: inference and export (SavedModel, TFLite, ONNX through tf2onnx, which cannot
        # convert an XLA-compiled function) keep Keras's loop, as fast as the built-in's there.
        recurrence = type(cell) in (LSTMCell, LayerNormLSTMCell) or (type(cell) is GRUCell and cell.reset_after)
        applies = training and recurrence and mask is None and _standard_gates(cell, training)
        if applies and not _tensorflow_on_gpu():
            return _tf_compiled_loop(layer, cell, sequences, initial_state)
        return None
    if backend == "jax":
        if type(cell) in (LSTMCell, GRUCell) and _standard_gates(cell, training) and jax_scan.accelerator_loop_applies():
            is_lstm = isinstance(cell, LSTMCell)
            return jax_scan.hoisted_scan(layer, cell, sequences, initial_state, mask, training, is_lstm)
        if cell.rematerialize_step:
            return _jax_rematerialized_loop(layer, cell, sequences, initial_state, mask, training)
        return None
    if type(cell) in (LSTMCell, GRUCell, CIFGLSTMCell, PeepholeLSTMCell, MGUCell) and _standard_gates(cell, training):
        return _torch_inner_loop(layer, cell, sequences, initial_state, mask, training)
    layer_norm = type(cell) is LayerNormLSTMCell or (type(cell) is LayerNormGRUCell and cell.reset_after)
    if layer_norm and _standard_gates(cell, training):
        return _torch_layer_norm_loop(layer, cell, sequences, initial_state, mask, training)
    return _torch_cell_loop(layer, cell, sequences, initial_state, mask, training)


def _standard_gates(cell, training) -> bool:
    """Whether the gated cell has the activations the fused loops hard-code, and no recurrent dropout now."""
    return (
        not (training and cell.recurrent_dropout > 0.0)
        and cell.activation is activations.tanh
        and cell.recurrent_activation is activations.sigmoid
    )


# ---------------------------------------------------------------------- JAX
def _jax_rematerialized_loop(layer, cell, sequences, initial_state, mask, training):
    """Keras's generic JAX loop (`keras.layers.RNN.inner_loop`) with each step under `jax.checkpoint`."""
    import jax
    from keras.src.backend.jax.rnn import rnn

    def step(inputs, states):
        output, new_states = cell(inputs, states, training=training)
        return output, list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]

    return rnn(
        jax.checkpoint(step, prevent_cse=False),  # inside a scan CSE cannot undo the recomputation
        sequences,
        list(initial_state),
        go_backwards=layer.go_backwards,
        mask=mask,
        unroll=False,
        input_length=sequences.shape[1],
        zero_output_for_mask=layer.zero_output_for_mask,
        return_all_outputs=layer.return_sequences,
    )


# --------------------------------------------------------------- TensorFlow
@functools.cache
def _tensorflow_on_gpu() -> bool:
    """Whether TensorFlow sees a GPU (there Keras's own LSTM runs cuDNN; the XLA loop is for the CPU)."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _tf_compiled_loop(layer, cell, sequences, initial_state):
    """The LSTM, layer-normalized LSTM or (`reset_after`) GRU on `tf_lstm`'s / `tf_layer_norm`'s / `tf_gru`'s XLA loops.

    For training calls without a mask, with a known length and inputs in the
    weights' dtype; `None` otherwise.
    """
    import tensorflow as tf

    x = sequences
    dtype = cell.kernel.dtype
    if x.shape[1] is None or keras.backend.standardize_dtype(x.dtype) != dtype:
        return None  # unknown length: XLA compiles per shape; mixed precision: the generic loop autocasts per step
    if 0.0 < cell.dropout < 1.0:  # training calls only (see fast_inner_loop)
        x = x * cell.get_dropout_mask(x[:, 0, :])[:, None, :]
    if layer.go_backwards:
        x = tf.reverse(x, [1])
    x = tf.transpose(x, [1, 0, 2])
    states = [tf.cast(state, dtype) for state in initial_state]
    if isinstance(cell, LayerNormLSTMCell):
        from keras_rnnzoo.layers.tf_layer_norm import layer_norm_lstm_recurrence

        # the state-independent part for all steps, on TensorFlow's tape: LN(x W) * input_gamma + b
        projected = block_layer_norm(tf.reshape(x, [-1, x.shape[2]]) @ cell.kernel, 4, cell.input_gamma, cell.epsilon)
        if cell.bias is not None:
            projected = projected + cell.bias
        projected = tf.reshape(projected, [x.shape[0], -1, 4 * cell.units])
        recurrent = (cell.recurrent_kernel, cell.recurrent_gamma, cell.cell_gamma, cell.cell_beta)
        outputs, h, c = layer_norm_lstm_recurrence(projected, *states, *recurrent, cell.epsilon)
        final = [h, c]
    elif isinstance(cell, LSTMCell):
        from keras_rnnzoo.layers.tf_lstm import lstm_recurrence

        bias = cell.bias if cell.bias is not None else tf.zeros([4 * cell.units], dtype)
        outputs, h, c = lstm_recurrence(x, cell.kernel, cell.recurrent_kernel, bias, *states)
        final = [h, c]
    else:
        from keras_rnnzoo.layers.tf_gru import gru_recurrence

        bias = tf.convert_to_tensor(cell.bias) if cell.bias is not None else tf.zeros([2, 3 * cell.units], dtype)
        outputs, h = gru_recurrence(x, cell.kernel, cell.recurrent_kernel, bias[0], bias[1], states[0])
        final = [h]
    return h, tf.transpose(outputs, [1, 0, 2]), final


# ------------------------------------------------------------------ PyTorch
def _prepare(layer, cell, sequences, initial_state, mask):
    """`(x, states, mask)` as raw tensors in time order on the weights' device, or `None` under mixed precision.

    Like Keras's own ops (`convert_to_tensor`), inputs on another device
    (a CPU tensor fed to a layer on a GPU) are moved to the weights' device;
    gradients flow back to them.
    """
    import torch

    x = sequences
    dtype, device = cell.kernel.value.dtype, cell.kernel.value.device
    if not torch.is_tensor(x) or x.dtype != dtype:
        return None  # mixed precision: the generic loop autocasts per step
    x = x.to(device)
    states = [s.to(device=device, dtype=dtype) for s in initial_state]
    if layer.stateful:  # the state variables are assigned in place afterwards
        states = [s.clone() for s in states]
    if mask is not None:
        mask = torch.as_tensor(mask, device=device).bool()
        if mask.ndim == 3:
            mask = mask[..., 0]
    if layer.go_backwards:
        x = torch.flip(x, (1,))
        mask = None if mask is None else torch.flip(mask, (1,))
    return x, states, mask


def _torch_cell_loop(layer, cell, sequences, initial_state, mask, training):
    """Any keras_rnnzoo cell, stepped by calling its `call` on raw tensors (masks supported)."""
    import torch

    prepared = _prepare(layer, cell, sequences, initial_state, mask)
    if prepared is None:
        return None
    x, states, mask = prepared
    output, outputs = None, []
    # unbind: its backward stacks the step gradients once; x[:, t] would
    # scatter each into a zero tensor of the whole sequence's size.
    for t, x_t in enumerate(x.unbind(1)):
        step_output, new_states = cell.call(x_t, states, training=training)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        if mask is None:
            output, states = step_output, new_states
        else:
            mask_t = mask[:, t : t + 1]
            output = torch.where(mask_t, step_output, torch.zeros_like(step_output) if output is None else output)
            states = [torch.where(mask_t, new, old) for new, old in zip(new_states, states)]
        outputs.append(output)
    return _finish(outputs, mask, layer.zero_output_for_mask, states)


def _torch_layer_norm_loop(layer, cell, sequences, initial_state, mask, training):
    """The layer-normalized LSTM's or (`reset_after`) GRU's recurrence on `torch_layer_norm`'s loops (masks supported).

    The input projection and its normalization (`LN(x W)`, which does not
    depend on the state) are computed here for all steps at once.
    """
    import torch
    import torch.nn.functional as F

    from keras_rnnzoo.layers.torch_layer_norm import layer_norm_gru_recurrence, layer_norm_lstm_recurrence

    prepared = _prepare(layer, cell, sequences, initial_state, mask)
    if prepared is None:
        return None
    x, states, mask = prepared
    units, gates, epsilon = cell.units, cell.gates, cell.epsilon
    if training and cell.dropout > 0.0:
        x = x * cell.get_dropout_mask(x[:, 0, :]).unsqueeze(1)
    projected = torch.matmul(x, cell.kernel.value).unflatten(-1, (gates, units))
    projected = F.layer_norm(projected, (units,), eps=epsilon).flatten(-2) * cell.input_gamma.value
    bias = None if cell.bias is None else cell.bias.value
    if isinstance(cell, LSTMCell):
        if bias is not None:
            projected = projected + bias
        recurrent = (cell.recurrent_kernel.value, cell.recurrent_gamma.value, cell.cell_gamma.value, cell.cell_beta.value)
        outputs, h, c = layer_norm_lstm_recurrence(projected, *states, *recurrent, epsilon, mask)
        final = [h, c]
    else:
        if bias is not None:
            projected = projected + bias[0]
        recurrent_bias = None if bias is None else bias[1]
        recurrent = (cell.recurrent_kernel.value, cell.recurrent_gamma.value, recurrent_bias)
        outputs, h = layer_norm_gru_recurrence(projected, states[0], *recurrent, epsilon, mask)
        final = [h]
    return _finish_stacked(outputs, mask, layer.zero_output_for_mask, final)


def _torch_inner_loop(layer, cell, sequences, initial_state, mask, training):
    import torch

    prepared = _prepare(layer, cell, sequences, initial_state, mask)
    if prepared is None:
        return None
    x, states, mask = prepared
    kernel, recurrent_kernel, bias = _fused_weights(cell)
    if training and cell.dropout > 0.0:
        x = x * cell.get_dropout_mask(x[:, 0, :]).unsqueeze(1)
    is_lstm = isinstance(cell, LSTMCell)
    reset_after = isinstance(cell, GRUCell) and cell.reset_after
    # One step (streaming) runs the tight loop: the fused kernels' per-call set-up
    # (oneDNN primitives on the CPU) measured slower than the step itself.
    fused_kernel_applies = not isinstance(cell, PeepholeLSTMCell) and (is_lstm or reset_after) and x.shape[1] > 1
    if fused_kernel_applies and mask is not None and bool(mask.all()):
        mask = None  # nothing masked (a Masking layer on a batch without padding)
    if fused_kernel_applies and mask is not None and reset_after:
        lengths = _right_padded_lengths(mask)
        if lengths is not None:
            outputs, _ = _vf_gru(x, states[0], kernel, recurrent_kernel, bias, cell.units)
            return _right_padded_outputs(outputs, lengths, mask, states[0], layer.zero_output_for_mask)
    if mask is None and fused_kernel_applies:
        if is_lstm:
            outputs, h, c = _vf_lstm(x, states, kernel, recurrent_kernel, bias)
            final = [h, c]
        else:
            outputs, h = _vf_gru(x, states[0], kernel, recurrent_kernel, bias, cell.units)
            final = [h]
        return outputs[:, -1], outputs, final
    if is_lstm:
        return _lstm_loop(cell, x, states, mask, kernel, recurrent_kernel, bias, layer.zero_output_for_mask)
    if isinstance(cell, MGUCell):
        return _mgu_loop(x, states, mask, kernel, recurrent_kernel, bias, layer.zero_output_for_mask)
    return _gru_loop(cell, x, states, mask, kernel, recurrent_kernel, bias, layer.zero_output_for_mask)


def _fused_weights(cell):
    """`(kernel, recurrent_kernel, bias)` as the LSTM / GRU / MGU loops take them.

    A CIFG cell is an LSTM with tied gates, since `σ(-z) = 1 - σ(z)`: its
    blocks `i, c, o` become an LSTM's `i, f, c, o` whose forget block is the
    input block negated. Autograd adds the copy's gradient back into the block.
    """
    import torch

    weights = [cell.kernel.value, cell.recurrent_kernel.value, None if cell.bias is None else cell.bias.value]
    units = cell.units
    if isinstance(cell, CIFGLSTMCell):  # i, c, o -> i, f = -i, c, o
        return [None if w is None else torch.cat([w[..., :units], -w[..., :units], w[..., units:]], -1) for w in weights]
    return weights


def _vf_lstm(x, states, kernel, recurrent_kernel, bias):
    """PyTorch's fused LSTM with Keras weights (same gate order i, f, c/g, o)."""
    import torch

    # contiguous: cuDNN flattens the weights with .view()
    params = [kernel.t().contiguous(), recurrent_kernel.t().contiguous()]
    if bias is not None:
        params += [bias, torch.zeros_like(bias)]
    h0, c0 = (s.unsqueeze(0) for s in states)
    outputs, h, c = torch._VF.lstm(
        x, (h0.contiguous(), c0.contiguous()), params, bias is not None, 1, 0.0, torch.is_grad_enabled(), False, True
    )
    return outputs, h[0], c[0]


def _gru_to_torch_order(weight, units):
    """Keras GRU blocks z, r, h along the last axis -> PyTorch's r, z, n."""
    import torch

    return torch.cat([weight[..., units : 2 * units], weight[..., :units], weight[..., 2 * units :]], -1)


def _vf_gru(x, h0, kernel, recurrent_kernel, bias, units):
    """PyTorch's fused GRU (= Keras reset_after=True) with Keras weights."""
    import torch

    params = [_gru_to_torch_order(kernel, units).t().contiguous(), _gru_to_torch_order(recurrent_kernel, units).t().contiguous()]
    if bias is not None:
        reordered = _gru_to_torch_order(bias, units)
        params += [reordered[0], reordered[1]]
    outputs, h = torch._VF.gru(
        x, h0.unsqueeze(0).contiguous(), params, bias is not None, 1, 0.0, torch.is_grad_enabled(), False, True
    )
    return outputs, h[0]


def _masked_update(mask_t, new, old):
    import torch

    return new if mask_t is None else torch.where(mask_t, new, old)


def _right_padded_lengths(mask):
    """Each row's number of steps if every row of the `(batch, time)` mask is steps then padding, else None."""
    import torch

    lengths = mask.sum(1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    return lengths if bool(torch.equal(mask, steps < lengths[:, None])) else None


def _right_padded_outputs(outputs, lengths, mask, h0, zero_output_for_mask):
    """The masked loop's `(last, outputs, [h])` from a fused GRU run over right-padded sequences, padding included.

    A row's steps come first, so the kernel's outputs there are the masked
    loop's; after them the loop carries the row's last output (zeros for a
    row without steps) and its final state is that output (`h0` without steps).
    """
    import torch

    rows = torch.arange(outputs.shape[0], device=outputs.device)
    last_step = outputs[rows, (lengths - 1).clamp(min=0)]
    has_steps = (lengths > 0)[:, None]
    carried = torch.where(has_steps, last_step, torch.zeros_like(last_step))
    outputs = torch.where(mask[..., None], outputs, carried[:, None])
    return _finish_stacked(outputs, mask, zero_output_for_mask, [torch.where(has_steps, last_step, h0)])


def _finish(outputs, mask, zero_output_for_mask, final):
    """Stack step outputs; apply Keras's `zero_output_for_mask` rule."""
    import torch

    return _finish_stacked(torch.stack(outputs, 1), mask, zero_output_for_mask, final)


def _finish_stacked(outputs, mask, zero_output_for_mask, final):
    """`(last, outputs, final)` from the `(batch, time, units)` outputs, with Keras's `zero_output_for_mask` rule."""
    import torch

    last = outputs[:, -1]
    if mask is not None and zero_output_for_mask:
        outputs = torch.where(mask.unsqueeze(-1), outputs, torch.zeros_like(outputs))
        last = torch.where(mask[:, -1:], last, torch.zeros_like(last))
    return last, outputs, final


def _lstm_loop(cell, x, states, mask, kernel, recurrent_kernel, bias, zero_output_for_mask):
    """The LSTM recurrence (with peepholes for `PeepholeLSTMCell`) on `torch_lstm`'s loop (masks supported)."""
    from keras_rnnzoo.layers.torch_lstm import lstm_recurrence

    peepholes = None
    if isinstance(cell, PeepholeLSTMCell):
        peepholes = (cell.input_peephole.value, cell.forget_peephole.value, cell.output_peephole.value)
    outputs, h, c = lstm_recurrence(x, kernel, bias, states[0], states[1], recurrent_kernel, peepholes, mask)
    return _finish_stacked(outputs, mask, zero_output_for_mask, [h, c])


def _gru_loop(cell, x, states, mask, kernel, recurrent_kernel, bias, zero_output_for_mask):
    """The GRU recurrence (either `reset_after`) as a tight PyTorch loop (masks supported)."""
    import torch

    units, reset_after = cell.units, cell.reset_after
    projected = torch.matmul(x, kernel)
    recurrent_bias = None
    if bias is not None:
        if reset_after:
            projected = projected + bias[0]
            recurrent_bias = bias[1]
        else:
            projected = projected + bias
    h = states[0]
    output = torch.zeros_like(h)
    outputs = []
    gates_kernel = recurrent_kernel[:, : 2 * units]
    candidate_kernel = recurrent_kernel[:, 2 * units :]
    for t, p in enumerate(projected.unbind(1)):  # unbind: see _torch_cell_loop
        if reset_after:
            inner = torch.matmul(h, recurrent_kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = torch.matmul(h, gates_kernel)
        p_zr, p_h = p.split([2 * units, units], 1)
        z, r = torch.sigmoid(p_zr + inner[:, : 2 * units]).chunk(2, 1)
        if reset_after:
            candidate = torch.tanh(p_h + r * inner[:, 2 * units :])
        else:
            candidate = torch.tanh(p_h + torch.matmul(r * h, candidate_kernel))
        h_new = candidate + z * (h - candidate)  # z h + (1 - z) g
        mask_t = None if mask is None else mask[:, t : t + 1]
        output = _masked_update(mask_t, h_new, output)
        h = _masked_update(mask_t, h_new, h)
        outputs.append(output)
    return _finish(outputs, mask, zero_output_for_mask, [h])


def _mgu_loop(x, states, mask, kernel, recurrent_kernel, bias, zero_output_for_mask):
    """The MGU recurrence (`MGUCell`, blocks `f, h`) as a tight PyTorch loop (masks supported)."""
    import torch

    projected = torch.matmul(x, kernel)
    if bias is not None:
        projected = projected + bias
    forget_kernel, candidate_kernel = recurrent_kernel.chunk(2, 1)
    h = states[0]
    output = torch.zeros_like(h)
    outputs = []
    for t, p in enumerate(projected.unbind(1)):  # unbind: see _torch_cell_loop
        p_f, p_h = p.chunk(2, 1)
        f = torch.sigmoid(torch.addmm(p_f, h, forget_kernel))
        candidate = torch.tanh(torch.addmm(p_h, f * h, candidate_kernel))
        h_new = torch.addcmul(h, f, candidate - h)  # (1 - f) h + f g
        mask_t = None if mask is None else mask[:, t : t + 1]
        output = _masked_update(mask_t, h_new, output)
        h = _masked_update(mask_t, h_new, h)
        outputs.append(output)
    return _finish(outputs, mask, zero_output_for_mask, [h])


__all__ = ["fast_inner_loop", "fast_paths", "fast_paths_enabled", "set_fast_paths"]
