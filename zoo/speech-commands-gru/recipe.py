"""Train, evaluate and write the `speech-commands-gru` preset from nothing.

    KERAS_BACKEND=jax python zoo/speech-commands-gru/recipe.py          # full run
    python zoo/speech-commands-gru/recipe.py --quick                    # smoke test, minutes
    python zoo/speech-commands-gru/recipe.py --data ~/speech_commands_v0.02   # real data
    rnnzoo train speech-commands-gru [--quick] [--data PATH] [--output DIR]

Data: a corpus synthesized with espeak-ng and flite in the Google Speech
Commands v2 layout (`keras_rnnzoo.data.speech_synth`; needs
`apt-get install espeak-ng flite`; `--festival-voice ked_diphone` adds a
festival speaker to the training voices), split by voice; or, with `--data`, a
real Speech Commands v2 folder. Training adds, on the fly: speed
perturbation with `--speed` (resampling, so tempo and pitch change like
another speaker's), background noise from `_background_noise_` at random SNR,
gain, time shift, preceding audio (`--context-seconds`, half a second by
default, so the recurrent state learns to forget, which streaming needs), and
SpecAugment masking inside the model.

Every number of the card comes from this script: test accuracy overall and
per class on the held-out voices, the confusion matrix (PNG), parameters,
file size and streaming latency per hop. Any Keras backend trains it; JAX
is the fastest on CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from keras_rnnzoo.data.speech_audio import fit_length, resample
from keras_rnnzoo.data.speech_synth import DEFAULT_MAX_STRETCH

HERE = Path(__file__).resolve().parent
NAME = "speech-commands-gru"
VERSION = "1.0.0"
SEED = 20260101
FULL_CORPUS = dict(keyword_takes=3, flite_keyword_takes=12, unknown_words_per_voice=8, languages_per_variant=2)
QUICK_CORPUS = dict(keyword_takes=2, flite_keyword_takes=2, unknown_words_per_voice=4, languages_per_variant=1,
                    max_voices_per_split=8)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny corpus and model, 2 epochs (smoke test)")
    parser.add_argument("--data", type=Path, help="a real Speech Commands v2 folder to train on instead")
    parser.add_argument("--format", choices=["speech-commands"], default="speech-commands",
                        help="layout of --data (only the Speech Commands v2 folder layout)")
    parser.add_argument("--corpus", type=Path, help="where the synthetic corpus is (synthesized if absent); "
                        "default $RNNZOO_HOME/data/speech-synth-<settings>")
    parser.add_argument("--output", type=Path, help="preset folder (default: the shipped preset for full runs, "
                        "$RNNZOO_HOME/speech-commands-gru-quick for --quick, -custom for --data)")
    parser.add_argument("--cell", default="gru", help="any registered keras_rnnzoo cell (gru, lstm, ...)")
    parser.add_argument("--units", type=int, default=None)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--patience", type=int, default=10, help="early stopping on validation accuracy")
    parser.add_argument("--min-snr", type=float, default=5.0, help="lowest SNR (dB) of the added background noise")
    parser.add_argument("--speed", type=float, default=0.15,
                        help="speed perturbation: clips are resampled by a factor in [1 - SPEED, 1 + SPEED] "
                             "(tempo and pitch, like another speaker's vocal tract); 0 turns it off")
    parser.add_argument("--warp", type=float, default=0.0,
                        help="random frequency warp of the log-mel bands by a factor in [1 - WARP, 1 + WARP] "
                             "(vocal-tract length perturbation inside SpecAugment, training only); 0 turns it off")
    parser.add_argument("--context-seconds", type=float, default=0.5,
                        help="audio before the clip in half the training batches (another clip's tail or noise), "
                             "so that the streaming state learns to forget")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after the epoch that passes this much training time (best epoch kept)")
    parser.add_argument("--init", type=Path, metavar="PRESET",
                        help="continue training this preset's model (fresh optimizer and schedule)")
    parser.add_argument("--evaluate-only", type=Path, metavar="PRESET",
                        help="skip training: evaluate, calibrate and rewrite this preset's model")
    parser.add_argument("--festival-voice", action="append", default=[], metavar="VOICE",
                        help="add this festival voice to the synthetic training voices (repeatable; e.g. "
                             "ked_diphone: apt-get install festival festvox-kdlpc16k)")
    parser.add_argument("--training-max-stretch", type=float, default=DEFAULT_MAX_STRETCH, metavar="STRETCH",
                        help="slowest flite/festival takes of training voices (duration stretch, from 0.8; "
                             f"held-out voices keep 0.8-{DEFAULT_MAX_STRETCH:g})")
    parser.add_argument("--converted-voices", type=int, default=0, metavar="N",
                        help="add N converted speakers (Praat's Change gender: formants and pitch) of each flite/"
                             "festival training voice; needs pip install 'keras-rnnzoo[speech-synth]'")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    _check_output_name(parser, args.output)
    if not 0 <= args.converted_voices <= 20:
        parser.error(f"--converted-voices must be from 0 to 20; got {args.converted_voices}")
    return args


def _check_output_name(parser, output) -> None:
    """Refuse an `--output` folder whose name cannot name a preset before any work is done."""
    from keras_rnnzoo.zoo.io import check_preset_name

    if output is not None:
        try:
            check_preset_name(Path(output).name)
        except ValueError as error:
            parser.error(f"--output {output}: the folder's name is the preset's name. {error}")


def zoo_info(path):
    from keras_rnnzoo import zoo

    return zoo.preset_info(path)


def time_budget(minutes):
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            if minutes is not None and time.time() - self.started > 60 * minutes:
                logging.info("Time budget of %.1f minutes used: stopping after epoch %d", minutes, epoch + 1)
                self.model.stop_training = True

    return TimeBudget()


class Augmented:
    """Training batches: speed, noise, gain, shift and preceding context, fresh every epoch."""

    def __init__(self, waveforms, labels, noises, batch_size, seed, silence_id, *, min_snr=0.0, speed=0.0,
                 context_samples=8000):
        self.waveforms, self.labels, self.noises = waveforms, labels, noises
        self.batch_size, self.seed, self.silence_id = batch_size, seed, silence_id
        self.min_snr, self.speed, self.context_samples = min_snr, speed, context_samples
        self.epoch = 0

    def __len__(self):
        return int(np.ceil(len(self.waveforms) / self.batch_size))

    def noise_segment(self, rng, length):
        noise = self.noises[int(rng.integers(len(self.noises)))]
        start = int(rng.integers(0, len(noise) - length + 1))
        return noise[start : start + length]

    def batch(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.waveforms))
        chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
        with_context = rng.random() < 0.5  # half the batches start from a zero state
        context = self.context_samples
        length = 16000 + (context if with_context else 0)
        x = np.zeros((len(chosen), length), np.float32)
        for row, example in enumerate(chosen):
            clip = self.waveforms[example].copy()
            if self.speed and self.labels[example] != self.silence_id and rng.random() < 0.8:
                factor = rng.uniform(1 - self.speed, 1 + self.speed)
                clip = fit_length(resample(clip, 16000, int(round(16000 / factor))), 16000)
            shift = int(rng.integers(-1600, 1601))
            clip = np.roll(clip, shift)
            if shift > 0:
                clip[:shift] = 0
            elif shift < 0:
                clip[shift:] = 0
            full = np.zeros(length, np.float32)
            if with_context and rng.random() < 0.6:  # the tail of another clip comes first
                other = self.waveforms[int(rng.integers(len(self.waveforms)))]
                take = min(context, 16000)
                start = int(rng.integers(0, context - take + 1))
                full[start : start + take] = other[-take:] * 10 ** (rng.uniform(-10, 3) / 20)
            full[length - 16000 :] = clip
            if self.labels[example] != self.silence_id and rng.random() < 0.85:
                rms = np.sqrt(np.mean(clip**2)) + 1e-6
                noise = self.noise_segment(rng, length)
                snr = rng.uniform(self.min_snr, 30)
                full += noise / (np.sqrt(np.mean(noise**2)) + 1e-9) * rms * 10 ** (-snr / 20)
            elif self.labels[example] == self.silence_id and with_context:
                full[:context] += self.noise_segment(rng, context) * rng.uniform(0, 1)
            full *= 10 ** (rng.uniform(-12, 6) / 20)
            x[row] = np.clip(full, -1, 1)
        return x, self.labels[chosen]


def make_dataset(augmented, num_classes):
    """`augmented`'s batches with one-hot labels, for `model.fit`, on any backend.

    The clips' length varies from batch to batch (with or without preceding
    context). A `PyDataset` on TensorFlow would take its signature from its
    first two batches and fail on a longer one when those two happen to have
    the same length, so TensorFlow gets a `tf.data` pipeline with a
    variable-length signature instead.
    """
    import keras

    def one_hot_batch(index):
        x, y = augmented.batch(index)
        return x, keras.utils.to_categorical(y, num_classes)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        def batches():
            yield from map(one_hot_batch, range(len(augmented)))
            augmented.epoch += 1

        signature = (tf.TensorSpec((None, None), tf.float32), tf.TensorSpec((None, num_classes), tf.float32))
        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(1)

    class Dataset(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self):
            return len(augmented)

        def __getitem__(self, index):
            return one_hot_batch(index)

        def on_epoch_end(self):
            augmented.epoch += 1

    return Dataset()


def noisy_copy(waveforms, labels, noises, silence_id, snr_db, seed):
    """Test clips with background noise mixed in at a fixed SNR (deterministic)."""
    rng = np.random.default_rng(seed)
    out = waveforms.copy()
    for row in range(len(out)):
        if labels[row] == silence_id:
            continue
        noise = noises[int(rng.integers(len(noises)))]
        start = int(rng.integers(0, len(noise) - 16000 + 1))
        segment = noise[start : start + 16000]
        rms = np.sqrt(np.mean(out[row] ** 2)) + 1e-6
        out[row] += segment / (np.sqrt(np.mean(segment**2)) + 1e-9) * rms * 10 ** (-snr_db / 20)
    return np.clip(out, -1, 1)


def keyword_stream(waveforms, labels, keyword_ids, rng, words=60):
    """One long recording: `words` keyword clips (trimmed) with 0.4-1.2 s of quiet noise between.

    Returns the audio and the `(label id, start s, end s)` of every word.
    """
    from keras_rnnzoo.data.speech_synth import _trim

    rows = [i for i in range(len(labels)) if labels[i] in keyword_ids]
    parts, spans, position = [], [], 0
    for row in rng.choice(rows, size=min(words, len(rows)), replace=False):
        gap = rng.standard_normal(int(rng.uniform(0.4, 1.2) * 16000)).astype(np.float32) * 1e-3
        spoken = _trim(waveforms[row])
        position += len(gap)
        spans.append((int(labels[row]), position / 16000, (position + len(spoken)) / 16000))
        parts += [gap, spoken]
        position += len(spoken)
    parts.append(rng.standard_normal(16000).astype(np.float32) * 1e-3)
    return np.concatenate(parts), spans


def score_events(events, spans, names, late=0.6):
    """Hits (right keyword during the word or up to `late` s after it), misses, false alarms."""
    used, hits = set(), 0
    for event in events:
        for index, (label, start, end) in enumerate(spans):
            if index not in used and names[label] == event["label"] and start < event["time"] <= end + late:
                used.add(index)
                hits += 1
                break
    return {"hits": hits, "misses": len(spans) - hits, "false_alarms": len(events) - hits}


def calibrate_stream(spotter, waveforms, labels, seed):
    """Pick the streaming threshold on validation voices: most hits minus false alarms."""
    names = spotter.labels
    keyword_ids = [i for i, n in enumerate(names) if not n.startswith("_")]
    audio, spans = keyword_stream(waveforms, labels, keyword_ids, np.random.default_rng(seed))
    hops = list(spotter.stream_probabilities([audio[i : i + 1600] for i in range(0, len(audio), 1600)]))
    best = None
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.9):
        result = score_events(list(spotter.detect(hops, threshold=threshold)), spans, names)
        logging.info("stream threshold %.1f: %s", threshold, result)
        if best is None or result["hits"] - result["false_alarms"] > best[1]["hits"] - best[1]["false_alarms"]:
            best = (threshold, result)
    threshold, result = best
    spotter.config["threshold"] = threshold
    return {"threshold": threshold, "words": len(spans), "seconds": round(len(audio) / 16000, 1),
            "recall": result["hits"] / len(spans), **result}


def stream_metrics(spotter, waveforms, labels, seed, split):
    names = spotter.labels
    keyword_ids = [i for i, n in enumerate(names) if not n.startswith("_")]
    audio, spans = keyword_stream(waveforms, labels, keyword_ids, np.random.default_rng(seed))
    events = list(spotter.stream([audio[i : i + 1600] for i in range(0, len(audio), 1600)]))
    result = score_events(events, spans, names)
    minutes = len(audio) / 16000 / 60
    return {"split": split + f", {len(spans)} keywords in one {len(audio) / 16000:.0f} s stream",
            "recall": result["hits"] / len(spans), "false_alarms_per_minute": result["false_alarms"] / minutes,
            "threshold": spotter.config["threshold"], **result}


_TRAINING_FLAGS = {"epochs": "--epochs", "learning_rate": "--learning-rate", "speed": "--speed", "warp": "--warp",
                   "context_seconds": "--context-seconds", "min_snr": "--min-snr", "batch_size": "--batch-size",
                   "patience": "--patience"}


def _run_summary(training: dict, epochs_run, seconds) -> str:
    return (f"{training.get('epochs')} epochs planned, {epochs_run} run (early stopping on validation "
            f"accuracy; {seconds} s on this 2-core CPU machine), seed {training.get('seed')}, AdamW "
            f"with cosine decay from {training.get('learning_rate')}, batch {training.get('batch_size')}")


def _chain(training: dict) -> list[dict]:
    """The runs that led to `training`, first run first (`--init` runs record the run they started from)."""
    chain = [training]
    while chain[-1].get("init_training"):
        chain.append(chain[-1]["init_training"])
    return chain[::-1]


def _festival_flags(voices) -> str:
    return " ".join(f"--festival-voice {voice}" for voice in voices)


def corpus_flags(corpus_settings: dict) -> str:
    """The recipe flags that select a synthetic corpus's non-default settings (recorded with each run)."""
    flags = [_festival_flags(corpus_settings.get("festival_voices", ()))]
    if "training_max_stretch" in corpus_settings:
        flags.append(f"--training-max-stretch {corpus_settings['training_max_stretch']:g}")
    if corpus_settings.get("converted_voices"):
        flags.append(f"--converted-voices {corpus_settings['converted_voices']}")
    return " ".join(filter(None, flags))


