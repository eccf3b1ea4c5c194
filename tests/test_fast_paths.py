"""Every fast loop of layers/fast.py equals Keras's generic loop over the cell.

Same layer, same weights, fast paths on vs off: outputs, final states and
gradients (inputs and weights) within 1e-5, with and without masks,
forwards and backwards, with initial states; plus the conditions under which
the generic loop must be used instead.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import assert_close, forward_and_gradients, on_accelerator, random_weights, sequence_mask

from keras_rnnzoo import layers
from keras_rnnzoo.layers.fast import fast_inner_loop, fast_paths, fast_paths_enabled

BATCH, TIME, FEATURES, UNITS = 3, 6, 4, 5
ON_TORCH = keras.backend.backend() == "torch"
# TensorFlow on the CPU trains the unmasked LSTM and GRU on XLA loops (tf_lstm.py, tf_gru.py)
ON_TENSORFLOW_CPU = keras.backend.backend() == "tensorflow" and not on_accelerator()
# JAX on a GPU / TPU takes the hoisted scan of jax_scan.py for the LSTM and GRU (mixed precision too)
ON_JAX_ACCELERATOR = keras.backend.backend() == "jax" and on_accelerator()
needs_fast_path = pytest.mark.skipif(
    not ON_TORCH,
    reason="the PyTorch fast loops run on the torch backend only",
)

KINDS = {
    "lstm": (layers.LSTM, {}),
    "gru_reset_after": (layers.GRU, {"reset_after": True}),
    "gru_reset_before": (layers.GRU, {"reset_after": False}),
    "lstm_no_bias": (layers.LSTM, {"use_bias": False}),
    "gru_no_bias": (layers.GRU, {"use_bias": False}),
}
# On PyTorch these run PyTorch's fused kernels or tight loops of PyTorch ops (layers/fast.py), not the cell loop;
# on TensorFlow the LSTM, the GRU and the layer-normalized LSTM train on XLA loops.
FAST_LOOP_KINDS = {
    **KINDS,
    "cifg": (layers.CIFGLSTM, {}),
    "cifg_no_bias": (layers.CIFGLSTM, {"use_bias": False}),
    "peephole": (layers.PeepholeLSTM, {}),
    "layer_norm_lstm": (layers.LayerNormLSTM, {}),
    "layer_norm_lstm_no_bias": (layers.LayerNormLSTM, {"use_bias": False}),
    "layer_norm_gru": (layers.LayerNormGRU, {}),
    "layer_norm_gru_no_bias": (layers.LayerNormGRU, {"use_bias": False}),
    "mgu": (layers.MGU, {}),
    "mgu_no_bias": (layers.MGU, {"use_bias": False}),
}
TIGHT_LOOP_VARIANTS = ["cifg", "peephole", "layer_norm_lstm", "layer_norm_gru", "mgu"]
MASKS = {
    "no_mask": None,
    "right_padded": sequence_mask([6, 3, 1], TIME, "right"),
    "left_padded": sequence_mask([6, 4, 2], TIME, "left"),
    "holes": np.array([[1, 0, 1, 1, 0, 1], [0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], bool),
    "right_padded_empty_row": sequence_mask([4, 0, 6], TIME, "right"),
    "nothing_masked": sequence_mask([6, 6, 6], TIME, "right"),
}


def _compare(layer, inputs, **call_kwargs):
    random_weights(layer, scale=0.6)
    with fast_paths(True):
        fast = forward_and_gradients(layer, inputs, **call_kwargs)
    with fast_paths(False):
        plain = forward_and_gradients(layer, inputs, **call_kwargs)
    assert_close(fast[0], plain[0], what="outputs")
    assert_close(fast[1], plain[1], what="d/dx")
    assert_close(fast[2], plain[2], what="d/dw")


@pytest.fixture
def inputs(rng):
    return rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")


@needs_fast_path
@pytest.mark.parametrize("kind", FAST_LOOP_KINDS)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fast_loop_matches_generic_loop(kind, mask, go_backwards, inputs):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    _compare(layer, inputs, mask=MASKS[mask])


@needs_fast_path
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", "gru_reset_before", *TIGHT_LOOP_VARIANTS])
@pytest.mark.parametrize("mask", ["no_mask", "holes", "right_padded_empty_row"])
def test_initial_state_and_zero_output_for_mask(kind, mask, inputs, rng):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, return_sequences=True, zero_output_for_mask=True, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in layer.state_size]
    states = [keras.ops.convert_to_tensor(s) for s in states]
    _compare(layer, inputs, mask=MASKS[mask], initial_state=states)


@needs_fast_path
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", *TIGHT_LOOP_VARIANTS])
def test_last_output_only(kind, inputs):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    _compare(layer, inputs, mask=MASKS["right_padded"])
    _compare(layer, inputs)


@needs_fast_path
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", *TIGHT_LOOP_VARIANTS])
def test_stateful_training_steps(kind, inputs):
    _check_stateful_training_steps(kind, inputs)


def _check_stateful_training_steps(kind, inputs):
    # The state variables are assigned after the forward pass; the backward
    # pass of the fused kernel must not see them changed in place.
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    model = keras.Sequential(
        [keras.Input(batch_shape=(BATCH, TIME, FEATURES)), layer_class(UNITS, stateful=True, **kwargs), keras.layers.Dense(1)]
    )
    model.compile("adam", "mse")
    for _ in range(2):
        loss = model.train_on_batch(inputs, np.ones((BATCH, 1), "float32"))
    assert np.isfinite(loss)
    with fast_paths(False):
        reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    model.layers[0].reset_state()
    reference.layers[0].reset_state()
    for _ in range(2):  # carried state: the second call starts from the first's
        fast_out = keras.ops.convert_to_numpy(model(inputs))
        with fast_paths(False):
            plain_out = keras.ops.convert_to_numpy(reference(inputs))
        np.testing.assert_allclose(fast_out, plain_out, atol=1e-5)


@needs_fast_path
@pytest.mark.parametrize("mask", [None, MASKS["holes"]])
@pytest.mark.parametrize("kind", TIGHT_LOOP_VARIANTS)
def test_variants_run_tight_loops_not_their_cell(kind, mask, monkeypatch):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, return_sequences=True, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    monkeypatch.setattr(layer.cell, "call", lambda *args, **kwargs: pytest.fail("the cell was stepped"))
    assert _probe(layer, mask=mask) is not None


@needs_fast_path
@pytest.mark.parametrize(
    "kind, mask",
    [("gru_reset_after", "right_padded"), ("gru_reset_after", "right_padded_empty_row"), ("gru_reset_after", "nothing_masked"),
     ("lstm", "nothing_masked"), ("cifg", "nothing_masked")],
)
def test_right_padded_or_unmasked_batches_run_the_fused_kernel(kind, mask, monkeypatch):
    """The GRU's right padding, and a mask that masks nothing, take PyTorch's fused kernel, not the tight loop."""
    from keras_rnnzoo.layers import fast

    for loop in ("_lstm_loop", "_gru_loop"):
        monkeypatch.setattr(fast, loop, lambda *args, **kwargs: pytest.fail("the tight loop ran"))
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    assert _probe(layer_class(UNITS, return_sequences=True, **kwargs), mask=MASKS[mask]) is not None


def _fast_and_generic_in_training(layer, inputs):
    """`inner_loop` results with fast paths on and off, sharing the layer's cached dropout masks."""
    layer.build((BATCH, TIME, FEATURES))
    x = keras.ops.convert_to_tensor(inputs)
    sizes = layer.state_size if isinstance(layer.state_size, (list, tuple)) else [layer.state_size]
    state = [keras.ops.zeros((BATCH, size)) for size in sizes]
    layer._maybe_config_dropout_masks(layer.cell, x[:, 0, :], state)
    fast = fast_inner_loop(layer, x, state, None, training=True)
    with fast_paths(False):
        plain = layer.inner_loop(x, state, None, training=True)
    layer._maybe_reset_dropout_masks(layer.cell)
    return fast, plain


