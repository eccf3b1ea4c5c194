"""Generated forecasting data: seasonal series with trend and autoregressive noise.

`generate` returns a float32 array `(length, channels)`; every channel is a
sum of a slow trend, one or two seasonal cycles with random phases and an
AR(1) noise process. Seeded: the same arguments always give the same series.

Example:

>>> from keras_rnnzoo.data import seasonal_series
>>> series = seasonal_series.generate(length=100, channels=1, period=12, seed=0)
>>> series.shape, series.dtype.name
((100, 1), 'float32')
"""

from __future__ import annotations

import numpy as np


def generate(
    length: int = 1000,
    channels: int = 1,
    period: int = 24,
    trend: float = 0.002,
    noise: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """Return a float32 series of shape `(length, channels)`.

    Args:
        length: number of time steps.
        channels: number of parallel series.
        period: main seasonal period in steps (a second cycle of `period * 7`
            steps, like a weekly one over a daily one, is added at lower
            amplitude).
        trend: slope of the linear trend per step.
        noise: innovation standard deviation of the AR(1) noise (phi = 0.7).
        seed: random seed.

    Raises:
        ValueError: a size is not a positive integer or `noise < 0`.
    """
    for name, value, minimum in (("length", length, 2), ("channels", channels, 1), ("period", period, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"seasonal_series: {name} must be an integer >= {minimum}, got {value!r}.")
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"seasonal_series: noise must be a number >= 0, got {noise!r}.")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype="float64")[:, None]
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(2, channels))
    level = rng.normal(0.0, 1.0, size=(1, channels))
    series = (
        level
        + trend * t
        + np.sin(2.0 * np.pi * t / period + phase[0])
        + 0.5 * np.sin(2.0 * np.pi * t / (period * 7) + phase[1])
    )
    innovations = rng.normal(0.0, noise, size=(length, channels))
    ar = np.zeros(channels)
    for step in range(length):
        ar = 0.7 * ar + innovations[step]
        series[step] += ar
    return series.astype("float32")
