"""A realistic synthetic fraud data set, so that the pipeline runs with nothing configured.

The story the data tells, over ``DAYS`` days by default (long enough for every flag):
a fraud model ``v1`` serves alone and is good at first, then degrades (fraud patterns
drift, its scores separate fraud from legitimate traffic less and less) and stays bad;
a retrained ``v2`` goes live a fifth into the period, takes most of the traffic,
improves for two months and then plateaus; a ``v3`` goes live later and adds less over ``v2``
than ``v2`` added over ``v1`` (diminishing returns across versions). ``v1`` keeps a
share of the traffic as a shadow throughout. Traffic has weekly seasonality; outcomes
arrive late (legitimate cases after about 1-7 days, fraud confirmed by chargebacks after
about 5-25 days, ~2 % never), so the most recent days are still immature.

Everything is drawn from one seeded ``numpy`` generator: the same arguments always give
the same data. Rows are drawn vectorised, one day at a time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DAYS = 300  # default span: enough mature days for the plateau and version tests
PREVALENCE = 0.03  # share of transactions that are fraud
WEEKEND_FACTOR = 0.7  # Saturday and Sunday traffic relative to a weekday
NEVER_LABELED = 0.02  # share of predictions whose outcome never arrives
V2_START = 0.2  # fraction of the period after which v2 goes live
V3_START = 0.6  # ... and v3
# Traffic share of (v1, v2, v3) once each phase starts: v1 stays on as a shadow.
SHARES = {0.0: (1.0, 0.0, 0.0), V2_START: (0.2, 0.8, 0.0), V3_START: (0.2, 0.45, 0.35)}
VERSIONS = ("v1", "v2", "v3")
THRESHOLD = 0.5
COUNTRIES = ("US", "GB", "DE", "FR", "ES")
COUNTRY_WEIGHTS = (0.4, 0.2, 0.15, 0.15, 0.1)

# Scores come from a latent signal x: N(0, 1) for legitimate cases, N(d, 1) for fraud,
# squashed so that score >= 0.5 exactly when x >= _CUT. The separation d is the model's
# quality: it sets the share of fraud caught while the false-alarm rate stays ~2 %.
_CUT = 2.0
_SLOPE = 1.5
_V1_GOOD, _V1_BAD = 2.5, 0.8  # v1 separation before and after its decline
_V1_DECLINE = (0.1, 0.16)  # fractions of the period over which v1 declines
_V2_FIRST, _V2_CEILING = 0.8, 3.2  # v2 separation at launch and on its plateau
_V2_RAMP = 0.2  # v2 improves linearly for this fraction of the period (60 of 300 days)
_V3 = 3.4  # v3 separation: better than v2, by less than v2 gained over v1


def _yesterday_utc() -> dt.date:
    """Yesterday in UTC: the last complete day of traffic."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def _separation(version: str, frac: float) -> float:
    """Model quality (latent separation) of `version` at fraction `frac` of the period."""
    if version == "v1":
        first, last = _V1_DECLINE
        decline = min(max((frac - first) / (last - first), 0.0), 1.0)
        return _V1_GOOD + (_V1_BAD - _V1_GOOD) * decline
    if version == "v3":
        return _V3
    growth = min(max(frac - V2_START, 0.0) / _V2_RAMP, 1.0)
    return _V2_FIRST + (_V2_CEILING - _V2_FIRST) * growth


def _shares(frac: float) -> tuple[float, ...]:
    """Traffic share of each of ``VERSIONS`` at fraction `frac` of the period."""
    return SHARES[max(start for start in SHARES if start <= frac)]


