"""MinGRU / MinLSTM: the parallel log-space scan and the sequential
linear-space loop both equal the paper's sequential equations (a NumPy
reference), the one-step mode, masking, states, serialization, and long
sequences stay finite and precise. Every test runs in both scan modes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import assert_close, forward_and_gradients, on_accelerator, random_weights, run_python, sequence_mask, to_numpy

from keras_rnnzoo import layers
from keras_rnnzoo.layers.minimal import _hillis_steele, force_sequential_scan, log_space_scan, use_sequential_scan

BATCH, TIME, FEATURES, UNITS = 3, 7, 4, 5
KINDS = {"min_gru": layers.MinGRU, "min_lstm": layers.MinLSTM}


# ------------------------------------------------------------- numpy reference
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _g(x):
    return np.where(x >= 0, x + 0.5, _sigmoid(x))


def reference(kind, kernel, bias, x, h0=None, mask=None):
    """The paper's sequential equations, step by step, in float64."""
    x = x.astype("float64")
    batch, time, _ = x.shape
    units = kernel.shape[1] // (2 if kind == "min_gru" else 3)
    h = np.zeros((batch, units)) if h0 is None else h0.astype("float64")
    outputs = []
    for t in range(time):
        k = x[:, t] @ kernel + bias
        if kind == "min_gru":
            z = _sigmoid(k[:, :units])
            new = (1 - z) * h + z * _g(k[:, units:])
        else:
            f = _sigmoid(k[:, :units])
            i = _sigmoid(k[:, units : 2 * units])
            new = f / (f + i) * h + i / (f + i) * _g(k[:, 2 * units :])
        if mask is not None:
            new = np.where(mask[:, t : t + 1], new, h)
        h = new
        outputs.append(h)
    return np.stack(outputs, 1), h


