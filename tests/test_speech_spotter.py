"""The shipped `speech-commands-gru` preset, on clips of held-out voices the test synthesizes.

The test voices belong to the groups `speech_synth.SPLIT_GROUPS["test"]`,
which the preset never heard in training. Synthesis needs espeak-ng and flite
(`apt-get install espeak-ng flite`); without them these tests skip.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("soundfile", reason="the keyword spotter reads audio with soundfile ([speech] extra)")
pytest.importorskip("soxr", reason="the keyword spotter resamples with soxr ([speech] extra)")

import keras  # noqa: E402

from keras_rnnzoo import zoo  # noqa: E402
from keras_rnnzoo.data import speech_audio, speech_synth  # noqa: E402
from keras_rnnzoo.data.speech_commands import KEYWORDS  # noqa: E402

NAME = "speech-commands-gru"
needs_synth = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="synthesizing held-out test clips needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
TEST_VOICES = [
    speech_synth.Voice("espeak-ng", "en-us", "f4"),
    speech_synth.Voice("espeak-ng", "en-gb", "m6"),
    speech_synth.Voice("flite", "awb"),
]


@pytest.fixture(scope="module")
def spotter():
    return zoo.load(NAME)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """(word, voice id, one-second clip, trimmed word) for every keyword and test voice."""
    assert all(speech_synth.split_of(v) == "test" for v in TEST_VOICES)
    folder = str(tmp_path_factory.mktemp("synth"))
    out = []
    for v, voice in enumerate(TEST_VOICES):
        for w, word in enumerate(KEYWORDS):
            rng = np.random.default_rng([7, v, w])
            clip = speech_synth.render_take(voice, word, rng, folder)
            out.append((word, voice.id, clip))
    return out


def test_preset_card(spotter):
    card = spotter.card
    assert card["task"] == "keyword_spotter" and card["name"] == NAME
    assert card["labels"] == ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                              "_silence_", "_unknown_"]
    assert spotter.model.count_params() <= 500_000 == 500_000
    test = card["metrics"]["test"]
    # The target is 0.97; the shipped model reaches less (see its card). This floor
    # guards against shipping a broken model, not the target.
    assert test["accuracy"] >= 0.85 and set(test["per_class_accuracy"]) == set(card["labels"])
    assert card["metrics"]["test"]["clips"] > 1000
    assert "confusion_matrix.png" in card["files"]
    assert card["input_spec"]["sample_rate"] == 16000


@needs_synth
def test_held_out_voices_are_recognised(spotter, clips):
    results = [spotter.predict(clip) for _, _, clip in clips]
    correct = [r["label"] == word for r, (word, _, _) in zip(results, clips)]
    assert np.mean(correct) >= 0.9, [(w, v, r["label"]) for r, (w, v, _) in zip(results, clips)]
    for result in results:
        assert set(result["scores"]) == set(spotter.labels)
        assert abs(sum(result["scores"].values()) - 1) < 1e-4


@needs_synth
def test_files_stereo_other_rates_short_and_long(spotter, clips, tmp_path):
    import soundfile

    word, _, clip = next(c for c in clips if spotter.predict(c[2])["label"] == c[0])
    stereo = tmp_path / "stereo_44k.wav"
    soundfile.write(stereo, np.stack([clip, clip], 1), 16000)
    resampled = speech_audio.resample(clip, 16000, 44100)
    soundfile.write(stereo, np.stack([resampled, 0.8 * resampled], 1), 44100)
    assert spotter.predict(stereo)["label"] == word
    assert spotter.predict(resampled, sample_rate=44100)["label"] == word
    # short: only the word, padded back to one second
    trimmed = speech_synth._trim(clip)
    assert len(trimmed) < 16000 and spotter.predict(trimmed)["label"] == word
    # long: 1.5 s of quiet, the clip, 1.5 s of quiet -> scanned with a sliding window
    quiet = np.random.default_rng(0).standard_normal(24000).astype(np.float32) * 1e-4
    long = np.concatenate([quiet, clip, quiet])
    result = spotter.predict(long)
    assert result["label"] == word and result["windows"] > 1
    assert 0.5 <= result["time"] <= 2.5


@needs_synth
def test_stream_finds_keywords_in_order_at_the_right_times(spotter, clips):
    rng = np.random.default_rng(1)
    # The stream's mechanics are under test here, not accuracy: four different
    # keywords, from different voices, that the one-second model gets right.
    chosen, words = [], set()
    mixed = [clips[(k % 3) * len(KEYWORDS) + (3 * k) % len(KEYWORDS)] for k in range(len(clips))]
    for word, voice, clip in mixed:  # voices and words interleaved
        result = spotter.predict(clip)
        if word not in words and result["label"] == word and result["score"] >= 0.9:
            chosen.append((word, voice, clip))
            words.add(word)
        if len(chosen) == 4:
            break
    assert len(chosen) == 4 and len({voice for _, voice, _ in chosen}) >= 2
    gap = 16000
    parts, spans = [rng.standard_normal(gap).astype(np.float32) * 1e-3], []
    position = gap
    for word, _, clip in chosen:
        spoken = speech_synth._trim(clip)
        spans.append((word, position / 16000, (position + len(spoken)) / 16000))
        parts += [spoken, rng.standard_normal(gap).astype(np.float32) * 1e-3]
        position += len(spoken) + gap
    audio = np.concatenate(parts)
    chunks = [audio[i : i + 480] for i in range(0, len(audio), 480)]  # 30 ms chunks, not hop-aligned
    events = list(spotter.stream(chunks))
    assert [e["label"] for e in events] == [w for w, _, _ in spans], (events, spans)
    for event, (_, start, end) in zip(events, spans):
        assert start < event["time"] <= end + 0.6, (event, start, end)
        assert 0 < event["score"] <= 1


def test_stream_step_equals_the_streaming_model_called_through_keras(spotter):
    """The backend's compiled hop (tf.function, jax.jit, or PyTorch's run through the layers' `call`) changes no number."""
    rng = np.random.default_rng(3)
    hops = [rng.standard_normal((1, spotter.hop_samples)).astype(np.float32) * 0.1 for _ in range(8)]
    advance = spotter.stream_step()
    state = spotter.initial_stream_state()
    for hop in hops:
        outputs = [keras.ops.convert_to_numpy(o) for o in spotter.streaming_model([hop, *state], training=False)]
        state = outputs[1:]
        np.testing.assert_allclose(advance(hop), outputs[0][0], atol=1e-5)


