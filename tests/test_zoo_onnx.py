"""`rnnzoo export NAME --format onnx`: a file ONNX Runtime runs like Keras, or a clear refusal."""

from __future__ import annotations

import keras
import numpy as np
import pytest

pytest.importorskip("tf2onnx", reason="ONNX export needs the [onnx] extra (tf2onnx, onnx, onnxruntime)")
ort = pytest.importorskip("onnxruntime", reason="checking the export needs onnxruntime ([onnx] extra)")

from keras_rnnzoo import zoo  # noqa: E402
from keras_rnnzoo.cli import main  # noqa: E402

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="Keras exports ONNX through tf2onnx; checked on the tensorflow pass",
)


def test_speech_model_exports_and_agrees_with_keras(tmp_path, capsys):
    out = tmp_path / "kws.onnx"
    assert main(["export", "speech-commands-gru", "--format", "onnx", str(out), "--json"]) == 0
    session = ort.InferenceSession(str(out))
    audio = np.random.default_rng(0).normal(scale=0.1, size=(3, 16000)).astype("float32")
    expected = zoo.load("speech-commands-gru").model.predict(audio, verbose=0)
    (actual,) = session.run(None, {session.get_inputs()[0].name: audio})
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_invalid_converted_graph_is_refused_and_nothing_written(tmp_path, capsys):
    # tf2onnx has no ONNX kernel for TensorFlow's Erfc (the forecaster's exact GELU).
    out = tmp_path / "forecaster.onnx"
    assert main(["export", "rnn-forecaster", "--format", "onnx", str(out)]) == 1
    message = capsys.readouterr().err
    assert "invalid graph" in message and "Erfc" in message and str(out) in message
    assert list(tmp_path.iterdir()) == []