def _flags(run: dict, defaults: dict, extra: str = "") -> str:
    flags = [f"{flag} {run[key]:g}" for key, flag in _TRAINING_FLAGS.items() if key in run and run[key] != defaults.get(key)]
    return " ".join(flags + ([extra] if extra else []))


def _chain_steps(chain: list[dict], last_extra: str = "") -> list[str]:
    """One recipe command per run of a chain (the first run is the recipe's defaults).

    `last_extra` (flags such as `--festival-voice ...`) goes on the last run's command.
    """
    steps = [f"`python zoo/speech-commands-gru/recipe.py` with its defaults ({chain[0].get('epochs')} epochs planned, "
             f"AdamW from {chain[0].get('learning_rate')})"]
    defaults = {**vars(parse_args([])), **chain[0]}
    for number, after in enumerate(chain[1:], start=1):
        extra = last_extra if number == len(chain) - 1 else ""
        steps.append(f"`python zoo/speech-commands-gru/recipe.py --init RUN{number}_PRESET {_flags(after, defaults, extra)}`")
    return steps


def training_lines(training: dict, metrics: dict, festival_voices=(), training_max_stretch=None) -> list[str]:
    """The card's account of the training run(s), with the commands that reproduce them.

    A preset trained with `--init` records the training of the preset it
    started from (`init_training`); every run of that chain is listed. A
    model soup (`soup.py`) lists its ingredient runs, which share their start;
    a soup of an earlier soup and runs fine-tuned from it lists both rounds.
    `training_max_stretch` (a corpus setting) goes on the latest runs' commands.
    """
    if "soup" in training:
        return _soup_lines(training, festival_voices, training_max_stretch)
    run = _run_summary(training, metrics["epochs_run"], metrics["train_seconds"])
    chain = _chain(training)
    if len(chain) == 1:
        return [f"- Training: {run}; `python zoo/speech-commands-gru/recipe.py` with its defaults."]
    return [f"- Training, {len(chain)} runs, each from the weights of the one before: "
            + "; then ".join(_chain_steps(chain, _festival_flags(festival_voices))) + f". The last: {run}."]