def test_stream_rejects_bad_chunks(spotter):
    with pytest.raises(ValueError, match="stream chunk 1 contains non-finite"):
        list(spotter.stream([np.zeros(320, np.float32), np.full(320, np.nan, np.float32)]))
    with pytest.raises(ValueError, match="threshold"):
        list(spotter.stream([np.zeros(320)], threshold=0))


def test_stream_resamples_other_rates(spotter):
    probabilities = list(spotter.stream_probabilities([np.zeros(4410, np.float32)] * 10, sample_rate=44100))
    assert len(probabilities) == pytest.approx(1.0 / 0.02, abs=2)
    assert probabilities[-1][0] == pytest.approx(0.02 * len(probabilities))


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"RIFF\x00\x00\x00\x00WAVEjunk" * 10, "not a readable audio file|truncated"),
     (b"hello, I am text" * 100, "not a readable audio file")],
)
def test_bad_files_name_the_file(spotter, tmp_path, content, message):
    path = tmp_path / "bad input.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        spotter.predict(path)
    assert "bad input.wav" in str(error.value)


def test_silent_truncated_and_non_finite(spotter, tmp_path):
    silent = tmp_path / "silent.wav"
    speech_audio.write_audio(silent, np.zeros(16000, np.float32))
    with pytest.raises(ValueError, match="silent.wav is silent"):
        spotter.predict(silent)
    truncated = tmp_path / "truncated.wav"
    speech_audio.write_audio(truncated, np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32))
    truncated.write_bytes(truncated.read_bytes()[:20000])
    with pytest.raises(ValueError, match="truncated.wav is truncated"):
        spotter.predict(truncated)
    samples = np.ones(16000, np.float32) * 0.1
    samples[5] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        spotter.predict(samples)
    with pytest.raises(ValueError, match="pass it only with arrays"):
        spotter.predict(silent, sample_rate=8000)