def _layer(kind, **kwargs):
    layer = KINDS[kind](UNITS, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    random_weights(layer, scale=0.7)
    return layer


@pytest.fixture(autouse=True, params=["parallel", "sequential"])
def scan_mode(request):
    """Run each test with the parallel scan and with the sequential loop (CPUs pick the loop)."""
    force_sequential_scan(request.param == "sequential")
    yield request.param
    force_sequential_scan(None)


def test_automatic_mode_is_the_loop_on_cpu():
    force_sequential_scan(None)
    assert use_sequential_scan() == (not on_accelerator())


@pytest.fixture
def inputs(rng):
    return rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")


# ------------------------------------------------------------------- the scan
def test_log_space_scan_matches_sequential(rng):
    a = rng.uniform(0.05, 0.99, size=(2, 13, 3)).astype("float32")
    b = rng.uniform(0.01, 2.0, size=(2, 13, 3)).astype("float32")
    log_decay, log_h = log_space_scan(keras.ops.log(a), keras.ops.log(b))
    h, expected = np.zeros((2, 3)), []
    for t in range(13):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    np.testing.assert_allclose(np.exp(to_numpy(log_h)[0]), np.stack(expected, 1), rtol=1e-5)
    np.testing.assert_allclose(np.exp(to_numpy(log_decay)[0]), np.cumprod(a, axis=1), rtol=1e-5)
    # The simpler O(T log T) Hillis-Steele scan agrees.
    fallback = _hillis_steele(keras.ops.log(a), keras.ops.log(b))
    assert_close(to_numpy(fallback), to_numpy((log_decay, log_h)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_scan_matches_numpy_reference(kind, inputs):
    layer = _layer(kind, return_sequences=True, return_state=True)
    kernel, bias = layer.get_weights()
    outputs, state = to_numpy(layer(inputs))
    expected, expected_state = reference(kind, kernel, bias, inputs)
    assert_close([outputs, state], [expected, expected_state], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_step_mode_matches_scan(kind, inputs, rng):
    layer = _layer(kind, return_sequences=True)
    h0 = rng.normal(size=(BATCH, UNITS)).astype("float32")
    scanned = to_numpy(layer(inputs, initial_state=h0))[0]
    h, stepped = keras.ops.convert_to_tensor(h0), []
    for t in range(TIME):
        h, _ = layer.step(keras.ops.convert_to_tensor(inputs[:, t]), [h])
        stepped.append(keras.ops.convert_to_numpy(h))
    np.testing.assert_allclose(np.stack(stepped, 1), scanned, atol=1e-5, rtol=1e-5)
    expected, _ = reference(kind, *layer.get_weights(), inputs, h0=h0)
    np.testing.assert_allclose(scanned, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_streaming_matches_whole_sequence(kind, inputs):
    whole = _layer(kind, return_sequences=True)
    streaming = KINDS[kind](UNITS, return_sequences=True, stateful=True)
    streaming.build((BATCH, 1, FEATURES))
    streaming.set_weights(whole.get_weights())
    pieces = [to_numpy(streaming(inputs[:, t : t + 1]))[0] for t in range(TIME)]
    np.testing.assert_allclose(np.concatenate(pieces, 1), to_numpy(whole(inputs))[0], atol=1e-5)
    streaming.reset_state()
    first = to_numpy(streaming(inputs[:, :1]))[0]
    np.testing.assert_allclose(first, pieces[0], atol=1e-6)


def test_stateful_needs_fixed_batch():
    with pytest.raises(ValueError, match="fixed batch size"):
        layers.MinGRU(4, stateful=True).build((None, 3, 2))


# ------------------------------------------------------------------- masking
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("padding", ["right", "left", "holes"])
def test_masked_steps_carry_the_state(kind, padding, inputs):
    if padding == "holes":
        mask = np.array([[1, 0, 1, 1, 0, 1, 1], [0, 0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]], bool)
    else:
        mask = sequence_mask([7, 4, 1], TIME, padding)
    layer = _layer(kind, return_sequences=True, return_state=True)
    outputs, state = to_numpy(layer(inputs, mask=mask))
    expected, expected_state = reference(kind, *layer.get_weights(), inputs, mask=mask)
    assert_close([outputs, state], [expected, expected_state], atol=1e-5, rtol=1e-5)


def test_mask_through_masking_layer_and_gradients_finite(inputs):
    padded = inputs.copy()
    padded[0, 4:] = 0.0
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), keras.layers.Masking(0.0), layers.MinGRU(UNITS), keras.layers.Dense(1)]
    )
    layer = model.layers[1]
    unpadded = np.array(to_numpy(layer(inputs[:1, :4]))[0])
    np.testing.assert_allclose(to_numpy(model.layers[1](padded[:1, :4]))[0], unpadded, atol=1e-6)
    outputs, grad_x, grad_w = forward_and_gradients(layer, padded, mask=np.any(padded != 0, -1))
    np.testing.assert_allclose(outputs[0][0], unpadded[0], atol=1e-5)
    assert np.isfinite(grad_x).all() and all(np.isfinite(g).all() for g in grad_w)
    assert np.abs(grad_x[0, 4:]).max() == 0.0  # masked steps get no gradient


# ---------------------------------------------------------- options and shapes
@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_processes_reversed_sequence(kind, inputs):
    layer = _layer(kind, return_sequences=True, go_backwards=True)
    expected, _ = reference(kind, *layer.get_weights(), inputs[:, ::-1])
    np.testing.assert_allclose(to_numpy(layer(inputs))[0], expected, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_shapes_eager_and_symbolic(kind, return_sequences, return_state, inputs):
    layer = KINDS[kind](UNITS, return_sequences=return_sequences, return_state=return_state)
    out = layer(inputs)
    symbolic = KINDS[kind](UNITS, return_sequences=return_sequences, return_state=return_state)(
        keras.Input((TIME, FEATURES))
    )
    out, symbolic = (list(out), list(symbolic)) if return_state else ([out], [symbolic])
    main = (BATCH, TIME, UNITS) if return_sequences else (BATCH, UNITS)
    assert tuple(out[0].shape) == main
    assert tuple(symbolic[0].shape) == (None,) + main[1:]
    if return_state:
        assert tuple(out[1].shape) == (BATCH, UNITS)
        assert tuple(symbolic[1].shape) == (None, UNITS)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences_direction(kind, inputs):
    # Gradients of the scan equal those of the same math stepped sequentially.
    layer = _layer(kind, return_sequences=True)
    _, grad_x, grad_w = forward_and_gradients(layer, inputs)
    kernel, bias = layer.get_weights()
    eps = 1e-3
    direction = np.random.default_rng(3).normal(size=kernel.shape)
    cot = np.random.default_rng(7).normal(size=(BATCH, TIME, UNITS))
    plus = (reference(kind, kernel + eps * direction, bias, inputs)[0] * cot).sum()
    minus = (reference(kind, kernel - eps * direction, bias, inputs)[0] * cot).sum()
    np.testing.assert_allclose((plus - minus) / (2 * eps), (grad_w[0] * direction).sum(), rtol=2e-3)
    assert np.isfinite(grad_x).all()


def test_long_sequence_is_finite_and_precise(rng):
    time = 4096
    x = rng.normal(size=(2, time, 3)).astype("float32")
    for kind in KINDS:
        layer = KINDS[kind](4, return_sequences=True)
        layer.build((2, time, 3))
        random_weights(layer, scale=1.0)
        outputs, grad_x, grad_w = forward_and_gradients(layer, x)
        assert np.isfinite(outputs[0]).all() and np.isfinite(grad_x).all()
        assert all(np.isfinite(g).all() for g in grad_w)
        expected, _ = reference(kind, *layer.get_weights(), x)
        np.testing.assert_allclose(outputs[0], expected, atol=1e-4, rtol=1e-4)


def test_errors():
    with pytest.raises(ValueError, match="units"):
        layers.MinGRU(0)
    with pytest.raises(TypeError, match="floating-point"):
        layers.MinGRU(3)(np.zeros((1, 2, 3), "int32"))
    with pytest.raises(ValueError, match=r"at least one time step.*\(2, 0, 3\)"):
        layers.MinLSTM(3)(np.zeros((2, 0, 3), "float32"))
    with pytest.raises(ValueError, match="initial_state"):
        layers.MinLSTM(3)(np.zeros((1, 2, 3), "float32"), initial_state=np.zeros((1, 4), "float32"))


def test_mixed_precision_runs_in_float32_inside(inputs):
    keras.config.set_dtype_policy("mixed_float16")
    layer = layers.MinGRU(UNITS, return_sequences=True)
    out = layer(inputs)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert np.isfinite(to_numpy(out)[0]).all()


# -------------------------------------------------------------- serialization
@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    layer = KINDS[kind](6, return_sequences=True, go_backwards=True, use_bias=False, name="m")
    clone = KINDS[kind].from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert keras.saving.get_registered_name(KINDS[kind]) == f"keras_rnnzoo>{KINDS[kind].__name__}"


def test_saved_model_reloads_in_fresh_process(tmp_path, inputs):
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), layers.MinLSTM(UNITS, return_sequences=True), layers.MinGRU(UNITS)]
    )
    path = tmp_path / "minimal.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", inputs)
    np.save(tmp_path / "y.npy", to_numpy(model(inputs))[0])
    run_python(
        f"""
        import numpy as np, keras
        import keras_rnnzoo  # registers the layers
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), np.load({str(tmp_path / 'y.npy')!r}), atol=1e-6)
        """
    )


def test_trains_in_a_model(inputs):
    model = keras.Sequential([keras.Input((TIME, FEATURES)), layers.MinGRU(UNITS), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(inputs, np.ones((BATCH, 1)), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
