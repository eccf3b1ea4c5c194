"""The synthetic speech corpus: festival voices and converted voices as extra training speakers.

Festival tests need `apt-get install festival festvox-kdlpc16k` (CI installs
them, see .ci/apt-packages.txt); without them they skip.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("soundfile", reason="clips are written with soundfile ([speech] extra)")

from keras_rnnzoo.data import speech_synth  # noqa: E402

pytestmark = pytest.mark.backend_independent
needs_espeak_flite = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
needs_ked = pytest.mark.skipif(
    shutil.which("text2wave") is None or "ked_diphone" not in speech_synth._festival_voices(),
    reason=f"needs festival's ked voice ({speech_synth.FESTIVAL_INSTALL_HINT})",
)
KED = speech_synth.Voice("festival", "ked_diphone")


def small_corpus(root, pattern: str, **settings) -> tuple[dict, dict]:
    """A tiny train + test corpus under `root`: its summary and `{relative path: samples}` of the files matching `pattern`."""
    import soundfile as sf

    summary = speech_synth.synthesize_corpus(
        root, keyword_takes=1, unknown_words_per_voice=1, languages_per_variant=1, noise_seconds=1.0,
        progress=False, splits=("train", "test"), **settings,
    )
    return summary, {path.relative_to(root): sf.read(path)[0] for path in root.glob(pattern)}


def test_festival_voices_are_training_speakers():
    assert KED.id == "festival-ked"
    assert speech_synth.split_of(KED) == "train"
    jobs = speech_synth.corpus_jobs(
        [KED], keyword_takes=2, flite_keyword_takes=5, unknown_words_per_voice=3, seed=0
    )
    # few festival voices, so they get the flite number of takes per keyword
    assert sum(job.word == "down" for job in jobs) == 5


@needs_ked
def test_festival_takes_follow_their_rate_and_pitch(tmp_path):
    slow = speech_synth._synthesize_raw(KED, "down", 1.4, 80.0, str(tmp_path))
    fast = speech_synth._synthesize_raw(KED, "down", 0.8, 160.0, str(tmp_path))
    assert len(slow) > 1.5 * len(fast)
    assert list(tmp_path.iterdir()) == []  # the text file and wave are cleaned up
    clip = speech_synth.render_take(KED, "no way", np.random.default_rng(0), str(tmp_path))
    assert clip.shape == (speech_synth.CLIP_SAMPLES,) and np.isfinite(clip).all()
    assert np.abs(clip).max() > 0.04


@needs_espeak_flite
def test_missing_festival_voice_names_it_and_the_install_command(monkeypatch):
    monkeypatch.setattr(speech_synth, "_festival_voices", lambda: {"ked_diphone"})
    with pytest.raises(RuntimeError, match=r"\['rab_diphone'\] not installed.*festvox"):
        speech_synth.check_synthesizers(("rab_diphone",))
    monkeypatch.setattr(speech_synth.shutil, "which", lambda tool: None if tool == "text2wave" else "/bin/" + tool)
    with pytest.raises(RuntimeError, match="text2wave.*apt-get install festival"):
        speech_synth.check_synthesizers(("ked_diphone",))


@needs_espeak_flite
def test_the_test_split_needs_no_festival(monkeypatch, tmp_path):
    """Evaluating a preset trained with festival voices re-synthesizes only test voices."""
    monkeypatch.setattr(speech_synth.shutil, "which", lambda tool: None if tool == "text2wave" else "/usr/bin/" + tool)
    summary = speech_synth.synthesize_corpus(
        tmp_path / "corpus", splits=("test",), festival_voices=("ked_diphone",), keyword_takes=1,
        flite_keyword_takes=1, unknown_words_per_voice=1, max_voices_per_split=1, noise_seconds=1.0,
        progress=False,
    )
    assert summary["settings"]["festival_voices"] == ["ked_diphone"]
    assert {voice["split"] for voice in summary["voices"]} == {"test"}
    assert "festival" not in summary["synthesizers"]
    listed = (tmp_path / "corpus" / speech_synth.TESTING_LIST).read_text().split()
    assert len(listed) >= len(speech_synth.KEYWORDS)
    assert json.loads((tmp_path / "corpus" / "corpus.json").read_text())["voices"] == summary["voices"]


@needs_espeak_flite
def test_training_stretch_slows_only_training_flite_takes(tmp_path, monkeypatch):
    """`training_max_stretch` lengthens training flite takes and leaves every held-out clip as it was."""
    voices = [speech_synth.Voice("flite", "kal"), speech_synth.Voice("flite", "awb")]
    assert [speech_synth.split_of(v) for v in voices] == ["train", "test"]
    monkeypatch.setattr(speech_synth, "list_voices", lambda **_: voices)

    def corpus(name, stretch):
        return small_corpus(tmp_path / name, "down/*.wav", flite_keyword_takes=3, training_max_stretch=stretch)

    with pytest.raises(ValueError, match=r"training_max_stretch .* got 0\.5"):
        corpus("bad", 0.5)
    assert not (tmp_path / "bad").exists()  # refused before anything is written
    plain_summary, plain = corpus("plain", speech_synth.DEFAULT_MAX_STRETCH)
    slow_summary, slow = corpus("slow", 2.5)
    assert "training_max_stretch" not in plain_summary["settings"]
    assert slow_summary["settings"]["training_max_stretch"] == 2.5
    assert plain.keys() == slow.keys()

    def spoken(clip):  # samples above the clip's noise floor
        return int(np.sum(np.abs(clip) > 0.02 * np.abs(clip).max()))

    kal = [path for path in plain if path.name.startswith("flite-kal_")]
    awb = [path for path in plain if path.name.startswith("flite-awb_")]
    assert len(kal) == len(awb) == 3
    for path in awb:  # a test voice: the same clips
        np.testing.assert_array_equal(plain[path], slow[path])
    assert sum(spoken(slow[p]) for p in kal) > 1.3 * sum(spoken(plain[p]) for p in kal)


@needs_espeak_flite
def test_converted_voices_are_extra_training_speakers():
    """Each flite / festival training voice yields N converted speakers; held-out voices never do."""
    voices = speech_synth.list_voices(festival_voices=("ked_diphone",), converted_voices=2)
    converted = [voice for voice in voices if voice.converted]
    assert [voice.id for voice in converted] == [
        "flite-kal-conv1", "flite-kal-conv2", "flite-kal16-conv1", "flite-kal16-conv2",
        "flite-slt-conv1", "flite-slt-conv2", "festival-ked-conv1", "festival-ked-conv2",
    ]
    assert {speech_synth.split_of(voice) for voice in converted} == {"train"}
    assert voices[: len(voices) - len(converted)] == speech_synth.list_voices(festival_voices=("ked_diphone",))
    first = speech_synth.conversion_of(converted[0], seed=0)
    assert first == speech_synth.conversion_of(converted[0], seed=0) != speech_synth.conversion_of(converted[1], seed=0)
    assert 0.85 <= first["formant_shift"] <= 1.2 and 80 <= first["pitch_median"] <= 240


def test_convert_voice_moves_pitch_and_formants():
    """Praat's Change gender on a synthetic vowel: the pitch goes to the asked median, the length stays."""
    parselmouth = pytest.importorskip("parselmouth", reason="voice conversion needs the [speech-synth] extra")
    rate = speech_synth.SAMPLE_RATE
    t = np.arange(int(0.6 * rate)) / rate
    # a 200 Hz vowel-like tone: harmonics shaped by two formant peaks (700 and 1200 Hz)
    harmonics = [(k * 200.0, np.exp(-((k * 200.0 - 700) / 250) ** 2) + np.exp(-((k * 200.0 - 1200) / 300) ** 2))
                 for k in range(1, 30)]
    vowel = sum(a * np.sin(2 * np.pi * f * t) for f, a in harmonics).astype(np.float32) * np.hanning(len(t))
    converted = speech_synth.convert_voice(vowel.astype(np.float32), formant_shift=1.0, pitch_median=110.0,
                                           pitch_range=1.0)
    assert converted.dtype == np.float32 and converted.shape == vowel.shape and np.isfinite(converted).all()

    def median_pitch(samples):
        pitch = parselmouth.Sound(samples.astype(np.float64), rate).to_pitch().selected_array["frequency"]
        return float(np.median(pitch[pitch > 0]))

    assert median_pitch(vowel) == pytest.approx(200, rel=0.05)
    assert median_pitch(converted) == pytest.approx(110, rel=0.1)