@needs_fast_path
@pytest.mark.parametrize("kind", ["lstm", *TIGHT_LOOP_VARIANTS])
def test_input_dropout_in_training_keeps_the_fast_path(kind, inputs):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, dropout=0.5, seed=3, **kwargs)
    fast, plain = _fast_and_generic_in_training(layer, inputs)
    assert fast is not None
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast[0]), keras.ops.convert_to_numpy(plain[0]), atol=1e-5)
    inference = keras.ops.convert_to_numpy(layer(inputs))
    assert not np.allclose(keras.ops.convert_to_numpy(fast[0]), inference)


def _probe(layer, training=False, dtype="float32", mask=None):
    layer.build((BATCH, TIME, FEATURES))
    x = keras.ops.zeros((BATCH, TIME, FEATURES), dtype=dtype)
    sizes = layer.state_size if isinstance(layer.state_size, (list, tuple)) else [layer.state_size]
    state = [keras.ops.zeros((BATCH, size), dtype=dtype) for size in sizes]
    return fast_inner_loop(layer, x, state, mask, training=training)


def _check_fast_loop_taken_and_equal(kind, mask, go_backwards, inputs):
    """A fast loop applies to the layer of `kind` and equals the generic loop (with `MASKS[mask]`)."""
    layer_class, kwargs = kind
    layer = layer_class(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    assert _probe(layer) is not None
    _compare(layer, inputs, mask=MASKS[mask])


def test_generic_loop_when_no_fast_path_applies():
    assert _probe(layers.LSTM(UNITS, unroll=True)) is None
    assert _probe(layers.PeepholeLSTM(UNITS, unroll=True)) is None
    if not ON_JAX_ACCELERATOR:  # mixed precision: Keras autocasts per step
        assert _probe(layers.LSTM(UNITS), dtype="float16") is None
    foreign = keras.layers.RNN(keras.layers.LSTMCell(UNITS))  # a cell from outside keras_rnnzoo
    assert _probe(foreign) is None


# Cells that the fused LSTM / GRU loops do not cover run the generic cell loop on PyTorch.
CELL_LOOP_KINDS = {
    "simple_rnn": (layers.SimpleRNN, {}),
    "layer_norm_gru_reset_before": (layers.LayerNormGRU, {"reset_after": False}),
    "indrnn": (layers.IndRNN, {}),
    "lstmp": (layers.LSTMP, {"proj_size": 3}),
    "lstm_relu": (layers.LSTM, {"activation": "relu"}),
    "peephole_relu": (layers.PeepholeLSTM, {"activation": "relu"}),
    "mgu_hard_sigmoid": (layers.MGU, {"recurrent_activation": "hard_sigmoid"}),
    "gru_hard_sigmoid": (layers.GRU, {"recurrent_activation": "hard_sigmoid"}),
}


@needs_fast_path
@pytest.mark.parametrize("kind", CELL_LOOP_KINDS)
@pytest.mark.parametrize("mask", ["no_mask", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cell_loop_matches_generic_loop(kind, mask, go_backwards, inputs):
    _check_fast_loop_taken_and_equal(CELL_LOOP_KINDS[kind], mask, go_backwards, inputs)


def test_fast_path_where_it_applies_and_switchable():
    taken = _probe(layers.LSTM(UNITS)) is not None
    assert taken == (ON_TORCH or ON_JAX_ACCELERATOR)
    assert (_probe(layers.LSTM(UNITS), training=True) is not None) == (ON_TORCH or ON_JAX_ACCELERATOR or ON_TENSORFLOW_CPU)
    assert fast_paths_enabled()
    with fast_paths(False):
        assert _probe(layers.GRU(UNITS)) is None
    assert fast_paths_enabled()


@needs_fast_path
def test_recurrent_dropout_in_training_takes_the_cell_loop(inputs):
    layer = layers.GRU(UNITS, recurrent_dropout=0.3)
    assert _probe(layer, training=False) is not None
    assert _probe(layers.GRU(UNITS, recurrent_dropout=0.3), training=True) is not None


@needs_fast_path
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", "gru_reset_before", *TIGHT_LOOP_VARIANTS])
def test_single_step_streaming_loop(kind, rng):
    _check_single_step(kind, rng)


def _check_single_step(kind, rng, **call_kwargs):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer.build((1, 1, FEATURES))
    _compare(layer, rng.normal(size=(1, 1, FEATURES)).astype("float32"), **call_kwargs)


# ------------------------------------------------- JAX accelerator loop (jax_scan.py)
ON_JAX = keras.backend.backend() == "jax"
needs_jax = pytest.mark.skipif(not ON_JAX, reason="the hoisted, unrolled scan is JAX code")


@pytest.fixture
def accelerator_loop():
    """Force the GPU loop on (it is off on the CPU by default) for one test."""
    from keras_rnnzoo.layers import jax_scan

    jax_scan.force_accelerator_loop(True)
    yield
    jax_scan.force_accelerator_loop(None)


# Cells that ask for it (`rematerialize_step`) run Keras's JAX loop with each step under jax.checkpoint.
REMATERIALIZED_KINDS = {
    "layer_norm_lstm": (layers.LayerNormLSTM, {}),
    "layer_norm_gru": (layers.LayerNormGRU, {}),
}


@needs_jax
@pytest.mark.parametrize("kind", REMATERIALIZED_KINDS)
@pytest.mark.parametrize("mask", ["no_mask", "holes", "left_padded"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_rematerialized_loop_matches_generic_loop(kind, mask, go_backwards, inputs):
    _check_fast_loop_taken_and_equal(REMATERIALIZED_KINDS[kind], mask, go_backwards, inputs)


@needs_jax
def test_rematerialized_loop_only_for_cells_that_ask(inputs):
    assert _probe(layers.PeepholeLSTM(UNITS)) is None
    assert _probe(layers.LayerNormLSTM(UNITS, unroll=True)) is None
    with fast_paths(False):
        assert _probe(layers.LayerNormGRU(UNITS)) is None


@pytest.mark.skipif(not (ON_TORCH or ON_JAX), reason="no fast loop for the layer-norm LSTM on this backend")
def test_fast_loops_use_the_cached_dropout_masks(inputs):
    """Recurrent dropout while training: the PyTorch cell loop and the JAX rematerialized loop."""
    layer = layers.LayerNormLSTM(UNITS, dropout=0.3, recurrent_dropout=0.4, seed=5)
    fast, plain = _fast_and_generic_in_training(layer, inputs)
    for fast_part, plain_part in zip([fast[0], *fast[2]], [plain[0], *plain[2]]):  # last output, final states
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fast_part), keras.ops.convert_to_numpy(plain_part),
                                   atol=1e-5)
    inference = keras.ops.convert_to_numpy(layer(inputs))
    assert not np.allclose(keras.ops.convert_to_numpy(fast[0]), inference)


@needs_jax
def test_rematerialized_loop_trains_like_the_generic_loop(inputs, rng):
    """One jitted `train_on_batch` step with and without the rematerialized loop: equal weights after."""
    targets = rng.normal(size=(BATCH, 1)).astype("float32")
    weights = []
    for enabled in (True, False):
        keras.utils.set_random_seed(11)
        model = keras.Sequential([keras.Input((TIME, FEATURES)), layers.LayerNormLSTM(UNITS), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.5), "mse")
        initial = model.get_weights()
        with fast_paths(enabled):
            model.train_on_batch(inputs, targets)
        weights.append(model.get_weights())
    for fast_weight, plain_weight in zip(*weights):
        np.testing.assert_allclose(fast_weight, plain_weight, atol=1e-5)
    assert not np.allclose(weights[0][0], initial[0])  # the step did train


@needs_jax
def test_accelerator_loop_only_off_the_cpu():
    import jax

    assert (_probe(layers.LSTM(UNITS)) is not None) == (jax.default_backend() != "cpu")


@needs_jax
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_accelerator_loop_matches_generic_loop(kind, mask, go_backwards, inputs, accelerator_loop):
    _check_fast_loop_taken_and_equal(KINDS[kind], mask, go_backwards, inputs)


@needs_jax
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", "gru_reset_before"])
def test_accelerator_loop_initial_state_and_zero_output_for_mask(kind, inputs, rng, accelerator_loop):
    layer_class, kwargs = KINDS[kind]
    layer = layer_class(UNITS, return_sequences=True, zero_output_for_mask=True, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    states = [keras.ops.convert_to_tensor(rng.normal(size=(BATCH, UNITS)).astype("float32")) for _ in layer.state_size]
    _compare(layer, inputs, mask=MASKS["holes"], initial_state=states)


@needs_jax
def test_accelerator_loop_keeps_input_dropout_and_leaves_recurrent_dropout(inputs, accelerator_loop):
    fast, plain = _fast_and_generic_in_training(layers.LSTM(UNITS, dropout=0.5, seed=3), inputs)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast[0]), keras.ops.convert_to_numpy(plain[0]), atol=1e-5)
    assert _probe(layers.GRU(UNITS, recurrent_dropout=0.3), training=True) is None
    assert _probe(layers.PeepholeLSTM(UNITS)) is None  # variants: generic loop


@needs_jax
@pytest.mark.parametrize("layer_class", [layers.LSTM, layers.GRU])
def test_accelerator_loop_under_mixed_bfloat16(layer_class, inputs, accelerator_loop):
    layer = layer_class(UNITS, return_sequences=True, dtype="mixed_bfloat16")
    layer.build((BATCH, TIME, FEATURES))
    random_weights(layer, scale=0.6)
    fast = keras.ops.convert_to_numpy(keras.ops.cast(layer(inputs), "float32"))
    with fast_paths(False):
        plain = keras.ops.convert_to_numpy(keras.ops.cast(layer(inputs), "float32"))
    assert layer(inputs).dtype == "bfloat16"
    np.testing.assert_allclose(fast, plain, atol=0.03)  # bfloat16 keeps ~3 significant digits


@needs_jax
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_hand_written_backward_matches_autodiff(kind):
    """Gradients of every input (states and kernels too) and through the final states."""
    import jax
    import jax.numpy as jnp

    from keras_rnnzoo.layers import jax_scan

    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    steps, batch, units = 7, 3, 5
    gates = 4 if kind == "lstm" else 3
    projected = jax.random.normal(keys[0], (steps, batch, gates * units))
    h0 = jax.random.normal(keys[1], (batch, units))
    kernel = 0.5 * jax.random.normal(keys[2], (units, gates * units))
    if kind == "lstm":
        args = (projected, h0, jax.random.normal(keys[3], (batch, units)), kernel)
        forward, custom = jax_scan._lstm_forward, jax_scan.lstm_sequence
    else:
        args = (projected, h0, kernel, jax.random.normal(keys[4], (gates * units,)))
        forward, custom = jax_scan._gru_forward, jax_scan.gru_sequence

    def loss(function):
        def value(*inputs):
            outputs, *final = function(*inputs)
            return jnp.sum(jnp.sin(outputs)) + sum(jnp.sum(jnp.cos(3.0 * state)) for state in final)
        return value

    argnums = tuple(range(len(args)))
    expected = jax.grad(loss(lambda *a: forward(*a, 3)[0]), argnums)(*args)
    got = jax.grad(loss(lambda *a: custom(*a, 3)), argnums)(*args)
    for name, e, g in zip(["projected", "h0", "c0/kernel", "kernel/bias"], expected, got):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), atol=2e-6, err_msg=name)


