"""Classical forecasts in NumPy that the forecaster's decoder reads: Theta, damped trend, exponential smoothing.

All three deseasonalize as R's `forecast::thetaf` does (Hyndman & Billah 2003):
when the autocorrelation at the season lag is significant (90%), by
classical decomposition (multiplicative for positive series, else additive),
and put the seasonal indices back at the end.

* `theta_forecast` (Assimakopoulos & Nikolopoulos 2000): simple exponential
  smoothing, its weight chosen from a grid by in-sample squared error, plus
  half the slope of the least-squares line as drift.
* `damped_trend_forecast`: Holt's linear method with a damped trend
  (Gardner & McKenzie 1985), its three parameters chosen from a grid the
  same way.
* `exponential_smoothing_forecast`: simple exponential smoothing or the
  damped trend, each fitted on a finer grid, whichever has the lower AICc
  (as R's `forecast::ets` chooses among its non-seasonal models).

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


def _smoothed_levels(values: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Final level and one-step sum of squared errors of simple exponential smoothing, per alpha."""
    level = np.full(len(alphas), values[0])
    sse = np.zeros(len(alphas))
    for value in values[1:]:
        error = value - level
        sse += error * error
        level = level + alphas * error
    return level, sse


def simple_exponential_smoothing(values: np.ndarray, alphas: np.ndarray = ALPHAS) -> tuple[float, float]:
    """(final level, alpha) for the alpha with the least one-step squared error."""
    level, sse = _smoothed_levels(values, alphas)
    best = int(np.argmin(sse))
    return float(level[best]), float(alphas[best])


def _with_season(forecast_adjusted, values, season_length: int, horizon: int) -> np.ndarray:
    """`forecast_adjusted(values, horizon)` on deseasonalized values, the season put back (when significant)."""
    values = np.asarray(values, dtype="float64")
    n = len(values)
    if not seasonality_is_significant(values, season_length):
        return forecast_adjusted(values, horizon)
    multiplicative = bool(np.all(values > 0))
    indices = seasonal_indices(values, season_length, multiplicative)
    past = indices[np.arange(n) % season_length]
    future = indices[np.arange(n, n + horizon) % season_length]
    if multiplicative:
        return forecast_adjusted(values / past, horizon) * future
    return forecast_adjusted(values - past, horizon) + future


def theta_forecast(values: np.ndarray, season_length: int, horizon: int) -> np.ndarray:
    """Theta point forecast of the next `horizon` values of a gap-free history (at least 2 values)."""
    return _with_season(_theta, values, season_length, horizon)


def _theta(values: np.ndarray, horizon: int) -> np.ndarray:
    n = len(values)
    level, alpha = simple_exponential_smoothing(values)
    drift = np.polyfit(np.arange(n), values, 1)[0] / 2
    return level + drift * (np.arange(horizon) + (1 - (1 - alpha) ** n) / alpha)


DAMPED_GRID = np.array(np.meshgrid([0.1, 0.3, 0.5, 0.7, 0.9], [0.02, 0.1, 0.3], [0.8, 0.9, 0.98])).reshape(3, -1)


def damped_trend_forecast(values: np.ndarray, season_length: int, horizon: int) -> np.ndarray:
    """Damped-trend point forecast of the next `horizon` values of a gap-free history (at least 2 values).

    `DAMPED_GRID` holds the level weight alpha, the trend weight as a share
    of alpha, and the damping phi; a trend that does not stop is not in it
    (phi < 1).
    """
    return _with_season(_damped_trend, values, season_length, horizon)


def _damped_states(values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final level, final trend and one-step sum of squared errors of the damped trend, per column of `grid`."""
    alpha, share, phi = grid
    beta = alpha * share
    level = np.full(alpha.shape, values[0])
    trend = np.full(alpha.shape, values[1] - values[0] if len(values) > 1 else 0.0)
    sse = np.zeros(alpha.shape)
    for value in values[1:]:
        predicted = level + phi * trend
        error = value - predicted
        sse += error * error
        level = predicted + alpha * error
        trend = phi * trend + beta * error
    return level, trend, sse


def _damped_path(level: float, trend: float, phi: float, horizon: int) -> np.ndarray:
    return level + np.cumsum(phi ** np.arange(1, horizon + 1)) * trend


def _damped_trend(values: np.ndarray, horizon: int) -> np.ndarray:
    level, trend, sse = _damped_states(values, DAMPED_GRID)
    best = int(np.argmin(sse))
    return _damped_path(level[best], trend[best], DAMPED_GRID[2, best], horizon)


ES_ALPHAS = np.linspace(0.01, 0.99, 99)
ES_DAMPED_GRID = np.array(np.meshgrid(np.linspace(0.05, 0.95, 19), [0.01, 0.05, 0.1, 0.2, 0.4],
                                      [0.8, 0.85, 0.9, 0.95, 0.98])).reshape(3, -1)


def aicc(sse: float, errors: int, parameters: int) -> float:
    """AICc of a model with Gaussian one-step errors (`parameters` excludes the error variance); inf when too few errors."""
    k = parameters + 1
    if errors - k - 1 <= 0:
        return float("inf")
    return errors * np.log(max(sse, 1e-300) / errors) + 2 * k + 2 * k * (k + 1) / (errors - k - 1)


def exponential_smoothing_forecast(values: np.ndarray, season_length: int, horizon: int) -> np.ndarray:
    """Exponential-smoothing point forecast of the next `horizon` values of a gap-free history (at least 2 values).

    Simple exponential smoothing (parameters: alpha, initial level) or the
    damped trend (alpha, beta, phi, initial level and trend), fitted on the
    grids `ES_ALPHAS` and `ES_DAMPED_GRID`, whichever has the lower AICc
    (the damped trend's is finite from 9 values on).
    """
    return _with_season(_exponential_smoothing, values, season_length, horizon)


def _exponential_smoothing(values: np.ndarray, horizon: int) -> np.ndarray:
    levels, sse = _smoothed_levels(values, ES_ALPHAS)
    best = int(np.argmin(sse))
    level, trend, damped_sse = _damped_states(values, ES_DAMPED_GRID)
    fit = int(np.argmin(damped_sse))
    if aicc(damped_sse[fit], len(values) - 1, 5) < aicc(sse[best], len(values) - 1, 2):
        return _damped_path(level[fit], trend[fit], ES_DAMPED_GRID[2, fit], horizon)
    return np.full(horizon, levels[best])
