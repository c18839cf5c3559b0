"""An early warning from the estimate: the newest days' estimated profit per prediction
against the model version's recent realized pace, before their labels land.

Realized profit shows a decline only once its labels arrive, up to ``label_window_days``
later; the estimate shows it from the scores. The estimate is a forecast, not a
measurement, so it only ever WARNs (the ERROR belongs to the realized ``decline`` flag).
It fires when even the upper end of the estimate, per prediction over the estimated days,
is below the reference pace by more than that pace's own day-to-day variation over as
many days: ``Σ high / Σ n  <  r_ref − z · sd_ref / √k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from guap_pipeline.estimate import ESTIMATED_PROFIT, estimate_kinds
from guap_pipeline.series.recent import RECENT_DAYS

MIN_REFERENCE_DAYS = 14  # fewer: no pace to compare with, no warning
Z = 1.645  # one-sided 95 % on the reference's day-to-day variation


@dataclass(frozen=True)
class EarlyDecline:
    """The estimated days of one model version fall below its realized pace."""

    model_version: str
    first_date: str
    last_date: str
    n_days: int
    estimated_per_prediction: float
    high_per_prediction: float
    reference_per_prediction: float
    limit_per_prediction: float
    money_at_stake: float  # per day: (reference − estimate) per prediction × daily volume

    def evidence(self) -> str:
        """One line a person can check: the figures the warning compared."""
        return (
            f"model version '{self.model_version}', {self.first_date} .. {self.last_date} "
            f"({self.n_days} days, labels still arriving): estimated "
            f"{self.estimated_per_prediction:,.3f} per prediction (upper end "
            f"{self.high_per_prediction:,.3f}) against a realized pace of "
            f"{self.reference_per_prediction:,.3f} over the last realized days "
            f"(warning below {self.limit_per_prediction:,.3f})"
        )


def early_declines(
    daily: pd.DataFrame,
    *,
    reference_days: int = RECENT_DAYS,
    min_reference_days: int = MIN_REFERENCE_DAYS,
    z: float = Z,
) -> list[EarlyDecline]:
    """Model versions whose estimated newest days are below their realized pace."""
    if daily.empty or not set(ESTIMATED_PROFIT) <= set(daily.columns):
        return []
    frame = daily.assign(kind=estimate_kinds(daily), n=daily["n_predictions"].astype(float))
    frame = frame[frame["n"] > 0].sort_values("date")
    found = []
    for version, rows in frame.groupby("model_version", sort=True):
        reference = rows[rows["kind"] == "realized"].tail(reference_days)
        recent = rows[rows["kind"] == "estimated"]
        if len(reference) < min_reference_days or recent.empty:
            continue
        pace = reference["profit"].sum() / reference["n"].sum()
        spread = float(np.std(reference["profit"] / reference["n"], ddof=1))
        limit = pace - z * spread / np.sqrt(len(recent))
        n_recent = recent["n"].sum()
        high = recent["estimated_profit_high"].sum() / n_recent  # upper ends add: cautious
        if high < limit:
            point = recent["estimated_profit"].sum() / n_recent
            found.append(
                EarlyDecline(
                    model_version=str(version),
                    first_date=str(recent["date"].iloc[0]),
                    last_date=str(recent["date"].iloc[-1]),
                    n_days=len(recent),
                    estimated_per_prediction=float(point),
                    high_per_prediction=float(high),
                    reference_per_prediction=float(pace),
                    limit_per_prediction=float(limit),
                    money_at_stake=float((pace - point) * n_recent / len(recent)),
                )
            )
    return found