# 7 steps: chunks of 2 pad them to 8, of 7 fit exactly, of 16 pad them to 16
MINIMAL_LOOP_CASES = [(kind, masked, chunk) for kind in ("min_gru", "min_lstm") for masked in (False, True) for chunk in (2, 7, 16)]


@pytest.fixture(params=MINIMAL_LOOP_CASES, ids=lambda case: f"{case[0]}-{'masked' if case[1] else 'unmasked'}-chunk{case[2]}")
def minimal_loop_case(request, rng):
    """`(chunk, layer, x, kernel, bias, h0, keep, weights)` for the fused minimal loops' tests (NumPy; 7 steps, batch 3)."""
    kind, masked, chunk = request.param
    layer = {"min_gru": layers.MinGRU, "min_lstm": layers.MinLSTM}[kind](5)
    layer.build((3, 7, 4))
    random_weights(layer, scale=0.7)
    time, batch, features, units = 7, 3, 4, 5
    x = rng.standard_normal((time, batch, features)).astype("float32")
    h0 = rng.standard_normal((batch, units)).astype("float32")
    keep = np.ones((time, batch, 1), "float32")
    if masked:
        keep[[1, 4], 0] = 0.0
        keep[5:, 2] = 0.0
    weights = rng.standard_normal((time, batch, units)).astype("float32")
    return chunk, layer, x, layer.kernel.numpy(), layer.bias.numpy(), h0, keep, weights


