"""Training-step and inference throughput, and peak memory, of recurrent layers.

Each contestant is "a recurrent layer then a dense layer" on one
`Shape`: a Keras model compiled with default settings
(`model.compile("adam", "mse")`, so `jit_compile="auto"`, or the
`jit_compile` asked for: XLA on or off for every Keras contestant), timed with
`train_on_batch` (forward, backward, Adam update) and `predict_on_batch`
on a batch already on the backend's device, or, with `train_loop="jax"` on
the JAX backend, with a jitted stateless step (`model.stateless_call`,
`jax.value_and_grad`, `optimizer.stateless_apply`, as Keras's guide to
writing a JAX training loop from scratch does it), which leaves out
`train_on_batch`'s per-call bookkeeping (about 1 ms on an H200);
PyTorch's `nn.LSTM` / `nn.GRU` with `nn.Linear` and `torch.optim.Adam` run
the same step in eager PyTorch. Contestants alternate within each
repetition (so slow drifts of a shared machine hit all of them alike), the
warm-up calls (tracing, XLA compilation) are not timed, and medians are
reported. Memory is measured in one extra training step per contestant,
after the timed ones (see `common.PeakMemory`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from keras_rnnzoo.bench.common import PeakMemory, Shape, median_ms, time_call

_log = logging.getLogger(__name__)

# Contestant names -> (family, how to build the recurrent layer).
# Families pick the built-in each contestant is compared with.
BUILTIN = {"lstm": "keras.LSTM", "gru": "keras.GRU"}
TORCH = {"lstm": "torch.nn.LSTM", "gru": "torch.nn.GRU"}


@dataclass
class Contestant:
    name: str
    family: str  # "lstm" or "gru": the built-in it is compared with
    framework: str  # "keras" or "torch"
    train_step: Callable[[], object]
    infer_step: Callable[[], object]
    jit_compile: bool | None = None  # what Keras resolved `compile(jit_compile=...)` to
    train_loop: str | None = None  # "keras" (train_on_batch) or "jax" (jitted stateless step)


def keras_layer_factories() -> dict[str, tuple[str, Callable[[int], object]]]:
    """`name -> (family, units -> layer)` for every Keras contestant available."""
    import keras

    from keras_rnnzoo import layers

    factories: dict[str, tuple[str, Callable[[int], object]]] = {
        "keras.LSTM": ("lstm", lambda units: keras.layers.LSTM(units)),
        "keras.GRU": ("gru", lambda units: keras.layers.GRU(units)),
        "rnnzoo.LSTM": ("lstm", lambda units: layers.LSTM(units)),
        "rnnzoo.GRU": ("gru", lambda units: layers.GRU(units)),
    }
    variants = {
        "PeepholeLSTM": "lstm",
        "CIFGLSTM": "lstm",
        "LayerNormLSTM": "lstm",
        "LayerNormGRU": "gru",
        "MGU": "gru",
    }
    for name, family in variants.items():
        layer_class = getattr(layers, name, None)
        if layer_class is not None:
            factories[f"rnnzoo.{name}"] = (family, lambda units, c=layer_class: c(units))
    factories["rnnzoo.MinGRU"] = ("gru", lambda units: layers.MinGRU(units))
    factories["rnnzoo.MinLSTM"] = ("lstm", lambda units: layers.MinLSTM(units))
    return factories


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


TRAIN_LOOPS = ("keras", "jax")


def keras_contestant(
    name: str,
    family: str,
    make_layer,
    shape: Shape,
    seed: int = 0,
    jit_compile: bool | str = "auto",
    train_loop: str = "keras",
) -> Contestant:
    import keras

    if train_loop not in TRAIN_LOOPS:
        raise ValueError(f"unknown train_loop {train_loop!r}; choose from {TRAIN_LOOPS}.")
    if train_loop == "jax" and keras.backend.backend() != "jax":
        raise ValueError(f"train_loop='jax' needs the JAX backend; Keras runs {keras.backend.backend()!r}.")

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((shape.steps, shape.features), batch_size=shape.batch),
            make_layer(shape.units),
            keras.layers.Dense(1, dtype="float32"),  # float32 head, as under mixed precision
        ]
    )
    model.compile("adam", "mse", jit_compile=jit_compile)
    rng = np.random.default_rng(seed)
    # the batch lives on the backend's device, as PyTorch's does
    x = keras.ops.convert_to_tensor(rng.normal(size=(shape.batch, shape.steps, shape.features)).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.normal(size=(shape.batch, 1)).astype("float32"))
    if train_loop == "jax":
        train_step, infer_step = _jax_stateless_steps(model, x, y)
    else:
        train_step, infer_step = (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))
    return Contestant(
        name,
        family,
        "keras",
        train_step=train_step,
        infer_step=infer_step,
        jit_compile=bool(model.jit_compile) if train_loop == "keras" else True,
        train_loop=train_loop,
    )


def _jax_stateless_steps(model, x, y) -> tuple[Callable[[], object], Callable[[], object]]:
    """A jitted training step and inference step that keep the model's state as JAX arrays.

    The same computation as `train_on_batch` / `predict_on_batch` (forward,
    mean squared error, backward, the compiled Adam update) without their
    per-call bookkeeping; the state is donated so that XLA updates it in place.
    """
    import jax
    import keras

    optimizer, mean_squared_error = model.optimizer, keras.losses.MeanSquaredError()
    optimizer.build(model.trainable_variables)
    state = [
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    ]

    def loss_and_updates(trainable, non_trainable, optimizer_state, inputs, targets):
        predictions, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
        loss = mean_squared_error(targets, predictions)
        # under mixed_float16 the optimizer scales the loss (its scale is optimizer state), as Keras's step does
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_state))):
            return optimizer.scale_loss(loss), non_trainable

    gradient = jax.value_and_grad(loss_and_updates, has_aux=True)

    @partial(jax.jit, donate_argnums=0)
    def step(state, inputs, targets):
        trainable, non_trainable, optimizer_state = state
        (loss, non_trainable), grads = gradient(trainable, non_trainable, optimizer_state, inputs, targets)
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
        return loss, [trainable, non_trainable, optimizer_state]

    @jax.jit
    def predict(trainable, non_trainable, inputs):
        return model.stateless_call(trainable, non_trainable, inputs, training=False)[0]

    def train():
        loss, state[:] = step(state, x, y)
        return float(loss)  # blocks until done, as train_on_batch's numpy logs do

    def infer():
        return np.asarray(predict(state[0], state[1], x))

    return train, infer


def torch_contestant(family: str, shape: Shape, seed: int = 0) -> Contestant:
    import torch

    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rnn_class = torch.nn.LSTM if family == "lstm" else torch.nn.GRU
    rnn = rnn_class(shape.features, shape.units, batch_first=True).to(device)
    head = torch.nn.Linear(shape.units, 1).to(device)
    optimizer = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-3)
    x = torch.randn(shape.batch, shape.steps, shape.features, device=device)
    y = torch.randn(shape.batch, 1, device=device)

    def forward():
        return head(rnn(x)[0][:, -1])

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(forward(), y)
        loss.backward()
        optimizer.step()
        return float(loss)  # blocks until done (also on a GPU)

    def infer():
        with torch.no_grad():
            return forward().cpu()

    return Contestant(TORCH[family], family, "torch", train, infer)


def measure(
    names: list[str],
    shape: Shape,
    *,
    backend: str,
    repeats: int = 5,
    warmup: int = 2,
    include_torch: bool = False,
    memory: bool = True,
    jit_compile: bool | str = "auto",
    train_loop: str = "keras",
) -> tuple[list[dict], list[dict]]:
    """Time the named Keras contestants (plus PyTorch's when asked) on `shape`.

    `jit_compile` goes to every Keras model's `compile()` ("auto": Keras's
    default, which on TensorFlow turns XLA off on a CPU-only machine).
    `train_loop` is how the Keras contestants are stepped: "keras"
    (`train_on_batch` / `predict_on_batch`) or "jax" (a jitted stateless step;
    JAX backend only).

    Returns `(results, errors)`: one dict per contestant (fields documented
    in `keras_rnnzoo.bench`), and `{"contestant", "error"}` for those that
    could not be built or run.
    """
    factories = keras_layer_factories()
    contestants: list[Contestant] = []
    errors: list[dict] = []
    for name in names:
        if name not in factories:
            raise ValueError(f"unknown contestant {name!r}; choose from {sorted(factories)}.")
        family, make_layer = factories[name]
        try:
            contestants.append(
                keras_contestant(name, family, make_layer, shape, jit_compile=jit_compile, train_loop=train_loop)
            )
        except Exception as error:  # noqa: BLE001 - reported, the others still run
            errors.append({"contestant": name, "error": f"{type(error).__name__}: {error}"})
    if include_torch and torch_available():
        families = sorted({factories[n][0] for n in names}) or ["lstm", "gru"]
        contestants += [torch_contestant(family, shape) for family in families]

    times: dict[str, dict[str, list[float]]] = {c.name: {"train": [], "infer": []} for c in contestants}
    alive = list(contestants)
    for contestant in list(alive):
        try:
            for _ in range(warmup):
                contestant.train_step()
                contestant.infer_step()
        except Exception as error:  # noqa: BLE001
            errors.append({"contestant": contestant.name, "error": f"{type(error).__name__}: {error}"})
            alive.remove(contestant)
    for repeat in range(repeats):
        order = alive if repeat % 2 == 0 else alive[::-1]
        for contestant in order:
            times[contestant.name]["train"].append(time_call(contestant.train_step))
            times[contestant.name]["infer"].append(time_call(contestant.infer_step))
    peaks: dict[str, tuple[float | None, str]] = {}
    if memory:
        for contestant in alive:
            with PeakMemory(backend) as peak:
                contestant.train_step()
            peaks[contestant.name] = (peak.mib, peak.method)

    results = []
    for contestant in alive:
        train_ms = median_ms(times[contestant.name]["train"])
        infer_ms = median_ms(times[contestant.name]["infer"])
        mib, method = peaks.get(contestant.name, (None, None))
        results.append(
            {
                "backend": backend if contestant.framework == "keras" else "pytorch",
                "framework": contestant.framework,
                "contestant": contestant.name,
                "family": contestant.family,
                "shape": shape.as_dict(),
                "repeats": repeats,
                "train_ms": round(train_ms, 3),
                "train_ms_all": [round(t * 1000, 3) for t in times[contestant.name]["train"]],
                "train_tokens_per_s": round(shape.tokens / (train_ms / 1000), 1),
                "infer_ms": round(infer_ms, 3),
                "infer_ms_all": [round(t * 1000, 3) for t in times[contestant.name]["infer"]],
                "infer_tokens_per_s": round(shape.tokens / (infer_ms / 1000), 1),
                "peak_memory_mib": None if mib is None else round(mib, 1),
                "memory_method": method,
                "jit_compile": contestant.jit_compile,
                "train_loop": contestant.train_loop,
            }
        )
    return results, errors


def add_ratios(results: list[dict]) -> None:
    """Add `baseline` and speedups (baseline time / contestant time, > 1 is faster).

    Each Keras contestant is compared with the built-in layer of its family
    on the same backend and shape (`train_speedup_vs_builtin`,
    `infer_speedup_vs_builtin`) and with PyTorch's layer of its family
    (`train_speedup_vs_torch`, `infer_speedup_vs_torch`) when measured.
    """

    def find(name, shape, backend=None):
        for row in results:
            if row["contestant"] == name and row["shape"] == shape and (backend is None or row["backend"] == backend):
                return row
        return None

    for row in results:
        builtin = find(BUILTIN[row["family"]], row["shape"], row["backend"])
        reference = find(TORCH[row["family"]], row["shape"])
        row["baseline"] = BUILTIN[row["family"]] if row["framework"] == "keras" else None
        for key, other in (("builtin", builtin if row["framework"] == "keras" else None), ("torch", reference)):
            for phase in ("train", "infer"):
                row[f"{phase}_speedup_vs_{key}"] = (
                    round(other[f"{phase}_ms"] / row[f"{phase}_ms"], 3) if other and row[f"{phase}_ms"] > 0 else None
                )
