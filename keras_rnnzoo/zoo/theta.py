"""The Theta method (Assimakopoulos & Nikolopoulos 2000), in NumPy.

The forecaster's decoder starts from this forecast (a skip connection) and
learns corrections to it. As in R's `forecast::thetaf` (Hyndman & Billah
2003): when the autocorrelation at the season lag is significant (90%), the
series is deseasonalized by classical decomposition (multiplicative for
positive series, else additive); simple exponential smoothing, with the
smoothing weight chosen from a grid by in-sample squared error, gives the
level; half the slope of the least-squares line is added as drift; the
seasonal indices are put back.

>>> import numpy as np
>>> history = 10 + np.arange(48) + 3 * np.sin(np.arange(48) * 2 * np.pi / 12)
>>> theta_forecast(history, season_length=12, horizon=3).round(2)
array([55.97, 56.45, 56.94])
"""

from __future__ import annotations

import numpy as np

ALPHAS = np.linspace(0.05, 0.99, 48)


def seasonality_is_significant(values: np.ndarray, season_length: int) -> bool:
    """90% test of the autocorrelation at lag m (the rule of `forecast::thetaf`)."""
    n = len(values)
    if season_length <= 1 or n < 2 * season_length:
        return False
    centered = values - values.mean()
    power = float(np.dot(centered, centered))
    if power <= 0:
        return False
    acf = np.array([np.dot(centered[k:], centered[:-k]) for k in range(1, season_length + 1)]) / power
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / n)
    return bool(abs(acf[-1]) > limit)


def seasonal_indices(values: np.ndarray, season_length: int, multiplicative: bool) -> np.ndarray:
    """Classical decomposition: mean detrended value per season position (centred moving average trend)."""
    m = season_length
    weights = np.ones(m + 1 - m % 2)
    if m % 2 == 0:
        weights[[0, -1]] = 0.5
    weights /= m
    trend = np.convolve(values, weights, mode="valid")
    offset = (len(weights) - 1) // 2
    middle = values[offset : offset + len(trend)]
    detrended = middle / trend if multiplicative else middle - trend
    position = np.arange(offset, offset + len(trend)) % m
    indices = np.array([detrended[position == j].mean() for j in range(m)])
    return indices / indices.mean() if multiplicative else indices - indices.mean()


def simple_exponential_smoothing(values: np.ndarray, alphas: np.ndarray = ALPHAS) -> tuple[float, float]:
    """(final level, alpha) for the alpha with the least one-step squared error."""
    level = np.full(len(alphas), values[0])
    sse = np.zeros(len(alphas))
    for value in values[1:]:
        error = value - level
        sse += error * error
        level = level + alphas * error
    best = int(np.argmin(sse))
    return float(level[best]), float(alphas[best])


def theta_forecast(values: np.ndarray, season_length: int, horizon: int) -> np.ndarray:
    """Theta point forecast of the next `horizon` values of a gap-free history (at least 2 values)."""
    values = np.asarray(values, dtype="float64")
    n = len(values)
    seasonal = seasonality_is_significant(values, season_length)
    if seasonal:
        multiplicative = bool(np.all(values > 0))
        indices = seasonal_indices(values, season_length, multiplicative)
        past = indices[np.arange(n) % season_length]
        values = values / past if multiplicative else values - past
    level, alpha = simple_exponential_smoothing(values)
    drift = np.polyfit(np.arange(n), values, 1)[0] / 2
    forecast = level + drift * (np.arange(horizon) + (1 - (1 - alpha) ** n) / alpha)
    if seasonal:
        future = indices[np.arange(n, n + horizon) % season_length]
        forecast = forecast * future if multiplicative else forecast + future
    return forecast
