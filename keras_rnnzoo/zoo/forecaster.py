"""`Forecaster`: a global encoder-decoder GRU forecaster with quantile outputs.

The task owns the preprocessing (NumPy / pandas), the Keras model owns the
math. For a history `y_1..y_n` with season length `m`:

* gaps: leading NaNs are dropped; inner and trailing NaNs are filled by linear
  interpolation (the last value carried forward at the end) and flagged as
  not observed; more than `MAX_MISSING_FRACTION` of the history missing is an
  error. At least `MIN_HISTORY` observed values are needed.
* scaling: `loc`, `scale` = mean and standard deviation of the last
  `context_length` values; the model sees `(y - loc) / scale` clipped to
  +-`CLIP`, so one model serves any scale. A constant history gets a constant
  forecast with zero-width intervals.
* encoder input per step (last `context_length` steps, zero-padded on the
  left): scaled value, observed flag, sin/cos of the seasonal phase,
  log(m) / log(400), then past and future covariates (standardized).
* decoder input per future step (up to `horizon_length` steps): the scaled
  base forecast, sin/cos phase, step / horizon_length, log(m), then the
  other classical forecasts of `encode`, then future covariates. The base
  forecast (`config["base_forecast"]`) is seasonal naive, the Theta method,
  or the mean of Theta and damped trend (`keras_rnnzoo.zoo.classical`, on
  the last `context_length` values); the model adds its output to it (a
  skip connection), so it learns corrections to it.
* output per step: the mean and `QUANTILE_GRID` quantiles (rearranged to be
  monotone), their distances from the median multiplied by
  `config["interval_scale"]` (1 unless the recipe calibrated it on held-out
  horizons; see `interval_scale_for_coverage`). Other quantile levels
  inside the grid are interpolated.
  Horizons longer than `horizon_length` are forecast recursively, feeding
  back the median.
* a history that is never negative gives forecasts clipped at zero.

Example:

>>> import numpy as np
>>> from keras_rnnzoo import zoo
>>> forecaster = zoo.load("rnn-forecaster")
>>> history = 100 + 10 * np.sin(np.arange(120) * 2 * np.pi / 12)
>>> frame = forecaster.predict(history, horizon=12, season_length=12)
>>> list(frame.columns)
['mean', '0.1', '0.5', '0.9']
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Sequence

import keras
import numpy as np
from keras import ops

from keras_rnnzoo.registry import SERIALIZATION_PACKAGE, get_cell, list_cells
from keras_rnnzoo.zoo.task import Task, register_task
from keras_rnnzoo.zoo.classical import damped_trend_forecast, exponential_smoothing_forecast, theta_forecast

QUANTILE_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
CONTEXT_LENGTH = 96
HORIZON_LENGTH = 24
MIN_HISTORY = 8
MAX_MISSING_FRACTION = 0.2
CLIP = 30.0
MAX_SEASON_LOG = math.log(400.0)
ENCODER_BASE_FEATURES = 5
DECODER_BASE_FEATURES = 5
BASE_FORECASTS = ("seasonal_naive", "theta", "theta_damped", "theta_ets")
_EXTRA_DECODER_COLUMNS = {"seasonal_naive": 0, "theta": 1, "theta_damped": 3, "theta_ets": 3}
_PAIRED_WITH_THETA = {"theta_damped": damped_trend_forecast, "theta_ets": exponential_smoothing_forecast}
_log = logging.getLogger(__name__)

# pandas offset prefix -> season length (the dominant cycle for that frequency)
_SEASON_BY_FREQ = {
    "S": 60, "T": 60, "MIN": 60, "H": 24, "D": 7, "B": 5, "C": 5, "W": 52,
    "SM": 24, "M": 12, "ME": 12, "MS": 12, "BM": 12, "BMS": 12, "BME": 12,
    "Q": 4, "QE": 4, "QS": 4, "BQ": 4, "BQE": 4, "BQS": 4,
    "A": 1, "Y": 1, "YE": 1, "YS": 1, "AS": 1, "BA": 1, "BY": 1, "BYE": 1, "BYS": 1,
}
_PER_DAY = {"S": 86400, "T": 1440, "MIN": 1440, "H": 24}


def season_length_for_freq(freq: str) -> int:
    """Season length for a pandas frequency string (`"h"` -> 24, `"D"` -> 7, `"MS"` -> 12, ...)."""
    import re

    match = re.fullmatch(r"(\d*)([A-Za-z]+)(?:-[A-Za-z]+)?", str(freq).strip())
    if not match:
        raise ValueError(f"Unrecognized frequency {freq!r}; pass season_length= explicitly.")
    multiple = int(match.group(1) or 1)
    base = match.group(2).upper()
    if base not in _SEASON_BY_FREQ:
        raise ValueError(f"Unrecognized frequency {freq!r}; pass season_length= explicitly.")
    if base in _PER_DAY:  # sub-daily: one day is the season
        per_day = _PER_DAY[base] // multiple if _PER_DAY[base] % multiple == 0 else 1
        return max(1, per_day) if base != "S" or multiple > 1 else 60
    if multiple > 1:
        season = _SEASON_BY_FREQ[base]
        return season // multiple if season % multiple == 0 else 1
    return _SEASON_BY_FREQ[base]


# -- preprocessing ------------------------------------------------------------
def clean_history(values: np.ndarray, name: str = "series") -> tuple[np.ndarray, np.ndarray]:
    """Fill gaps by the documented rule; returns (filled values, observed mask)."""
    values = np.asarray(values, dtype="float64").reshape(-1)
    if np.isinf(values).any():
        position = int(np.flatnonzero(np.isinf(values))[0])
        raise ValueError(f"{name} holds an infinite value at position {position}.")
    observed = ~np.isnan(values)
    if not observed.any():
        raise ValueError(f"{name} has no observed values.")
    first = int(np.argmax(observed))
    values, observed = values[first:], observed[first:]
    n_observed = int(observed.sum())
    if n_observed < MIN_HISTORY:
        raise ValueError(
            f"{name} has {n_observed} observed values; the forecaster needs at least {MIN_HISTORY}."
        )
    missing = 1.0 - n_observed / len(values)
    if missing > MAX_MISSING_FRACTION:
        raise ValueError(
            f"{name} is {missing:.1%} missing values (after its first observation); at most "
            f"{MAX_MISSING_FRACTION:.0%} are filled by interpolation. Fill or drop them first."
        )
    if missing:
        positions = np.arange(len(values))
        values = np.interp(positions, positions[observed], values[observed])
    return values, observed.astype("float64")


def effective_season(length: int, season_length: int) -> int:
    """Seasonal features need two full seasons of history; otherwise 1."""
    return season_length if season_length > 1 and length >= 2 * season_length else 1


def seasonal_naive(values: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """y_{n+h} = y_{n+h-m*ceil(h/m)}."""
    n = len(values)
    steps = np.arange(1, horizon + 1)
    lags = season * np.ceil(steps / season).astype(int)
    return values[n + steps - 1 - lags]


def _phase(positions: np.ndarray, season: int) -> tuple[np.ndarray, np.ndarray]:
    if season <= 1:
        zeros = np.zeros(len(positions))
        return zeros, zeros
    angle = 2 * np.pi * (positions % season) / season
    return np.sin(angle), np.cos(angle)


def location_scale(values: np.ndarray, context_length: int) -> tuple[float, float]:
    window = values[-context_length:]
    loc = float(np.mean(window))
    scale = float(np.std(window))
    if not (math.isfinite(loc) and math.isfinite(scale)):
        raise ValueError(
            f"Values too large to scale (max |value| = {np.max(np.abs(window)):.3g}); "
            "rescale the series first."
        )
    return loc, scale


def decoder_base_features(base_forecast: str = "seasonal_naive") -> int:
    """Decoder input columns before the future covariates (see `encode`)."""
    if base_forecast not in BASE_FORECASTS:
        raise ValueError(f"base_forecast must be one of {BASE_FORECASTS}; got {base_forecast!r}.")
    return DECODER_BASE_FEATURES + _EXTRA_DECODER_COLUMNS[base_forecast]


def _classical(forecast, values, season, horizon):
    """`forecast(values, season, horizon)`, or seasonal naive where it is not finite (e.g. an explosive series)."""
    result = forecast(values, season, horizon)
    return result if np.all(np.isfinite(result)) else seasonal_naive(values, season, horizon)


def encode(
    values: np.ndarray,
    observed: np.ndarray,
    season_length: int,
    loc: float,
    scale: float,
    context_length: int,
    horizon_length: int,
    past_covariates: np.ndarray | None = None,
    future_covariates: np.ndarray | None = None,
    base_forecast: str = "seasonal_naive",
) -> tuple[np.ndarray, np.ndarray]:
    """Encoder (context, E) and decoder (horizon, D) inputs for one history.

    `past_covariates` is (n, P); `future_covariates` is (n + horizon_length, F),
    both already standardized. Decoder columns: the base forecast, sin/cos
    phase, step, log season length, then for `base_forecast="theta"` seasonal
    naive, for `"theta_damped"` (base: the mean of Theta and damped trend)
    seasonal naive, Theta and damped trend, for `"theta_ets"` (base: the mean
    of Theta and exponential smoothing) seasonal naive, Theta and exponential
    smoothing; then future covariates. Classical forecasts use the last
    `context_length` values (`keras_rnnzoo.zoo.classical`).
    """
    n = len(values)
    season = effective_season(n, season_length)
    scaled = np.clip((values - loc) / scale, -CLIP, CLIP)
    take = min(n, context_length)
    positions = np.arange(n - take, n)
    sin, cos = _phase(positions, season)
    log_season = np.full(take, math.log(season) / MAX_SEASON_LOG)
    columns = [scaled[-take:], observed[-take:], sin, cos, log_season]
    if past_covariates is not None and past_covariates.shape[1]:
        columns.extend(past_covariates[n - take : n].T)
    if future_covariates is not None and future_covariates.shape[1]:
        columns.extend(future_covariates[n - take : n].T)
    encoder = np.zeros((context_length, len(columns)), dtype="float32")
    encoder[context_length - take :] = np.stack(columns, axis=1)
    future = np.arange(n, n + horizon_length)
    sin, cos = _phase(future, season)
    naive = np.clip((seasonal_naive(values, season, horizon_length) - loc) / scale, -CLIP, CLIP)
    steps = np.arange(1, horizon_length + 1) / horizon_length
    log_season = np.full(horizon_length, math.log(season) / MAX_SEASON_LOG)
    def scaled(forecast):
        return np.clip((forecast - loc) / scale, -CLIP, CLIP)

    recent = values[-context_length:]
    if decoder_base_features(base_forecast) == DECODER_BASE_FEATURES:
        columns = [naive, sin, cos, steps, log_season]
    elif base_forecast == "theta":
        theta = scaled(_classical(theta_forecast, recent, season, horizon_length))
        columns = [theta, sin, cos, steps, log_season, naive]
    else:
        theta = scaled(_classical(theta_forecast, recent, season, horizon_length))
        other = scaled(_classical(_PAIRED_WITH_THETA[base_forecast], recent, season, horizon_length))
        columns = [(theta + other) / 2, sin, cos, steps, log_season, naive, theta, other]
    if future_covariates is not None and future_covariates.shape[1]:
        columns.extend(future_covariates[n : n + horizon_length].T)
    decoder = np.stack(columns, axis=1).astype("float32")
    return encoder, decoder


# -- the Keras model ----------------------------------------------------------
def build_model(
    encoder_features: int = ENCODER_BASE_FEATURES,
    decoder_features: int = DECODER_BASE_FEATURES,
    units: int = 64,
    context_length: int = CONTEXT_LENGTH,
    horizon_length: int = HORIZON_LENGTH,
    quantiles: Sequence[float] = QUANTILE_GRID,
    cell: str = "gru",
    members: int = 1,
):
    """The encoder-decoder network: keras_rnnzoo recurrent layers, Dense heads.

    `cell` is any registered keras_rnnzoo cell name (`"gru"`, `"lstm"`, `"mgu"`, ...).

    Inputs `encoder` (batch, context, E) and `decoder` (batch, horizon, D);
    output (batch, horizon, 1 + len(quantiles)): mean then quantiles, in
    scaled units, added to the decoder's first input column (the base forecast).
    With `members` > 1 the model holds that many such networks (layer names
    prefixed `m0_`, `m1_`, ...) and averages their outputs: an ensemble of
    independently trained runs, see `ensemble_model`.
    """
    from keras_rnnzoo import layers

    def layer_class(units, name, **options):
        if cell in ("gru", "lstm"):  # the shipped preset's layer classes
            return {"gru": layers.GRU, "lstm": layers.LSTM}[cell](units, name=name, **options)
        return keras.layers.RNN(get_cell(cell)(units), name=name, **options)

    def network(prefix):
        encoded = layer_class(units, return_sequences=True, name=f"{prefix}encoder_rnn_1")(encoder_input)
        states = layer_class(units, return_state=True, name=f"{prefix}encoder_rnn_2")(encoded)[1:]
        decoded = layer_class(units, return_sequences=True, name=f"{prefix}decoder_rnn")(
            decoder_input, initial_state=list(states))
        hidden = keras.layers.Concatenate(name=f"{prefix}decoder_features")([decoded, decoder_input])
        hidden = keras.layers.Dense(units, activation="gelu", name=f"{prefix}head_hidden")(hidden)
        return keras.layers.Dense(1 + len(quantiles), name=f"{prefix}head", kernel_initializer="zeros")(hidden)

    encoder_input = keras.Input((context_length, encoder_features), name="encoder")
    decoder_input = keras.Input((horizon_length, decoder_features), name="decoder")
    if members == 1:
        raw = network("")
    else:
        raw = keras.layers.Average(name="member_average")([network(f"m{i}_") for i in range(members)])
    base = ops.take(decoder_input, [0], axis=-1)
    outputs = keras.layers.Add(name="base_forecast_skip")([raw, ops.repeat(base, 1 + len(quantiles), axis=-1)])
    return keras.Model({"encoder": encoder_input, "decoder": decoder_input}, outputs, name="rnn_forecaster")


def ensemble_members(model) -> int:
    """How many networks `model` averages (1 for a plain `build_model` network)."""
    return sum(layer.name.endswith("encoder_rnn_1") for layer in model.layers)


def ensemble_model(models: Sequence) -> keras.Model:
    """One model that averages the outputs of trained single networks of the same shape.

    >>> a, b = build_model(units=4), build_model(units=4)
    >>> ensemble_members(ensemble_model([a, b]))
    2
    """
    first = models[0]
    if len(models) < 2 or any(ensemble_members(m) != 1 for m in models):
        raise ValueError(f"An ensemble needs at least two single networks; got {len(models)} model(s) "
                         f"with {[ensemble_members(m) for m in models]} member(s).")
    layer = first.get_layer("encoder_rnn_1")
    cell = next(name for name in list_cells() if get_cell(name) is type(layer.cell))
    shapes = {(m.input["encoder"].shape[1:], m.input["decoder"].shape[1:], m.output.shape[1:]) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"Ensemble members differ in input or output shapes: {sorted(map(str, shapes))}.")
    (encoder_shape, decoder_shape, output_shape), = shapes
    quantile_slots = [0.0] * (output_shape[-1] - 1)  # build_model needs only their number
    new = build_model(encoder_shape[-1], decoder_shape[-1], layer.cell.units, encoder_shape[0], decoder_shape[0],
                      quantile_slots, cell, members=len(models))
    for index, model in enumerate(models):
        for member_layer in model.layers:
            if member_layer.weights:
                new.get_layer(f"m{index}_{member_layer.name}").set_weights(member_layer.get_weights())
    return new


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class ForecastLoss(keras.losses.Loss):
    """Masked pinball loss over the quantiles plus a Huber loss for the mean.

    `y_true` is (batch, horizon, 2): scaled target and a 0/1 mask; `y_pred`
    is (batch, horizon, 1 + len(quantiles)): mean then quantiles. A Keras
    `Loss`, so compiled models save and load with it.
    """

    def __init__(self, quantiles: Sequence[float] = QUANTILE_GRID, name: str = "forecast_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = tuple(float(q) for q in quantiles)

    def call(self, y_true, y_pred):
        target = y_true[..., 0:1]
        mask = y_true[..., 1]
        error = target - y_pred[..., 1:]
        levels = ops.convert_to_tensor(np.asarray(self.quantiles, dtype="float32"), dtype=y_pred.dtype)
        pinball = ops.mean(ops.maximum(ops.multiply(levels, error), ops.multiply(levels - 1.0, error)), axis=-1)
        mean_error = ops.abs(target[..., 0] - y_pred[..., 0])
        huber = ops.where(mean_error < 1.0, 0.5 * mean_error**2, mean_error - 0.5)
        per_step = (pinball + 0.25 * huber) * mask
        # a scalar: the mean over every observed step of the batch
        return ops.sum(per_step) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "quantiles": list(self.quantiles)}


def forecast_loss(quantiles: Sequence[float] = QUANTILE_GRID) -> ForecastLoss:
    """The training loss of the forecaster (`ForecastLoss`)."""
    return ForecastLoss(quantiles)


# -- the task -----------------------------------------------------------------
@register_task("forecaster")
class Forecaster(Task):
    """Probabilistic forecaster for univariate series, zero-shot or fine-tuned with covariates.

    Use `keras_rnnzoo.zoo.load("rnn-forecaster")`; see the module docstring
    for the preprocessing rules.
    """

    def __init__(self, model, card=None, folder=None):
        super().__init__(model, card, folder)
        config = self.config
        config.setdefault("context_length", CONTEXT_LENGTH)
        config.setdefault("horizon_length", HORIZON_LENGTH)
        config.setdefault("quantiles", list(QUANTILE_GRID))
        config.setdefault("covariates", {"past": [], "future": []})
        config.setdefault("base_forecast", "seasonal_naive")  # presets from before the Theta base
        config.setdefault("interval_scale", 1.0)

    # -- settings -------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return int(self.config["context_length"])

    @property
    def horizon_length(self) -> int:
        return int(self.config["horizon_length"])

    @property
    def quantile_grid(self) -> tuple[float, ...]:
        return tuple(float(q) for q in self.config["quantiles"])

    @property
    def base_forecast(self) -> str:
        """The forecast the model corrects: one of `BASE_FORECASTS`."""
        return str(self.config["base_forecast"])

    @property
    def past_covariates(self) -> list[str]:
        return [c["name"] for c in self.config["covariates"]["past"]]

    @property
    def future_covariates(self) -> list[str]:
        return [c["name"] for c in self.config["covariates"]["future"]]

    def metadata(self) -> dict[str, Any]:
        return {
            "input_spec": {
                "kind": "univariate time series",
                "context_length": self.context_length,
                "max_direct_horizon": self.horizon_length,
                "min_history": MIN_HISTORY,
                "frequencies": "any regular frequency (hourly to yearly tested)",
                "past_covariates": self.past_covariates,
                "future_covariates": self.future_covariates,
            },
            "preprocessing": {
                "scaling": "per series: mean and standard deviation of the last context_length values",
                "missing_values": f"leading dropped, others linearly interpolated; at most {MAX_MISSING_FRACTION:.0%}",
                "clip_scaled": CLIP,
                "base_forecast": self.base_forecast,
            },
        }

    # -- prediction ------------------------------------------------------------
    def predict(
        self,
        series,
        horizon: int,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        *,
        freq: str | None = None,
        season_length: int | None = None,
        future_covariates=None,
    ):
        """Forecast `horizon` steps after the end of `series`.

        Args:
            series: a pandas Series with a DatetimeIndex (a regular frequency,
                inferred or given by `freq`), a NumPy array / list (then pass
                `season_length`, and `freq` plus a start to get dates), or,
                for a model fine-tuned with covariates, a DataFrame holding
                the target and covariate columns.
            horizon: number of future steps (positive integer).
            quantiles: levels in [0.05, 0.95].
            freq: pandas frequency; for a Series it may fill timestamp gaps.
            season_length: overrides the season length implied by `freq`.
            future_covariates: DataFrame (or dict of arrays) with the future
                covariates' values for the `horizon` future steps.

        Returns:
            A pandas DataFrame indexed by the future timestamps (or steps
            `n..n+horizon-1` for arrays without `freq`), with a `mean` column
            and one column per quantile (named like `"0.1"`).
        """
        import pandas as pd

        horizon = _check_horizon(horizon)
        levels = self._check_quantiles(quantiles)
        prepared = prepare_series(series, freq=freq, season_length=season_length,
                                  target=self.config.get("target"),
                                  covariates=self.past_covariates + self.future_covariates)
        past, future = self._covariate_arrays(prepared, horizon, future_covariates)
        mean, grid = self._forecast_many([prepared["values"]], [prepared["season_length"]], horizon,
                                         [past] if past is not None else None,
                                         [future] if future is not None else None)
        quantile_values = _interpolate_quantiles(grid[0], self.quantile_grid, levels)
        index = _future_index(prepared, horizon)
        frame = pd.DataFrame({"mean": mean[0]}, index=index)
        for level, values in zip(levels, quantile_values):
            frame[_level_name(level)] = values
        frame.index.name = prepared.get("index_name") or "timestamp"
        return frame

    def _check_quantiles(self, quantiles) -> list[float]:
        grid = self.quantile_grid
        levels = []
        for level in quantiles:
            try:
                level = float(level)
            except (TypeError, ValueError):
                raise ValueError(f"Quantile levels must be numbers; got {level!r}.") from None
            if not grid[0] - 1e-9 <= level <= grid[-1] + 1e-9:
                raise ValueError(
                    f"Quantile level {level} is outside the range the model was trained for "
                    f"[{grid[0]}, {grid[-1]}]."
                )
            levels.append(level)
        if not levels:
            raise ValueError("Pass at least one quantile level.")
        return levels

    def _covariate_arrays(self, prepared, horizon, future_covariates):
        past_spec = self.config["covariates"]["past"]
        future_spec = self.config["covariates"]["future"]
        if not past_spec and not future_spec:
            if future_covariates is not None:
                raise ValueError(
                    "This forecaster uses no covariates; fine-tune it with fit(..., "
                    "future_covariates=[...]) before passing future_covariates."
                )
            return None, None
        if past_spec and horizon > self.horizon_length:
            raise ValueError(
                f"With past covariates the horizon is at most {self.horizon_length} "
                f"(their future values are unknown); got {horizon}."
            )
        history = prepared["covariates"]
        n = len(prepared["values"])
        past = _standardize(history, past_spec, n) if past_spec else None
        future = None
        if future_spec:
            known = _standardize(history, future_spec, n)
            ahead = _future_covariate_values(future_covariates, future_spec, horizon)
            future = np.concatenate([known, ahead], axis=0)
        return past, future

    def _forecast_many(self, histories, seasons, horizon, past=None, future=None):
        """Batched forecasts; returns (mean (B, h), grid quantiles (B, Q, h))."""
        count = len(histories)
        means = np.zeros((count, horizon))
        grids = np.zeros((count, len(self.quantile_grid), horizon))
        pending = list(range(count))
        cleaned = [clean_history(history) for history in histories]
        # leading NaNs were dropped: keep the covariate rows aligned with the values
        if past is not None:
            past = [p[len(p) - len(c[0]):] for p, c in zip(past, cleaned)]
        if future is not None:
            future = [f[len(h) - len(c[0]):] for f, h, c in zip(future, histories, cleaned)]
        done = 0
        current = [c[0] for c in cleaned]
        observed = [c[1] for c in cleaned]
        while done < horizon:
            step = min(self.horizon_length, horizon - done)
            encoders, decoders, locs, scales, constant = [], [], [], [], []
            for i in pending:
                values = current[i]
                loc, scale = location_scale(values, self.context_length)
                flat = scale <= 1e-12 * max(1.0, abs(loc))
                constant.append(flat)
                fut = None
                if future is not None:
                    fut = _pad_rows(future[i], len(values) + self.horizon_length)
                enc, dec = encode(values, observed[i], seasons[i], loc, scale if not flat else 1.0,
                                  self.context_length, self.horizon_length,
                                  past[i] if past is not None else None, fut, self.base_forecast)
                encoders.append(enc)
                decoders.append(dec)
                locs.append(loc)
                scales.append(scale if not flat else 0.0)
            outputs = self.model.predict(
                {"encoder": np.stack(encoders), "decoder": np.stack(decoders)}, verbose=0, batch_size=256
            )
            outputs = np.asarray(outputs, dtype="float64")[:, :step]
            locs = np.asarray(locs)[:, None, None]
            scales = np.asarray(scales)[:, None, None]
            values = locs + scales * outputs  # (B, step, 1 + Q)
            for row, i in enumerate(pending):
                means[i, done : done + step] = values[row, :, 0]
                grid = np.sort(values[row, :, 1:], axis=-1).T  # (Q, step)
                median = _interpolate_quantiles(grid, self.quantile_grid, [0.5])  # (1, step), kept by the scaling
                grids[i, :, done : done + step] = median + float(self.config["interval_scale"]) * (grid - median)
                current[i] = np.concatenate([current[i], median[0]])
                observed[i] = np.concatenate([observed[i], np.zeros(step)])
            done += step
        for i, (values, _) in enumerate(cleaned):
            if np.all(values >= 0):
                means[i] = np.maximum(means[i], 0)
                grids[i] = np.maximum(grids[i], 0)
        return means, grids

    def forecast_arrays(self, histories: Sequence[np.ndarray], season_lengths: Sequence[int], horizon: int,
                        quantiles: Sequence[float] = DEFAULT_QUANTILES):
        """Batched forecasts of NumPy histories: (mean (B, h), quantiles (B, len(quantiles), h))."""
        horizon = _check_horizon(horizon)
        levels = self._check_quantiles(quantiles)
        mean, grid = self._forecast_many(list(histories), [int(s) for s in season_lengths], horizon)
        return mean, np.stack([_interpolate_quantiles(g, self.quantile_grid, levels) for g in grid])

    # -- fine-tuning -------------------------------------------------------------
    def fit(
        self,
        df,
        target: str,
        past_covariates: Iterable[str] = (),
        future_covariates: Iterable[str] = (),
        epochs: int = 20,
        *,
        freq: str | None = None,
        season_length: int | None = None,
        batch_size: int = 32,
        learning_rate: float = 5e-4,
        validation_split: float = 0.0,
        seed: int = 0,
        verbose: int | str = "auto",
    ):
        """Fine-tune the pretrained weights on `df[target]`, with covariates.

        Past covariates (known only up to the forecast origin, e.g. rainfall)
        feed the encoder; future covariates (known ahead, e.g. tide or a
        working-day flag) feed the encoder and the decoder, and must then be
        passed to `predict(future_covariates=...)`. New covariate inputs start
        with zero weights, so before training the model forecasts exactly as
        the pretrained one. Returns `self` (the Keras `History` is in
        `self.history`).
        """
        past_covariates, future_covariates = list(past_covariates), list(future_covariates)
        if epochs < 1:
            raise ValueError(f"epochs must be a positive integer; got {epochs!r}.")
        columns = [target, *past_covariates, *future_covariates]
        overlap = set(past_covariates) & set(future_covariates)
        if overlap:
            raise ValueError(f"Covariate(s) {sorted(overlap)} listed as both past and future.")
        if target in past_covariates + future_covariates:
            raise ValueError(f"The target {target!r} cannot also be a covariate.")
        prepared = prepare_series(df, freq=freq, season_length=season_length, target=target,
                                  covariates=past_covariates + future_covariates)
        values = prepared["values"]
        history = prepared["covariates"]
        spec = {
            "past": [_covariate_stats(name, history[name]) for name in past_covariates],
            "future": [_covariate_stats(name, history[name]) for name in future_covariates],
        }
        self.model = _extend_model(self.model, self.context_length, self.horizon_length,
                                   self.quantile_grid, len(spec["past"]), len(spec["future"]),
                                   len(self.config["covariates"]["past"]), len(self.config["covariates"]["future"]),
                                   decoder_base_features(self.base_forecast))
        self.config["covariates"] = spec
        self.config["target"] = target
        n = len(values)
        past = _standardize(history, spec["past"], n) if spec["past"] else None
        fut = _standardize(history, spec["future"], n) if spec["future"] else None
        encoders, decoders, targets = [], [], []
        filled, observed = clean_history(values, name=repr(target))
        offset = n - len(filled)
        for cutoff in range(MIN_HISTORY, len(filled)):
            enc, dec, y = training_example(
                filled[:cutoff], observed[:cutoff], filled[cutoff:], observed[cutoff:], prepared["season_length"],
                self.context_length, self.horizon_length,
                past[offset : offset + cutoff] if past is not None else None,
                _pad_rows(fut[offset:], cutoff + self.horizon_length) if fut is not None else None,
                self.base_forecast,
            )
            encoders.append(enc)
            decoders.append(dec)
            targets.append(y)
        if not encoders:
            raise ValueError(f"{target!r} is too short to fine-tune on ({len(filled)} values).")
        keras.utils.set_random_seed(seed)
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0),
                           loss=forecast_loss(self.quantile_grid))
        self.history = self.model.fit(
            {"encoder": np.stack(encoders), "decoder": np.stack(decoders)}, np.stack(targets),
            epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
            validation_split=validation_split,
        )
        return self

    # -- evaluation and CLI ------------------------------------------------------
    def evaluate(self, quick: bool = False, **options) -> dict[str, Any]:
        """Rerun the held-out evaluation of the card (needs the `zoo` extra)."""
        from keras_rnnzoo.zoo import forecaster_eval

        return forecaster_eval.evaluate(self, quick=quick, **options)

    @classmethod
    def cli_options(cls):
        import click

        return [
            click.Option(["--horizon"], type=click.IntRange(min=1), default=12, show_default=True,
                         help="Number of future steps."),
            click.Option(["--column"], default=None, help="Column of the CSV to forecast."),
            click.Option(["--quantiles"], default="0.1,0.5,0.9", show_default=True,
                         help="Comma-separated quantile levels."),
            click.Option(["--freq"], default=None, help="pandas frequency (inferred from the dates)."),
            click.Option(["--season-length"], type=click.IntRange(min=1), default=None,
                         help="Season length (implied by the frequency)."),
            click.Option(["--plot"], type=click.Path(dir_okay=False), default=None,
                         help="Write a PNG of history, median and 80% interval."),
        ]

    def predict_files(self, inputs: list[str], horizon=12, column=None, quantiles="0.1,0.5,0.9",
                      freq=None, season_length=None, plot=None) -> Any:
        levels = _parse_levels(quantiles)
        results = []
        for path in inputs:
            series = read_series_csv(path, column)
            frame = self.predict(series, horizon, levels, freq=freq, season_length=season_length)
            result = {
                "input": str(path),
                "timestamps": [_timestamp_text(t) for t in frame.index],
                "mean": frame["mean"].tolist(),
                "quantiles": {_level_name(q): frame[_level_name(q)].tolist() for q in levels},
            }
            if plot:
                target = plot if len(inputs) == 1 else _numbered(plot, len(results))
                plot_forecast(series, frame, target, title=f"{self.name}: {path}")
                result["plot"] = str(target)
            results.append(result)
        return results[0] if len(results) == 1 else results

    def render_prediction(self, result, console) -> None:
        from rich.table import Table

        for item in result if isinstance(result, list) else [result]:
            table = Table("timestamp", "mean", *item["quantiles"], title=f"forecast of {item['input']}")
            for row, stamp in enumerate(item["timestamps"]):
                table.add_row(stamp, f"{item['mean'][row]:.4g}",
                              *(f"{values[row]:.4g}" for values in item["quantiles"].values()))
            console.print(table)
            if "plot" in item:
                console.print(f"plot written to {item['plot']}")


# -- helpers ------------------------------------------------------------------
def training_example(history, observed, future, future_observed, season_length, context_length, horizon_length,
                     past=None, fut=None, base_forecast="seasonal_naive"):
    """One (encoder, decoder, target) training triple; target is (horizon, 2): scaled value, mask."""
    loc, scale = location_scale(history, context_length)
    if scale <= 1e-12 * max(1.0, abs(loc)):
        scale = max(abs(loc), 1.0)
    enc, dec = encode(history, observed, season_length, loc, scale, context_length, horizon_length, past, fut,
                      base_forecast)
    target = np.zeros((horizon_length, 2), dtype="float32")
    take = min(horizon_length, len(future))
    values = np.nan_to_num((future[:take] - loc) / scale)
    target[:take, 0] = np.clip(values, -CLIP, CLIP)
    target[:take, 1] = future_observed[:take]
    return enc, dec, target


def interval_scale_for_coverage(actual, median, lower, upper, coverage: float = 0.8) -> float:
    """The factor on the distances from the median that makes `[lower, upper]` cover `coverage` of `actual`.

    Split-conformal (Romano et al. 2019, scaled form): each point needs the
    factor `|y - median| / (bound - median)` on its side; the answer is the
    `ceil((n + 1) * coverage) / n` quantile of the needed factors, so on
    exchangeable new points the widened intervals cover at least `coverage`.

    >>> # needed factors 0, 2, 1, 1; the conformal rank for 50% of 4 points is the 3rd of 4
    >>> interval_scale_for_coverage([1.0, 3.0, 0.0, 2.0], [1.0] * 4, [0.0] * 4, [2.0] * 4, coverage=0.5)
    2.0
    """
    actual, median, lower, upper = (np.ravel(np.asarray(v, dtype="float64")) for v in (actual, median, lower, upper))
    above = actual >= median
    width = np.where(above, upper - median, median - lower)
    distance = np.abs(actual - median)
    needed = np.where(distance == 0, 0.0, distance / np.where(width > 0, width, np.nan))
    needed = np.where(np.isnan(needed), np.inf, needed)
    if not len(needed):
        raise ValueError("No held-out points to calibrate the intervals on.")
    rank = min(1.0, math.ceil((len(needed) + 1) * coverage) / len(needed))
    return float(np.quantile(needed, rank, method="higher"))


def _check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer; got {horizon!r}.")
    return int(horizon)


def _level_name(level: float) -> str:
    return f"{level:g}"


def _parse_levels(text) -> list[float]:
    if isinstance(text, (list, tuple)):
        return [float(v) for v in text]
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--quantiles must be comma-separated numbers; got {text!r}.") from None


def _interpolate_quantiles(grid_values: np.ndarray, grid: Sequence[float], levels: Sequence[float]) -> np.ndarray:
    """grid_values (Q, h) at `grid` levels -> (len(levels), h) by linear interpolation."""
    grid_values = np.asarray(grid_values)
    return np.stack([
        np.array([np.interp(level, grid, grid_values[:, j]) for j in range(grid_values.shape[1])])
        for level in levels
    ])


def _pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    if len(array) >= rows:
        return array[:rows]
    pad = np.repeat(array[-1:], rows - len(array), axis=0) if len(array) else np.zeros((rows, array.shape[1]))
    return np.concatenate([array, pad], axis=0)


def _covariate_stats(name: str, values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values, dtype="float64")
    finite = values[np.isfinite(values)]
    if not len(finite):
        raise ValueError(f"Covariate {name!r} has no finite values.")
    std = float(finite.std())
    return {"name": name, "mean": float(finite.mean()), "std": std if std > 0 else 1.0}


def _standardize(history: dict, spec: list[dict], n: int) -> np.ndarray:
    columns = []
    for item in spec:
        name = item["name"]
        if name not in history:
            raise ValueError(f"The history lacks covariate column {name!r}, which this model needs.")
        values = np.asarray(history[name], dtype="float64")[-n:]
        if np.isnan(values).any():
            positions = np.arange(len(values))
            good = ~np.isnan(values)
            if not good.any():
                raise ValueError(f"Covariate {name!r} has no values in the history.")
            values = np.interp(positions, positions[good], values[good])
        columns.append((values - item["mean"]) / item["std"])
    return np.clip(np.stack(columns, axis=1), -CLIP, CLIP)


def _future_covariate_values(future, spec, horizon) -> np.ndarray:
    names = [item["name"] for item in spec]
    if future is None:
        raise ValueError(
            f"This forecaster needs future values of covariate(s) {names} for the {horizon} "
            "forecast steps: pass future_covariates=DataFrame."
        )
    columns = []
    for item in spec:
        name = item["name"]
        try:
            values = np.asarray(future[name], dtype="float64")
        except KeyError:
            raise ValueError(f"future_covariates lacks covariate {name!r}, which this model needs.") from None
        except (TypeError, ValueError):
            raise ValueError(f"Future covariate {name!r} holds non-numeric values.") from None
        if len(values) < horizon:
            raise ValueError(
                f"future_covariates[{name!r}] has {len(values)} values; the horizon needs {horizon}."
            )
        values = values[:horizon]
        if np.isnan(values).any():
            raise ValueError(f"future_covariates[{name!r}] has missing values within the horizon.")
        columns.append((values - item["mean"]) / item["std"])
    return np.clip(np.stack(columns, axis=1), -CLIP, CLIP)


def _extend_model(model, context_length, horizon_length, quantiles, n_past, n_future, old_past, old_future,
                  decoder_base=DECODER_BASE_FEATURES):
    """A model with covariate input columns; copies weights, new kernel rows start at zero."""
    if (n_past, n_future) == (old_past, old_future):
        return model
    members = ensemble_members(model)
    config_layer = next(layer for layer in model.layers if layer.name.endswith("encoder_rnn_1"))
    units = config_layer.cell.units
    cell = next(name for name in list_cells() if get_cell(name) is type(config_layer.cell))
    new = build_model(ENCODER_BASE_FEATURES + n_past + n_future, decoder_base + n_future,
                      units, context_length, horizon_length, quantiles, cell, members)
    for layer in model.layers:
        if not layer.weights:
            continue
        target = new.get_layer(layer.name)
        weights = layer.get_weights()
        role = layer.name.split("_", 1)[1] if members > 1 else layer.name  # without the m0_ prefix
        if role in ("encoder_rnn_1", "decoder_rnn", "head_hidden"):
            kernel = weights[0]
            base = ENCODER_BASE_FEATURES if role == "encoder_rnn_1" else decoder_base
            width = target.get_weights()[0].shape[0]
            if role == "head_hidden":  # [decoded (units), decoder inputs]
                base += units
            fresh = np.zeros((width, kernel.shape[1]), dtype=kernel.dtype)
            fresh[:base] = kernel[:base]
            weights[0] = fresh
        target.set_weights(weights)
    return new


def prepare_series(series, *, freq=None, season_length=None, target=None, covariates=()) -> dict[str, Any]:
    """Validate and normalize the input of `predict` / `fit`.

    Returns a dict: `values` (float64 array, NaN for missing), `season_length`,
    `index` (a DatetimeIndex with a frequency, or None), `covariates`
    (name -> values) and `index_name`.
    """
    covariates = list(covariates)
    if season_length is not None:
        if isinstance(season_length, bool) or not isinstance(season_length, (int, np.integer)) or season_length < 1:
            raise ValueError(f"season_length must be a positive integer; got {season_length!r}.")
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(series, (pd.Series, pd.DataFrame)):
        return _prepare_pandas(series, freq, season_length, target, covariates)
    if covariates:
        raise ValueError(
            f"This forecaster uses covariates {covariates}: pass a pandas DataFrame with "
            f"column(s) {[target or 'target', *covariates]}."
        )
    try:
        values = np.asarray(series, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError("The series holds non-numeric values; pass numbers (NaN for missing).") from None
    if values.ndim != 1:
        raise ValueError(f"Expected a one-dimensional series; got shape {values.shape}.")
    index = None
    if freq is not None:
        season_length = season_length or season_length_for_freq(freq)
    return {"values": values, "season_length": int(season_length or 1), "index": index, "freq": freq,
            "covariates": {}, "index_name": None}


def _prepare_pandas(data, freq, season_length, target, covariates):
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        if target is None:
            numeric = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])]
            if len(numeric) != 1:
                raise ValueError(
                    f"Pass a Series, or a DataFrame with one numeric column; got numeric columns {numeric}."
                )
            target = numeric[0]
        for column in [target, *covariates]:
            if column not in data.columns:
                raise ValueError(f"Column {column!r} is not in the data (columns: {list(data.columns)}).")
        frame = data[[target, *covariates]]
    else:
        frame = data.to_frame(name=data.name if data.name is not None else "value")
        target = frame.columns[0]
        if covariates:
            raise ValueError(
                f"This forecaster uses covariates {covariates}: pass a DataFrame with column(s) "
                f"{[target, *covariates]}."
            )
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            converted = pd.to_numeric(frame[column], errors="coerce")
            bad = frame[column][converted.isna() & frame[column].notna()]
            if len(bad):
                raise ValueError(
                    f"Column {column!r} holds non-numeric values (e.g. {bad.iloc[0]!r} at {bad.index[0]})."
                )
            frame = frame.assign(**{column: converted})
    index = frame.index
    index_name = index.name
    if isinstance(index, pd.DatetimeIndex):
        if index.has_duplicates:
            duplicate = index[index.duplicated()][0]
            raise ValueError(f"Duplicated timestamp {duplicate} in the series; aggregate duplicates first.")
        if not index.is_monotonic_increasing:
            frame = frame.sort_index()
            index = frame.index
        if freq is None:
            freq = index.freq.freqstr if index.freq is not None else (pd.infer_freq(index) if len(index) >= 3 else None)
            if freq is None:
                raise ValueError(
                    "Irregular timestamps: no regular frequency can be inferred (first gap at "
                    f"{_first_irregular(index)}). Resample (e.g. series.resample('D').mean()) "
                    "or pass freq= to reindex (gaps become missing values)."
                )
        full = pd.date_range(index[0], index[-1], freq=freq)
        if len(full) != len(index) or not full.equals(index):
            extra = index.difference(full)
            if len(extra):
                raise ValueError(
                    f"Timestamp {extra[0]} does not fall on frequency {freq!r}; resample the series first."
                )
            frame = frame.reindex(full)
        index = full
        season_length = season_length or season_length_for_freq(freq)
    else:
        if isinstance(index, pd.Index) and index.has_duplicates:
            raise ValueError(f"Duplicated index value {index[index.duplicated()][0]!r} in the series.")
        index = None
        if freq is not None:
            season_length = season_length or season_length_for_freq(freq)
    return {
        "values": frame[target].to_numpy(dtype="float64"),
        "season_length": int(season_length or 1),
        "index": index,
        "freq": freq,
        "covariates": {c: frame[c].to_numpy(dtype="float64") for c in covariates},
        "index_name": index_name,
    }


def _first_irregular(index) -> str:
    gaps = index[1:] - index[:-1]
    typical = gaps.min()
    position = int(np.argmax(gaps != typical)) + 1 if (gaps != typical).any() else 1
    return str(index[position])


def _future_index(prepared, horizon):
    import pandas as pd

    index = prepared["index"]
    n = len(prepared["values"])
    if index is not None:
        return pd.date_range(index[-1], periods=horizon + 1, freq=prepared["freq"])[1:]
    return pd.RangeIndex(n, n + horizon, name="step")


def _timestamp_text(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _numbered(path: str, number: int) -> str:
    from pathlib import Path

    p = Path(path)
    return str(p.with_name(f"{p.stem}-{number}{p.suffix}"))


def read_series_csv(path, column: str | None = None):
    """Read a CSV into a pandas Series: a date column (first parseable one) as index, `column` as values."""
    import pandas as pd
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Input file {path} does not exist.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a readable CSV file: {error}") from None
    if frame.empty:
        raise ValueError(f"{path} has no rows.")
    date_column = None
    for name in frame.columns:
        textual = pd.api.types.is_object_dtype(frame[name]) or pd.api.types.is_string_dtype(frame[name])
        if textual or "date" in str(name).lower() or "time" in str(name).lower():
            try:
                parsed = pd.to_datetime(frame[name], errors="raise", format="mixed")
            except (ValueError, TypeError):
                continue
            if not pd.api.types.is_numeric_dtype(frame[name]) or str(name).lower() in ("date", "time", "timestamp", "ds"):
                date_column = name
                frame[name] = parsed
                break
    if date_column is not None:
        frame = frame.set_index(date_column)
    candidates = [c for c in frame.columns if c != "rownames"]
    if column is None:
        numeric = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c])]
        if len(numeric) != 1:
            raise ValueError(
                f"{path} has numeric columns {numeric}; choose one with --column."
                if numeric else f"{path} has no numeric column (columns: {candidates})."
            )
        column = numeric[0]
    if column not in frame.columns:
        raise ValueError(f"Column {column!r} is not in {path} (columns: {candidates}).")
    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series):
        converted = pd.to_numeric(series, errors="coerce")
        bad = series[converted.isna() & series.notna()]
        if len(bad):
            raise ValueError(f"Column {column!r} of {path} is not numeric (e.g. {bad.iloc[0]!r}).")
        series = converted
    return series.rename(column)


def plot_forecast(history, frame, path, title: str = "forecast") -> None:
    """PNG with the last part of the history, the median and the widest interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [c for c in frame.columns if c != "mean"]
    figure, axis = plt.subplots(figsize=(9, 4))
    tail = history.iloc[-4 * len(frame):] if hasattr(history, "iloc") else history[-4 * len(frame):]
    axis.plot(tail.index if hasattr(tail, "index") else np.arange(len(tail)), np.asarray(tail), label="history", color="black")
    middle = "0.5" if "0.5" in frame else "mean"
    axis.plot(frame.index, frame[middle], label="median" if middle == "0.5" else "mean", color="tab:blue")
    if len(levels) >= 2:
        low, high = levels[0], levels[-1]
        axis.fill_between(frame.index, frame[low], frame[high], alpha=0.3, color="tab:blue",
                          label=f"{low}-{high} interval")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
