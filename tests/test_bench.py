"""`rnnzoo bench`: the quick modes run, their JSON has the documented fields,
and the data generators / ratio arithmetic are right. No timing assertions."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import run_python

from keras_rnnzoo.bench import Shape
from keras_rnnzoo.bench.tasks import COPY_ALPHABET, COPY_SYMBOLS, adding_batch, copy_batch
from keras_rnnzoo.bench.throughput import add_ratios, keras_contestant, keras_layer_factories, measure

BACKEND = keras.backend.backend()
RESULT_FIELDS = {
    "backend", "framework", "contestant", "family", "shape", "repeats", "train_ms", "train_ms_all",
    "train_tokens_per_s", "infer_ms", "infer_ms_all", "infer_tokens_per_s", "peak_memory_mib", "memory_method",
    "dtype_policy", "jit_compile", "train_loop", "baseline", "train_speedup_vs_builtin", "infer_speedup_vs_builtin", "train_speedup_vs_torch", "infer_speedup_vs_torch",
}
STREAMING_FIELDS = {"backend", "contestant", "features", "units", "hops", "hop_ms", "hop_ms_p90"}
TASK_FIELDS = {"backend", "task", "cell", "length", "units", "batch", "train_steps", "metric", "value", "baseline", "solved", "train_seconds"}


def _cli_json(*args: str) -> dict:
    process = run_python(
        "import sys; from keras_rnnzoo.cli import main; sys.exit(main(sys.argv[1:]))",
        args=("bench", *args, "--json", "--backend", BACKEND),
        timeout=300,
    )
    return json.loads(process.stdout)  # stdout carries only the JSON


def test_quick_json_has_documented_fields():
    payload = _cli_json("--quick")
    assert payload["kind"] == "throughput" and payload["backends"] == [BACKEND]
    assert {"spec", "machine", "devices", "process_peak_rss_mib", "seconds", "results", "streaming", "tasks",
            "errors"} <= set(payload)
    assert payload["errors"] == [] and payload["devices"] == {BACKEND: "cpu"}
    assert payload["machine"]["cpu_count"] >= 1 and payload["machine"]["load_average_1m"] >= 0
    assert set(payload["process_peak_rss_mib"]) == {BACKEND} and payload["process_peak_rss_mib"][BACKEND] > 50
    names = {row["contestant"] for row in payload["results"]}
    assert {"keras.LSTM", "keras.GRU", "rnnzoo.LSTM", "rnnzoo.GRU", "rnnzoo.MinGRU", "rnnzoo.MinLSTM"} <= names
    for row in payload["results"]:
        assert set(row) == RESULT_FIELDS, set(row) ^ RESULT_FIELDS
        assert row["shape"] == {"batch": 4, "steps": 8, "features": 3, "units": 8}
        assert row["train_ms"] > 0 and row["infer_tokens_per_s"] > 0 and len(row["train_ms_all"]) == 2
        assert row["dtype_policy"] == "float32"
        if row["framework"] == "torch":
            assert row["jit_compile"] is None and row["train_loop"] is None
        else:  # Keras's "auto" turns XLA off for TensorFlow on a CPU-only machine
            assert row["train_loop"] == "keras"
            assert isinstance(row["jit_compile"], bool) and (BACKEND != "tensorflow" or not row["jit_compile"])
        if row["framework"] == "keras":
            assert row["backend"] == BACKEND and row["train_speedup_vs_builtin"] is not None
    builtin = next(r for r in payload["results"] if r["contestant"] == "keras.LSTM")
    assert builtin["train_speedup_vs_builtin"] == 1.0
    assert payload["streaming"] and all(set(row) == STREAMING_FIELDS for row in payload["streaming"])
    spotter = next(r for r in payload["streaming"] if r["contestant"] == "zoo.speech-commands-gru")
    assert spotter["features"] == 320 and spotter["hop_ms"] > 0  # one 20 ms hop of 16 kHz audio


def test_mixed_precision_policy_reaches_the_keras_contestants():
    payload = _cli_json("--quick", "--layers", "keras.LSTM,rnnzoo.LSTM", "--no-torch", "--no-streaming",
                        "--no-memory", "--dtype-policy", "mixed_bfloat16")
    assert payload["errors"] == [] and payload["spec"]["dtype_policy"] == "mixed_bfloat16"
    assert [r["dtype_policy"] for r in payload["results"]] == ["mixed_bfloat16"] * 2


def test_jit_compile_reaches_the_keras_contestants():
    payload = _cli_json("--quick", "--layers", "keras.LSTM,rnnzoo.LSTM", "--no-torch", "--no-streaming",
                        "--no-memory", "--jit-compile", "off")
    assert payload["errors"] == [] and payload["spec"]["jit_compile"] is False
    assert [r["jit_compile"] for r in payload["results"]] == [False, False]


def test_task_adding_quick():
    payload = _cli_json("--task", "adding", "--quick", "--cells", "SimpleRNN,LSTM,MinGRU", "--train-steps", "5")
    rows = payload["tasks"]
    assert payload["kind"] == "task" and payload["errors"] == []
    assert {(r["cell"], r["length"]) for r in rows} == {(c, n) for c in ("SimpleRNN", "LSTM", "MinGRU") for n in (10, 20)}
    for row in rows:
        assert set(row) == TASK_FIELDS
        assert row["metric"] == "mse" and np.isfinite(row["value"]) and row["baseline"] == pytest.approx(1 / 6, abs=1e-4)


def test_measure_in_process_and_ratios():
    results, errors = measure(["keras.GRU", "rnnzoo.GRU"], Shape(2, 3, 2, 4), backend=BACKEND, repeats=1, warmup=1, memory=False)
    assert errors == [] and [r["contestant"] for r in results] == ["keras.GRU", "rnnzoo.GRU"]
    results[0]["train_ms"], results[1]["train_ms"] = 10.0, 5.0
    add_ratios(results)
    assert results[1]["train_speedup_vs_builtin"] == 2.0 and results[1]["baseline"] == "keras.GRU"
    assert results[1]["train_speedup_vs_torch"] is None
    with pytest.raises(ValueError, match="unknown contestant"):
        measure(["nope"], Shape(1, 1, 1, 1), backend=BACKEND)


@pytest.mark.skipif(BACKEND != "jax", reason="the stateless training loop is written with JAX")
@pytest.mark.parametrize("name, policy", [("rnnzoo.LSTM", "float32"), ("keras.GRU", "float32"), ("rnnzoo.LSTM", "mixed_float16")])
def test_jax_train_loop_takes_the_same_steps_as_train_on_batch(name, policy):
    keras.config.set_dtype_policy(policy)  # mixed_float16: the loss is scaled by the optimizer's loss scale
    family, make_layer = keras_layer_factories()[name]
    shape = Shape(3, 5, 2, 4)
    plain = keras_contestant(name, family, make_layer, shape, seed=1)
    stateless = keras_contestant(name, family, make_layer, shape, seed=1, train_loop="jax")
    assert (plain.train_loop, stateless.train_loop) == ("keras", "jax")
    before = stateless.infer_step()
    np.testing.assert_allclose(before, plain.infer_step(), rtol=1e-6)
    for _ in range(3):
        plain.train_step()
        stateless.train_step()
    after = stateless.infer_step()
    assert np.abs(after - before).max() > 1e-4  # the weights moved
    np.testing.assert_allclose(after, plain.infer_step(), rtol=1e-4, atol=1e-6)


def test_jax_train_loop_needs_the_jax_backend():
    if BACKEND == "jax":
        payload = _cli_json("--quick", "--layers", "rnnzoo.LSTM", "--no-torch", "--no-streaming", "--no-memory",
                            "--train-loop", "jax")
        assert payload["errors"] == [] and [r["train_loop"] for r in payload["results"]] == ["jax"]
    else:
        with pytest.raises(ValueError, match="needs the JAX backend"):
            keras_contestant("rnnzoo.LSTM", "lstm", keras_layer_factories()["rnnzoo.LSTM"][1], Shape(1, 2, 1, 2),
                             train_loop="jax")


def test_generators():
    rng = np.random.default_rng(0)
    x, y = adding_batch(rng, 5, 12)
    assert x.shape == (5, 12, 2) and y.shape == (5, 1)
    assert (x[..., 1].sum(1) == 2).all()
    assert (x[:, :6, 1].sum(1) == 1).all()  # one marker in each half
    np.testing.assert_allclose((x[..., 0] * x[..., 1]).sum(1, keepdims=True), y, rtol=1e-6)
    x, y = copy_batch(rng, 4, 7)
    assert x.shape == (4, 7 + 2 * COPY_SYMBOLS, COPY_ALPHABET + 2)
    ids = x.argmax(-1)
    np.testing.assert_array_equal(y[:, -COPY_SYMBOLS:], ids[:, :COPY_SYMBOLS])
    assert (ids[:, COPY_SYMBOLS + 6] == COPY_ALPHABET + 1).all() and (y[:, :-COPY_SYMBOLS] == 0).all()
    with pytest.raises(ValueError, match="length"):
        adding_batch(rng, 2, 1)


def test_shape_parse():
    assert Shape.parse("64,100,40,128") == Shape(64, 100, 40, 128)
    for bad in ("64,100,40", "a,b,c,d", "0,1,1,1"):
        with pytest.raises(ValueError, match="B,T,I,H"):
            Shape.parse(bad)


@pytest.mark.parametrize(
    "args",
    [("--shape", "1,2,3"), ("--shape", "1,2,3,4", "--long"), ("--task", "sorting"), ("--task", "copy", "--lengths", "0"),
     ("--train-loop", "jax", "--backend", "tensorflow")],
)
def test_usage_errors_exit_2(args):
    process = run_python(
        "import sys; from keras_rnnzoo.cli import main; sys.exit(main(sys.argv[1:]))",
        args=("bench", *args, "--backend", BACKEND),
        check=False,
        timeout=120,
    )
    assert process.returncode == 2, process.stderr
