"""Synthesize a speech-commands corpus with espeak-ng, flite and festival, in the v2 layout.

The corpus is written exactly like Google Speech Commands v2 (one folder per
word, `_background_noise_/`, `validation_list.txt`, `testing_list.txt`), so
`keras_rnnzoo.data.speech_commands` loads it like the real data.

Voices: every English espeak-ng voice (`espeak-ng --voices=en`, MBROLA ones
excluded because they need the non-free MBROLA data) combined with espeak-ng
variants (`+f3`, `+klatt`, ...), plus the flite voices kal, kal16, awb, rms
and slt, plus (optionally, training only) festival voices such as
`ked_diphone`, a male American diphone speaker that flite does not have.
Each take has its own speaking rate and pitch. Clips get a random
gain, sometimes a simple synthetic reverberation, and a random position
inside the one-second window (time shift). `_background_noise_/` holds
generated white, pink and brown noise, mains hum at 50 and 60 Hz and babble
built from `_unknown_` words of espeak-ng and flite training voices (not
festival ones, so adding festival voices changes no other file).

Optionally (`converted_voices`, training only) each flite and festival
training voice also yields new speakers by voice conversion: Praat's "Change
gender" (formant shift and pitch, via parselmouth; `pip install
'keras-rnnzoo[speech-synth]'`) turns e.g. the female slt into a male-sounding
speaker, so training hears more than the four flite / festival speakers.

The split is by voice, never by clip: whole espeak-ng *variants* (every
language they are combined with) and whole flite speakers are held out for
validation and test (`SPLIT_GROUPS`), so test voices were never heard in
training. Festival voices always go to training.

Requires the Debian packages `espeak-ng` and `flite`
(`apt-get install espeak-ng flite`), and for festival voices `festival` and
the voice's package (`apt-get install festival festvox-kdlpc16k` for
`ked_diphone`); `check_synthesizers()` says so.

Example (needs espeak-ng and flite)::

    from keras_rnnzoo.data import speech_synth
    speech_synth.synthesize_corpus("data/speech-synth", seed=0)
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from keras_rnnzoo.data.speech_audio import SAMPLE_RATE, read_audio, resample, write_audio
from keras_rnnzoo.data.speech_commands import (
    BACKGROUND_FOLDER,
    KEYWORDS,
    OTHER_WORDS,
    TESTING_LIST,
    VALIDATION_LIST,
)

_log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install espeak-ng flite"
FESTIVAL_INSTALL_HINT = "apt-get install festival festvox-kdlpc16k"
# More `_unknown_` words beyond the other 25 Speech Commands words. The list is
# the draw pool of the corpus (changing it changes every voice's draws); the
# words in KEYWORD_SOUNDALIKES are drawn but not synthesized (see below).
EXTRA_UNKNOWN_WORDS = (
    "yeah", "yet", "yellow", "nose", "know", "now", "cup", "pup", "town", "brown",
    "lift", "loft", "write", "bright", "light", "in", "of", "top", "shop", "goal",
    "though", "hello", "music", "water", "under", "dollar", "often", "stock", "no way", "begin",
)
# Rhymes and near-homophones of the keywords ("town" / "down", "write" /
# "right", ...). Synthetic voices blur them into the keyword itself, so as
# `_unknown_` examples they made the classes ambiguous (a first model
# confused 22% of "down" with `_unknown_`); like the real Speech Commands
# data, the corpus leaves them out.
KEYWORD_SOUNDALIKES = frozenset((
    "yeah", "yet", "nose", "know", "now", "no way", "cup", "pup", "town", "brown",
    "lift", "loft", "write", "bright", "light", "in", "of", "often", "top", "shop", "stock", "goal",
))
UNKNOWN_WORDS = OTHER_WORDS + EXTRA_UNKNOWN_WORDS
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# Held-out voice groups. espeak-ng groups are variant names (every language
# combined with that variant goes with it); flite groups are speakers.
SPLIT_GROUPS = {
    "validation": (
        "flite-rms", "f2", "m4", "Andy", "Annie", "Gene", "Hugo", "Mario",
        "robosoft3", "steph2", "Tweaky", "klatt3", "Denis", "shelby",
    ),
    "test": (
        "flite-awb", "f4", "m6", "Alicia", "belinda", "edward2", "iven3", "Lee",
        "michel", "pablo", "robosoft5", "anika", "croak", "grandpa", "whisper", "klatt4",
    ),
}
NOISE_KINDS = ("white", "pink", "brown", "hum50", "hum60", "babble")
CLIP_SAMPLES = SAMPLE_RATE
MAX_WORD_SAMPLES = int(0.95 * SAMPLE_RATE)
# flite / festival takes: duration stretch drawn from 0.8 up to this
DEFAULT_MAX_STRETCH = 1.3


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine, its voice and (espeak-ng) variant."""

    engine: str  # "espeak-ng", "flite" or "festival"
    voice: str  # espeak-ng language voice ("en-us"), flite voice ("slt") or festival voice ("ked_diphone")
    variant: str = ""  # espeak-ng variant ("f3"), "" for the plain voice
    converted: int = 0  # k > 0: the k-th speaker converted from this voice (`conversion_of`)

    @property
    def id(self) -> str:
        """File-name-safe id, used as the Speech Commands speaker id."""
        suffix = f"-conv{self.converted}" if self.converted else ""
        if self.engine == "flite":
            return f"flite-{self.voice}{suffix}"
        if self.engine == "festival":
            return "festival-" + self.voice.removesuffix("_diphone") + suffix
        return f"espeak-{self.voice}" + (f"-{self.variant}" if self.variant else "") + suffix

    @property
    def group(self) -> str:
        """The voice group that is assigned to one split as a whole."""
        if self.engine == "flite":
            return "flite-" + ("kal" if self.voice.startswith("kal") else self.voice)
        if self.engine == "festival":
            return self.id
        return self.variant or "plain"


