"""Generated sequence-classification data: noisy periodic signals, one class per shape.

Each sequence has `features` channels. Class `k` is a periodic signal whose
frequency and waveform depend on `k` (sine, square-ish, sawtooth, ... in
turn), with a random phase and amplitude per channel and Gaussian noise, so
a recurrent model has to integrate over time to tell the classes apart. The
generator is seeded: the same arguments always give the same arrays.

Example:

>>> from keras_rnnzoo.data import sequence_classes
>>> x, y = sequence_classes.generate(samples=8, timesteps=12, features=2, classes=3, seed=0)
>>> x.shape, y.shape, x.dtype.name, sorted(set(y.tolist())) <= [0, 1, 2]
((8, 12, 2), (8,), 'float32', True)
"""

from __future__ import annotations

import numpy as np

_WAVEFORMS = ("sine", "square", "sawtooth", "triangle")


def _waveform(kind: str, phase: np.ndarray) -> np.ndarray:
    if kind == "sine":
        return np.sin(phase)
    if kind == "square":
        return np.tanh(3.0 * np.sin(phase))
    cycle = np.mod(phase, 2.0 * np.pi) / np.pi - 1.0  # in [-1, 1)
    if kind == "sawtooth":
        return cycle
    return 2.0 * np.abs(cycle) - 1.0  # triangle


def generate(
    samples: int = 600,
    timesteps: int = 20,
    features: int = 2,
    classes: int = 4,
    noise: float = 0.3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return `(x, y)`: float32 `(samples, timesteps, features)` and int32 labels.

    Args:
        samples: number of sequences (classes are balanced up to one sample).
        timesteps: length of every sequence.
        features: channels per step.
        classes: number of classes (at least 2).
        noise: standard deviation of the additive Gaussian noise.
        seed: random seed.

    Raises:
        ValueError: a size is not a positive integer, `classes < 2` or
            `noise < 0`.
    """
    for name, value, minimum in (
        ("samples", samples, 1),
        ("timesteps", timesteps, 2),
        ("features", features, 1),
        ("classes", classes, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"sequence_classes: {name} must be an integer >= {minimum}, got {value!r}.")
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"sequence_classes: noise must be a number >= 0, got {noise!r}.")
    rng = np.random.default_rng(seed)
    y = np.arange(samples) % classes
    rng.shuffle(y)
    t = np.arange(timesteps, dtype="float64")[None, :, None]
    # Periods between 3 and ~timesteps/2 steps, spread over the classes.
    periods = np.linspace(3.0, max(4.0, timesteps / 2.0), classes)
    omega = (2.0 * np.pi / periods[y])[:, None, None]
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(samples, 1, features))
    amplitude = rng.uniform(0.6, 1.4, size=(samples, 1, features))
    x = np.empty((samples, timesteps, features), dtype="float64")
    for k in range(classes):
        rows = y == k
        kind = _WAVEFORMS[k % len(_WAVEFORMS)]
        x[rows] = amplitude[rows] * _waveform(kind, omega[rows] * t + phase[rows])
    x += rng.normal(0.0, noise, size=x.shape)
    return x.astype("float32"), y.astype("int32")