def _earlier_soups(training: dict) -> list[dict]:
    """The soups among a soup's ingredients (a later round has one: the soup its runs started from)."""
    return [ingredient for ingredient in training.get("ingredients", ()) if "soup" in ingredient]


def _soup_lines(training: dict, festival_voices, training_max_stretch=None) -> list[str]:
    earlier = _earlier_soups(training)
    if earlier:
        return _later_round_lines(training, earlier, festival_voices, training_max_stretch)
    chains = [_chain(ingredient) for ingredient in training["ingredients"]]
    start = chains[0][:-1]
    if not start or any(chain[:-1] != start for chain in chains):
        raise ValueError("The runs of a model soup must be fine-tuned from the same weights.")
    defaults = {**vars(parse_args([])), **start[0]}
    extra = _festival_flags(festival_voices)
    runs = [f"`python zoo/speech-commands-gru/recipe.py --init START_PRESET {_flags(chain[-1], defaults, extra)} "
            f"--seed {chain[-1].get('seed')}`" for chain in chains]
    return [
        f"- Common start (START_PRESET), {len(start)} runs, each from the weights of the one before: "
        + "; then ".join(_chain_steps(start)) + ".",
        f"- Weights: the average of {len(runs)} runs from that start, a greedy model soup "
        f"(`python zoo/speech-commands-gru/soup.py RUN_PRESET... --output SOUP`: runs ordered by accuracy on "
        f"{training.get('validation_draws')} draws of the validation voices, each kept only if the average with it "
        f"is at least as accurate there; {training['soup_validation_accuracy_pooled']:.2%} pooled): "
        + "; ".join(runs) + ".",
    ]