@needs_espeak_flite
def test_converted_voices_change_no_other_clip(tmp_path, monkeypatch):
    """A corpus with converted speakers holds every clip of the plain corpus unchanged, plus theirs."""
    pytest.importorskip("parselmouth", reason="voice conversion needs the [speech-synth] extra")
    real_list_voices = speech_synth.list_voices

    def two_flite_voices(**kwargs):  # kal (training) and awb (test), plus kal's converted speakers
        return [v for v in real_list_voices(**kwargs) if v.engine == "flite" and v.voice in ("kal", "awb")]

    monkeypatch.setattr(speech_synth, "list_voices", two_flite_voices)

    def corpus(name, converted_voices):
        return small_corpus(tmp_path / name, "**/*.wav", flite_keyword_takes=2, converted_voices=converted_voices)

    with pytest.raises(ValueError, match=r"converted_voices .* got -1"):
        corpus("bad", -1)
    assert not (tmp_path / "bad").exists()
    plain_summary, plain = corpus("plain", 0)
    converted_summary, converted = corpus("converted", 1)
    assert "converted_voices" not in plain_summary["settings"]
    assert converted_summary["settings"]["converted_voices"] == 1
    assert [v["id"] for v in converted_summary["voices"]] == ["flite-kal", "flite-awb", "flite-kal-conv1"]
    assert set(converted_summary["voices"][-1]["conversion"]) == {"formant_shift", "pitch_median", "pitch_range"}
    for path, samples in plain.items():  # keywords, unknown words and background noise
        np.testing.assert_array_equal(samples, converted[path])
    new = [path for path in converted if path not in plain]
    assert len(new) >= 2 * len(speech_synth.KEYWORDS) and all("flite-kal-conv1_" in path.name for path in new)


@needs_espeak_flite
def test_converted_voices_without_parselmouth_say_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "parselmouth", None)  # makes `import parselmouth` fail
    with pytest.raises(ImportError, match=r"pip install 'keras-rnnzoo\[speech-synth\]'"):
        speech_synth.synthesize_corpus(tmp_path / "corpus", converted_voices=1, progress=False)
    assert not (tmp_path / "corpus").exists()  # refused before anything is written
