"""Shared fixtures and helpers of the keras_rnnzoo test suite.

The suite runs once per Keras backend, one process each::

    KERAS_BACKEND=tensorflow python -m pytest tests -q
    KERAS_BACKEND=jax        python -m pytest tests -q
    KERAS_BACKEND=torch      python -m pytest tests -q

Helpers (import them with `from conftest import ...`):

- `run_python(code, backend=...)`: run a snippet in a fresh interpreter with
  the chosen `KERAS_BACKEND` (serialization, entry points, CLI).
- `forward_and_gradients(layer, inputs, ...)`: outputs and gradients with
  respect to the inputs and the trainable weights, with each backend's own
  autodiff (GradientTape, jax.grad, torch autograd).
- `random_weights(layer)`, `copy_weights(source, target)`, `sequence_mask`.
- `on_accelerator()`: whether the backend computes on a GPU / TPU (device-
  dependent choices of loop differ there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# XLA's optimization passes dominate the JAX test time (every `lax.scan` of a
# new layer is compiled afresh) and buy nothing at these tiny shapes; the
# computed function is the same. Set before JAX is imported; inherited by
# the subprocesses the tests start.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 1234


def on_accelerator() -> bool:
    """Whether the Keras backend's default device is a GPU or TPU (CI has none)."""
    name = keras.backend.backend()
    if name == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if name == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if name == "torch":
        import torch

        return torch.cuda.is_available()
    return False


# float32 tolerance of the equivalence tests: outputs and gradients. GPU
# kernels (cuDNN's fused LSTM/GRU, XLA's fusions) sum in another order: on an
# H200 with TF32 off the fused loops agreed with the cell loop to 4e-5.
ATOL = RTOL = 1e-4 if on_accelerator() else 1e-5


# ---------------------------------------------------------------- collection
def pytest_collection_modifyitems(config, items):
    """Run `backend_independent` tests once, in the tensorflow pass.

    Their subject (search orchestration and tracking, preset files, data
    loaders, packaging) does not change with the Keras backend, and some take
    minutes; on the jax and torch passes they are deselected, not skipped.
    """
    if keras.backend.backend() == "tensorflow":
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("backend_independent") else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


# --------------------------------------------------------------------- fixtures
@pytest.fixture
def backend() -> str:
    """Name of the Keras backend this process runs on."""
    return keras.backend.backend()


@pytest.fixture(autouse=True)
def _seeded_and_isolated():
    """Seed every RNG and restore the global dtype policy after each test."""
    keras.utils.set_random_seed(SEED)
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture
def clean_registry():
    """Undo cell and Keras-serializable registrations made by a test."""
    from keras.src.saving import object_registration

    from keras_rnnzoo import registry

    cells = dict(registry._CELLS)
    loaded = registry._entry_points_loaded
    objects = dict(object_registration.GLOBAL_CUSTOM_OBJECTS)
    names = dict(object_registration.GLOBAL_CUSTOM_NAMES)
    yield registry
    registry._CELLS.clear()
    registry._CELLS.update(cells)
    registry._entry_points_loaded = loaded
    object_registration.GLOBAL_CUSTOM_OBJECTS.clear()
    object_registration.GLOBAL_CUSTOM_OBJECTS.update(objects)
    object_registration.GLOBAL_CUSTOM_NAMES.clear()
    object_registration.GLOBAL_CUSTOM_NAMES.update(names)