def check_synthesizers(festival_voices: tuple[str, ...] = ()) -> None:
    """Raise `RuntimeError` with the install command if a synthesizer or voice is missing.

    espeak-ng and flite are always needed; festival (`text2wave`) and each of
    `festival_voices` only when asked for.
    """
    missing = [tool for tool in ("espeak-ng", "flite") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"{' and '.join(missing)} not found on PATH; the speech corpus is "
            f"synthesized with espeak-ng and flite: {INSTALL_HINT}"
        )
    if not festival_voices:
        return
    if shutil.which("text2wave") is None:
        raise RuntimeError(
            f"festival voices {list(festival_voices)} were asked for, but festival's text2wave "
            f"is not on PATH: {FESTIVAL_INSTALL_HINT}"
        )
    installed = _festival_voices()
    absent = [name for name in festival_voices if name not in installed]
    if absent:
        raise RuntimeError(
            f"festival voice(s) {absent} not installed (festival has {sorted(installed)}); "
            f"e.g. {FESTIVAL_INSTALL_HINT} for ked_diphone."
        )


def _festival_voices() -> set[str]:
    """Names of the installed festival voices (`ked_diphone`, ...)."""
    result = subprocess.run(
        ["festival", "--batch", "(print (voice.list))"], capture_output=True, text=True
    )
    return set(result.stdout.strip().strip("()").split())


def _espeak_table(selector: str) -> list[list[str]]:
    result = subprocess.run(
        ["espeak-ng", f"--voices={selector}"], capture_output=True, text=True, check=True
    )
    return [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]


def espeak_english_voices() -> list[str]:
    """English espeak-ng language voices that need no MBROLA data (`en-us`, ...)."""
    voices = []
    for row in _espeak_table("en"):
        # columns: priority, language, age/gender, name, file, [other languages]
        if len(row) >= 5 and row[4].startswith("gmw/") and row[1] not in voices:
            voices.append(row[1])
    return voices


