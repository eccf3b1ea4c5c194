"""`mixed_float16` / `mixed_bfloat16`: float32 weights, low-precision math.

The global dtype policy is set inside each test and restored afterwards by
the autouse fixture in conftest.py (and explicitly here, in `finally`).
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_rnnzoo import layers

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 6
KINDS = {
    "simple_rnn": (layers.SimpleRNN, {}),
    "lstm": (layers.LSTM, {}),
    "gru_reset_after": (layers.GRU, {"reset_after": True}),
    "gru_reset_before": (layers.GRU, {"reset_after": False}),
}
POLICIES = {"mixed_float16": ("float16", 2e-2), "mixed_bfloat16": ("bfloat16", 6e-2)}


@contextlib.contextmanager
def policy(name: str):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _x(seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, TIME, FEATURES)).astype("float32")


def _mask():
    mask = np.ones((BATCH, TIME), bool)
    mask[0, 3:] = False
    mask[1, :2] = False
    return mask


@pytest.mark.parametrize("policy_name", list(POLICIES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_dtypes_and_closeness(kind, policy_name):
    layer_class, extra = KINDS[kind]
    compute_dtype, tolerance = POLICIES[policy_name]
    x = _x()
    reference = layer_class(UNITS, return_sequences=True, return_state=True, **extra)
    reference.build(x.shape)
    with policy(policy_name):
        layer = layer_class(UNITS, return_sequences=True, return_state=True, **extra)
        layer.build(x.shape)
        layer.set_weights(reference.get_weights())
        assert layer.compute_dtype == compute_dtype
        assert layer.cell.compute_dtype == compute_dtype
        for variable in layer.weights:
            assert keras.backend.standardize_dtype(variable.dtype) == "float32", variable.path
        outputs = layer(x, mask=_mask())
    assert keras.config.dtype_policy().name == "float32"
    for tensor in keras.tree.flatten(outputs):
        assert keras.backend.standardize_dtype(tensor.dtype) == compute_dtype
    low = [a.astype("float32") for a in to_numpy(outputs)]
    high = to_numpy(reference(x, mask=_mask()))
    for a, b in zip(low, high):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_bidirectional_and_stateful(policy_name):
    compute_dtype, _ = POLICIES[policy_name]
    with policy(policy_name):
        bidirectional = keras.layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True))
        stateful = layers.GRU(UNITS, stateful=True)
        x = _x(1)
        y = bidirectional(x)
        z = stateful(y)
        z = stateful(y)  # the float32 state variables take low-precision states
    assert keras.backend.standardize_dtype(y.dtype) == compute_dtype
    assert keras.backend.standardize_dtype(z.dtype) == compute_dtype
    assert all(keras.backend.standardize_dtype(s.dtype) == "float32" for s in stateful.states)
    assert np.all(np.isfinite(to_numpy(z)[0].astype("float32")))


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_fit_step(policy_name):
    """A compiled training step under the policy, with dropout and masking."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, TIME, FEATURES)).astype("float32")
    x[:2, -2:] = 0.0
    y = x[:, :, :1].mean(axis=1)
    with policy(policy_name):
        model = keras.Sequential(
            [
                keras.Input((TIME, FEATURES)),
                keras.layers.Masking(),
                layers.SimpleRNN(UNITS, return_sequences=True),
                layers.LSTM(UNITS, return_sequences=True, dropout=0.1, recurrent_dropout=0.1, seed=1),
                layers.GRU(UNITS, reset_after=False, return_sequences=True),
                layers.GRU(UNITS, dropout=0.1, seed=2),
                keras.layers.Dense(1, dtype="float32"),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        before = [w.copy() for w in model.get_weights()]
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        prediction = model.predict(x, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert prediction.dtype == np.float32 and np.all(np.isfinite(prediction))
    after = model.get_weights()
    assert all(w.dtype == np.float32 for w in after)
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
