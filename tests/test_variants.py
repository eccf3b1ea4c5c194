"""The variant cells against NumPy transcriptions of their papers' equations.

Each `reference_*` function below is written from the paper (not from the
cell's code): it takes the cell's weights by name, one input step and the
states, and returns `(output, new_states)` in float64. The cells are checked
against them for one step and for whole sequences through
`keras.layers.RNN`, then for configuration round-trips, registry names,
layer shapes, stateful runs, `Bidirectional`, dropout, mixed precision and
the cell-specific contracts (IndRNN's recurrent bound, LSTMP's shapes).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import numpy as np
import pytest
from conftest import assert_close, random_weights, sequence_mask, to_numpy

import keras_rnnzoo
from keras_rnnzoo import layers
from keras_rnnzoo.cells import (
    CIFGLSTMCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMPCell,
    MGUCell,
    PeepholeLSTMCell,
)

BATCH, TIME, FEATURES, UNITS, PROJ = 3, 5, 4, 6, 3
LN_EPSILON = 1e-5


# ------------------------------------------------------------- NumPy references
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def layer_norm(a, gamma, beta, blocks: int, epsilon: float):
    """Ba et al. 2016 eq. 4 on each of `blocks` slices: γ (a - μ) / sqrt(σ² + ε) + β."""
    batch, width = a.shape
    a = a.reshape(batch, blocks, width // blocks)
    mu = a.mean(axis=-1, keepdims=True)
    sigma2 = ((a - mu) ** 2).mean(axis=-1, keepdims=True)
    return ((a - mu) / np.sqrt(sigma2 + epsilon)).reshape(batch, width) * gamma + beta


def reference_peephole_lstm(w, x, states):
    """Gers & Schmidhuber 2000: gates peek at c_{t-1} (i, f) and c_t (o)."""
    h, c = states
    a = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    a_i, a_f, a_c, a_o = np.split(a, 4, axis=-1)
    i = sigmoid(a_i + w["input_peephole"] * c)
    f = sigmoid(a_f + w["forget_peephole"] * c)
    c_new = f * c + i * np.tanh(a_c)
    o = sigmoid(a_o + w["output_peephole"] * c_new)
    h_new = o * np.tanh(c_new)
    return h_new, [h_new, c_new]


def reference_cifg_lstm(w, x, states):
    """Greff et al. 2017, CIFG: f = 1 - i; blocks i, c, o."""
    h, c = states
    a = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    a_i, a_c, a_o = np.split(a, 3, axis=-1)
    i = sigmoid(a_i)
    f = 1.0 - i
    c_new = f * c + i * np.tanh(a_c)
    h_new = sigmoid(a_o) * np.tanh(c_new)
    return h_new, [h_new, c_new]


def reference_layer_norm_lstm(w, x, states, seed=5):
    """Ba et al. 2016 eqs. 20-22, with three separate shifts β_x, β_h and b.

    The cell stores their sum as its `bias`; draw β_x and β_h at random and
    set b so that the sum matches, which checks that only the sum matters.
    """
    h, c = states
    generator = np.random.default_rng(seed)
    beta_x = generator.normal(size=w["bias"].shape)
    beta_h = generator.normal(size=w["bias"].shape)
    b = w["bias"] - beta_x - beta_h
    a = (
        layer_norm(x @ w["kernel"], w["input_gamma"], beta_x, 4, LN_EPSILON)
        + layer_norm(h @ w["recurrent_kernel"], w["recurrent_gamma"], beta_h, 4, LN_EPSILON)
        + b
    )
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=-1)
    c_new = sigmoid(a_f) * c + sigmoid(a_i) * np.tanh(a_g)
    c_hat = layer_norm(c_new, w["cell_gamma"], w["cell_beta"], 1, LN_EPSILON)
    h_new = sigmoid(a_o) * np.tanh(c_hat)
    return h_new, [h_new, c_new]


def reference_layer_norm_gru(w, x, states, reset_after=True):
    """GRU (Cho et al. 2014) with per-gate-block layer normalization (Ba et al.)."""
    (h,) = states
    u = w["recurrent_kernel"].shape[0]
    g_x, g_h = w["input_gamma"], w["recurrent_gamma"]
    if reset_after:
        b_x, b_h = w["bias"][0], w["bias"][1]
        a = layer_norm(x @ w["kernel"], g_x, b_x, 3, LN_EPSILON)
        s = layer_norm(h @ w["recurrent_kernel"], g_h, b_h, 3, LN_EPSILON)
        z = sigmoid(a[:, :u] + s[:, :u])
        r = sigmoid(a[:, u : 2 * u] + s[:, u : 2 * u])
        g = np.tanh(a[:, 2 * u :] + r * s[:, 2 * u :])
    else:
        a = layer_norm(x @ w["kernel"], g_x, w["bias"], 3, LN_EPSILON)
        U = w["recurrent_kernel"]
        s = layer_norm(h @ U[:, : 2 * u], g_h[: 2 * u], 0.0, 2, LN_EPSILON)
        z = sigmoid(a[:, :u] + s[:, :u])
        r = sigmoid(a[:, u : 2 * u] + s[:, u:])
        g = np.tanh(a[:, 2 * u :] + layer_norm((r * h) @ U[:, 2 * u :], g_h[2 * u :], 0.0, 1, LN_EPSILON))
    h_new = z * h + (1.0 - z) * g
    return h_new, [h_new]


def reference_mgu(w, x, states):
    """Zhou et al. 2016 eqs. (MGU): f from [h, x]; candidate from [f * h, x]."""
    (h,) = states
    u = h.shape[-1]
    W, U, b = w["kernel"], w["recurrent_kernel"], w["bias"]
    # The paper writes W_f [h_{t-1}, x_t]: stack the recurrent and input weights.
    W_f = np.concatenate([U[:, :u], W[:, :u]], axis=0)
    W_h = np.concatenate([U[:, u:], W[:, u:]], axis=0)
    f = sigmoid(np.concatenate([h, x], axis=-1) @ W_f + b[:u])
    h_tilde = np.tanh(np.concatenate([f * h, x], axis=-1) @ W_h + b[u:])
    h_new = (1.0 - f) * h + f * h_tilde
    return h_new, [h_new]


def reference_indrnn(w, x, states, max_abs=None):
    """Li et al. 2018 eq. 2: h = ReLU(W x + u ⊙ h + b), |u| clipped to the bound."""
    (h,) = states
    u = w["recurrent_kernel"]
    if max_abs is not None:
        u = np.clip(u, -max_abs, max_abs)
    h_new = np.maximum(x @ w["kernel"] + u * h + w["bias"], 0.0)
    return h_new, [h_new]


def reference_lstmp(w, x, states):
    """Sak et al. 2014 (without peepholes, as PyTorch): r_t = W_rm m_t is the state."""
    r, c = states
    a = x @ w["kernel"] + r @ w["recurrent_kernel"] + w["bias"]
    a_i, a_f, a_c, a_o = np.split(a, 4, axis=-1)
    c_new = sigmoid(a_f) * c + sigmoid(a_i) * np.tanh(a_c)
    m = sigmoid(a_o) * np.tanh(c_new)
    r_new = m @ w["projection_kernel"]
    return r_new, [r_new, c_new]


# ------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    cell_class: type
    layer_class: type
    kwargs: dict
    reference: Callable
    output_size: int
    state_sizes: tuple[int, ...]

    def cell(self, **extra):
        return self.cell_class(UNITS, **{**self.kwargs, **extra})

    def layer(self, **extra):
        return self.layer_class(UNITS, **{**self.kwargs, **extra})


SPECS = [
    Spec("peephole_lstm", PeepholeLSTMCell, layers.PeepholeLSTM, {}, reference_peephole_lstm, UNITS, (UNITS, UNITS)),
    Spec("cifg_lstm", CIFGLSTMCell, layers.CIFGLSTM, {}, reference_cifg_lstm, UNITS, (UNITS, UNITS)),
    Spec(
        "layer_norm_lstm",
        LayerNormLSTMCell,
        layers.LayerNormLSTM,
        {"epsilon": LN_EPSILON},
        reference_layer_norm_lstm,
        UNITS,
        (UNITS, UNITS),
    ),
    Spec(
        "layer_norm_gru",
        LayerNormGRUCell,
        layers.LayerNormGRU,
        {"epsilon": LN_EPSILON},
        reference_layer_norm_gru,
        UNITS,
        (UNITS,),
    ),
    Spec(
        "layer_norm_gru",
        LayerNormGRUCell,
        layers.LayerNormGRU,
        {"epsilon": LN_EPSILON, "reset_after": False},
        lambda w, x, s: reference_layer_norm_gru(w, x, s, reset_after=False),
        UNITS,
        (UNITS,),
    ),
    Spec("mgu", MGUCell, layers.MGU, {}, reference_mgu, UNITS, (UNITS,)),
    Spec("indrnn", IndRNNCell, layers.IndRNN, {}, reference_indrnn, UNITS, (UNITS,)),
    Spec(
        "indrnn",
        IndRNNCell,
        layers.IndRNN,
        {"recurrent_max_abs": 0.3},
        lambda w, x, s: reference_indrnn(w, x, s, max_abs=0.3),
        UNITS,
        (UNITS,),
    ),
    Spec("lstmp", LSTMPCell, layers.LSTMP, {"proj_size": PROJ}, reference_lstmp, PROJ, (PROJ, UNITS)),
]
IDS = [f"{s.name}-{'-'.join(f'{k}={v}' for k, v in s.kwargs.items()) or 'default'}" for s in SPECS]
parametrize_specs = pytest.mark.parametrize("spec", SPECS, ids=IDS)


def weights_by_name(cell) -> dict[str, np.ndarray]:
    return {v.name: keras.ops.convert_to_numpy(v).astype("float64") for v in cell.weights}


def random_states(rng, sizes, batch=BATCH):
    return [rng.normal(size=(batch, size)).astype("float32") for size in sizes]


def reference_sequence(spec, w, x, states, mask=None):
    """Run `spec.reference` over time; masked steps keep states and repeat outputs."""
    states = [s.astype("float64") for s in states]
    previous = np.zeros((x.shape[0], spec.output_size))
    outputs = []
    for t in range(x.shape[1]):
        output, new_states = spec.reference(w, x[:, t].astype("float64"), states)
        if mask is not None:
            keep = mask[:, t : t + 1]
            output = np.where(keep, output, previous)
            new_states = [np.where(keep, n, s) for n, s in zip(new_states, states)]
        outputs.append(output)
        previous, states = output, new_states
    return np.stack(outputs, axis=1), states


# ------------------------------------------------------------ equations tests
@parametrize_specs
def test_one_step_matches_reference(spec, rng):
    cell = spec.cell()
    cell.build((None, FEATURES))
    random_weights(cell)
    x = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    states = random_states(rng, spec.state_sizes)
    output, new_states = cell(x, states)
    expected_output, expected_states = spec.reference(
        weights_by_name(cell), x.astype("float64"), [s.astype("float64") for s in states]
    )
    assert_close(to_numpy(output), [expected_output], what="output")
    assert_close(to_numpy(new_states), expected_states, what="states")


@parametrize_specs
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_sequence_through_keras_rnn_matches_reference(spec, masked, rng):
    cell = spec.cell()
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    states = random_states(rng, spec.state_sizes)
    mask = sequence_mask([TIME, 3, 1], TIME) if masked else None
    rnn(x, initial_state=states)  # build
    random_weights(rnn)
    outputs, *final_states = rnn(x, initial_state=states, mask=mask)
    expected_outputs, expected_states = reference_sequence(
        spec, weights_by_name(cell), x, states, mask
    )
    assert_close(to_numpy(outputs), [expected_outputs], what="outputs")
    assert_close(to_numpy(final_states), expected_states, what="final states")


def test_peephole_lstm_with_zero_peepholes_is_keras_lstm(rng):
    cell = PeepholeLSTMCell(UNITS, peephole_initializer="zeros")
    ours = keras.layers.RNN(cell, return_sequences=True)
    theirs = keras.layers.LSTM(UNITS, return_sequences=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    ours(x), theirs(x)
    random_weights(theirs)
    ours.set_weights(theirs.get_weights() + [np.zeros(UNITS, "float32")] * 3)
    assert_close(to_numpy(ours(x)), to_numpy(theirs(x)))


def test_lstmp_matches_pytorch_proj_size(rng):
    torch = pytest.importorskip("torch")
    reference = torch.nn.LSTM(FEATURES, UNITS, proj_size=PROJ, batch_first=True).double()
    cell = LSTMPCell(UNITS, proj_size=PROJ)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    rnn(x)
    # PyTorch: weight_ih (4u, in), weight_hh (4u, proj), weight_hr (proj, u), gates i, f, g, o.
    cell.kernel.assign(reference.weight_ih_l0.detach().numpy().T.astype("float32"))
    cell.recurrent_kernel.assign(reference.weight_hh_l0.detach().numpy().T.astype("float32"))
    cell.bias.assign((reference.bias_ih_l0 + reference.bias_hh_l0).detach().numpy().astype("float32"))
    cell.projection_kernel.assign(reference.weight_hr_l0.detach().numpy().T.astype("float32"))
    outputs, h, c = rnn(x)
    with torch.no_grad():
        expected, (h_n, c_n) = reference(torch.from_numpy(x.astype("float64")))
    assert_close(to_numpy([outputs, h, c]), [expected.numpy(), h_n[0].numpy(), c_n[0].numpy()])


# ------------------------------------------------------------ config, registry
@parametrize_specs
def test_cell_config_round_trip(spec, rng):
    cell = spec.cell(dropout=0.1, recurrent_dropout=0.2, seed=3, kernel_regularizer="l2")
    config = cell.get_config()
    clone = spec.cell_class.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(restored) is spec.cell_class
    assert restored.get_config() == config
    # Same weights, same outputs.
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    first, second = keras.layers.RNN(cell), keras.layers.RNN(clone)
    first(x), second(x)
    random_weights(first)
    second.set_weights(first.get_weights())
    assert_close(to_numpy(second(x)), to_numpy(first(x)))


@parametrize_specs
def test_registry_name(spec):
    assert keras_rnnzoo.get_cell(spec.name) is spec.cell_class
    assert spec.name in keras_rnnzoo.list_cells()
    assert getattr(keras_rnnzoo, spec.cell_class.__name__) is spec.cell_class
    assert keras.saving.get_registered_name(spec.cell_class) == (
        f"keras_rnnzoo>{spec.cell_class.__name__}"
    )


@pytest.mark.parametrize("name", sorted({spec.name for spec in SPECS}))
def test_registered_cell_builds_from_units_alone(name, rng):
    # The tuner and the zoo build any registered cell as get_cell(name)(units).
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    output = keras.layers.RNN(keras_rnnzoo.get_cell(name)(4))(x)
    assert tuple(output.shape)[0] == BATCH
    assert np.all(np.isfinite(to_numpy(output)[0]))


@parametrize_specs
def test_layer_config_round_trip_and_save_load(spec, rng, tmp_path):
    layer = spec.layer(return_sequences=True, dropout=0.1)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    model = keras.Sequential([keras.Input((TIME, FEATURES)), layer])
    random_weights(model)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.layers[0]) is type(layer)
    assert_close(to_numpy(loaded(x)), to_numpy(model(x)))


# --------------------------------------------------------------- layer shapes
@parametrize_specs
def test_layer_output_and_state_shapes(spec, rng):
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    outputs = spec.layer(return_sequences=True, return_state=True)(x)
    assert [tuple(o.shape) for o in outputs] == [(BATCH, TIME, spec.output_size)] + [
        (BATCH, size) for size in spec.state_sizes
    ]
    last = spec.layer()(x)
    assert tuple(last.shape) == (BATCH, spec.output_size)
    layer = spec.layer(return_sequences=True)
    assert layer.compute_output_shape((None, TIME, FEATURES)) == (None, TIME, spec.output_size)
    assert layer.units == UNITS


@parametrize_specs
def test_layer_in_bidirectional(spec, rng):
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    bidirectional = keras.layers.Bidirectional(spec.layer(return_sequences=True))
    assert tuple(bidirectional(x).shape) == (BATCH, TIME, 2 * spec.output_size)
    # The backward copy was rebuilt from the config: cell arguments survived.
    forward_config = bidirectional.forward_layer.cell.get_config()
    backward_config = bidirectional.backward_layer.cell.get_config()
    for key, value in spec.kwargs.items():
        assert forward_config[key] == backward_config[key] == value


@parametrize_specs
def test_stateful_layer_continues_across_batches(spec, rng):
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    stateful = spec.layer(return_sequences=True, stateful=True)
    whole = spec.layer(return_sequences=True)
    stateful(x[:, :2]), whole(x)
    random_weights(whole)
    stateful.set_weights(whole.get_weights())
    stateful.reset_state()  # forget the building call
    halves = np.concatenate(to_numpy(stateful(x[:, :2])) + to_numpy(stateful(x[:, 2:])), axis=1)
    assert_close([halves], to_numpy(whole(x)))
    stateful.reset_state()
    assert_close(to_numpy(stateful(x)), to_numpy(whole(x)))


@parametrize_specs
def test_wrong_initial_state_shape_is_refused(spec, rng):
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    wrong = [np.zeros((BATCH, size + 1), "float32") for size in spec.state_sizes]
    with pytest.raises(ValueError, match=r"initial_state\[0\]"):
        spec.layer()(x, initial_state=wrong)


# ---------------------------------------------------------- dropout, precision
@parametrize_specs
def test_dropout_varies_in_training_only(spec, rng):
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    layer = spec.layer(dropout=0.3, recurrent_dropout=0.3, seed=11, return_sequences=True)
    inference = to_numpy(layer(x))[0]
    np.testing.assert_array_equal(to_numpy(layer(x, training=False))[0], inference)
    first = to_numpy(layer(x, training=True))[0]
    second = to_numpy(layer(x, training=True))[0]
    assert np.all(np.isfinite(first)) and np.all(np.isfinite(second))
    assert not np.allclose(first, inference)
    assert not np.allclose(first, second)


def test_dropout_mask_is_constant_across_time():
    # u = 0, b = 0, linear activation: h_t = (x_t * mask) W; with the same x_t
    # at every step, every step's output is identical iff the mask is.
    cell = IndRNNCell(UNITS, activation=None, dropout=0.5, seed=2)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    x = np.ones((BATCH, TIME, FEATURES), "float32")
    rnn(x)
    cell.recurrent_kernel.assign(np.zeros(UNITS, "float32"))
    outputs = to_numpy(rnn(x, training=True))[0]
    assert not np.allclose(outputs, to_numpy(rnn(x))[0])  # some inputs were dropped
    for t in range(1, TIME):
        np.testing.assert_allclose(outputs[:, t], outputs[:, 0], atol=1e-6)


# float16 for every cell; bfloat16 too where the arithmetic differs (layer norm).
PRECISION_CASES = [(spec, "mixed_float16") for spec in SPECS] + [
    (spec, "mixed_bfloat16") for spec in SPECS if spec.name.startswith("layer_norm")
]


@pytest.mark.parametrize(
    "spec, policy",
    PRECISION_CASES,
    ids=[f"{policy}-{IDS[SPECS.index(spec)]}" for spec, policy in PRECISION_CASES],
)
def test_mixed_precision(spec, policy, rng):
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    full = spec.layer(return_sequences=True)
    mixed = spec.layer(return_sequences=True, dtype=policy)
    full(x), mixed(x)
    random_weights(full, scale=0.3)
    mixed.set_weights(full.get_weights())
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in mixed.weights)
    output = mixed(x)
    assert keras.backend.standardize_dtype(output.dtype) == policy.removeprefix("mixed_")
    output = keras.ops.convert_to_numpy(keras.ops.cast(output, "float32"))
    np.testing.assert_allclose(output, to_numpy(full(x))[0], atol=0.1)


# ---------------------------------------------------------- cell specifics
def test_forget_bias_initialization():
    x = np.zeros((1, 2, FEATURES), "float32")
    for cell in (PeepholeLSTMCell(UNITS), LayerNormLSTMCell(UNITS), LSTMPCell(UNITS, proj_size=PROJ)):
        keras.layers.RNN(cell)(x)
        expected = np.zeros(4 * UNITS)
        expected[UNITS : 2 * UNITS] = 1.0
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(cell.bias), expected)
    cifg = CIFGLSTMCell(UNITS)
    keras.layers.RNN(cifg)(x)
    expected = np.zeros(3 * UNITS)
    expected[:UNITS] = -1.0  # f = 1 - σ(b_i) = σ(1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(cifg.bias), expected)
    assert tuple(cifg.kernel.shape) == (FEATURES, 3 * UNITS)


def _indrnn_model(**cell_arguments):
    layer = layers.IndRNN(UNITS, **cell_arguments)
    model = keras.Sequential([keras.Input((TIME, FEATURES)), layer, keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e3), loss="mse")
    return model, layer.cell


@pytest.mark.parametrize(
    "arguments, expected_bound",
    [({"time_steps": TIME}, 2.0 ** (1.0 / TIME)), ({"recurrent_max_abs": 0.5}, 0.5)],
)
@pytest.mark.parametrize("extra_constraint", [None, "non_neg"])
def test_indrnn_bound_enforced_after_large_training_step(
    arguments, expected_bound, extra_constraint, rng
):
    bounded, cell = _indrnn_model(recurrent_constraint=extra_constraint, **arguments)
    free, free_cell = _indrnn_model()  # same network, no bound, no constraint
    assert cell.recurrent_max_abs == pytest.approx(expected_bound)
    assert free_cell.recurrent_max_abs is None
    random_weights(bounded, scale=0.3)
    # Start strictly inside the bound, where clipping passes gradients through.
    cell.recurrent_kernel.assign(np.linspace(-0.9, 0.9, UNITS).astype("float32") * expected_bound)
    free.set_weights(bounded.get_weights())
    x = rng.normal(size=(16, TIME, FEATURES)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32") * 100.0
    bounded.train_on_batch(x, y)
    free.train_on_batch(x, y)
    u_free = keras.ops.convert_to_numpy(free_cell.recurrent_kernel)
    u = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    assert np.max(np.abs(u_free)) > 2 * expected_bound, "the step is too small to test the bound"
    expected = np.maximum(u_free, 0.0) if extra_constraint == "non_neg" else u_free
    expected = np.clip(expected, -expected_bound, expected_bound)
    np.testing.assert_allclose(u, expected, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(u)) <= expected_bound * (1 + 1e-6)


def test_indrnn_default_recurrent_initializer_respects_bound():
    cell = IndRNNCell(64, recurrent_max_abs=0.25)
    cell.build((None, FEATURES))
    u = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    assert u.shape == (64,)
    assert np.all((u >= 0.0) & (u <= 0.25))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"time_steps": 10, "recurrent_max_abs": 1.0}, "at most one"),
        ({"time_steps": 0}, "time_steps"),
        ({"time_steps": 2.5}, "time_steps"),
        ({"recurrent_max_abs": -1.0}, "recurrent_max_abs"),
    ],
)
def test_indrnn_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        IndRNNCell(UNITS, **arguments)


def test_lstmp_shapes(rng):
    cell = LSTMPCell(UNITS, proj_size=PROJ)
    assert cell.state_size == [PROJ, UNITS] and cell.output_size == PROJ
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    outputs, h, c = layers.LSTMP(UNITS, proj_size=PROJ, return_sequences=True, return_state=True)(x)
    assert tuple(outputs.shape) == (BATCH, TIME, PROJ)
    assert (tuple(h.shape), tuple(c.shape)) == ((BATCH, PROJ), (BATCH, UNITS))
    keras.layers.RNN(cell)(x)
    assert tuple(cell.kernel.shape) == (FEATURES, 4 * UNITS)
    assert tuple(cell.recurrent_kernel.shape) == (PROJ, 4 * UNITS)
    assert tuple(cell.projection_kernel.shape) == (UNITS, PROJ)
    # The swapped initial state is refused, naming the expected size.
    with pytest.raises(ValueError, match=rf"\(batch=3, {PROJ}\)"):
        layers.LSTMP(UNITS, proj_size=PROJ)(
            x, initial_state=[np.zeros((BATCH, UNITS), "float32"), np.zeros((BATCH, PROJ), "float32")]
        )


def test_lstmp_default_proj_size():
    # Generic code (the tuner, the zoo) builds registered cells as cls(units).
    assert LSTMPCell(UNITS).proj_size == UNITS // 2
    assert LSTMPCell(1).proj_size == 1
    assert LSTMPCell.from_config(LSTMPCell(8).get_config()).proj_size == 4


@pytest.mark.parametrize("proj_size", [0, -2, 2.0, "3"])
def test_lstmp_bad_proj_size(proj_size):
    with pytest.raises(ValueError, match="proj_size"):
        LSTMPCell(UNITS, proj_size=proj_size)


def test_layer_norm_epsilon_is_checked():
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormLSTMCell(UNITS, epsilon=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormGRUCell(UNITS, epsilon=-1e-3)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.name == "lstmp"], ids=["lstmp"])
def test_stacked_in_a_trainable_model(spec, rng):
    """Two stacked variant layers train end to end (gradients reach every weight)."""
    model = keras.Sequential(
        [
            keras.Input((TIME, FEATURES)),
            spec.layer(return_sequences=True),
            layers.LayerNormGRU(4),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(8, TIME, FEATURES)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    before = [np.copy(w) for w in model.get_weights()]
    model.train_on_batch(x, y)
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(after, before))