def _draw_day(
    rng: np.random.Generator, day: dt.date, index: int, days: int, rows_per_day: int
) -> dict[str, np.ndarray]:
    """One prediction day as columns: its scored traffic and its (possibly future) outcomes."""
    frac = index / days
    weekday_factor = WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
    n = max(round(rows_per_day * weekday_factor * rng.lognormal(0.0, 0.05)), 1)

    predicted_at = np.datetime64(day, "s") + np.sort(rng.integers(0, 86_400, size=n))
    fraud = rng.random(n) < PREVALENCE
    # Transaction amounts: median ~80, fraud somewhat larger (median ~130).
    amount = np.round(rng.lognormal(np.log(80.0) + 0.5 * fraud, 0.7), 2).clip(min=1.0)
    country = np.asarray(COUNTRIES)[rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)]

    version = rng.choice(len(VERSIONS), size=n, p=_shares(frac))
    separation = np.array([_separation(v, frac) for v in VERSIONS])[version]
    latent = rng.normal(0.0, 1.0, n) + separation * fraud
    score = np.round(1.0 / (1.0 + np.exp(-_SLOPE * (latent - _CUT))), 6)

    # Legitimate outcomes are known after ~1-7 days; fraud waits for chargebacks (~5-25).
    delay_days = np.where(
        fraud, 5.0 + 20.0 * rng.beta(2.0, 3.0, n), 1.0 + 6.0 * rng.beta(1.5, 3.0, n)
    )
    return {
        "prediction_id": np.char.add(
            f"p-{day:%Y%m%d}-", np.char.zfill(np.arange(n).astype(str), 6)
        ),
        "predicted_at": predicted_at,
        "model_version": np.asarray(VERSIONS)[version],
        "score": score,
        "y_pred": (score >= THRESHOLD).astype(np.int64),
        "amount": amount,
        "country": country,
        "y_true": fraud.astype(np.int64),
        "labeled_at": predicted_at + np.round(delay_days * 86_400).astype("timedelta64[s]"),
        "labeled": rng.random(n) >= NEVER_LABELED,
    }


def _utc(values: np.ndarray) -> pd.Series:
    """Naive UTC datetimes as a timezone-aware microsecond column."""
    return pd.Series(values.astype("datetime64[us]")).dt.tz_localize("UTC")