def espeak_variants() -> list[str]:
    """Every espeak-ng voice variant (`f3`, `klatt`, `Storm`, ...)."""
    variants = []
    for row in _espeak_table("variant"):
        if len(row) >= 5 and row[4].startswith("!v/"):
            variants.append(row[4][3:])
    return sorted(set(variants))


def list_voices(
    *,
    languages_per_variant: int = 2,
    festival_voices: tuple[str, ...] = (),
    converted_voices: int = 0,
    seed: int = 0,
) -> list[Voice]:
    """Every voice of the corpus: plain espeak-ng voices, variants, flite and festival voices.

    Each variant is combined with `languages_per_variant` English voices
    picked at random (seeded), to keep the corpus size in check. Festival
    voices come next, then `converted_voices` converted speakers of each
    flite and festival training voice, so neither changes any other voice's
    draws.
    """
    check_synthesizers()
    rng = np.random.default_rng(seed)
    languages = espeak_english_voices()
    if not languages:
        raise RuntimeError("espeak-ng lists no English voices (espeak-ng --voices=en is empty).")
    voices = [Voice("espeak-ng", language) for language in languages]
    for variant in espeak_variants():
        count = min(languages_per_variant, len(languages))
        for index in rng.choice(len(languages), size=count, replace=False):
            voices.append(Voice("espeak-ng", languages[int(index)], variant))
    voices += [Voice("flite", name) for name in FLITE_VOICES]
    voices += [Voice("festival", name) for name in festival_voices]
    sources = [voice for voice in voices if voice.engine != "espeak-ng" and split_of(voice) == "train"]
    voices += [Voice(v.engine, v.voice, converted=k) for v in sources for k in range(1, converted_voices + 1)]
    return voices


def split_of(voice: Voice) -> str:
    """"train", "validation" or "test" for a voice, from its group (festival: train)."""
    for split, groups in SPLIT_GROUPS.items():
        if voice.group in groups:
            return split
    return "train"


def _synthesize_raw(voice: Voice, text: str, rate: float, pitch: float, folder: str) -> np.ndarray:
    """One utterance as 16 kHz float32, by running the synthesizer."""
    out = os.path.join(folder, f"{zlib.crc32(f'{voice.id}{text}{rate}{pitch}'.encode())}.wav")
    if voice.engine == "espeak-ng":
        name = voice.voice + (f"+{voice.variant}" if voice.variant else "")
        command = ["espeak-ng", "-v", name, "-s", str(int(rate)), "-p", str(int(pitch)), "-w", out, text]
    elif voice.engine == "festival":
        # text2wave reads the text from a file; the voice's own settings are
        # set first, then the take's speaking rate and mean pitch replace them.
        text_file = out[:-4] + ".txt"
        Path(text_file).write_text(text)
        command = [
            "text2wave", "-o", out,
            "-eval", f"(voice_{voice.voice})",
            "-eval", f"(Parameter.set 'Duration_Stretch {rate:.3f})",
            "-eval", f"(set! int_lr_params '((target_f0_mean {pitch:.1f}) (target_f0_std 15)"
                     " (model_f0_mean 170) (model_f0_std 34)))",
            text_file,
        ]
    else:
        command = [
            "flite", "-voice", voice.voice,
            "--setf", f"duration_stretch={rate:.3f}",
            "--setf", f"int_f0_target_mean={pitch:.1f}",
            "-t", text, "-o", out,
        ]
    result = subprocess.run(command, capture_output=True, text=True)
    if voice.engine == "festival":
        os.remove(text_file)
    if result.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(
            f"{' '.join(command)} failed (exit {result.returncode}): {result.stderr.strip()[:300]}"
        )
    try:
        return read_audio(out, allow_silent=True)
    finally:
        os.remove(out)