@needs_synth
def test_cli_predict_json_and_stream(spotter, clips, tmp_path, capsys):
    from keras_rnnzoo.cli import main

    paths = []
    for index in (0, 1):
        word, _, clip = clips[index]
        paths.append(tmp_path / f"{word}.wav")
        speech_audio.write_audio(paths[-1], clip)
    assert main(["predict", NAME, *map(str, paths), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [item["input"] for item in result] == list(map(str, paths))
    assert all(set(item) >= {"input", "label", "scores"} for item in result)
    assert main(["predict", NAME, str(paths[0]), "--stream", "--json"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    assert set(streamed[0]) == {"input", "events"}
    assert main(["predict", NAME, str(paths[0]), "--stream", "--decision-seconds", "0", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)[0]) == {"input", "events"}
    # out of range: a usage error naming the option
    assert main(["predict", NAME, str(paths[0]), "--stream", "--decision-seconds", "-1"]) == 2
    assert "--decision-seconds" in capsys.readouterr().err


@needs_synth
@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="TFLite export converts a TensorFlow graph: KERAS_BACKEND=tensorflow only")
def test_tflite_export_agrees_with_keras(spotter, clips, tmp_path):
    import tensorflow as tf

    paths = spotter.export_tflite(tmp_path / "kws.tflite")
    waveforms = np.stack([clip for _, _, clip in clips])
    expected = spotter.probabilities(waveforms)

    interpreter = tf.lite.Interpreter(model_path=paths["model"])
    interpreter.allocate_tensors()
    (waveform_input,) = interpreter.get_input_details()
    (output,) = interpreter.get_output_details()
    got = []
    for row in waveforms:
        interpreter.set_tensor(waveform_input["index"], row[None])
        interpreter.invoke()
        got.append(interpreter.get_tensor(output["index"])[0])
    got = np.array(got)
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.99
    np.testing.assert_allclose(got, expected, atol=1e-3)

    # the streaming model: one hop at a time, the state carried outside the model
    runner = tf.lite.Interpreter(model_path=paths["streaming_model"]).get_signature_runner()
    keras_step = spotter.streaming_model
    hop = spotter.hop_samples
    keras_state = tflite_state = spotter.initial_stream_state()
    agree = steps = 0
    for audio in waveforms[:6]:
        for start in range(0, len(audio) - hop + 1, hop):
            chunk = audio[None, start : start + hop]
            reference = [keras.ops.convert_to_numpy(o) for o in keras_step([chunk, *keras_state])]
            feed = {"hop": chunk, "context": tflite_state[0]}
            feed.update({f"state_{i}": value for i, value in enumerate(tflite_state[1:])})
            result = runner(**feed)
            outputs = [result[f"output_{i}"] for i in range(len(result))]
            agree += int(outputs[0].argmax() == reference[0].argmax())
            steps += 1
            keras_state, tflite_state = reference[1:], outputs[1:]
        np.testing.assert_allclose(outputs[0], reference[0], atol=1e-3)
    assert agree / steps >= 0.99


def test_detection_rule_fires_once_per_utterance():
    from keras_rnnzoo.zoo import audio
    from keras_rnnzoo.zoo.keyword_spotter import KeywordSpotter

    spotter = KeywordSpotter(audio.build_keyword_model(units=4, layers=1))
    yes, silence = np.zeros(12), np.zeros(12)
    yes[0], silence[10] = 1.0, 1.0
    # 0.2 s of "yes", 0.3 s of silence, "yes" again too soon, then 1.2 s later
    hops = [silence] * 5 + [yes] * 10 + [silence] * 15 + [yes] * 5 + [silence] * 60 + [yes] * 10
    timed = [((i + 1) * 0.02, p) for i, p in enumerate(hops)]
    events = list(spotter.detect(timed, threshold=0.7, smoothing_hops=3, suppress_seconds=1.0))
    assert [e["label"] for e in events] == ["yes", "yes"]
    assert events[0]["time"] == pytest.approx(0.02 * 8)  # 3 hops of "yes" in the 3-hop average
    assert events[1]["time"] == pytest.approx(0.02 * 98)
    assert list(spotter.detect([(0.02, silence)] * 100, threshold=0.5)) == []


def test_decision_window_fires_the_word_that_peaks_not_the_first_to_cross():
    from keras_rnnzoo.zoo import audio
    from keras_rnnzoo.zoo.keyword_spotter import KeywordSpotter

    spotter = KeywordSpotter(audio.build_keyword_model(units=4, layers=1))
    down, go, silence = (spotter.labels.index(w) for w in ("down", "go", "_silence_"))

    def hop(**scores):
        p = np.zeros(12)
        for name, value in scores.items():
            p[{"down": down, "go": go, "silence": silence}[name]] = value
        return p

    # the start of "down" looks like "go"; the rest of the word says "down"
    hops = [hop(silence=1.0)] * 5 + [hop(go=0.8, down=0.2)] * 4 + [hop(go=0.1, down=0.95)] * 8 + [hop(silence=1.0)] * 30
    timed = [((i + 1) * 0.02, p) for i, p in enumerate(hops)]
    weighed = list(spotter.detect(timed, threshold=0.7, smoothing_hops=1, decision_seconds=0.3))
    assert [e["label"] for e in weighed] == ["down"]
    assert weighed[0]["time"] == pytest.approx(0.02 * 10) and weighed[0]["score"] == pytest.approx(0.95)
    hasty = list(spotter.detect(timed, threshold=0.7, smoothing_hops=1, decision_seconds=0.0))
    assert [e["label"] for e in hasty] == ["go", "down"]
    with pytest.raises(ValueError, match="decision_seconds must be >= 0"):
        list(spotter.detect(timed, decision_seconds=-0.1))
