"""The synthetic speech corpus: festival voices as extra training speakers.

Festival tests need `apt-get install festival festvox-kdlpc16k` (CI installs
them, see .ci/apt-packages.txt); without them they skip.
"""

from __future__ import annotations

import json
import shutil

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
    import soundfile as sf

    voices = [speech_synth.Voice("flite", "kal"), speech_synth.Voice("flite", "awb")]
    assert [speech_synth.split_of(v) for v in voices] == ["train", "test"]
    monkeypatch.setattr(speech_synth, "list_voices", lambda **_: voices)

    def corpus(name, stretch):
        summary = speech_synth.synthesize_corpus(
            tmp_path / name, keyword_takes=1, flite_keyword_takes=3, unknown_words_per_voice=1,
            languages_per_variant=1, noise_seconds=1.0, training_max_stretch=stretch, progress=False,
            splits=("train", "test"),
        )
        return summary, {p.relative_to(tmp_path / name): sf.read(p)[0] for p in (tmp_path / name).glob("down/*.wav")}

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