def conversion_of(voice: Voice, seed: int) -> dict[str, float]:
    """The fixed settings of a converted speaker: formant shift ratio, pitch median (Hz) and pitch range factor.

    Formants are scaled by 0.85-1.2 (shorter or longer vocal tract), the
    pitch median is 80-240 Hz (male to child), the pitch range 0.6-1.6 times
    the source's; each converted speaker keeps its settings for every take.
    """
    rng = np.random.default_rng(_clip_seed(seed, voice.id, "conversion"))
    return {
        "formant_shift": float(rng.uniform(0.85, 1.2)),
        "pitch_median": float(rng.uniform(80.0, 240.0)),
        "pitch_range": float(rng.uniform(0.6, 1.6)),
    }


def _parselmouth():
    """The parselmouth module (Praat), or an ImportError that says how to install it."""
    try:
        import parselmouth
    except ImportError as error:
        raise ImportError(
            "Converted voices need parselmouth (Praat): pip install 'keras-rnnzoo[speech-synth]'"
        ) from error
    return parselmouth


def convert_voice(samples: np.ndarray, formant_shift: float, pitch_median: float, pitch_range: float) -> np.ndarray:
    """`samples` (16 kHz) said by another speaker: Praat's "Change gender" (PSOLA) via parselmouth.

    Example::

        deeper = convert_voice(word, formant_shift=0.88, pitch_median=100.0, pitch_range=1.0)
    """
    parselmouth = _parselmouth()
    sound = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=SAMPLE_RATE)
    with warnings.catch_warnings():
        # a take without voiced frames (e.g. a whispered variant) has no pitch
        # to move; Praat warns and still shifts its spectrum
        warnings.simplefilter("ignore", parselmouth.PraatWarning)
        # arguments: pitch floor and ceiling (Hz) of the analysis, formant
        # shift ratio, new pitch median (Hz), pitch range factor, duration factor
        changed = parselmouth.praat.call(
            sound, "Change gender", 60, 600, formant_shift, pitch_median, pitch_range, 1.0
        )
    return np.asarray(changed.values[0], np.float32)


def _trim(samples: np.ndarray, threshold_db: float = -40.0) -> np.ndarray:
    """Cut leading/trailing low-level audio (10 ms frames below peak + threshold)."""
    frame = SAMPLE_RATE // 100
    count = len(samples) // frame
    if count == 0:
        return samples
    energy = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(energy > energy.max() * 10 ** (threshold_db / 20))[0]
    if loud.size == 0:
        return samples[:0]
    return samples[max(loud[0] - 2, 0) * frame : min(loud[-1] + 3, count) * frame]