# ------------------------------------------------------------------ subprocess
def run_python(
    code: str,
    *,
    backend: str | None = None,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    cwd: str | os.PathLike | None = None,
    timeout: float = 240,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python process with `KERAS_BACKEND=backend`.

    `backend` defaults to the current one. With `check`, a non-zero exit
    fails the test and shows the child's output.
    """
    full_env = {
        **os.environ,
        "KERAS_BACKEND": backend or keras.backend.backend(),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONHASHSEED": "0",
        **(env or {}),
    }
    process = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=full_env,
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and process.returncode != 0:
        pytest.fail(
            f"subprocess (KERAS_BACKEND={full_env['KERAS_BACKEND']}) exited "
            f"{process.returncode}\n--- stdout ---\n{process.stdout[-4000:]}"
            f"\n--- stderr ---\n{process.stderr[-6000:]}"
        )
    return process


# --------------------------------------------------------------------- weights
def random_weights(layer, scale: float = 0.5, seed: int = SEED) -> None:
    """Give every weight of a built `layer` random normal values (bias too)."""
    generator = np.random.default_rng(seed)
    layer.set_weights(
        [
            (generator.normal(size=w.shape) * scale).astype(w.dtype)
            for w in layer.get_weights()
        ]
    )


def copy_weights(source, target) -> None:
    """Copy weights by position, checking names and shapes match."""
    source_weights, target_weights = source.weights, target.weights
    assert len(source_weights) == len(target_weights), (
        [w.path for w in source_weights],
        [w.path for w in target_weights],
    )
    for a, b in zip(source_weights, target_weights):
        assert a.name == b.name, (a.path, b.path)
        assert tuple(a.shape) == tuple(b.shape), (a.path, a.shape, b.shape)
    target.set_weights(source.get_weights())


def sequence_mask(lengths, time: int, padding: str = "right") -> np.ndarray:
    """Boolean `(batch, time)` mask with `lengths` valid steps per row."""
    steps = np.arange(time)[None, :]
    lengths = np.asarray(lengths)[:, None]
    if padding == "right":
        return steps < lengths
    if padding == "left":
        return steps >= time - lengths
    raise ValueError(padding)


# ------------------------------------------------------------------- autodiff
def _flatten(outputs) -> list:
    return keras.tree.flatten(outputs)


def to_numpy(tensors) -> list[np.ndarray]:
    """Every tensor of a (nested) structure as a NumPy array, in flat order."""
    return [keras.ops.convert_to_numpy(t) for t in _flatten(tensors)]


def forward_and_gradients(layer, inputs: np.ndarray, seed: int = 7, **call_kwargs):
    """Outputs of `layer(inputs, **call_kwargs)` and gradients of a scalar loss.

    The loss is `sum_k sum(output_k * c_k)` over the flattened outputs, with
    fixed random cotangents `c_k` drawn from `seed` and the output shapes (so
    two layers with the same output shapes get the same loss). Returns
    `(outputs, d loss / d inputs, [d loss / d w for w in layer.trainable_variables])`
    as NumPy arrays. The layer must already be built.
    """
    inputs = np.asarray(inputs, dtype="float32")
    variables = list(layer.trainable_variables)
    name = keras.backend.backend()

    def cotangents_for(shapes):
        generator = np.random.default_rng(seed)
        return [generator.normal(size=tuple(s)).astype("float32") for s in shapes]

    def loss_of(outputs, cotangents):
        return sum(
            keras.ops.sum(o * keras.ops.convert_to_tensor(c))
            for o, c in zip(_flatten(outputs), cotangents)
        )

    if name == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, **call_kwargs)
            cotangents = cotangents_for(o.shape for o in _flatten(outputs))
            loss = loss_of(outputs, cotangents)
        grad_x, grad_w = tape.gradient(loss, [x, variables])
    elif name == "jax":
        import jax

        trainable = [v.value for v in variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        x = jax.numpy.asarray(inputs)

        def forward(trainable_values, x):
            outputs, _ = layer.stateless_call(
                trainable_values, non_trainable, x, **call_kwargs
            )
            return outputs

        # Shapes by tracing only; then a single compiled forward + backward
        # (eager scans recompile at every call, which is slow on CPU).
        shapes = [o.shape for o in _flatten(jax.eval_shape(forward, trainable, x))]
        cotangents = cotangents_for(shapes)

        def loss_fn(trainable_values, x):
            outputs = forward(trainable_values, x)
            return loss_of(outputs, cotangents), outputs

        (_, outputs), (grad_w, grad_x) = jax.jit(
            jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)
        )(trainable, x)
    elif name == "torch":
        import torch

        x = torch.tensor(inputs, requires_grad=True)
        for v in variables:
            v.value.grad = None
        outputs = layer(x, **call_kwargs)
        cotangents = cotangents_for(o.shape for o in _flatten(outputs))
        loss_of(outputs, cotangents).backward()
        grad_x = x.grad
        grad_w = [v.value.grad for v in variables]
    else:  # pragma: no cover
        raise NotImplementedError(name)
    grad_w = [
        np.zeros(tuple(v.shape), "float32") if g is None else keras.ops.convert_to_numpy(g)
        for g, v in zip(grad_w, variables)
    ]
    return to_numpy(outputs), keras.ops.convert_to_numpy(grad_x), grad_w


def assert_close(actual, expected, atol: float = ATOL, rtol: float = RTOL, what: str = ""):
    """`assert_allclose` over matching lists of arrays."""
    actual, expected = _flatten(actual), _flatten(expected)
    assert len(actual) == len(expected), (what, len(actual), len(expected))
    for index, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (what, index, a.shape, e.shape)
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=f"{what} [{index}]")


def zoo_script(model: str, name: str):
    """Import `zoo/MODEL/NAME.py` (a recipe's helper script) as a module, without running it."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "zoo" / model / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"zoo_{model.replace('-', '_')}_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
