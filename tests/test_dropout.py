"""Input and recurrent dropout: seeded, inference-free, one mask per sequence.

The "constant mask" tests use weights chosen so that each output unit shows
whether its dropout mask entry was zero at that step:

- input dropout: a constant input of ones, no recurrent weights, the
  input kernel routes feature j to unit j, gates saturated open. Output unit
  j at step t is 0 exactly when feature j was dropped at step t.
- recurrent dropout: inputs of ones, identity recurrent kernel into the
  candidate. Unit j at step t >= 1 equals its "no recurrent input" value
  exactly when h_{t-1}[j] was dropped at step t, and is larger otherwise.

So the set of dropped units per step is read off the outputs; with one mask
per sequence it is the same at every step. `test_check_detects_resampling`
runs the same check on a cell that draws a new mask at every step and
asserts that it fails, so the check is known to have teeth.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import ATOL, copy_weights, random_weights, to_numpy

import keras_rnnzoo
from keras_rnnzoo import layers

BATCH, TIME, UNITS = 4, 6, 8  # features == units for the routing weights
RATE = 0.5
BIG = 20.0  # sigmoid(±20) saturates to 1 / ~0 in float32

KINDS = {
    "simple_rnn": (layers.SimpleRNN, {}),
    "lstm": (layers.LSTM, {}),
    "gru_reset_after": (layers.GRU, {"reset_after": True}),
    "gru_reset_before": (layers.GRU, {"reset_after": False}),
}


def _routing_weights(layer, kind: str, recurrent: bool) -> None:
    """Set the weights described in the module docstring."""
    eye = np.eye(UNITS, dtype="float32")
    zero = np.zeros((UNITS, UNITS), "float32")
    recurrent_block = eye if recurrent else zero
    if kind == "simple_rnn":
        weights = [eye, recurrent_block, np.zeros(UNITS, "float32")]
    elif kind == "lstm":  # gates i, f, c, o: input open, forget shut, output open
        kernel = np.concatenate([zero, zero, eye, zero], axis=1)
        recurrent_kernel = np.concatenate([zero, zero, recurrent_block, zero], axis=1)
        bias = np.concatenate([np.full(UNITS, BIG), np.full(UNITS, -BIG), np.zeros(UNITS), np.full(UNITS, BIG)])
        weights = [kernel, recurrent_kernel, bias.astype("float32")]
    else:  # gates z, r, h: update shut (h_t = candidate), reset open
        kernel = np.concatenate([zero, zero, eye], axis=1)
        recurrent_kernel = np.concatenate([zero, zero, recurrent_block], axis=1)
        bias = np.concatenate([np.full(UNITS, -BIG), np.full(UNITS, BIG), np.zeros(UNITS)]).astype("float32")
        if kind == "gru_reset_after":
            bias = np.stack([bias, np.zeros_like(bias)])
        weights = [kernel, recurrent_kernel, bias]
    layer.set_weights(weights)


def _base_value(kind: str, recurrent: bool) -> float:
    """Output of a unit whose mask entry is zero (see the module docstring)."""
    if not recurrent:
        return 0.0
    if kind == "simple_rnn":
        return 1.0
    if kind == "lstm":
        return float(np.tanh(np.tanh(1.0)))
    return float(np.tanh(1.0))


def _dropped_per_step(outputs: np.ndarray, base: float, first_step: int) -> np.ndarray:
    """Boolean `(steps, batch, units)`: unit equals its dropped value."""
    return np.isclose(outputs[:, first_step:], base, atol=1e-5).transpose(1, 0, 2)


def _assert_one_mask_per_sequence(dropped: np.ndarray) -> None:
    for step in range(1, len(dropped)):
        np.testing.assert_array_equal(
            dropped[step], dropped[0], err_msg=f"dropout mask changed at step {step}"
        )
    fraction = dropped[0].mean()
    assert 0.15 < fraction < 0.85, f"rate {RATE} but {fraction:.2f} of the units dropped"
    # Different sequences of the batch get different masks.
    assert any(not np.array_equal(dropped[0][0], row) for row in dropped[0][1:])


def _run_mask_probe(layer_class, kind, extra, recurrent: bool, unroll: bool = False):
    rates = {"recurrent_dropout": RATE} if recurrent else {"dropout": RATE}
    activation = {"activation": None} if kind == "simple_rnn" else {}
    layer = layer_class(
        UNITS, return_sequences=True, unroll=unroll, seed=5, **rates, **activation, **extra
    )
    layer.build((BATCH, TIME, UNITS))
    _routing_weights(layer, kind, recurrent)
    x = np.ones((BATCH, TIME, UNITS), "float32")
    outputs = to_numpy(layer(x, training=True))[0]
    # Kept units are scaled by 1 / (1 - rate): dropout really happened.
    return _dropped_per_step(outputs, _base_value(kind, recurrent), 1 if recurrent else 0), outputs


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
@pytest.mark.parametrize("recurrent", [False, True], ids=["input", "recurrent"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_one_mask_per_sequence(kind, recurrent, unroll):
    layer_class, extra = KINDS[kind]
    dropped, outputs = _run_mask_probe(layer_class, kind, extra, recurrent, unroll)
    _assert_one_mask_per_sequence(dropped)
    if not recurrent and kind == "simple_rnn":
        # Kept inputs are scaled by 1 / (1 - rate).
        kept = outputs[~np.isclose(outputs, 0.0)]
        np.testing.assert_allclose(kept, 1.0 / (1.0 - RATE), atol=ATOL)


class _ResamplingCell(keras_rnnzoo.SimpleRNNCell):
    """Deliberately wrong: draws fresh masks at every step."""

    def dropped_inputs(self, inputs, training):
        if training and self.dropout:
            return keras.random.dropout(inputs, self.dropout, seed=self.seed_generator)
        return inputs

    def dropped_state(self, state, training):
        if training and self.recurrent_dropout:
            return keras.random.dropout(state, self.recurrent_dropout, seed=self.seed_generator)
        return state


@pytest.mark.parametrize("recurrent", [False, True], ids=["input", "recurrent"])
def test_check_detects_resampling(recurrent):
    """The probe above fails on a cell that resamples its masks per step."""
    rates = {"recurrent_dropout": RATE} if recurrent else {"dropout": RATE}
    layer = keras.layers.RNN(
        _ResamplingCell(UNITS, activation=None, seed=5, **rates),
        return_sequences=True,
        unroll=True,  # a Python loop: random draws inside the loop work on every backend
    )
    layer.build((BATCH, TIME, UNITS))
    _routing_weights(layer, "simple_rnn", recurrent)
    outputs = to_numpy(layer(np.ones((BATCH, TIME, UNITS), "float32"), training=True))[0]
    dropped = _dropped_per_step(outputs, _base_value("simple_rnn", recurrent), 1 if recurrent else 0)
    with pytest.raises(AssertionError, match="dropout mask changed"):
        _assert_one_mask_per_sequence(dropped)


def _dropout_pair(kind, seed_a, seed_b, **kwargs):
    layer_class, extra = KINDS[kind]
    arguments = dict(return_sequences=True, dropout=0.4, recurrent_dropout=0.3, **extra, **kwargs)
    a = layer_class(UNITS, seed=seed_a, **arguments)
    b = layer_class(UNITS, seed=seed_b, **arguments)
    for layer in (a, b):
        layer.build((BATCH, TIME, 3))
    random_weights(a)
    copy_weights(a, b)
    return a, b


def _x(seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, TIME, 3)).astype("float32")


@pytest.mark.parametrize("kind", list(KINDS))
def test_seed_reproducible_and_varies(kind):
    x = _x()
    a, same = _dropout_pair(kind, 1, 1)
    first = to_numpy(a(x, training=True))[0]
    np.testing.assert_array_equal(first, to_numpy(same(x, training=True))[0])
    _, other = _dropout_pair(kind, 1, 2)
    assert not np.allclose(first, to_numpy(other(x, training=True))[0], atol=1e-3)
    # A new batch gets new masks.
    assert not np.allclose(first, to_numpy(a(x, training=True))[0], atol=1e-3)
    # Training differs from inference.
    assert not np.allclose(first, to_numpy(a(x, training=False))[0], atol=1e-3)


@pytest.mark.parametrize("kind", list(KINDS))
def test_global_seed_reproducible(kind):
    x = _x(1)
    outputs = []
    for _ in range(2):
        keras.utils.set_random_seed(99)
        a, _ = _dropout_pair(kind, None, None)
        outputs.append(to_numpy(a(x, training=True))[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_inference_is_deterministic_and_dropout_free(kind):
    x = _x(2)
    a, _ = _dropout_pair(kind, 3, 3)
    layer_class, extra = KINDS[kind]
    plain = layer_class(UNITS, return_sequences=True, **extra)
    plain.build((BATCH, TIME, 3))
    copy_weights(a, plain)
    reference = to_numpy(plain(x))[0]
    for training in (False, None):
        for _ in range(2):
            kwargs = {} if training is None else {"training": training}
            np.testing.assert_allclose(to_numpy(a(x, **kwargs))[0], reference, atol=ATOL)
    # model.predict runs in inference mode too.
    model = keras.Sequential([keras.Input((TIME, 3)), a])
    np.testing.assert_allclose(model.predict(x, verbose=0), reference, atol=ATOL)


def test_fit_with_dropout_every_layer():
    """Compiled training steps with dropout (jit on JAX / XLA on TF) run and learn."""
    model = keras.Sequential(
        [
            keras.Input((TIME, 3)),
            keras.layers.Masking(),
            layers.LSTM(UNITS, dropout=0.2, recurrent_dropout=0.2, return_sequences=True, seed=1),
            keras.layers.Bidirectional(
                layers.GRU(4, dropout=0.2, recurrent_dropout=0.2, return_sequences=True, seed=2)
            ),
            layers.GRU(4, reset_after=False, dropout=0.2, recurrent_dropout=0.2, return_sequences=True, seed=3),
            keras.layers.RNN(
                keras.layers.StackedRNNCells(
                    [
                        keras_rnnzoo.SimpleRNNCell(4, dropout=0.2, recurrent_dropout=0.2, seed=4),
                        keras_rnnzoo.LSTMCell(3, dropout=0.2, recurrent_dropout=0.2, seed=5),
                    ]
                )
            ),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, TIME, 3)).astype("float32")
    x[:4, -2:] = 0.0
    y = x[:, :, :1].sum(axis=1)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert model.evaluate(x, y, verbose=0) < before