def plain_minimal_loop(layer, keep):
    """The fused loops' reference: `h = a h + b` one step at a time in `keras.ops` (masked steps carry `h` over)."""

    def plain(x, kernel, bias, h0):
        h, outputs = h0, []
        for t in range(x.shape[0]):
            a, b = layer.coefficients(x[t] @ kernel + bias)
            h = keras.ops.where(keep[t] > 0, a * h + b, h)
            outputs.append(h)
        return keras.ops.stack(outputs)

    return plain


@pytest.mark.skipif(not ON_JAX, reason="jax_minimal is JAX code")
def test_fused_minimal_loop_gradients_equal_autodiff_of_the_plain_loop(minimal_loop_case):
    """jax_minimal.fused_scan's hand-written backward pass: inputs, kernel, bias and initial state."""
    import jax
    import jax.numpy as jnp

    from keras_rnnzoo.layers import jax_minimal

    chunk, layer, *arrays = minimal_loop_case
    x, kernel, bias, h0, keep, weights = (jnp.asarray(a) for a in arrays)

    def plain(x, kernel, bias, h0):
        def step(h, inputs):
            x_t, keep_t = inputs
            a, b = layer.coefficients(x_t @ kernel + bias)
            h = jnp.where(keep_t > 0, a * h + b, h)
            return h, h

        return jax.lax.scan(step, h0, (x, keep))[1]

    def loss(scan):
        return lambda *args: jnp.sum(weights * jnp.sin(scan(*args)))

    fused = lambda x, kernel, bias, h0: jax_minimal.fused_scan(layer.coefficients, x, kernel, bias, h0, keep, chunk)
    assert_close(fused(x, kernel, bias, h0), plain(x, kernel, bias, h0), atol=1e-6)
    expected = jax.grad(loss(plain), argnums=(0, 1, 2, 3))(x, kernel, bias, h0)
    got = jax.jit(jax.grad(loss(fused), argnums=(0, 1, 2, 3)))(x, kernel, bias, h0)
    for name, g, e in zip(("inputs", "kernel", "bias", "initial state"), got, expected):
        assert_close(g, e, atol=1e-5, what=name)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf_minimal is TensorFlow code")
