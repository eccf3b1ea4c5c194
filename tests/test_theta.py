"""The Theta method that the forecaster's decoder can start from (`keras_rnnzoo.zoo.theta`)."""

from __future__ import annotations

import numpy as np

from keras_rnnzoo.zoo import theta


def test_white_noise_is_not_seasonal_and_a_seasonal_series_is():
    rng = np.random.default_rng(0)
    assert not theta.seasonality_is_significant(rng.normal(size=96), 12)
    t = np.arange(96)
    assert theta.seasonality_is_significant(np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, 96), 12)
    assert not theta.seasonality_is_significant(np.sin(2 * np.pi * t[:20] / 12), 12)  # under two seasons


def test_multiplicative_season_is_recovered():
    t = np.arange(120)
    pattern = 1 + 0.3 * np.sin(2 * np.pi * t / 12)
    values = 200 * pattern
    forecast = theta.theta_forecast(values[:108], 12, 12)
    np.testing.assert_allclose(forecast, values[108:], rtol=0.01)


def test_additive_season_when_values_are_not_positive():
    t = np.arange(120)
    values = 5 * np.sin(2 * np.pi * t / 12) + 0.01 * t
    indices = theta.seasonal_indices(values[:108], 12, multiplicative=False)
    np.testing.assert_allclose(indices, 5 * np.sin(2 * np.pi * np.arange(12) / 12), atol=0.05)
    np.testing.assert_allclose(theta.theta_forecast(values[:108], 12, 12), values[108:], atol=0.1)


def test_drift_is_half_the_least_squares_slope():
    """On a line, SES (alpha near 1) ends near the last value; Theta adds half the slope per step."""
    values = 3.0 + 2.0 * np.arange(50)
    level, alpha = theta.simple_exponential_smoothing(values)
    assert alpha == theta.ALPHAS[-1]
    forecast = theta.theta_forecast(values, 1, 4)
    np.testing.assert_allclose(np.diff(forecast), 1.0)
    expected_first = level + 1.0 * (1 - (1 - alpha) ** 50) / alpha
    np.testing.assert_allclose(forecast[0], expected_first)


def test_exponential_smoothing_picks_the_smallest_one_step_error():
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=200)) + rng.normal(0, 3, 200)  # random walk plus noise: a middle alpha
    _, alpha = theta.simple_exponential_smoothing(values)

    def sse(a):
        level, total = values[0], 0.0
        for v in values[1:]:
            total += (v - level) ** 2
            level += a * (v - level)
        return total

    assert sse(alpha) == min(sse(a) for a in theta.ALPHAS)
    assert 0.05 < alpha < 0.99
