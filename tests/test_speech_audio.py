"""Reading and checking speech audio: every bad input fails naming the file."""

from __future__ import annotations

import numpy as np
import pytest

soundfile = pytest.importorskip("soundfile", reason="reading audio needs soundfile ([speech] extra)")
pytest.importorskip("soxr", reason="resampling needs soxr ([speech] extra)")

from keras_rnnzoo.data import speech_audio as sa  # noqa: E402

# Audio files and folder layouts only (NumPy, soundfile, soxr): no Keras backend involved.
pytestmark = pytest.mark.backend_independent


def tone(frequency=440.0, seconds=1.0, rate=16000):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_mono_16k_round_trip(tmp_path):
    path = tmp_path / "a.wav"
    sa.write_audio(path, tone())
    samples = sa.read_audio(path)
    assert samples.shape == (16000,) and samples.dtype == np.float32
    np.testing.assert_allclose(samples, tone(), atol=1 / 16384)


def test_stereo_is_mixed_down(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = tone(440), tone(660)
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(sa.read_audio(path), (left + right) / 2, atol=1e-6)
    # arrays too, in either (frames, channels) or (channels, frames) order
    np.testing.assert_allclose(sa.prepare_waveform(np.stack([left, right])), (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled(tmp_path, rate):
    path = tmp_path / f"r{rate}.wav"
    soundfile.write(path, tone(440, 1.0, rate), rate, subtype="PCM_16")
    samples = sa.read_audio(path)
    assert abs(len(samples) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(samples[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 1  # the tone stays at 440 Hz


def test_pcm_integer_arrays_are_scaled():
    pcm = (tone() * 32767).astype(np.int16)
    np.testing.assert_allclose(sa.prepare_waveform(pcm), tone(), atol=1e-4)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        sa.read_audio(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.wav is empty"):
        sa.read_audio(path)


def test_wav_with_no_samples(tmp_path):
    path = tmp_path / "nosamples.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match=r"nosamples.wav contains no audio samples"):
        sa.read_audio(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.wav"
    sa.write_audio(path, tone())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.wav is truncated"):
        sa.read_audio(path)


def test_non_audio_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are words, not samples\n" * 20)
    with pytest.raises(ValueError, match=r"notes.wav is not a readable audio file"):
        sa.read_audio(path)


def test_directory(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        sa.read_audio(tmp_path)


def test_silent_file(tmp_path):
    path = tmp_path / "silent.wav"
    sa.write_audio(path, np.zeros(16000, np.float32))
    with pytest.raises(ValueError, match=r"silent.wav is silent"):
        sa.read_audio(path)
    assert sa.read_audio(path, allow_silent=True).shape == (16000,)


def test_non_finite_samples(tmp_path):
    path = tmp_path / "nan.wav"
    samples = tone()
    samples[1234] = np.nan
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"nan.wav contains non-finite samples.*sample 1234"):
        sa.read_audio(path)
    samples[1234] = np.inf
    with pytest.raises(ValueError, match=r"non-finite"):
        sa.prepare_waveform(samples)


def test_bad_arrays():
    with pytest.raises(ValueError, match="no audio samples"):
        sa.prepare_waveform(np.zeros(0, np.float32))
    with pytest.raises(TypeError, match="numeric"):
        sa.prepare_waveform(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="shape"):
        sa.prepare_waveform(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="positive"):
        sa.resample(tone(), 0)


def test_fit_length_pads_and_crops():
    assert sa.fit_length(np.ones(100)).shape == (16000,)
    padded = sa.fit_length(np.ones(100))
    assert padded[7950:8050].all() and not padded[:7900].any()  # centred
    long = np.arange(20000, dtype=np.float32)
    assert sa.fit_length(long)[0] == 2000