def test_tensorflow_fused_minimal_loop_gradients_equal_autodiff_of_the_plain_loop(minimal_loop_case):
    """tf_minimal.FusedScan (XLA forward and hand-written backward): inputs, kernel, bias and initial state."""
    import tensorflow as tf

    from keras_rnnzoo.layers import tf_minimal

    chunk, layer, *arrays = minimal_loop_case
    x, kernel, bias, h0, keep, weights = (tf.constant(a) for a in arrays)
    plain = plain_minimal_loop(layer, keep)

    def outputs_and_gradients(scan):
        arguments = [x, kernel, bias, h0]
        with tf.GradientTape() as tape:
            tape.watch(arguments)
            outputs = scan(*arguments)
            loss = tf.reduce_sum(weights * tf.sin(outputs))
        return outputs, tape.gradient(loss, arguments)

    fused = tf_minimal.FusedScan(layer.coefficients, chunk)
    got_outputs, got = outputs_and_gradients(lambda *arguments: fused(*arguments, keep))
    expected_outputs, expected = outputs_and_gradients(plain)
    assert_close(got_outputs, expected_outputs, atol=1e-6)
    for name, g, e in zip(("inputs", "kernel", "bias", "initial state"), got, expected):
        assert_close(g, e, atol=1e-5, what=name)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf_minimal is TensorFlow code")