def reverberate(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convolve with an exponentially decaying noise impulse response (RT60 0.1-0.6 s)."""
    rt60 = rng.uniform(0.1, 0.6)
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    response = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    response[0] = 1.0 / rng.uniform(0.3, 1.0)  # direct path dominates
    response /= np.sqrt(np.sum(response**2))
    wet = np.convolve(samples, response)[: len(samples) + length // 2]
    return wet.astype(np.float32)


def place_in_clip(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put a word at a random position (time shift) inside a one-second clip."""
    if len(word) > MAX_WORD_SAMPLES:  # too slow a take: speed it up to fit
        word = resample(word, len(word), MAX_WORD_SAMPLES)[:MAX_WORD_SAMPLES]
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    start = int(rng.integers(0, CLIP_SAMPLES - len(word) + 1))
    clip[start : start + len(word)] = word
    return clip


def render_take(
    voice: Voice,
    text: str,
    rng: np.random.Generator,
    folder: str,
    max_stretch: float = DEFAULT_MAX_STRETCH,
    conversion: dict[str, float] | None = None,
) -> np.ndarray:
    """One augmented one-second clip of `text` said by `voice`.

    flite and festival takes are slowed down by a duration stretch drawn
    from 0.8 to `max_stretch` (espeak-ng: 110-230 words per minute). A
    converted voice's takes go through `convert_voice` with `conversion`
    (`conversion_of(voice, seed)`), the pitch median varied by +-15% per take.
    """
    if voice.engine == "espeak-ng":
        rate, pitch = rng.uniform(110, 230), rng.uniform(15, 85)
    else:
        rate, pitch = rng.uniform(0.8, max_stretch), rng.uniform(80, 190)
    word = _synthesize_raw(voice, text, rate, pitch, folder)
    if voice.converted:
        if conversion is None:
            raise ValueError(f"{voice.id} is a converted voice: render_take needs its conversion settings.")
        take = {**conversion, "pitch_median": conversion["pitch_median"] * rng.uniform(0.85, 1.15)}
        word = convert_voice(word, **take)
    word = _trim(word)
    if word.size == 0:
        raise RuntimeError(f"{voice.id} produced no audible speech for {text!r}.")
    if rng.random() < 0.3:
        word = reverberate(word, rng)
    peak = float(np.max(np.abs(word)))
    word = word / peak * rng.uniform(0.05, 0.9)
    clip = place_in_clip(word, rng)
    clip += rng.standard_normal(CLIP_SAMPLES).astype(np.float32) * 10 ** (rng.uniform(-80, -55) / 20)
    return clip


def generate_noise(kind: str, seconds: float, rng: np.random.Generator, babble_words=()) -> np.ndarray:
    """A background-noise recording: white, pink, brown, hum50, hum60 or babble."""
    size = int(seconds * SAMPLE_RATE)
    if kind in ("white", "pink", "brown"):
        spectrum = np.fft.rfft(rng.standard_normal(size))
        freqs = np.fft.rfftfreq(size, 1 / SAMPLE_RATE)
        freqs[0] = freqs[1]
        exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
        noise = np.fft.irfft(spectrum / freqs**exponent, n=size)
    elif kind in ("hum50", "hum60"):
        base = 50.0 if kind == "hum50" else 60.0
        t = np.arange(size) / SAMPLE_RATE
        noise = sum(
            rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 8)
        )
        noise = noise + 0.05 * rng.standard_normal(size)
    elif kind == "babble":
        if not babble_words:
            raise ValueError("babble noise needs words to mix (babble_words is empty).")
        noise = np.zeros(size)
        for _ in range(6):  # six overlapping talkers
            position = int(rng.integers(0, SAMPLE_RATE // 2))
            while position < size:
                word = babble_words[int(rng.integers(len(babble_words)))]
                end = min(position + len(word), size)
                noise[position:end] += word[: end - position] * rng.uniform(0.3, 1.0)
                position = end + int(rng.integers(0, SAMPLE_RATE // 10))
    else:
        raise ValueError(f"Unknown noise kind {kind!r}; expected one of {NOISE_KINDS}.")
    noise = noise / (np.max(np.abs(noise)) + 1e-9) * 0.5
    return noise.astype(np.float32)


@dataclass(frozen=True)
class _Job:
    voice: Voice
    word: str
    take: int
    seed: int


def _clip_seed(seed: int, *parts) -> int:
    """A seed that depends only on the corpus seed and the clip's identity."""
    return zlib.crc32("|".join(map(str, (seed, *parts))).encode())


def corpus_jobs(
    voices: list[Voice],
    *,
    keyword_takes: int,
    flite_keyword_takes: int,
    unknown_words_per_voice: int,
    seed: int,
) -> list[_Job]:
    """Every clip of the corpus; each one's randomness depends only on its identity,
    so any subset of voices (e.g. only the test voices) is reproduced exactly."""
    jobs = []
    for voice in voices:
        takes = keyword_takes if voice.engine == "espeak-ng" else flite_keyword_takes
        for word in KEYWORDS:
            for take in range(takes):
                jobs.append(_Job(voice, word, take, _clip_seed(seed, voice.id, word, take)))
        rng = np.random.default_rng(_clip_seed(seed, voice.id, "unknown"))
        count = unknown_words_per_voice * max(1, takes // max(1, keyword_takes))
        for take, index in enumerate(rng.choice(len(UNKNOWN_WORDS), size=count, replace=True)):
            word = UNKNOWN_WORDS[int(index)]
            if word in KEYWORD_SOUNDALIKES:
                continue
            jobs.append(_Job(voice, word, take, _clip_seed(seed, voice.id, word, "unknown", take)))
    return jobs


def _clip_path(root: Path, job: _Job) -> Path:
    return root / job.word.replace(" ", "-") / f"{job.voice.id}_nohash_{job.take}.wav"


def babble_words(voices: list[Voice], seed: int, count: int = 120, folder: str | None = None) -> list[np.ndarray]:
    """`count` `_unknown_` words said by espeak-ng and flite training voices (not converted ones), for babble noise."""
    train = [
        voice for voice in voices
        if split_of(voice) == "train" and voice.engine != "festival" and not voice.converted
    ]
    rng = np.random.default_rng(_clip_seed(seed, "babble"))
    words = []
    with tempfile.TemporaryDirectory(prefix="rnnzoo-babble-") as scratch:
        for index in range(count):
            voice = train[int(rng.integers(len(train)))]
            word = UNKNOWN_WORDS[int(rng.integers(len(UNKNOWN_WORDS)))]
            take_rng = np.random.default_rng(_clip_seed(seed, "babble", index))
            words.append(_trim(render_take(voice, word, take_rng, folder or scratch)))
    return words


def synthesize_corpus(
    root: str | os.PathLike,
    *,
    keyword_takes: int = 3,
    flite_keyword_takes: int = 12,
    unknown_words_per_voice: int = 8,
    languages_per_variant: int = 2,
    festival_voices: tuple[str, ...] | list[str] = (),
    training_max_stretch: float = DEFAULT_MAX_STRETCH,
    converted_voices: int = 0,
    noise_seconds: float = 30.0,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    max_voices_per_split: int | None = None,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Write the synthetic corpus under `root` in the Speech Commands v2 layout.

    Args:
        root: output folder (created; an existing corpus there is replaced).
        keyword_takes: takes of each keyword per espeak-ng voice.
        flite_keyword_takes: takes of each keyword per flite or festival voice
            (few voices); they also say proportionally more `_unknown_` words.
        unknown_words_per_voice: `_unknown_` words said by each espeak-ng voice.
        languages_per_variant: espeak-ng languages each variant is used with.
        festival_voices: festival voices added to the training voices
            (e.g. `("ked_diphone",)`); festival is needed only when a chosen
            split includes them, so `splits=("test",)` never needs it.
        training_max_stretch: the slowest flite / festival takes of training
            voices (duration stretch; held-out voices always use
            `DEFAULT_MAX_STRETCH`, so their clips do not depend on it).
        converted_voices: converted speakers made from each flite and
            festival training voice (`convert_voice`; needs parselmouth);
            they change no other clip.
        noise_seconds: length of each `_background_noise_` recording.
        splits: which splits' voices to synthesize; `("test",)` reproduces the
            test clips of the full corpus exactly (clip seeds depend only on
            the clip), e.g. to rerun an evaluation without the training data.
        max_voices_per_split: keep only this many voices (seeded choice) per
            split, for quick smoke-test corpora.
        seed: seed of everything random (voices, rates, pitches, shifts, noise).
        workers: synthesizer processes run at once.
        progress: show a Keras progress bar.

    Returns:
        A summary dict (also written as `corpus.json` in `root`): voices and
        their splits, clip counts per split and word, settings.
    """
    festival_voices = tuple(festival_voices)
    if not 0.8 <= training_max_stretch <= 3.0:
        raise ValueError(
            f"training_max_stretch must be between 0.8 and 3.0 (a duration stretch); got {training_max_stretch!r}."
        )
    if not isinstance(converted_voices, int) or not 0 <= converted_voices <= 20:
        raise ValueError(f"converted_voices must be an integer from 0 to 20; got {converted_voices!r}.")
    check_synthesizers(festival_voices if "train" in splits else ())
    if converted_voices and "train" in splits:
        _parselmouth()  # missing: fail before anything is written
    unknown_splits = set(splits) - {"train", "validation", "test"}
    if unknown_splits or not splits:
        raise ValueError(f"splits must be a non-empty subset of train, validation, test; got {splits!r}.")
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    voices = list_voices(
        languages_per_variant=languages_per_variant,
        festival_voices=festival_voices,
        converted_voices=converted_voices if "train" in splits else 0,
        seed=seed,
    )
    chosen = [voice for voice in voices if split_of(voice) in splits]
    if max_voices_per_split is not None:
        picked = []
        for split in splits:
            members = [voice for voice in chosen if split_of(voice) == split]
            order = np.random.default_rng(_clip_seed(seed, "voices", split)).permutation(len(members))
            picked += [members[i] for i in sorted(order[:max_voices_per_split])]
        chosen = picked
    jobs = corpus_jobs(
        chosen,
        keyword_takes=keyword_takes,
        flite_keyword_takes=flite_keyword_takes,
        unknown_words_per_voice=unknown_words_per_voice,
        seed=seed,
    )
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(jobs), unit_name="clip")
    lists = {"validation": [], "test": []}
    counts: dict[str, dict[str, int]] = {split: {} for split in splits}
    done = 0

    def run(job: _Job) -> _Job:
        stretch = training_max_stretch if split_of(job.voice) == "train" else DEFAULT_MAX_STRETCH
        conversion = conversion_of(job.voice, seed) if job.voice.converted else None
        clip = render_take(job.voice, job.word, np.random.default_rng(job.seed), scratch, stretch, conversion)
        write_audio(_clip_path(root, job), clip)
        return job

    with tempfile.TemporaryDirectory(prefix="rnnzoo-synth-") as scratch:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for job in pool.map(run, jobs):
                split = split_of(job.voice)
                path = _clip_path(root, job)
                if split in lists:
                    lists[split].append(f"{path.parent.name}/{path.name}")
                counts[split][path.parent.name] = counts[split].get(path.parent.name, 0) + 1
                done += 1
                if bar is not None and done % 100 == 0:
                    bar.update(done)
        if bar is not None:
            bar.update(len(jobs), finalize=True)
        babble = babble_words(voices, seed, folder=scratch)
    for split, name in (("validation", VALIDATION_LIST), ("test", TESTING_LIST)):
        (root / name).write_text("".join(f"{line}\n" for line in sorted(lists[split])))
    for kind in NOISE_KINDS:
        noise = generate_noise(kind, noise_seconds, np.random.default_rng(_clip_seed(seed, "noise", kind)), babble)
        write_audio(root / BACKGROUND_FOLDER / f"{kind}.wav", noise)
    summary = {
        "generator": "keras_rnnzoo.data.speech_synth.synthesize_corpus",
        "settings": {
            "keyword_takes": keyword_takes,
            "flite_keyword_takes": flite_keyword_takes,
            "unknown_words_per_voice": unknown_words_per_voice,
            "languages_per_variant": languages_per_variant,
            "festival_voices": list(festival_voices),
            **({"training_max_stretch": training_max_stretch} if training_max_stretch != DEFAULT_MAX_STRETCH else {}),
            **({"converted_voices": converted_voices} if converted_voices else {}),
            "noise_seconds": noise_seconds,
            "splits": list(splits),
            "max_voices_per_split": max_voices_per_split,
            "seed": seed,
        },
        "synthesizers": {tool: _version(tool) for tool in sorted({"espeak-ng", "flite"} | {v.engine for v in chosen})},
        "voices": [
            {**asdict(v), "id": v.id, "group": v.group, "split": split_of(v),
             **({"conversion": conversion_of(v, seed)} if v.converted else {})}
            for v in chosen
        ],
        "clips": counts,
        "noise": list(NOISE_KINDS),
    }
    (root / "corpus.json").write_text(json.dumps(summary, indent=1))
    _log.info("Synthesized %d clips from %d voices under %s", len(jobs), len(chosen), root)
    return summary


def _version(tool: str) -> str:
    flag = "--version"
    result = subprocess.run([tool, flag], capture_output=True, text=True)
    return (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "unknown"