_ROUND_NAMES = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth")


def _soup_rounds(training: dict) -> int:
    """How many soup rounds led to `training` (a soup of runs: 1; a soup of that soup and more runs: 2; ...)."""
    earlier = _earlier_soups(training)
    return 1 + (_soup_rounds(earlier[0]) if earlier else 0)


def _later_round_lines(training: dict, earlier: list[dict], festival_voices, training_max_stretch) -> list[str]:
    """A soup of an earlier soup (SOUP_PRESET) and runs fine-tuned from it, after the earlier rounds' lines.

    Each run's corpus flags are the ones it recorded (`corpus_flags`); runs
    from before that record get the festival voices and the training stretch
    of the current corpus.
    """
    runs = [ingredient for ingredient in training["ingredients"] if "soup" not in ingredient]
    if len(earlier) != 1 or any(_chain(run)[:-1] != earlier for run in runs):
        raise ValueError("The runs of a model soup must be fine-tuned from the same weights.")
    first_soup = earlier[0]
    while _earlier_soups(first_soup):
        first_soup = _earlier_soups(first_soup)[0]
    defaults = {**vars(parse_args([])), **_chain(first_soup["ingredients"][0])[0]}  # the very first run
    fallback = corpus_flags({"festival_voices": festival_voices,
                             **({"training_max_stretch": training_max_stretch} if training_max_stretch else {})})
    commands = [f"`python zoo/speech-commands-gru/recipe.py --init SOUP_PRESET "
                f"{_flags(run, defaults, run.get('corpus_flags', fallback))} --seed {run.get('seed')}`" for run in runs]
    rounds = _soup_rounds(training)
    name = _ROUND_NAMES[rounds - 1] if rounds <= len(_ROUND_NAMES) else f"Round {rounds}"
    return _soup_lines(earlier[0], festival_voices, training_max_stretch) + [
        f"- {name} round: SOUP_PRESET (the weights above) and {len(runs)} runs fine-tuned from it, averaged by "
        f"the same greedy soup ({training['soup_validation_accuracy_pooled']:.2%} pooled on "
        f"{training.get('validation_draws')} draws of the validation voices; "
        f"{len(training['soup'])} of {len(training['ingredients'])} kept): " + "; ".join(commands) + "."
    ]


