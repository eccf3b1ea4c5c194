"""`KeywordSpotter`: the `speech-commands-gru` task, one-second clips and streaming.

The Keras model takes the raw 16 kHz waveform (log-mel front end inside, see
`keras_rnnzoo.zoo.audio`) and returns the probabilities of the twelve
Speech Commands classes. The task object adds what a raw model cannot do:

* `predict(path_or_array, sample_rate=None)`: any file soundfile reads or
  any array; stereo is mixed down, other rates resampled (soxr); clips
  shorter than a second are zero-padded, longer ones scanned with a
  one-second window every 250 ms. Empty, truncated, non-audio or silent
  files and non-finite samples raise `ValueError` naming the file.
* `stream(chunks)`: audio as it arrives, in 20 ms hops (two 10 ms frames per recurrent step). A single-step model
  carries the recurrent state from hop to hop (nothing is recomputed) and
  the task emits `{"time", "label", "score"}` events for keywords, once per
  utterance (repeat suppression).
* `export_tflite(out)`: the one-second model (recurrence unrolled: builtin
  ops only) and the streaming single-step model.

Example:

>>> from keras_rnnzoo import zoo
>>> spotter = zoo.load("speech-commands-gru")          # doctest: +SKIP
>>> spotter.predict("yes.wav")["label"]                # doctest: +SKIP
'yes'
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from keras_rnnzoo.data import speech_audio
from keras_rnnzoo.zoo import audio  # registers the front-end layers before a preset loads
from keras_rnnzoo.data.speech_commands import KEYWORDS, LABELS, SILENCE, UNKNOWN
from keras_rnnzoo.zoo.task import Task, register_task

SAMPLE_RATE = speech_audio.SAMPLE_RATE
CLIP_SAMPLES = SAMPLE_RATE
SCAN_STEP = SAMPLE_RATE // 4  # sliding-window step for long clips (250 ms)
DEFAULT_THRESHOLD = 0.7
DEFAULT_SMOOTHING = 3  # hops averaged before detection
DEFAULT_SUPPRESS = 1.0  # seconds before the same keyword can fire again
DEFAULT_DECISION = 0.3  # seconds of audio weighed after a keyword first crosses the threshold


@register_task("keyword_spotter")
class KeywordSpotter(Task):
    """Keyword spotter for 16 kHz speech: 10 keywords, `_silence_`, `_unknown_`.

    Use `keras_rnnzoo.zoo.load("speech-commands-gru")`, or wrap a model from
    `keras_rnnzoo.zoo.audio.build_keyword_model`: `KeywordSpotter(model)`.

    Args:
        model: waveform `(batch, samples)` -> probabilities `(batch, 12)`.
        card: preset metadata; `card["labels"]` orders the classes.
        folder: the preset folder, if loaded from one.
    """

    def __init__(self, model, card=None, folder=None):
        super().__init__(model, card, folder)
        self.card.setdefault("labels", list(LABELS))
        config = self.config
        config.setdefault("threshold", DEFAULT_THRESHOLD)
        config.setdefault("smoothing_hops", DEFAULT_SMOOTHING)
        config.setdefault("suppress_seconds", DEFAULT_SUPPRESS)
        config.setdefault("decision_seconds", DEFAULT_DECISION)
        self._streaming = None
        self._step = None
        # Extra preset files (name -> bytes), e.g. the confusion matrix PNG.
        self.extra: dict[str, bytes] = {}

    # -- settings -------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def hop_samples(self) -> int:
        """Samples per streaming step (one recurrent step: 320 = 20 ms by default)."""
        return self.model.get_layer("log_mel").hop * self.model.get_layer("frame_stack").stack

    def metadata(self) -> dict[str, Any]:
        front = self.model.get_layer("log_mel")
        return {
            "labels": self.labels,
            "input_spec": {
                "kind": "mono waveform, float32 in [-1, 1]",
                "sample_rate": SAMPLE_RATE,
                "clip_samples": CLIP_SAMPLES,
                "streaming_hop_samples": self.hop_samples,
            },
            "preprocessing": {
                "inside_model": "log-mel: 30 ms Hann window, 10 ms hop, 512-point DFT, "
                f"{front.bands} mel bands {front.lower_hz:g}-{front.upper_hz:g} Hz, "
                "log, per-band normalization with training statistics",
                "outside_model": "stereo mixed down, resampled to 16 kHz (soxr), "
                "padded to 1 s or scanned with a 1 s window every 250 ms",
            },
            "architecture": audio.model_settings(self.model),
        }

    def extra_files(self) -> dict[str, bytes]:
        """`self.extra`, plus the extra files of the preset it was loaded from."""
        files = {}
        if self.folder is not None:
            for name in self.card.get("files", {}):
                if name not in ("model.keras", "card.md", "preset.json") and (self.folder / name).is_file():
                    files[name] = (self.folder / name).read_bytes()
        return {**files, **self.extra}

    # -- one-second clips -------------------------------------------------------
    def _load(self, path_or_array, sample_rate) -> tuple[np.ndarray, str]:
        if isinstance(path_or_array, (str, os.PathLike)):
            if sample_rate is not None:
                raise ValueError(
                    f"sample_rate is read from the file {path_or_array}; pass it only with arrays."
                )
            return speech_audio.read_audio(path_or_array), str(path_or_array)
        return speech_audio.prepare_waveform(path_or_array, sample_rate, source="the audio array"), "array"

    def probabilities(self, waveforms: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities of one-second 16 kHz clips `(n, 16000)` -> `(n, 12)`."""
        waveforms = np.asarray(waveforms, np.float32)
        if waveforms.ndim != 2 or waveforms.shape[1] != CLIP_SAMPLES:
            raise ValueError(f"Expected clips of shape (n, {CLIP_SAMPLES}); got {waveforms.shape}.")
        if len(waveforms) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        outputs = []
        for start in range(0, len(waveforms), batch_size):
            batch = waveforms[start : start + batch_size]
            outputs.append(np.asarray(self.model.predict_on_batch(batch), np.float32))
        return np.concatenate(outputs)

    def predict(self, path_or_array, sample_rate: int | None = None) -> dict[str, Any]:
        """Label and class probabilities of one recording.

        Args:
            path_or_array: an audio file path, or samples `(frames,)` /
                `(frames, channels)` (float in [-1, 1] or PCM integers).
            sample_rate: rate of an array in Hz (default 16000); files carry
                their own.

        Returns:
            `{"label", "score", "scores": {label: probability}}`; for input
            longer than one second also `"time"` (start in seconds of the
            window the answer comes from) and `"windows"` (how many were scanned).
        """
        waveform, source = self._load(path_or_array, sample_rate)
        if len(waveform) <= CLIP_SAMPLES:
            probabilities = self.probabilities(speech_audio.fit_length(waveform)[None])[0]
            return self._result(probabilities)
        starts = list(range(0, len(waveform) - CLIP_SAMPLES + 1, SCAN_STEP))
        if starts[-1] != len(waveform) - CLIP_SAMPLES:
            starts.append(len(waveform) - CLIP_SAMPLES)
        windows = np.stack([waveform[s : s + CLIP_SAMPLES] for s in starts])
        probabilities = self.probabilities(windows)
        keyword_ids = [self.labels.index(k) for k in KEYWORDS if k in self.labels]
        top = probabilities.argmax(axis=1)
        hits = [i for i in range(len(starts)) if top[i] in keyword_ids]
        if hits:  # the most confident keyword window
            best = max(hits, key=lambda i: probabilities[i, top[i]])
            result = self._result(probabilities[best])
            result["time"] = starts[best] / SAMPLE_RATE
        else:  # no keyword anywhere: the average over the recording
            result = self._result(probabilities.mean(axis=0))
        result["windows"] = len(starts)
        return result

    def _result(self, probabilities: np.ndarray) -> dict[str, Any]:
        index = int(np.argmax(probabilities))
        return {
            "label": self.labels[index],
            "score": float(probabilities[index]),
            "scores": {label: float(p) for label, p in zip(self.labels, probabilities)},
        }

    # -- streaming ----------------------------------------------------------------
    @property
    def streaming_model(self):
        """The single-step model with external state (built on first use)."""
        if self._streaming is None:
                self._streaming = audio.build_streaming_model(self.model)
        return self._streaming

    def initial_stream_state(self) -> list[np.ndarray]:
        """`[context, *recurrent_states]` of a fresh stream (all zeros)."""
        front = self.model.get_layer("log_mel")
        return [np.zeros((1, front.window - front.hop), np.float32)] + [
            np.zeros((1, size), np.float32) for size in audio.state_sizes(self.model)
        ]

    def _compiled_step(self):
        """One hop: `(hop, context, *states) -> (probabilities, context, *states)`, compiled."""
        if self._step is not None:
            return self._step
        import keras

        model = self.streaming_model
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            function = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)

            def step(inputs):
                return [output.numpy() for output in function(inputs)]

        elif backend == "jax":
            import jax

            jitted = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])

            def step(inputs):
                # read the variables at every call: Keras's own jitted functions
                # (predict, fit) may donate and replace their buffers in between
                trainable = [v.value for v in model.trainable_variables]
                non_trainable = [v.value for v in model.non_trainable_variables]
                return [np.asarray(output) for output in jitted(trainable, non_trainable, inputs)]

        else:
            import torch

            # Eager PyTorch pays Keras's per-layer `__call__` (argument checks, autocast,
            # pytree flattening) at every hop: 2/3 of the hop's time. The graph is run
            # through the layers' `call` instead (the streaming model is built and float32).
            def step(inputs):
                with torch.no_grad():
                    tensors = [keras.ops.convert_to_tensor(x) for x in inputs]
                    outputs = model._run_through_graph(tensors, operation_fn=lambda layer: layer.call)
                return [keras.ops.convert_to_numpy(output) for output in outputs]

        self._step = step
        return step

    def stream_step(self):
        """A function that feeds one hop of a fresh stream and returns its probabilities.

        Call it with `(1, hop_samples)` new samples at a time; the recurrent
        state and the audio context carry from call to call.
        """
        step = self._compiled_step()
        state = self.initial_stream_state()

        def hop(samples: np.ndarray) -> np.ndarray:
            nonlocal state
            outputs = step([samples, *state])
            state = [np.asarray(o, np.float32) for o in outputs[1:]]
            return np.asarray(outputs[0][0], np.float32)

        return hop

    def stream_probabilities(self, chunks: Iterable, sample_rate: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
        """Yield `(time_seconds, probabilities)` after every 20 ms hop of the stream.

        `chunks` is any iterable of sample arrays (any sizes; `(frames,)` or
        `(frames, channels)`), at `sample_rate` Hz (default 16000).
        """
        advance = self.stream_step()
        hop = self.hop_samples
        resampler = None
        rate = SAMPLE_RATE if sample_rate is None else int(sample_rate)
        if rate <= 0:
            raise ValueError(f"sample_rate must be positive; got {sample_rate}.")
        if rate != SAMPLE_RATE:
            resampler = speech_audio._soxr().ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        pending = np.zeros(0, np.float32)
        hops = 0
        for number, chunk in enumerate(chunks):
            samples = _chunk_samples(chunk, number)
            if resampler is not None:
                samples = resampler.resample_chunk(samples)
            pending = np.concatenate([pending, samples])
            while len(pending) >= hop:
                probabilities = advance(pending[None, :hop])
                pending = pending[hop:]
                hops += 1
                yield hops * hop / SAMPLE_RATE, probabilities

    def stream(
        self,
        chunks: Iterable,
        sample_rate: int | None = None,
        *,
        threshold: float | None = None,
        smoothing_hops: int | None = None,
        suppress_seconds: float | None = None,
        decision_seconds: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Find keywords in audio as it arrives; yields `{"time", "label", "score"}`.

        Every 20 ms hop updates the recurrent state; the probabilities are
        averaged over the last `smoothing_hops` hops. When a keyword's
        averaged probability first reaches `threshold`, the spotter weighs
        `decision_seconds` more audio (the rest of the word: "go" and the
        start of "down" sound alike) and then fires the keyword that peaked
        highest in that window. A keyword cannot fire again until its
        probability has fallen below half the threshold and
        `suppress_seconds` have passed (repeat suppression). `time` is the
        end of the hop of the peak, in seconds from the start of the stream.
        `_silence_` and `_unknown_` never fire.
        """
        return self.detect(
            self.stream_probabilities(chunks, sample_rate),
            threshold=threshold,
            smoothing_hops=smoothing_hops,
            suppress_seconds=suppress_seconds,
            decision_seconds=decision_seconds,
        )

    def detect(
        self,
        hops: Iterable[tuple[float, np.ndarray]],
        *,
        threshold: float | None = None,
        smoothing_hops: int | None = None,
        suppress_seconds: float | None = None,
        decision_seconds: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The detection rule of `stream`, on `(time, probabilities)` pairs.

        Separate from the model so that thresholds can be tuned on stored
        probabilities (the recipe calibrates on validation voices).
        """
        threshold = float(self.config["threshold"] if threshold is None else threshold)
        smoothing = int(self.config["smoothing_hops"] if smoothing_hops is None else smoothing_hops)
        suppress = float(self.config["suppress_seconds"] if suppress_seconds is None else suppress_seconds)
        decision = float(self.config["decision_seconds"] if decision_seconds is None else decision_seconds)
        if decision < 0:
            raise ValueError(f"decision_seconds must be >= 0; got {decision}.")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
        if smoothing < 1:
            raise ValueError(f"smoothing_hops must be >= 1; got {smoothing}.")
        return self._detect(hops, threshold, smoothing, suppress, decision)

    def _detect(self, hops, threshold, smoothing, suppress, decision):
        keyword_ids = [i for i, label in enumerate(self.labels) if label not in (SILENCE, UNKNOWN)]
        recent: deque = deque(maxlen=smoothing)
        armed = {i: True for i in keyword_ids}
        last_time = {i: -np.inf for i in keyword_ids}
        pending = None  # {"deadline", "index", "score", "time", "crossed"} of an open decision window

        def ready(index, seconds, smoothed):
            return smoothed[index] >= threshold and armed[index] and seconds - last_time[index] >= suppress

        def fire(window):
            for index in window["crossed"]:  # one word per window: the runners-up do not fire after it
                armed[index] = False
            last_time[window["index"]] = window["time"]
            return {"time": round(window["time"], 3), "label": self.labels[window["index"]],
                    "score": float(window["score"])}

        for seconds, probabilities in hops:
            recent.append(probabilities)
            smoothed = np.mean(recent, axis=0)
            for index in keyword_ids:
                if smoothed[index] < threshold / 2 and (pending is None or index not in pending["crossed"]):
                    armed[index] = True
            for index in keyword_ids:
                if not ready(index, seconds, smoothed):
                    continue
                if pending is None:
                    pending = {"deadline": seconds + decision, "index": index, "score": smoothed[index],
                               "time": seconds, "crossed": set()}
                pending["crossed"].add(index)
                if smoothed[index] > pending["score"]:
                    pending.update(index=index, score=smoothed[index], time=seconds)
            if pending is not None and seconds >= pending["deadline"] - 1e-9:
                yield fire(pending)
                pending = None
        if pending is not None:
            yield fire(pending)

    def stream_file(self, path: str | os.PathLike, chunk_seconds: float = 0.1, **options) -> list[dict[str, Any]]:
        """`stream` over a whole file, fed in `chunk_seconds` chunks."""
        waveform = speech_audio.read_audio(path)
        size = max(1, int(chunk_seconds * SAMPLE_RATE))
        return list(self.stream((waveform[i : i + size] for i in range(0, len(waveform), size)), **options))

    def hop_latency(self, hops: int = 500) -> float:
        """Mean seconds per streaming step (`hop_samples`, 20 ms by default), after warm-up."""
        advance = self.stream_step()
        hop = np.zeros((1, self.hop_samples), np.float32)
        for _ in range(20):
            advance(hop)
        start = time.perf_counter()
        for _ in range(hops):
            advance(hop)
        return (time.perf_counter() - start) / hops

    # -- export -------------------------------------------------------------------
    def export(self, export_format: str, out: str | os.PathLike) -> dict[str, Any]:
        """Task-specific export; only `"tflite"` is special (see `export_tflite`)."""
        if export_format != "tflite":
            raise ValueError(f"KeywordSpotter.export handles 'tflite' only; got {export_format!r}.")
        return self.export_tflite(out)

    def export_tflite(self, out: str | os.PathLike, streaming_out: str | os.PathLike | None = None) -> dict[str, Any]:
        """Write the one-second model to `out` and the streaming model next to it.

        The one-second model (`waveform (1, 16000) -> probabilities`) has
        its recurrence unrolled over the 98 frames; the streaming model
        (`hop, context, *states -> probabilities, context, *states`) has no
        loop at all. Both use builtin TFLite ops only. Needs
        `KERAS_BACKEND=tensorflow`.

        Returns `{"model": path, "streaming_model": path}`.
        """
        import keras

        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "TFLite export runs on KERAS_BACKEND=tensorflow "
                f"(it is running on {keras.backend.backend()})."
            )
        out = Path(out)
        if out.suffix != ".tflite":
            raise ValueError(f"The TFLite file name must end in .tflite; got {out}.")
        streaming_out = Path(streaming_out) if streaming_out else out.with_name(f"{out.stem}-streaming.tflite")
        out.parent.mkdir(parents=True, exist_ok=True)
        one_second = audio.build_unrolled_model(self.model, CLIP_SAMPLES)
        out.write_bytes(_convert_tflite(one_second))
        streaming_out.write_bytes(_convert_tflite(self.streaming_model))
        return {"model": str(out), "streaming_model": str(streaming_out)}

    # -- evaluation ---------------------------------------------------------------
    def evaluate(self, quick: bool = False, data: str | os.PathLike | None = None, **options) -> dict[str, Any]:
        """Rerun the card's held-out evaluation.

        Without `data`, the test voices of the synthetic corpus are
        synthesized again (espeak-ng and flite needed; clips are seeded per
        clip, so they are the recipe's test clips) into `$RNNZOO_HOME/data`.
        With `data`, the test split of that Speech Commands folder is used.
        `quick` evaluates a seeded subset of 300 clips.
        """
        from keras_rnnzoo.data import speech_commands

        if data is None:
            data = held_out_corpus(self.card.get("corpus", {}))
            split_name = "test split (held-out synthetic voices)"
        else:
            split_name = f"test split of {data}"
        examples = speech_commands.list_examples(data, "test", seed=0)
        if quick:
            rng = np.random.default_rng(0)
            examples = [examples[i] for i in sorted(rng.choice(len(examples), min(300, len(examples)), replace=False))]
        waveforms, labels = speech_commands.load_examples(examples)
        probabilities = self.probabilities(waveforms)
        metrics = classification_metrics(labels, probabilities, self.labels)
        metrics["split"] = split_name + (" (quick subset)" if quick else "")
        return {"test": metrics}

    # -- CLI ---------------------------------------------------------------------
    @classmethod
    def cli_options(cls):
        import click

        return [
            click.Option(["--stream"], is_flag=True, default=False,
                         help="Scan each file as a stream in 20 ms hops; print keyword events."),
            click.Option(["--threshold"], type=click.FloatRange(0.0, 1.0, min_open=True), default=None,
                         help="Streaming detection threshold (default: the preset's, chosen on validation voices)."),
            click.Option(["--decision-seconds"], type=click.FloatRange(0.0, 2.0), default=None,
                         help=f"Streaming: audio weighed after a keyword first crosses the threshold before the "
                              f"strongest fires (default {DEFAULT_DECISION})."),
        ]

    def predict_files(self, inputs: list[str], stream: bool = False, threshold: float | None = None,
                      decision_seconds: float | None = None) -> Any:
        results = []
        for path in inputs:
            if stream:
                events = self.stream_file(path, threshold=threshold, decision_seconds=decision_seconds)
                results.append({"input": str(path), "events": events})
            else:
                prediction = self.predict(path)
                results.append({"input": str(path), **prediction})
        return results

    def render_prediction(self, result, console) -> None:
        from rich.table import Table

        for item in result:
            if "events" in item:
                table = Table("time (s)", "keyword", "score", title=f"keywords in {item['input']}")
                for event in item["events"]:
                    table.add_row(f"{event['time']:.2f}", event["label"], f"{event['score']:.3f}")
                console.print(table)
            else:
                top = sorted(item["scores"].items(), key=lambda kv: -kv[1])[:3]
                others = ", ".join(f"{label} {p:.3f}" for label, p in top[1:])
                console.print(f"{item['input']}: [bold]{item['label']}[/bold] ({item['score']:.3f}; next: {others})")


def _chunk_samples(chunk, number: int) -> np.ndarray:
    source = f"stream chunk {number}"
    array = np.asarray(chunk)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{source}: expected numeric audio samples; got dtype {array.dtype}.")
    if array.dtype.kind in "iu":
        array = array.astype(np.float64) / (float(np.iinfo(array.dtype).max) + 1.0)
    samples = speech_audio.to_mono(array, source)
    if samples.size:
        speech_audio.check_samples(samples, source, allow_silent=True)
    return samples


def _convert_tflite(model) -> bytes:
    """Convert through a SavedModel export (variables frozen correctly), builtin ops only."""
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        export = keras_export_archive(model)
        export.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def keras_export_archive(model):
    """A `keras.export.ExportArchive` serving `model` at batch size 1 under named inputs."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = [tf.TensorSpec((1, *tensor.shape[1:]), tf.float32, name=tensor.name) for tensor in model.inputs]
    if len(specs) == 1:
        archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=specs)
    else:
        archive.add_endpoint("serve", lambda *xs: model(list(xs), training=False), input_signature=specs)
    return archive


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Accuracy overall and per class, and the confusion matrix (rows: true class)."""
    labels = np.asarray(labels)
    predicted = np.asarray(probabilities).argmax(axis=1)
    confusion = np.zeros((len(names), len(names)), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {
        name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
        for i, name in enumerate(names)
    }
    return {
        "accuracy": float((predicted == labels).mean()) if len(labels) else None,
        "clips": int(len(labels)),
        "per_class_accuracy": per_class,
        "confusion_matrix": {"labels": list(names), "counts": confusion.tolist()},
    }


def plot_confusion(metrics: dict[str, Any], path: str | os.PathLike, title: str = "confusion matrix") -> None:
    """Write the confusion matrix of `classification_metrics` as a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = metrics["confusion_matrix"]["labels"]
    counts = np.asarray(metrics["confusion_matrix"]["counts"])
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(7.5, 6.5))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(names)):
            if counts[i, j]:
                axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if rates[i, j] > 0.5 else "black")
    axes.set_title(f"{title} (accuracy {metrics['accuracy']:.2%}, {metrics['clips']} clips)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def held_out_corpus(settings: dict[str, Any] | None = None, split: str = "test") -> Path:
    """The held-out voices of one split of the synthetic corpus, synthesized once into `$RNNZOO_HOME/data`.

    `split` is "test" (what `rnnzoo evaluate` scores) or "validation" (for
    choosing between training runs on more clips than one draw gives).
    """
    from keras_rnnzoo.data import speech_synth
    from keras_rnnzoo.zoo.io import rnnzoo_home

    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation'; got {split!r}.")
    # festival voices, the training takes' stretch and converted training speakers change no held-out clip
    ignored = ("splits", "festival_voices", "training_max_stretch", "converted_voices")
    settings = {key: value for key, value in (settings or {}).items() if key not in ignored}
    key = zlib.crc32(json.dumps(settings, sort_keys=True).encode())
    folder = rnnzoo_home() / "data" / f"speech-synth-{split}-{key:08x}"
    if not (folder / "corpus.json").is_file():
        # no progress bar: it would write to stdout, which `--json` keeps for JSON
        speech_synth.synthesize_corpus(folder, splits=(split,), progress=False, **settings)
    return folder
