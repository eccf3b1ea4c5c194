"""Reading, checking and resampling speech audio (16 kHz mono float32).

Every reader here fails loudly, naming the file: a missing, empty,
truncated, non-audio or digitally silent file, or one with non-finite
samples, raises instead of producing a wrong prediction. Stereo is mixed
down and other sample rates are resampled with `soxr` (high quality).

`soundfile` and `soxr` are imported lazily: they are needed only when audio
is read from disk or resampled (`pip install "keras-rnnzoo[speech]"`).

Example:

>>> import numpy as np
>>> clip = resample(np.zeros(8000, "float32") + 0.1, 8000, 16000)
>>> clip.shape
(16000,)
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
# Peak level (full scale = 1.0) under which a whole recording counts as
# digital silence: -90 dBFS, below the 16-bit quantisation step.
SILENCE_PEAK = 10 ** (-90 / 20)
_INSTALL_HINT = 'pip install "keras-rnnzoo[speech]" (soundfile, soxr)'


def _soundfile():
    try:
        import soundfile
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(f"Reading audio files needs soundfile: {_INSTALL_HINT}.") from error
    return soundfile


def _soxr():
    try:
        import soxr
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(f"Resampling audio needs soxr: {_INSTALL_HINT}.") from error
    return soxr


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float signal from `source_rate` to `target_rate` Hz (soxr, HQ)."""
    source_rate, target_rate = int(source_rate), int(target_rate)
    if source_rate <= 0 or target_rate <= 0:
        raise ValueError(
            f"Sample rates must be positive; got {source_rate} Hz -> {target_rate} Hz."
        )
    samples = np.asarray(samples, dtype=np.float32)
    if source_rate == target_rate or samples.size == 0:
        return samples
    return _soxr().resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32)


def to_mono(samples: np.ndarray, source: str = "the audio") -> np.ndarray:
    """Mix `(frames,)` or `(frames, channels)` samples down to `(frames,)` float32."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    elif samples.ndim != 1:
        raise ValueError(
            f"{source}: expected samples of shape (frames,) or (frames, channels); "
            f"got shape {samples.shape}."
        )
    return samples.astype(np.float32)


def check_samples(samples: np.ndarray, source: str = "the audio", *, allow_silent: bool = False) -> None:
    """Raise `ValueError` naming `source` for empty, non-finite or silent samples."""
    if samples.size == 0:
        raise ValueError(f"{source} contains no audio samples (empty recording).")
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise ValueError(
            f"{source} contains non-finite samples (NaN or infinity), the first at "
            f"sample {bad} of {samples.size}."
        )
    if not allow_silent and float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise ValueError(
            f"{source} is silent (peak below -90 dBFS): nothing to recognise."
        )


def prepare_waveform(
    samples, sample_rate: int | None = None, *, source: str = "the audio", allow_silent: bool = False
) -> np.ndarray:
    """Array input -> checked 16 kHz mono float32 (stereo mixed down, resampled)."""
    array = np.asarray(samples)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{source}: expected numeric audio samples; got dtype {array.dtype}.")
    if array.dtype.kind in "iu":  # PCM integers -> [-1, 1)
        scale = float(np.iinfo(array.dtype).max) + 1.0
        array = array.astype(np.float64) / scale
    if array.ndim == 2 and array.shape[0] in (1, 2) and array.shape[1] > 2:
        array = array.T  # (channels, frames) -> (frames, channels)
    mono = to_mono(array, source)
    check_samples(mono, source, allow_silent=allow_silent)
    rate = SAMPLE_RATE if sample_rate is None else int(sample_rate)
    return resample(mono, rate, SAMPLE_RATE)


def _check_wav_not_truncated(path: Path) -> None:
    """Compare a RIFF/WAVE `data` chunk's declared size with the bytes present."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
            return
        if header[:4] == b"RF64":
            return  # 64-bit sizes live in a ds64 chunk; libsndfile checks those
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk = handle.read(8)
            if len(chunk) < 8:
                break
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                present = size - (position + 8)
                if chunk_size != 0xFFFFFFFF and chunk_size > present:
                    raise ValueError(
                        f"{path} is truncated: its WAV header declares {chunk_size} "
                        f"bytes of audio but only {present} are present."
                    )
                return
            position += 8 + chunk_size + (chunk_size & 1)
        raise ValueError(f"{path} is truncated or damaged: its WAV file has no audio data chunk.")


def read_audio(
    path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE, allow_silent: bool = False
) -> np.ndarray:
    """Read an audio file as checked mono float32 at `sample_rate` Hz.

    Args:
        path: a file soundfile can read (WAV, FLAC, OGG, ...).
        sample_rate: rate of the returned samples (resampled with soxr).
        allow_silent: accept a digitally silent recording (corpus building).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is empty, truncated, not audio, silent, or holds
            non-finite samples; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Audio file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not an audio file.")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not an audio file.")
    _check_wav_not_truncated(path)
    soundfile = _soundfile()
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"{path} is not a readable audio file ({error}).") from None
    if samples.shape[0] == 0:
        raise ValueError(f"{path} contains no audio samples (empty recording).")
    mono = to_mono(samples, str(path))
    check_samples(mono, str(path), allow_silent=allow_silent)
    return resample(mono, rate, sample_rate)


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float samples in [-1, 1] as a 16-bit PCM WAV file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 32767 / 32768)
    _soundfile().write(str(path), clipped, int(sample_rate), subtype="PCM_16")


def fit_length(samples: np.ndarray, length: int = SAMPLE_RATE, *, center: bool = True) -> np.ndarray:
    """Pad with zeros (centred, or at the end) or centre-crop to exactly `length` samples."""
    samples = np.asarray(samples, dtype=np.float32)
    size = samples.shape[0]
    if size == length:
        return samples
    if size > length:
        start = (size - length) // 2 if center else 0
        return samples[start : start + length]
    before = (length - size) // 2 if center else 0
    return np.pad(samples, (before, length - size - before))