def demo_frames(
    *,
    days: int = DAYS,
    end_date: dt.date | None = None,
    seed: int = 7,
    rows_per_day: int = 2000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (predictions, labels) in memory, for tests and notebooks.

    `labels` holds every outcome that will ever arrive, including those whose
    ``labeled_at`` falls after `end_date` (not yet arrived, so not written by
    :func:`write_demo`).
    """
    if days < 1 or rows_per_day < 1:
        raise ValueError("days and rows_per_day must be at least 1")
    end = end_date or _yesterday_utc()
    start = end - dt.timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    parts = [
        _draw_day(rng, start + dt.timedelta(days=i), i, days, rows_per_day) for i in range(days)
    ]
    col = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    predictions = pd.DataFrame(
        {
            "prediction_id": col["prediction_id"],
            "predicted_at": _utc(col["predicted_at"]),
            "model_version": col["model_version"],
            "score": col["score"],
            "y_pred": col["y_pred"],
            "amount": col["amount"],
            "country": col["country"],
        }
    )
    known = col["labeled"]
    labels = pd.DataFrame(
        {
            "prediction_id": col["prediction_id"][known],
            "y_true": col["y_true"][known],
            "labeled_at": _utc(col["labeled_at"][known]),
        }
    )
    labels = labels.sort_values(["labeled_at", "prediction_id"], kind="stable", ignore_index=True)
    return predictions, labels


def _write_by_day(
    frame: pd.DataFrame, column: str, folder: Path, prefix: str, unit: str = "D"
) -> None:
    """Write one Parquet file per UTC day (``unit="W"``: week) of `column`, named by its
    first day; `frame` must be sorted by it."""
    table = pa.Table.from_pandas(frame, preserve_index=False)  # converted once, sliced per day
    days = frame[column].dt.tz_localize(None).to_numpy().astype("datetime64[D]")  # UTC days
    periods = days.astype(f"datetime64[{unit}]")
    starts = np.flatnonzero(np.r_[True, periods[1:] != periods[:-1]])
    for first, stop in zip(starts, [*starts[1:], len(frame)], strict=True):
        path = folder / f"{prefix}_{days[first]}.parquet"  # e.g. predictions_2026-08-01
        pq.write_table(table.slice(first, stop - first), path)


def write_demo(
    directory: str | Path,
    *,
    days: int = DAYS,
    end_date: dt.date | None = None,
    seed: int = 7,
    rows_per_day: int = 2000,
) -> Path:
    """Write landing/predictions, landing/labels and guap.yaml into `directory`.

    Returns the path of the written config. Re-running replaces earlier demo files
    (``predictions_*``, ``labels_arrived_*``); other files in the landing folders stay.
    """
    root = Path(directory)
    end = end_date or _yesterday_utc()
    start = end - dt.timedelta(days=days - 1)
    predictions, labels = demo_frames(days=days, end_date=end, seed=seed, rows_per_day=rows_per_day)

    pred_dir, label_dir = root / "landing" / "predictions", root / "landing" / "labels"
    for folder, pattern in (
        (pred_dir, "predictions_*.parquet"),
        (label_dir, "labels_arrived_*.parquet"),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(pattern):  # a previous demo's files only, never the user's
            stale.unlink()

    _write_by_day(predictions, "predicted_at", pred_dir, "predictions")
    # Only outcomes known by the end of `end_date` exist yet: recent days stay immature.
    # They land in weekly batches (one file per week of arrival).
    arrived = labels[labels["labeled_at"] < pd.Timestamp(end + dt.timedelta(days=1), tz="UTC")]
    _write_by_day(arrived, "labeled_at", label_dir, "labels_arrived", unit="W")

    config = root / "guap.yaml"
    config.write_text(_CONFIG_TEMPLATE.format(start_date=start.isoformat()), encoding="utf-8")
    return config


_CONFIG_TEMPLATE = """\
# guap.yaml — business configuration of guap-pipeline (demo: a card-fraud model).
# Every value is plain data. Relative paths resolve against this file's folder.

# Folder with predictions/ and labels/ subfolders (Parquet or CSV files, any names).
landing: ./landing
# Where the pipeline keeps its own tables (embedded storage).
storage: ./.guap

# Class labels as they appear in y_pred / y_true, and which one is "positive" (fraud).
classes: [0, 1]
positive_class: 1
# Score at or above which a case counts as predicted positive (when y_pred is missing,
# and for the hindsight threshold analysis).
threshold: 0.5

# Money each prediction earns (+) or costs (-), by quadrant of the confusion matrix.
# A cell is a number, or `constant + rate x column` of the row (here: the `amount`).
value_matrix:
  tp: {{amount: 0.9, constant: -5}}    # fraud stopped: 90 % of the amount saved, minus review cost
  fp: -10                            # good customer blocked: friction and support cost
  fn: {{amount: -1.0}}                 # fraud paid out: the whole amount is lost
  tn: 0                              # customer served: the normal case
# What the business would decide without the model: all_negative (approve everything),
# all_positive, or baseline_pred (a column with the old rule's decision).
baseline: all_negative

# Labels may take this many days to arrive (chargebacks are slow) ...
label_window_days: 28
# ... and a day counts as mature once this share of its predictions is labeled
# (or once the window has passed).
min_label_coverage: 0.95

# What running the model costs (positive amounts): per day, per prediction, and the
# one-time build investment that the payback day is measured against.
operating_cost: {{per_day: 150, per_prediction: 0.002, investment: 50000}}

# Business names of the quadrants; reports and alerts speak in these words.
quadrants:
  tp: fraud stopped
  fp: good customer blocked
  fn: fraud paid out
  tn: customer served

# Targets agreed with the business up front; each becomes a met / not-met check.
acceptance: {{min_uplift_per_day: 2000, min_value_capture: 0.3}}

# Time zone that decides which day a prediction belongs to.
timezone: UTC
# First day of predictions to account for.
start_date: {start_date}
"""
