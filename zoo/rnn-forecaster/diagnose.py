"""Where the forecaster loses to ETS: rel. MASE by season length, and two alternatives.

For every evaluation series (the sets of `rnnzoo evaluate rnn-forecaster`)
this scores, on the same last horizon: the forecaster's median, seasonal
naive, statsmodels ETS, the average of the forecaster and ETS (point and
quantiles), a smoothed seasonal profile (the mean pattern of the last K
seasons of the context plus the last season's level; K = 2, 4, 8), and the
classical forecasts the decoder can start from (`keras_rnnzoo.zoo.classical`
on the last 96 values: Theta, exponential smoothing, their mean). It
prints the aggregate table per method, the forecaster's geometric-mean MASE
over ETS's with a bootstrap interval over series (`paired_ratio_interval`),
and the geometric-mean MASE relative to seasonal naive per season length.
Needs `pip install 'keras-rnnzoo[zoo]'`.

    python zoo/rnn-forecaster/diagnose.py [PRESET] [--json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def seasonal_profile_forecast(history: np.ndarray, season_length: int, horizon: int, seasons: int,
                              context_length: int = 96) -> np.ndarray:
    """Last season's level plus the mean seasonal pattern of the last `seasons` seasons of the context."""
    from keras_rnnzoo.zoo.forecaster import effective_season

    context = history[-context_length:]
    season = effective_season(len(context), season_length)
    if season <= 1:
        return np.repeat(context[-1], horizon)
    count = min(seasons, len(context) // season)
    block = context[len(context) - count * season :].reshape(count, season)
    profile = (block - block.mean(axis=1, keepdims=True)).mean(axis=0)
    return block[-1].mean() + profile[np.arange(horizon) % season]


def paired_ratio_interval(mase: np.ndarray, reference: np.ndarray, level: float = 0.9, draws: int = 10000,
                          seed: int = 0) -> dict:
    """Geometric-mean MASE ratio of a method over a reference on the same series, with a bootstrap interval.

    Series are resampled with replacement (`draws` times, seeded) and the
    geometric mean of the per-series ratios recomputed: the interval says how
    much the ratio could move with another sample of series like these.

    >>> paired_ratio_interval(np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0]))["ratio"]
    1.0
    """
    log_ratio = np.log(np.asarray(mase, dtype="float64") / np.asarray(reference, dtype="float64"))
    samples = np.random.default_rng(seed).integers(0, len(log_ratio), size=(draws, len(log_ratio)))
    means = log_ratio[samples].mean(axis=1)
    tail = (1 - level) / 2
    return {"ratio": round(float(np.exp(log_ratio.mean())), 3), "level": level,
            "low": round(float(np.exp(np.quantile(means, tail))), 3),
            "high": round(float(np.exp(np.quantile(means, 1 - tail))), 3)}


def diagnose(forecaster) -> dict:
    from keras_rnnzoo.zoo import forecaster_eval as fe
    from keras_rnnzoo.zoo.classical import exponential_smoothing_forecast, theta_forecast
    from keras_rnnzoo.zoo.forecaster import CONTEXT_LENGTH, _classical, clean_history, effective_season

    report = {}
    for key, (records, _) in fe.evaluation_sets().items():
        per_method = defaultdict(list)
        by_season = defaultdict(lambda: defaultdict(list))
        names = []
        cases = fe.evaluation_cases(records)
        rnn_quantiles = fe.forecast_quantiles(forecaster, [c[1] for c in cases], [c[0].season_length for c in cases],
                                              [c[3] for c in cases])
        for (record, train, test, h, scale), quantiles in zip(cases, rnn_quantiles):
            filled, _ = clean_history(train, name=record.name)
            rnn = (quantiles[fe.LEVELS.index(0.5)], quantiles)
            ets = fe.ets_forecast(train, record.season_length, h)
            naive = fe.seasonal_naive_forecast(train, record.season_length, h)
            candidates = {"rnn-forecaster": rnn, "seasonal_naive": naive, "ets": ets,
                          "average_rnn_ets": ((rnn[0] + ets[0]) / 2, (rnn[1] + ets[1]) / 2)}
            points = {f"seasonal_profile_{k}": seasonal_profile_forecast(filled, record.season_length, h, k)
                      for k in (2, 4, 8)}
            season = effective_season(len(filled), record.season_length)  # as `forecaster.encode` does
            points["theta"] = _classical(theta_forecast, filled[-CONTEXT_LENGTH:], season, h)
            points["exponential_smoothing"] = _classical(exponential_smoothing_forecast, filled[-CONTEXT_LENGTH:],
                                                         season, h)
            points["theta_ets_mean"] = (points["theta"] + points["exponential_smoothing"]) / 2
            for method, point in points.items():
                candidates[method] = (point, np.repeat(point[None], len(fe.LEVELS), 0))
            naive_mase = fe.score(test, *naive, scale)["mase"]
            for method, (point, quantiles) in candidates.items():
                row = fe.score(test, point, quantiles, scale)
                per_method[method].append(row)
                by_season[method][record.season_length].append(np.log(row["mase"] / naive_mase))
            names.append(record.name)
        mase = {method: np.array([row["mase"] for row in rows]) for method, rows in per_method.items()}
        report[key] = {
            **fe.aggregate(per_method, names),
            "rnn_over_ets": paired_ratio_interval(mase["rnn-forecaster"], mase["ets"]),
            "rel_mase_by_season_length": {
                method: {str(m): {"series": len(v), "rel_mase": round(float(np.exp(np.mean(v))), 3)}
                         for m, v in sorted(seasons.items())}
                for method, seasons in by_season.items()
            },
        }
    return report


_WITH_QUANTILES = ("rnn-forecaster", "seasonal_naive", "ets", "average_rnn_ets")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="rnn-forecaster")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args(argv)
    from keras_rnnzoo import zoo

    report = diagnose(zoo.load(args.preset))
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for key, block in report.items():
        for method, values in block["methods"].items():
            print(f"{key:9} {method:20} rel. MASE {values['mase_gmean_rel_snaive']:.3f}  "
                  f"wQL {values['wql']:.4f}  80% coverage {values['coverage_80']:.1%}"
                  + ("" if method in _WITH_QUANTILES else "  (point forecast only)"))
        ratio = block["rnn_over_ets"]
        print(f"{key:9} rnn-forecaster / ets: geometric-mean MASE ratio {ratio['ratio']:.3f} "
              f"({ratio['level']:.0%} bootstrap interval over series {ratio['low']:.3f}-{ratio['high']:.3f})")
        for method in block["rel_mase_by_season_length"]:
            parts = ", ".join(f"m={m}: {v['rel_mase']} ({v['series']})"
                              for m, v in block["rel_mase_by_season_length"][method].items())
            print(f"{key:9} {method:20} by season length: {parts}")


if __name__ == "__main__":
    main()