def test_tensorflow_fused_minimal_loop_skips_only_unneeded_input_gradients(minimal_loop_case):
    """A tape that watches only the weights (a first layer in training) gets the same weight gradients
    without `dx`; `tf.gradients` in a graph, which no tape announces, still gets `dx`."""
    import tensorflow as tf

    from keras_rnnzoo.layers import tf_loops, tf_minimal

    chunk, layer, *arrays = minimal_loop_case
    x, kernel, bias, h0, keep, weights = (tf.constant(a) for a in arrays)
    plain = plain_minimal_loop(layer, keep)
    fused = tf_minimal.FusedScan(layer.coefficients, chunk)

    def weight_gradients(scan):
        with tf.GradientTape() as tape:
            tape.watch([kernel, bias])
            assert not tf_loops.input_needs_gradient(x)
            loss = tf.reduce_sum(weights * tf.sin(scan(x, kernel, bias, h0)))
        return tape.gradient(loss, [kernel, bias])

    got = weight_gradients(lambda *arguments: fused(*arguments, keep))
    for name, g, e in zip(("kernel", "bias"), got, weight_gradients(plain)):
        assert_close(g, e, atol=1e-5, what=name)

    @tf.function(autograph=False)
    def graph_input_gradient(scan):
        assert tf_loops.input_needs_gradient(x)  # no tape records here
        return tf.gradients(tf.reduce_sum(weights * tf.sin(scan(x, kernel, bias, h0))), x)[0]

    expected = graph_input_gradient(plain)
    assert_close(graph_input_gradient(lambda *arguments: fused(*arguments, keep)), expected, atol=1e-5, what="inputs")


@pytest.mark.skipif(not ON_TORCH, reason="torch_minimal is PyTorch code")
def test_torch_fused_minimal_loop_gradients_equal_autodiff_of_the_plain_loop(minimal_loop_case):
    """torch_minimal.fused_scan's hand-written backward pass: inputs, kernel, bias and initial state."""
    import torch

    from keras_rnnzoo.layers import torch_minimal

    chunk, layer, *arrays = minimal_loop_case
    x, kernel, bias, h0, keep, weights = (torch.from_numpy(a) for a in arrays)
    plain = plain_minimal_loop(layer, keep)

    def outputs_and_gradients(scan, wrt=(0, 1, 2, 3)):
        arguments = [t.clone().requires_grad_(i in wrt) for i, t in enumerate((x, kernel, bias, h0))]
        outputs = scan(*arguments)
        gradients = torch.autograd.grad(torch.sum(weights * torch.sin(outputs)), [arguments[i] for i in wrt])
        return outputs.detach(), gradients

    # no mask at all takes the loop's unmasked path (keep=None)
    fused_keep = None if bool(torch.all(keep > 0)) else keep
    fused = lambda *arguments: torch_minimal.fused_scan(layer.coefficients, *arguments, fused_keep, chunk)
    got_outputs, got = outputs_and_gradients(fused)
    expected_outputs, expected = outputs_and_gradients(plain)
    assert_close(got_outputs, expected_outputs, atol=1e-6)
    for name, g, e in zip(("inputs", "kernel", "bias", "initial state"), got, expected):
        assert_close(g, e, atol=1e-5, what=name)
    # inputs that need no gradient (a model's first layer): the weights' gradients are the same
    _, weight_gradients = outputs_and_gradients(fused, wrt=(1, 2, 3))
    for name, g, e in zip(("kernel", "bias", "initial state"), weight_gradients, expected[1:]):
        assert_close(g, e, atol=1e-5, what=name)


