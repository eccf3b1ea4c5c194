"""Classical forecasts the forecaster's decoder reads (`keras_rnnzoo.zoo.classical`): Theta, damped trend, exponential smoothing."""

from __future__ import annotations

import numpy as np

from keras_rnnzoo.zoo import classical


def test_white_noise_is_not_seasonal_and_a_seasonal_series_is():
    rng = np.random.default_rng(0)
    assert not classical.seasonality_is_significant(rng.normal(size=96), 12)
    t = np.arange(96)
    assert classical.seasonality_is_significant(np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, 96), 12)
    assert not classical.seasonality_is_significant(np.sin(2 * np.pi * t[:20] / 12), 12)  # under two seasons


def test_multiplicative_season_is_recovered():
    t = np.arange(120)
    pattern = 1 + 0.3 * np.sin(2 * np.pi * t / 12)
    values = 200 * pattern
    forecast = classical.theta_forecast(values[:108], 12, 12)
    np.testing.assert_allclose(forecast, values[108:], rtol=0.01)


def test_additive_season_when_values_are_not_positive():
    t = np.arange(120)
    values = 5 * np.sin(2 * np.pi * t / 12) + 0.01 * t
    indices = classical.seasonal_indices(values[:108], 12, multiplicative=False)
    np.testing.assert_allclose(indices, 5 * np.sin(2 * np.pi * np.arange(12) / 12), atol=0.05)
    np.testing.assert_allclose(classical.theta_forecast(values[:108], 12, 12), values[108:], atol=0.1)


def test_drift_is_half_the_least_squares_slope():
    """On a line, SES (alpha near 1) ends near the last value; Theta adds half the slope per step."""
    values = 3.0 + 2.0 * np.arange(50)
    level, alpha = classical.simple_exponential_smoothing(values)
    assert alpha == classical.ALPHAS[-1]
    forecast = classical.theta_forecast(values, 1, 4)
    np.testing.assert_allclose(np.diff(forecast), 1.0)
    expected_first = level + 1.0 * (1 - (1 - alpha) ** 50) / alpha
    np.testing.assert_allclose(forecast[0], expected_first)


def test_exponential_smoothing_picks_the_smallest_one_step_error():
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=200)) + rng.normal(0, 3, 200)  # random walk plus noise: a middle alpha
    _, alpha = classical.simple_exponential_smoothing(values)

    def sse(a):
        level, total = values[0], 0.0
        for v in values[1:]:
            total += (v - level) ** 2
            level += a * (v - level)
        return total

    assert sse(alpha) == min(sse(a) for a in classical.ALPHAS)
    assert 0.05 < alpha < 0.99


def test_damped_trend_follows_a_line_and_flattens_out():
    values = 3.0 + 2.0 * np.arange(60)
    forecast = classical.damped_trend_forecast(values, 1, 40)
    steps = np.diff(np.concatenate([[values[-1]], forecast]))
    assert 1.0 < steps[0] <= 2.0 + 1e-9  # the trend goes on, damped by phi
    assert np.all(np.diff(steps) <= 1e-12) and steps[-1] < steps[0]  # and flattens
    assert forecast[-1] < values[-1] + 2.0 * 40


def test_damped_trend_picks_its_parameters_by_one_step_error():
    rng = np.random.default_rng(4)
    values = np.cumsum(rng.normal(0.5, 1, 80))

    def sse(alpha, share, phi):
        level, trend, total = values[0], values[1] - values[0], 0.0
        for v in values[1:]:
            predicted = level + phi * trend
            total += (v - predicted) ** 2
            level, trend = predicted + alpha * (v - predicted), phi * trend + alpha * share * (v - predicted)
        return total, level, trend, phi

    best = min((sse(*column) for column in classical.DAMPED_GRID.T), key=lambda r: r[0])
    _, level, trend, phi = best
    np.testing.assert_allclose(classical.damped_trend_forecast(values, 1, 3),
                               level + np.cumsum(phi ** np.arange(1, 4)) * trend)


def test_damped_trend_puts_the_season_back():
    t = np.arange(120)
    values = -30 + 0.2 * t + 8 * np.sin(2 * np.pi * t / 12)  # negative values: additive season
    np.testing.assert_allclose(classical.damped_trend_forecast(values[:108], 12, 12), values[108:], atol=0.5)


def test_aicc_matches_its_formula_and_is_infinite_with_too_few_errors():
    # k = 3 parameters + the error variance; 20 errors with a sum of squares of 20
    assert np.isclose(classical.aicc(20.0, 20, 3), 20 * np.log(1.0) + 8 + 40 / 15)
    assert classical.aicc(5.0, 6, 5) == float("inf")  # 6 errors cannot pay for 6 parameters


def test_exponential_smoothing_chooses_by_aicc_between_a_level_and_a_damped_trend():
    rng = np.random.default_rng(5)
    level_only = 50 + rng.normal(0, 1, 96)
    flat = classical.exponential_smoothing_forecast(level_only, 1, 6)
    np.testing.assert_allclose(flat, flat[0])  # no trend: simple exponential smoothing
    levels, sse = classical._smoothed_levels(level_only, classical.ES_ALPHAS)
    assert np.isclose(flat[0], levels[np.argmin(sse)])

    trending = np.cumsum(rng.normal(1.0, 0.3, 96))
    forecast = classical.exponential_smoothing_forecast(trending, 1, 6)
    level, trend, damped_sse = classical._damped_states(trending, classical.ES_DAMPED_GRID)
    fit = int(np.argmin(damped_sse))
    np.testing.assert_allclose(forecast, level[fit] + np.cumsum(classical.ES_DAMPED_GRID[2, fit] ** np.arange(1, 7)) * trend[fit])
    assert np.all(np.diff(forecast) > 0)


def test_exponential_smoothing_on_a_short_history_is_a_level():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])  # 7 errors: too few for the damped trend's AICc
    forecast = classical.exponential_smoothing_forecast(values, 1, 3)
    np.testing.assert_allclose(forecast, forecast[0])
    assert forecast[0] > 7.0  # the level follows the last values


def test_exponential_smoothing_puts_the_season_back():
    t = np.arange(120)
    values = -30 + 0.2 * t + 8 * np.sin(2 * np.pi * t / 12)  # negative values: additive season
    np.testing.assert_allclose(classical.exponential_smoothing_forecast(values[:108], 12, 12), values[108:], atol=0.5)
