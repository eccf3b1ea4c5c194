"""Loader for the Google Speech Commands v2 folder layout, as 12 classes.

The layout (Warden 2018, https://arxiv.org/abs/1804.03209)::

    ROOT/
      yes/0a7c2a8d_nohash_0.wav      one folder per word, 1 s, 16 kHz mono
      ...
      _background_noise_/*.wav       long noise recordings
      validation_list.txt            "word/file.wav" lines of the validation split
      testing_list.txt               "word/file.wav" lines of the test split

Every clip not listed in either file is a training clip. Words other than the
ten keywords become `_unknown_`; `_silence_` examples are one-second
segments cut from `_background_noise_` (at a random gain), as in the
reference TensorFlow recipe. `speech_synth` writes a corpus in this same
layout, so one loader serves the real and the synthesized data.

Example:

>>> LABELS[:3], LABELS[-2:]
(('yes', 'no', 'up'), ('_silence_', '_unknown_'))
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_rnnzoo.data.speech_audio import SAMPLE_RATE, fit_length, read_audio

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
LABELS = KEYWORDS + (SILENCE, UNKNOWN)
# The other 25 words of Speech Commands v2.
OTHER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "backward", "forward", "follow", "learn", "visual",
)
BACKGROUND_FOLDER = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
SPLITS = ("train", "validation", "test")
CLIP_SAMPLES = SAMPLE_RATE
_SPEAKER = re.compile(r"^(?P<speaker>.+?)_nohash_")


@dataclass(frozen=True)
class Example:
    """One clip of a split: a word recording, or a segment of background noise."""

    label: str
    path: Path
    word: str
    speaker: str
    offset: int = 0  # first sample of a `_silence_` segment in its noise file
    gain: float = 1.0  # scale of a `_silence_` segment


def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: a Speech Commands folder needs {VALIDATION_LIST} "
            f"and {TESTING_LIST} next to the word folders."
        )
    entries = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if "/" not in line:
            raise ValueError(f"{path}:{number}: expected 'word/file.wav', got {line!r}.")
        entries.add(line)
    return entries


def check_layout(root: str | os.PathLike) -> Path:
    """Return `root` as a Path if it holds the Speech Commands layout, else raise."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Speech Commands folder not found: {root}")
    missing = [name for name in (VALIDATION_LIST, TESTING_LIST) if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root} is not a Speech Commands v2 folder: missing {', '.join(missing)}."
        )
    if not any((root / word).is_dir() for word in KEYWORDS):
        raise FileNotFoundError(
            f"{root} is not a Speech Commands v2 folder: none of the keyword folders "
            f"({', '.join(KEYWORDS)}) exists."
        )
    return root


def background_files(root: str | os.PathLike) -> list[Path]:
    """The `_background_noise_/*.wav` files of a Speech Commands folder, sorted."""
    folder = Path(root) / BACKGROUND_FOLDER
    return sorted(folder.glob("*.wav")) if folder.is_dir() else []


def speaker_of(path: Path) -> str:
    """Speaker id of a clip: its file name before `_nohash_` (the whole stem otherwise)."""
    match = _SPEAKER.match(path.name)
    return match.group("speaker") if match else path.stem


def list_examples(
    root: str | os.PathLike,
    split: str = "train",
    *,
    unknown_per_keyword: float = 1.0,
    silence_per_keyword: float = 1.0,
    seed: int = 0,
) -> list[Example]:
    """The examples of one split, with `_unknown_` and `_silence_` balanced.

    Args:
        root: the Speech Commands folder.
        split: "train", "validation" or "test".
        unknown_per_keyword: `_unknown_` clips kept, as a multiple of the mean
            number of clips per keyword (the rest of the other words are
            dropped at random); `None`-like large values keep all.
        silence_per_keyword: `_silence_` segments cut from the background
            noise, as a multiple of the mean number of clips per keyword.
        seed: seed of the subsampling and of the silence segments.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}.")
    root = check_layout(root)
    validation = _read_list(root, VALIDATION_LIST)
    testing = _read_list(root, TESTING_LIST)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    keyword_examples: list[Example] = []
    unknown_examples: list[Example] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        word = folder.name
        if word.startswith("_"):
            continue
        for path in sorted(folder.glob("*.wav")):
            relative = f"{word}/{path.name}"
            clip_split = "validation" if relative in validation else "test" if relative in testing else "train"
            if clip_split != split:
                continue
            label = word if word in KEYWORDS else UNKNOWN
            example = Example(label, path, word, speaker_of(path))
            (keyword_examples if label != UNKNOWN else unknown_examples).append(example)
    per_keyword = len(keyword_examples) / len(KEYWORDS)
    keep = min(len(unknown_examples), int(round(unknown_per_keyword * per_keyword)))
    if keep < len(unknown_examples):
        chosen = rng.choice(len(unknown_examples), size=keep, replace=False)
        unknown_examples = [unknown_examples[i] for i in sorted(chosen)]
    silence_examples = _silence_examples(root, int(round(silence_per_keyword * per_keyword)), rng)
    return keyword_examples + unknown_examples + silence_examples


def _silence_examples(root: Path, count: int, rng: np.random.Generator) -> list[Example]:
    files = background_files(root)
    if count <= 0 or not files:
        return []
    import soundfile  # lazily, as in speech_audio

    examples = []
    lengths = {}
    for path in files:
        info = soundfile.info(str(path))
        lengths[path] = int(info.frames * SAMPLE_RATE / info.samplerate)
    usable = [p for p in files if lengths[p] >= CLIP_SAMPLES]
    if not usable:
        raise ValueError(
            f"{root / BACKGROUND_FOLDER}: every background file is shorter than one "
            "second; _silence_ segments cannot be cut from them."
        )
    for _ in range(count):
        path = usable[int(rng.integers(len(usable)))]
        offset = int(rng.integers(0, lengths[path] - CLIP_SAMPLES + 1))
        gain = float(rng.uniform(0.0, 1.0))
        examples.append(Example(SILENCE, path, SILENCE, BACKGROUND_FOLDER, offset, gain))
    return examples


def load_examples(examples: list[Example], *, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read examples as `(waveforms (n, 16000) float32, labels (n,) int32)`.

    Clips are padded or centre-cropped to one second; labels index `LABELS`.
    """
    noise_cache: dict[Path, np.ndarray] = {}
    waveforms = np.zeros((len(examples), CLIP_SAMPLES), np.float32)
    labels = np.zeros((len(examples),), np.int32)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(examples), unit_name="clip")
    for index, example in enumerate(examples):
        if example.label == SILENCE:
            if example.path not in noise_cache:
                noise_cache[example.path] = read_audio(example.path, allow_silent=True)
            noise = noise_cache[example.path]
            segment = noise[example.offset : example.offset + CLIP_SAMPLES] * example.gain
            waveforms[index] = fit_length(segment)
        else:
            waveforms[index] = fit_length(read_audio(example.path, allow_silent=True))
        labels[index] = LABELS.index(example.label)
        if bar is not None and (index + 1) % 200 == 0:
            bar.update(index + 1)
    if bar is not None:
        bar.update(len(examples), finalize=True)
    return waveforms, labels


def load_split(root: str | os.PathLike, split: str = "train", **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """`load_examples(list_examples(root, split, **kwargs))`."""
    progress = kwargs.pop("progress", False)
    return load_examples(list_examples(root, split, **kwargs), progress=progress)


def load_background(root: str | os.PathLike) -> list[np.ndarray]:
    """Every `_background_noise_` recording, as 16 kHz mono float32 arrays."""
    return [read_audio(path, allow_silent=True) for path in background_files(root)]