@pytest.mark.skipif(not ON_TORCH, reason="torch.compile is PyTorch's")
def test_torch_compile_leaves_the_minimal_loop_out_of_the_graph():
    """Keras's `jit_compile=True` on PyTorch: the traced graph does not grow with the steps (the loop is not unrolled)."""
    import torch

    layer = layers.MinGRU(5, return_sequences=True)
    layer(np.zeros((2, 4, 3), "float32"))  # built outside the trace
    counts = []
    for steps in (16, 160):
        x = torch.randn(2, steps, 3)
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(lambda x: layer(x))(x)
        counts.append(explanation.op_count)
        compiled = torch.compile(lambda x: layer(x), backend="eager")
        with torch.no_grad():
            assert_close(compiled(x), layer(x), atol=1e-6)
    torch._dynamo.reset()
    assert counts[0] == counts[1], counts


# ------------------ TensorFlow: the XLA loops of the LSTM, GRU and layer-normalized LSTM (tf_lstm, tf_gru, tf_layer_norm)
needs_tf_loop = pytest.mark.skipif(not ON_TENSORFLOW_CPU, reason="tf_lstm / tf_gru / tf_layer_norm are TensorFlow CPU loops")
TF_LOOP_KINDS = ["lstm", "lstm_no_bias", "gru_reset_after", "gru_no_bias", "layer_norm_lstm", "layer_norm_lstm_no_bias"]