def write_card(path, metrics, settings, corpus_summary, command, training):
    test = metrics["test"]
    names = test["confusion_matrix"]["labels"]
    festival_voices = corpus_summary.get("settings", {}).get("festival_voices", ())
    synthesizers = "espeak-ng and flite" + (f", plus festival's {', '.join(festival_voices)} in training" if festival_voices else "")
    last_run = training["ingredients"][0] if "soup" in training else training  # a soup's runs share augmentation
    lines = [
        f"# {NAME}",
        "",
        "Keyword spotter in the style of Google Speech Commands: 12 classes "
        f"({', '.join(names)}), 16 kHz mono, one-second clips, plus streaming in 20 ms hops.",
        "",
        "## Model",
        f"- Input: raw waveform; log-mel front end inside the model (30 ms window, 10 ms hop, 40 mel bands, "
        "per-band normalization with training statistics); SpecAugment masking during training.",
        f"- Core: {settings['layers']} x keras_rnnzoo `{settings['cell']}` ({settings['units']} units), dropout, softmax.",
        f"- Parameters: {metrics['parameters']:,}; `model.keras` size: {metrics['model_bytes'] / 1024:.0f} KiB.",
        f"- Streaming: single-step model with external state; {metrics['hop_latency_ms']:.3f} ms per 20 ms hop "
        f"(Keras, {metrics['backend']} backend, this machine; TFLite is faster).",
        "",
        "## Data",
        f"- Trained only on speech synthesized with {synthesizers} "
        f"({corpus_summary.get('voices', '?')} voices, Speech Commands v2 layout, `keras_rnnzoo.data.speech_synth`); "
        "no recorded speech. Split by voice: whole espeak-ng variants and flite speakers are held out.",
        f"- Train / validation / test clips: {metrics['clips']['train']} / {metrics['clips']['validation']} / "
        f"{test['clips']} (unknown and silence balanced as in `list_examples`).",
        *training_lines(training, metrics, festival_voices, corpus_summary.get("settings", {}).get("training_max_stretch")),
        f"- Augmentation: background noise (white, pink, brown, hum, babble) at {last_run.get('min_snr', 0):g}-30 dB "
        f"SNR, speed perturbation (+-{last_run.get('speed', 0):g}, resampled with soxr), gain, "
        f"time shift, {last_run.get('context_seconds', 0.5):g} s of preceding audio (another clip's tail or noise), "
        "SpecAugment" + (f" with a +-{last_run['warp']:g} frequency warp (VTLP)" if last_run.get("warp") else "")
        + "; reverberation and rate/pitch in the corpus.",
        "",
        "## Results (held-out synthetic test voices)",
        f"Measured by `{command}`; rerun the evaluation with `rnnzoo evaluate {NAME}`.",
        "",
        f"- **Accuracy: {test['accuracy']:.2%}** on {test['clips']} clips of voices never heard in training.",
        f"- With background noise added at 10 dB SNR: {metrics['test_noisy_10db']['accuracy']:.2%}.",
        f"- Validation accuracy: {metrics['validation_accuracy']:.2%}.",
        f"- Streaming ({metrics['stream_test']['split']}): recall {metrics['stream_test']['recall']:.2%}, "
        f"{metrics['stream_test']['false_alarms_per_minute']:.2f} false alarms per minute at threshold "
        f"{metrics['stream_test']['threshold']} (chosen on validation voices).",
        "",
        "| class | accuracy |",
        "|---|---|",
    ]
    for name in names:
        value = test["per_class_accuracy"][name]
        lines.append(f"| {name} | {'-' if value is None else f'{value:.2%}'} |")
    lines += [
        "",
        "Confusion matrix: `confusion_matrix.png` in the preset folder.",
        "",
        "## Limits",
        "- Synthetic voices only: accuracy on recorded human speech is lower and unmeasured here; "
        "retrain with `--data` on the real Speech Commands for production use.",
        "- English keywords only; one keyword per second at most in streaming (repeat suppression).",
        "",
        "## License",
        "Apache-2.0 (weights and code). espeak-ng (GPL-3.0) and flite (BSD-like)"
        + (" and festival (X11-style license) with its voices" if festival_voices else "")
        + " were used as tools to make training data; none of their code or data is shipped.",
        "",
    ]
    Path(path).write_text("\n".join(lines))


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import keras

    from keras_rnnzoo.data import speech_commands, speech_synth
    from keras_rnnzoo.zoo import audio, io, save_preset
    from keras_rnnzoo.zoo.keyword_spotter import KeywordSpotter, classification_metrics, plot_confusion

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    units = args.units or (32 if args.quick else 128)
    epochs = args.epochs or (2 if args.quick else 40)
    corpus_settings = dict(QUICK_CORPUS if args.quick else FULL_CORPUS, seed=0)
    if args.festival_voice:
        corpus_settings["festival_voices"] = sorted(set(args.festival_voice))
    if args.training_max_stretch != DEFAULT_MAX_STRETCH:
        corpus_settings["training_max_stretch"] = args.training_max_stretch
    if args.converted_voices:
        corpus_settings["converted_voices"] = args.converted_voices
    if args.data is not None:
        root = speech_commands.check_layout(args.data)
        corpus_summary = {"source": str(root)}
    else:
        key = zlib.crc32(json.dumps(corpus_settings, sort_keys=True).encode())
        root = args.corpus or io.rnnzoo_home() / "data" / f"speech-synth-{key:08x}"
        summary_path = Path(root) / "corpus.json"
        saved = json.loads(summary_path.read_text())["settings"] if summary_path.is_file() else None
        if saved is not None and saved.get("splits") == ["train", "validation", "test"] and all(
            saved.get(key) == value for key, value in {"max_voices_per_split": None, **corpus_settings}.items()
        ):
            logging.info("Using the synthetic corpus in %s", root)
        else:
            logging.info("Synthesizing the corpus into %s", root)
            speech_synth.synthesize_corpus(root, **corpus_settings)
        summary = json.loads(summary_path.read_text())
        corpus_summary = {"voices": len(summary["voices"]), "settings": summary["settings"],
                          "synthesizers": summary["synthesizers"]}

    logging.info("Loading clips")
    train_x, train_y = speech_commands.load_split(root, "train", unknown_per_keyword=2.0,
                                                  silence_per_keyword=1.5, seed=args.seed, progress=True)
    val_x, val_y = speech_commands.load_split(root, "validation", seed=0)
    test_x, test_y = speech_commands.load_split(root, "test", seed=0)
    needed = 16000 + int(round(args.context_seconds * 16000))
    noises = [n for n in speech_commands.load_background(root) if len(n) >= needed]
    if not noises:
        raise ValueError(f"{root}: no _background_noise_ recording of {needed / 16000:g} s or more for augmentation.")
    labels = list(speech_commands.LABELS)
    silence_id = labels.index(speech_commands.SILENCE)
    logging.info("train %d, validation %d, test %d clips", len(train_x), len(val_x), len(test_x))

    if args.evaluate_only is not None:
        from keras_rnnzoo import zoo

        model = zoo.load(args.evaluate_only).model
        previous = zoo.preset_info(args.evaluate_only)
        history_best = None
        train_seconds = previous.get("metrics", {}).get("train_seconds")
        epochs_run = previous.get("metrics", {}).get("epochs_run")
        settings = {k: previous["architecture"][k] for k in ("cell", "units", "layers")}
    else:
        if args.init is not None:
            from keras_rnnzoo import zoo

            model = zoo.load(args.init).model  # keeps its normalization statistics
            settings = audio.model_settings(model)
            args.cell, units, args.layers = settings["cell"], settings["units"], settings["layers"]
            model.get_layer("spec_augment").max_warp = args.warp
        else:
            model = audio.build_keyword_model(cell=args.cell, units=units, layers=args.layers, seed=args.seed,
                                              max_warp=args.warp)
            front = model.get_layer("log_mel")
            front.set_statistics(*audio.normalization_statistics(front, train_x, rng))
        augmented = Augmented(train_x, train_y, noises, args.batch_size, args.seed, silence_id, min_snr=args.min_snr,
                              speed=args.speed, context_samples=int(round(args.context_seconds * 16000)))
        steps = len(augmented) * epochs
        schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, decay_steps=steps, alpha=0.02)
        model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4, global_clipnorm=1.0),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05),
            metrics=["accuracy"],
        )
        model.summary(print_fn=logging.info)
        started = time.time()
        history = model.fit(
            make_dataset(augmented, len(labels)),
            validation_data=(val_x, keras.utils.to_categorical(val_y, len(labels))),
            epochs=epochs,
            callbacks=[keras.callbacks.EarlyStopping("val_accuracy", patience=args.patience,
                                                     restore_best_weights=True, mode="max"),
                       time_budget(args.max_minutes)],
            verbose=1 if sys.stdout.isatty() else 2,
        )
        train_seconds = time.time() - started
        history_best = float(max(history.history["val_accuracy"]))
        epochs_run = len(history.history["loss"])
        settings = {"cell": args.cell, "units": units, "layers": args.layers}

    spotter = KeywordSpotter(model, {"name": NAME, "labels": labels})
    validation_accuracy = classification_metrics(val_y, spotter.probabilities(val_x), labels)["accuracy"]
    stream_validation = calibrate_stream(spotter, val_x, val_y, seed=2)
    stream_test = stream_metrics(spotter, test_x, test_y, seed=3, split="test voices")
    logging.info("streaming on test voices: %s", stream_test)
    test_metrics = classification_metrics(test_y, spotter.probabilities(test_x), labels)
    test_metrics["split"] = "test split (held-out synthetic voices)" if args.data is None else f"test split of {root}"
    noisy = noisy_copy(test_x, test_y, noises, silence_id, 10.0, seed=1)
    noisy_metrics = classification_metrics(test_y, spotter.probabilities(noisy), labels)
    noisy_metrics = {"accuracy": noisy_metrics["accuracy"], "clips": noisy_metrics["clips"],
                     "per_class_accuracy": noisy_metrics["per_class_accuracy"],
                     "split": test_metrics["split"] + " + background noise at 10 dB SNR"}
    with tempfile.TemporaryDirectory() as scratch:
        io.without_training_state(model).save(os.path.join(scratch, "model.keras"))
        model_bytes = os.path.getsize(os.path.join(scratch, "model.keras"))
    command = "python zoo/speech-commands-gru/recipe.py" + (" " + " ".join(argv) if argv else "")
    metrics = {
        "test": {**test_metrics, "command": command},
        "test_noisy_10db": noisy_metrics,
        "validation_accuracy": float(validation_accuracy),
        "stream_validation": stream_validation,
        "stream_test": stream_test,
        "parameters": int(model.count_params()),
        "model_bytes": int(model_bytes),
        "hop_latency_ms": 1000 * spotter.hop_latency(),
        "backend": keras.backend.backend(),
        "epochs_run": epochs_run,
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
        "clips": {"train": int(len(train_x)), "validation": int(len(val_x)), "test": int(len(test_x))},
    }
    logging.info("test accuracy %.4f (noisy 10 dB: %.4f), %d parameters, %.3f ms per hop",
                 test_metrics["accuracy"], noisy_metrics["accuracy"], metrics["parameters"], metrics["hop_latency_ms"])

    if args.output is not None:
        output = Path(args.output)
    elif args.quick:
        output = io.rnnzoo_home() / f"{NAME}-quick"
    elif args.data is not None:
        output = io.rnnzoo_home() / f"{NAME}-custom"
    else:
        output = io.shipped_preset_dir(NAME)
    training = previous.get("training") if args.evaluate_only is not None else {
        "seed": args.seed, "epochs": epochs, "max_minutes": args.max_minutes, "min_snr": args.min_snr,
        "speed": args.speed, "warp": args.warp, "context_seconds": args.context_seconds, "patience": args.patience,
        "init": None if args.init is None else str(args.init),
        "init_training": None if args.init is None else zoo_info(args.init).get("training"),
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        **({} if args.data is not None else {"corpus_flags": corpus_flags(corpus_settings)}),
        "recipe": "zoo/speech-commands-gru/recipe.py"}
    with tempfile.TemporaryDirectory() as scratch:
        card_path = Path(scratch) / "card.md"
        write_card(card_path, metrics, settings, corpus_summary, command, training)
        png = Path(scratch) / "confusion_matrix.png"
        plot_confusion(test_metrics, png, title=f"{NAME} test")
        spotter.extra = {"confusion_matrix.png": png.read_bytes()}
        save_preset(
            spotter,
            output,
            card=card_path,
            name=NAME if output == io.shipped_preset_dir(NAME) else output.name,
            version=VERSION,
            description="Speech Commands keyword spotter (12 classes), batch and streaming, "
                        "trained on synthetic speech only.",
            metrics=metrics,
            corpus=corpus_settings if args.data is None else {"source": str(root)},
            training=training,
            license="Apache-2.0",
        )
        if not args.quick and args.data is None and args.output is None:  # the shipped preset
            (HERE / "card.md").write_text(card_path.read_text())
            (HERE / "confusion_matrix.png").write_bytes(png.read_bytes())
    logging.info("Wrote %s", output)
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
