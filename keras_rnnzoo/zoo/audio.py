"""Speech front end and keyword-spotting networks, as Keras layers and models.

`LogMelSpectrogram` turns a raw 16 kHz waveform into normalized log-mel
frames *inside* the model (30 ms Hann window, 10 ms hop, 40 mel bands):
framing, windowing and the DFT are a reshape into 10 ms hops and one
matmul with a fixed windowed-Fourier basis, so the same layer runs on every
Keras backend,
accepts any length, converts to builtin TensorFlow Lite ops, and can run
one hop at a time for streaming (feed it the last 480 samples). The basis
is computed, not stored: it adds no parameters and nothing to the file.

`build_keyword_model` is the batch classifier (waveform -> 12 class
probabilities). `build_streaming_model` builds, from a trained batch model,
a single-step model with external state: input one 20 ms hop (two frames,
which `FrameStack` joins into one recurrent step) plus the 320 samples
before it and the recurrent states, output the probabilities and the new
states (no loop, no recomputation of a window).

Example:

>>> import numpy as np
>>> model = build_keyword_model(units=16, layers=1)
>>> model.predict(np.zeros((2, 16000), "float32"), verbose=0).shape
(2, 12)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_rnnzoo.registry import SERIALIZATION_PACKAGE, get_cell

SAMPLE_RATE = 16000
WINDOW = 480  # 30 ms
HOP = 160  # 10 ms
FFT_SIZE = 512
MEL_BANDS = 40
LOWER_HZ = 20.0
UPPER_HZ = 7600.0
LOG_FLOOR = 1e-6
NUM_CLASSES = 12


def mel_matrix(
    bands: int = MEL_BANDS,
    fft_size: int = FFT_SIZE,
    sample_rate: int = SAMPLE_RATE,
    lower_hz: float = LOWER_HZ,
    upper_hz: float = UPPER_HZ,
) -> np.ndarray:
    """`(fft_size // 2 + 1, bands)` triangular HTK-mel filterbank."""

    def to_mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz) / 700.0)

    bins = np.linspace(0, sample_rate / 2, fft_size // 2 + 1)
    edges = np.linspace(to_mel(lower_hz), to_mel(upper_hz), bands + 2)
    mel_bins = to_mel(bins)[:, None]
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (mel_bins - lower) / (center - lower)
    falling = (upper - mel_bins) / (upper - center)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def fourier_basis(window: int = WINDOW, fft_size: int = FFT_SIZE) -> np.ndarray:
    """`(window, 1, 2 * bins)` conv kernel: Hann-windowed cosines then sines."""
    n = np.arange(window)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / window)  # periodic Hann
    k = np.arange(fft_size // 2 + 1)
    angle = 2 * np.pi * np.outer(n, k) / fft_size
    basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * hann[:, None]
    return basis[:, None, :].astype(np.float32)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LogMelSpectrogram(keras.layers.Layer):
    """Waveform `(batch, samples)` -> normalized log-mel frames `(batch, frames, bands)`.

    `frames = samples // hop - window // hop + 1` (no padding, trailing
    samples short of a hop are ignored, so a streaming
    caller that keeps the last `window - hop` samples gets identical frames).
    Normalization subtracts a per-band mean and divides by a per-band
    standard deviation, both fixed statistics of the training data
    (`set_statistics`), which keeps streaming and batch identical.

    Args:
        sample_rate: input sample rate in Hz.
        window: frame length in samples (480 = 30 ms).
        hop: frame step in samples (160 = 10 ms).
        fft_size: DFT size (>= window).
        bands: number of mel bands.
        lower_hz, upper_hz: frequency range of the filterbank.

    Call arguments:
        waveform: `(batch, samples)` float tensor, samples in [-1, 1].

    Example:

    >>> import numpy as np
    >>> LogMelSpectrogram()(np.zeros((1, 16000), "float32")).shape
    (1, 98, 40)
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        window: int = WINDOW,
        hop: int = HOP,
        fft_size: int = FFT_SIZE,
        bands: int = MEL_BANDS,
        lower_hz: float = LOWER_HZ,
        upper_hz: float = UPPER_HZ,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 < hop <= window <= fft_size or window % hop:
            raise ValueError(
                f"Need 0 < hop <= window <= fft_size with window a multiple of hop; "
                f"got hop {hop}, window {window}, fft_size {fft_size}."
            )
        if not 0 <= lower_hz < upper_hz <= sample_rate / 2:
            raise ValueError(
                f"Need 0 <= lower_hz < upper_hz <= sample_rate / 2; got {lower_hz}, {upper_hz} "
                f"at {sample_rate} Hz."
            )
        self.sample_rate = int(sample_rate)
        self.window = int(window)
        self.hop = int(hop)
        self.fft_size = int(fft_size)
        self.bands = int(bands)
        self.lower_hz = float(lower_hz)
        self.upper_hz = float(upper_hz)
        self._basis = fourier_basis(self.window, self.fft_size)[:, 0, :]  # (window, 2 * bins)
        taps = self.window // self.hop
        # (hop, taps * 2 * bins): the basis rows of each hop of the window, side by side.
        self._basis_by_tap = np.concatenate(
            [self._basis[t * self.hop : (t + 1) * self.hop] for t in range(taps)], axis=1
        )
        self._mel = mel_matrix(self.bands, self.fft_size, self.sample_rate, self.lower_hz, self.upper_hz)
        self._torch_constants = None  # (basis by tap, mel) as tensors, see `_constants`

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(self.bands,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(self.bands,), initializer="ones", trainable=False, name="std")

    def set_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Fix the per-band normalization (from unnormalized `log_mel` of training data)."""
        mean = np.asarray(mean, np.float32).reshape(self.bands)
        std = np.asarray(std, np.float32).reshape(self.bands)
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("Normalization statistics must be finite with positive std.")
        self.mean.assign(mean)
        self.std.assign(std)

    def log_mel(self, waveform):
        """Unnormalized log-mel frames."""
        x = ops.cast(waveform, self.compute_dtype)
        # Frames by reshaping into hops: window = `taps` consecutive hops, so
        # the windowed DFT is a matmul per hop plus shifted sums (no gather).
        taps = self.window // self.hop
        hops = (ops.shape(x)[1] // self.hop) if x.shape[1] is None else x.shape[1] // self.hop
        x = x[:, : hops * self.hop] if x.shape[1] is None or x.shape[1] % self.hop else x
        chunks = ops.reshape(x, (-1, hops, self.hop))
        basis_by_tap, mel_weights = self._constants()
        projected = ops.matmul(chunks, basis_by_tap)
        width = self._basis.shape[-1]
        frames = hops - taps + 1
        spectrum = projected[:, 0:frames, 0:width]
        for tap in range(1, taps):
            spectrum = spectrum + projected[:, tap : tap + frames, tap * width : (tap + 1) * width]
        bins = self.fft_size // 2 + 1
        power = ops.square(spectrum[..., :bins]) + ops.square(spectrum[..., bins:])
        mel = ops.matmul(power, mel_weights)
        return ops.log(mel + LOG_FLOOR)

    def _constants(self):
        """The DFT basis by tap and the mel matrix as tensors.

        Traced backends (TensorFlow's `tf.function`, `jax.jit`) embed them as
        constants once; PyTorch runs eagerly and would convert the arrays at
        every call (a streaming hop included), so there they are converted once.
        """
        if keras.backend.backend() != "torch":
            return ops.convert_to_tensor(self._basis_by_tap), ops.convert_to_tensor(self._mel)
        if self._torch_constants is None:
            self._torch_constants = (ops.convert_to_tensor(self._basis_by_tap), ops.convert_to_tensor(self._mel))
        return self._torch_constants

    def call(self, waveform):
        return (self.log_mel(waveform) - self.mean) / self.std

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else samples // self.hop - self.window // self.hop + 1
        return (input_shape[0], frames, self.bands)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "window": self.window,
            "hop": self.hop,
            "fft_size": self.fft_size,
            "bands": self.bands,
            "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz,
        }


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SpecAugment(keras.layers.Layer):
    """SpecAugment-style masking of `(batch, time, bands)` features, training only.

    Each example gets `freq_masks` bands of up to `max_freq_width` bins and
    `time_masks` spans of up to `max_time_width` frames set to zero (the
    normalized mean). With `max_warp > 0`, each example's frequency axis is
    first stretched by a factor drawn from `[1 - max_warp, 1 + max_warp]`
    (band `k` reads band `k * factor`, linearly interpolated): a vocal-tract
    length perturbation that imitates speakers with other formants. At
    inference the layer is the identity.

    Example:

    >>> import numpy as np
    >>> layer = SpecAugment(seed=0)
    >>> x = np.ones((2, 98, 40), "float32")
    >>> bool((layer(x, training=False) == x).all()), float(layer(x, training=True).min())
    (True, 0.0)

    References: D. S. Park et al., "SpecAugment: A Simple Data Augmentation
    Method for Automatic Speech Recognition", Interspeech 2019; N. Jaitly and
    G. Hinton, "Vocal Tract Length Perturbation (VTLP) improves speech
    recognition", ICML 2013 workshop.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        max_freq_width: int = 7,
        time_masks: int = 2,
        max_time_width: int = 10,
        max_warp: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= max_warp < 1.0:
            raise ValueError(f"max_warp must be in [0, 1); got {max_warp!r}.")
        self.max_warp = float(max_warp)
        self.freq_masks = int(freq_masks)
        self.max_freq_width = int(max_freq_width)
        self.time_masks = int(time_masks)
        self.max_time_width = int(max_time_width)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _mask(self, batch, length, count, max_width, dtype):
        keep = ops.ones((batch, length), dtype)
        positions = ops.cast(ops.arange(length), "float32")[None, :]
        for _ in range(count):
            width = keras.random.uniform((batch, 1), 0, max_width + 1, seed=self.seed_generator)
            width = ops.floor(width)
            start = keras.random.uniform((batch, 1), 0, 1, seed=self.seed_generator)
            # `length` may be a symbolic size (TensorFlow graphs with a dynamic time axis)
            start = ops.floor(start * ops.maximum(ops.cast(length, "float32") - width, 1.0))
            inside = ops.logical_and(positions >= start, positions < start + width)
            keep = keep * ops.cast(ops.logical_not(inside), dtype)
        return keep

    def call(self, features, training=False):
        if not training:
            return features
        shape = ops.shape(features)
        batch, length, bands = shape[0], shape[1], features.shape[-1]
        dtype = features.dtype
        if self.max_warp > 0.0:
            features = self._warp(features, batch, bands)
        time_keep = self._mask(batch, length, self.time_masks, self.max_time_width, dtype)
        freq_keep = self._mask(batch, bands, self.freq_masks, self.max_freq_width, dtype)
        return features * time_keep[:, :, None] * freq_keep[:, None, :]

    def _warp(self, features, batch, bands):
        factor = keras.random.uniform((batch, 1), 1.0 - self.max_warp, 1.0 + self.max_warp, seed=self.seed_generator)
        source = ops.minimum(ops.cast(ops.arange(bands), "float32")[None, :] * factor, bands - 1.0)
        lower = ops.floor(source)
        fraction = ops.cast(source - lower, features.dtype)[:, None, :]
        lower = ops.cast(lower, "int32")
        upper = ops.minimum(lower + 1, bands - 1)
        shape = ops.shape(features)

        def read(index):
            return ops.take_along_axis(features, ops.broadcast_to(index[:, None, :], shape), axis=-1)

        return read(lower) * (1.0 - fraction) + read(upper) * fraction

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_warp": self.max_warp,
            "freq_masks": self.freq_masks,
            "max_freq_width": self.max_freq_width,
            "time_masks": self.time_masks,
            "max_time_width": self.max_time_width,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FrameStack(keras.layers.Layer):
    """Join every `stack` consecutive frames into one: `(b, t, f) -> (b, t // stack, stack * f)`.

    Trailing frames short of a full group are dropped, so groups always
    start at the first frame (as in streaming).

    Example:

    >>> import numpy as np
    >>> FrameStack(2)(np.zeros((1, 99, 40), "float32")).shape
    (1, 49, 80)
    """

    def __init__(self, stack: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(stack) < 1:
            raise ValueError(f"stack must be a positive integer; got {stack!r}.")
        self.stack = int(stack)

    def call(self, frames):
        if self.stack == 1:
            return frames
        features = frames.shape[-1]
        length = frames.shape[1]
        groups = (ops.shape(frames)[1] // self.stack) if length is None else length // self.stack
        frames = frames[:, : groups * self.stack] if length is None or length % self.stack else frames
        return ops.reshape(frames, (-1, groups, self.stack * features))

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        return (input_shape[0], None if length is None else length // self.stack, self.stack * input_shape[2])

    def get_config(self):
        return {**super().get_config(), "stack": self.stack}


def build_keyword_model(
    cell: str = "gru",
    units: int = 128,
    layers: int = 2,
    num_classes: int = NUM_CLASSES,
    dropout: float = 0.1,
    stack: int = 2,
    samples: int | None = None,
    unroll: bool = False,
    seed: int | None = None,
    max_warp: float = 0.0,
    name: str = "keyword_spotter",
) -> keras.Model:
    """Waveform `(batch, samples)` -> class probabilities `(batch, num_classes)`.

    log-mel front end -> SpecAugment (training only; `max_warp` > 0 adds a
    random frequency warp) -> `stack` frames joined
    per recurrent step (20 ms steps by default) -> `layers` recurrent
    layers of `units` (any registered keras_rnnzoo cell: "gru", "lstm", ...)
    -> dropout -> softmax. `samples=None` accepts any length (>= 480);
    `unroll=True` (needs `samples`) unrolls the recurrence for TFLite.
    """
    if unroll and samples is None:
        raise ValueError("unroll=True needs a fixed number of samples.")
    cell_class = get_cell(cell)
    inputs = keras.Input((samples,), name="waveform")
    x = LogMelSpectrogram(name="log_mel")(inputs)
    x = SpecAugment(max_warp=max_warp, seed=seed, name="spec_augment")(x)
    x = FrameStack(stack, name="frame_stack")(x)
    for index in range(layers):
        x = keras.layers.RNN(
            cell_class(units, name=f"{cell}_cell_{index}"),
            return_sequences=index < layers - 1,
            unroll=unroll,
            name=f"rnn_{index}",
        )(x)
    x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def normalization_statistics(front, waveforms: np.ndarray, rng: np.random.Generator, count: int = 1500):
    """Per-band mean and std of the log-mel frames of up to `count` (unaugmented) clips.

    `front` is the model's `LogMelSpectrogram`; pass the result to its
    `set_statistics`.
    """
    chosen = rng.choice(len(waveforms), size=min(count, len(waveforms)), replace=False)
    frames = []
    for start in range(0, len(chosen), 250):
        batch = waveforms[np.sort(chosen[start : start + 250])]
        frames.append(keras.ops.convert_to_numpy(front.log_mel(batch)).reshape(-1, front.bands))
    frames = np.concatenate(frames)
    return frames.mean(axis=0), frames.std(axis=0) + 1e-3


def recurrent_layers(model: keras.Model) -> list[keras.layers.RNN]:
    """The `keras.layers.RNN` layers of a keyword model, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]


def state_sizes(model: keras.Model) -> list[int]:
    """Widths of every recurrent state of the model, layer by layer, in order."""
    sizes = []
    for layer in recurrent_layers(model):
        size = layer.cell.state_size
        sizes.extend(list(size) if isinstance(size, (list, tuple)) else [size])
    return sizes


def build_streaming_model(model: keras.Model) -> keras.Model:
    """Single-step model sharing `model`'s weights, with external state.

    Inputs: `hop` `(batch, stack * 160)` new samples (20 ms by default),
    `context` `(batch, 320)` the samples before them, and one `(batch, size)`
    tensor per recurrent state.
    Outputs: probabilities `(batch, classes)`, the new context, the new states.
    Feeding hop after hop reproduces `model` on the concatenated audio
    (frame for frame), without a time loop.
    """
    front = model.get_layer("log_mel")
    stacker = model.get_layer("frame_stack")
    step = stacker.stack * front.hop
    context = front.window - front.hop
    hop_input = keras.Input((step,), name="hop")
    context_input = keras.Input((context,), name="context")
    state_inputs = [keras.Input((size,), name=f"state_{i}") for i, size in enumerate(state_sizes(model))]
    window = keras.layers.Concatenate(axis=-1, name="window")([context_input, hop_input])
    features = stacker(front(window))  # (batch, 1, stack * bands)
    x = keras.layers.Reshape((stacker.stack * front.bands,), name="frame")(features)
    new_states = []
    position = 0
    for layer in recurrent_layers(model):
        cell = layer.cell
        size = cell.state_size
        count = len(size) if isinstance(size, (list, tuple)) else 1
        states = state_inputs[position : position + count]
        position += count
        x, cell_states = cell(x, states if isinstance(size, (list, tuple)) else states[0])
        new_states.extend(cell_states if isinstance(cell_states, (list, tuple)) else [cell_states])
    probabilities = model.get_layer("classifier")(x)
    new_context = keras.layers.Cropping1D((step, 0), name="new_context")(
        keras.layers.Reshape((step + context, 1))(window)
    )
    new_context = keras.layers.Reshape((context,), name="next_context")(new_context)
    return keras.Model(
        [hop_input, context_input, *state_inputs],
        [probabilities, new_context, *new_states],
        name=f"{model.name}_streaming",
    )


def build_unrolled_model(model: keras.Model, samples: int = SAMPLE_RATE) -> keras.Model:
    """A copy of `model` for exactly `samples` samples with the recurrence unrolled.

    Converts to builtin TFLite ops (no TensorList / Flex ops).
    """
    config = model_settings(model)
    clone = build_keyword_model(**config, samples=samples, unroll=True, name=f"{model.name}_unrolled")
    clone.set_weights(model.get_weights())
    return clone


def model_settings(model: keras.Model) -> dict:
    """`cell`, `units`, `layers`, `num_classes`, `dropout`, `stack` of a keyword model."""
    rnns = recurrent_layers(model)
    if not rnns:
        raise ValueError(f"Model {model.name!r} has no recurrent layers; not a keyword model.")
    cell_name = rnns[0].cell.name.rsplit("_cell_", 1)[0]
    return {
        "cell": cell_name,
        "units": int(rnns[0].cell.units),
        "layers": len(rnns),
        "num_classes": int(model.get_layer("classifier").units),
        "dropout": float(model.get_layer("dropout").rate),
        "stack": int(model.get_layer("frame_stack").stack),
    }