@needs_tf_loop
@pytest.mark.parametrize("kind", TF_LOOP_KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_tensorflow_loop_matches_generic_loop(kind, go_backwards, return_sequences, inputs, rng):
    layer_class, kwargs = FAST_LOOP_KINDS[kind]
    layer = layer_class(UNITS, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    assert _probe(layer, training=True) is not None
    _compare(layer, inputs, training=True)
    states = [keras.ops.convert_to_tensor(rng.normal(size=(BATCH, UNITS)).astype("float32")) for _ in layer.state_size]
    _compare(layer, inputs, initial_state=states, training=True)


@needs_tf_loop
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", "layer_norm_lstm"])
def test_tensorflow_loop_stateful_and_single_step(kind, inputs, rng):
    _check_stateful_training_steps(kind, inputs)
    _check_single_step(kind, rng, training=True)


@needs_tf_loop
def test_tensorflow_loop_only_for_unmasked_lstm_and_gru_training():
    """Inference and export keep Keras's loop (tf2onnx cannot convert an XLA-compiled function)."""
    assert _probe(layers.LSTM(UNITS), training=False) is None
    assert _probe(layers.LayerNormLSTM(UNITS), training=False) is None
    assert _probe(layers.LayerNormLSTM(UNITS), mask=MASKS["holes"], training=True) is None
    assert _probe(layers.LayerNormGRU(UNITS), training=True) is None
    assert _probe(layers.LSTM(UNITS), mask=MASKS["holes"], training=True) is None
    assert _probe(layers.LSTM(UNITS, activation="relu"), training=True) is None
    assert _probe(layers.GRU(UNITS, reset_after=False), training=True) is None
    assert _probe(layers.PeepholeLSTM(UNITS), training=True) is None
    assert _probe(layers.LSTM(UNITS, recurrent_dropout=0.3), training=True) is None


def _plain_tf_lstm(x, kernel, recurrent_kernel, bias, h, c):
    import tensorflow as tf

    outputs = []
    for x_t in tf.unstack(x):
        z_i, z_f, z_c, z_o = tf.split(x_t @ kernel + h @ recurrent_kernel + bias, 4, axis=1)
        c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
        h = tf.sigmoid(z_o) * tf.tanh(c)
        outputs.append(h)
    return tf.stack(outputs), h, c


def _plain_tf_gru(x, kernel, recurrent_kernel, input_bias, recurrent_bias, h):
    import tensorflow as tf

    outputs = []
    for x_t in tf.unstack(x):
        x_z, x_r, x_h = tf.split(x_t @ kernel + input_bias, 3, axis=1)
        inner_z, inner_r, inner_h = tf.split(h @ recurrent_kernel + recurrent_bias, 3, axis=1)
        z, r = tf.sigmoid(x_z + inner_z), tf.sigmoid(x_r + inner_r)
        h = z * h + (1 - z) * tf.tanh(x_h + r * inner_h)
        outputs.append(h)
    return tf.stack(outputs), h


def _plain_tf_layer_norm_lstm(projected, h, c, recurrent_kernel, recurrent_gamma, cell_gamma, cell_beta):
    import tensorflow as tf

    def normalize(a, blocks):
        a = tf.reshape(a, [a.shape[0], blocks, -1])
        mean, variance = tf.nn.moments(a, axes=[2], keepdims=True)
        return tf.reshape((a - mean) / tf.sqrt(variance + LAYER_NORM_EPSILON), [a.shape[0], -1])

    outputs = []
    for z_t in tf.unstack(projected):
        z_i, z_f, z_c, z_o = tf.split(z_t + normalize(h @ recurrent_kernel, 4) * recurrent_gamma, 4, axis=1)
        c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
        h = tf.sigmoid(z_o) * tf.tanh(normalize(c, 1) * cell_gamma + cell_beta)
        outputs.append(h)
    return tf.stack(outputs), h, c


LAYER_NORM_EPSILON = 1e-3


@needs_tf_loop
@pytest.mark.parametrize("kind", ["lstm", "gru", "layer_norm_lstm"])
def test_tensorflow_recurrence_gradients_equal_autodiff_of_the_plain_loop(kind):
    """Every argument's gradient (initial states too), through all outputs and the final states, in float64."""
    import tensorflow as tf

    from keras_rnnzoo.layers.tf_gru import gru_recurrence
    from keras_rnnzoo.layers.tf_layer_norm import layer_norm_lstm_recurrence
    from keras_rnnzoo.layers.tf_lstm import lstm_recurrence

    generator = np.random.default_rng(5)
    steps, batch, features, units = 7, 3, 4, 5
    if kind == "lstm":
        names = ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"]
        shapes = [(steps, batch, features), (features, 4 * units), (units, 4 * units), (4 * units,), (batch, units), (batch, units)]
        plain, compiled = _plain_tf_lstm, lstm_recurrence
    elif kind == "gru":
        names = ["x", "kernel", "recurrent_kernel", "input_bias", "recurrent_bias", "h0"]
        shapes = [(steps, batch, features), (features, 3 * units), (units, 3 * units), (3 * units,), (3 * units,), (batch, units)]
        plain, compiled = _plain_tf_gru, gru_recurrence
    else:
        names = ["projected", "h0", "c0", "recurrent_kernel", "recurrent_gamma", "cell_gamma", "cell_beta"]
        shapes = [(steps, batch, 4 * units), (batch, units), (batch, units), (units, 4 * units), (4 * units,), (units,), (units,)]
        plain = _plain_tf_layer_norm_lstm
        compiled = lambda *arguments: layer_norm_lstm_recurrence(*arguments, LAYER_NORM_EPSILON)  # noqa: E731
    arguments = [tf.constant(0.7 * generator.normal(size=shape)) for shape in shapes]

    def value_and_gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(arguments)
            outputs, *final = function(*arguments)
            loss = tf.reduce_sum(tf.sin(outputs)) + tf.reduce_sum(tf.cos(3.0 * final[0])) + tf.reduce_sum(final[-1] ** 2)
        return [outputs, *final], tape.gradient(loss, arguments)

    expected_values, expected_gradients = value_and_gradients(plain)
    values, gradients = value_and_gradients(compiled)
    value_names = ["outputs", "h", "c"][: len(values)]
    for name, got, want in zip(value_names + names, values + gradients, expected_values + expected_gradients):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-10, err_msg=name)


@needs_tf_loop
@pytest.mark.parametrize("layer_class", [layers.LSTM, layers.GRU, layers.LayerNormLSTM])
def test_tensorflow_loop_in_training(layer_class, inputs):
    """Input dropout keeps the XLA loop; Keras's compiled training step (no XLA, and with XLA) trains the same weights."""
    layer = layer_class(UNITS, dropout=0.5, seed=3)
    fast, plain = _fast_and_generic_in_training(layer, inputs)
    assert fast is not None
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast[0]), keras.ops.convert_to_numpy(plain[0]), atol=1e-5)
    targets = np.ones((BATCH, 1), "float32")
    for jit_compile in (False, True):
        weights = None
        results = []
        for enabled in (True, False):
            keras.utils.set_random_seed(SEED_FOR_TRAINING)
            with fast_paths(enabled):
                model = keras.Sequential([keras.Input((TIME, FEATURES)), layer_class(UNITS), keras.layers.Dense(1)])
                model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
                if weights is None:
                    weights = model.get_weights()
                model.set_weights(weights)
                losses = [model.train_on_batch(inputs, targets) for _ in range(3)]
            results.append((losses, model.get_weights()))
        np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
        for fast_weight, plain_weight in zip(results[0][1], results[1][1]):
            np.testing.assert_allclose(fast_weight, plain_weight, atol=1e-5)


SEED_FOR_TRAINING = 11
