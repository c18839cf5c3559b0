"""The portfolio: every model of a deployment side by side, and in total.

One line per model over its own days: realized profit, uplift, operating cost, net
profit, ROI, payback and the flags active now. The totals follow SPEC "ROI":

- money totals are sums of the models' figures;
- the total's ROI is total net profit / total operating cost (the labeled-share basis of
  each model's own ROI), never a sum or a mean of the models' ROIs;
- the total's payback is how many of the models with an investment have paid it back:
  one payback day for the portfolio would need one calendar, and the models keep their
  own start dates and time zones;
- models in different currencies are never added up: one total per currency, and a note
  saying so (the models without ``currency:`` add up together, apart from the others).

The run summary, ``export daily`` and the HTML report all read the portfolio from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.formatting import money
from guap_pipeline.report.cards import roi_text
from guap_pipeline.series.daily_table import overall
from guap_pipeline.series.roi import Payback, payback
from guap_pipeline.store.store import Store

MODEL_COLUMN = "model"  # the first column of a several-model export
NO_TABLE = "no labeled predictions yet"
NO_CURRENCY = "(no currency)"


def _ratio(net_profit: float, cost: float) -> float:
    """ROI: net profit per unit of operating cost; NaN while nothing has cost anything."""
    return net_profit / cost if cost > 0 else math.nan


@dataclass(frozen=True)
class ModelLine:
    """One model's figures over its own days; money raw (sums of its daily table)."""

    model: str
    currency: str
    first_date: str = ""  # "" when the model has no daily table yet
    last_date: str = ""
    days: int = 0
    profit: float = math.nan
    uplift: float = math.nan
    operating_cost: float = math.nan
    net_profit: float = math.nan
    payback: Payback | None = None  # None without a daily table
    flags: tuple[str, ...] = ()

    @property
    def built(self) -> bool:
        return bool(self.days)

    @property
    def roi(self) -> float:
        return _ratio(self.net_profit, self.operating_cost)


@dataclass(frozen=True)
class Total:
    """The models of one currency added up (models without a daily table left out)."""

    currency: str
    models: tuple[str, ...]
    profit: float
    uplift: float
    operating_cost: float
    net_profit: float
    with_investment: int  # models that have an investment to pay back
    paid_back: int  # of those, the ones whose cumulative net profit covers it
    flags: int

    @property
    def roi(self) -> float:
        return _ratio(self.net_profit, self.operating_cost)

    def payback_text(self) -> str:
        if not self.with_investment:
            return "no investment configured"
        return f"{self.paid_back} of {self.with_investment} paid back"


@dataclass(frozen=True)
class Portfolio:
    lines: tuple[ModelLine, ...]
    totals: tuple[Total, ...]

    def notes(self) -> list[str]:
        """What a reader of the totals must know: what is left out, what is not added."""
        notes = [
            "totals add each model over its own days; ROI = total net profit / total "
            "operating cost; payback: models paid back of those with an investment"
        ]
        if len(self.totals) > 1:
            groups = "; ".join(
                f"{t.currency or NO_CURRENCY}: {', '.join(t.models)}" for t in self.totals
            )
            notes.append(
                f"models in different currencies are not added up: one total each ({groups})"
            )
        missing = [line.model for line in self.lines if not line.built]
        if missing:
            notes.append(f"not in the totals, {NO_TABLE}: {', '.join(missing)}")
        return notes


def flag_names(flags: pd.DataFrame | None) -> tuple[str, ...]:
    """The active flags as people read them: ``decline (v2)``, ``plateau (v1 [web])``."""
    if flags is None or flags.empty:
        return ()
    names = []
    for row in flags.itertuples():
        series = f" [{row.series}]" if isinstance(row.series, str) and row.series else ""
        version = getattr(row, "model_version", "") or "all versions"
        names.append(f"{str(row.flag).replace('_', ' ')} ({version}{series})")
    return tuple(names)


def model_line(
    model: str, daily: pd.DataFrame | None, flags: pd.DataFrame | None, config: GuapConfig
) -> ModelLine:
    """One model's line from its daily summary table and its flags table."""
    if daily is None or daily.empty:
        return ModelLine(model, config.currency, flags=flag_names(flags))
    series = overall(daily)
    return ModelLine(
        model,
        config.currency,
        first_date=str(daily["date"].min()),
        last_date=str(daily["date"].max()),
        days=int(daily["date"].nunique()),
        profit=float(daily["profit"].sum()),
        uplift=float(daily["uplift"].sum()),
        operating_cost=float(daily["operating_cost"].sum()),
        net_profit=float(daily["net_profit"].sum()),
        payback=payback(series, config.operating_cost.investment),
        flags=flag_names(flags),
    )


def portfolio(lines: Sequence[ModelLine]) -> Portfolio:
    """The models' lines and one total per currency, in the order models first use it."""
    built = [line for line in lines if line.built]
    totals = []
    for currency in dict.fromkeys(line.currency for line in built):
        same = [line for line in built if line.currency == currency]
        paybacks = [line.payback for line in same if line.payback and line.payback.investment > 0]
        totals.append(
            Total(
                currency=currency,
                models=tuple(line.model for line in same),
                profit=sum(line.profit for line in same),
                uplift=sum(line.uplift for line in same),
                operating_cost=sum(line.operating_cost for line in same),
                net_profit=sum(line.net_profit for line in same),
                with_investment=len(paybacks),
                paid_back=sum(p.reached_on is not None for p in paybacks),
                flags=sum(len(line.flags) for line in same),
            )
        )
    return Portfolio(tuple(lines), tuple(totals))


def read_portfolio(models: Mapping[str, GuapConfig]) -> Portfolio:
    """The portfolio of ``models`` (name: config) as their stores hold it now."""
    lines = []
    for name, config in models.items():
        store = Store(config.storage)
        lines.append(model_line(name, store.read("daily_summary"), store.read("flags"), config))
    return portfolio(lines)


TABLE_HEADERS = (
    "model",
    "days",
    "period",
    "profit",
    "uplift",
    "operating cost",
    "net profit",
    "ROI",
    "payback",
    "active flags",
)


def portfolio_table(folio: Portfolio) -> pd.DataFrame:
    """The portfolio as people read it: a row per model, then the total row(s); money
    whole with its currency, ROI as a multiple."""
    rows = []
    for line in folio.lines:
        if not line.built:
            rows.append([line.model, "0", NO_TABLE, *[""] * 6, ", ".join(line.flags) or "none"])
            continue
        rows.append(
            [
                line.model,
                f"{line.days:,}",
                f"{line.first_date} .. {line.last_date}",
                *(
                    money(v, line.currency)
                    for v in (line.profit, line.uplift, line.operating_cost, line.net_profit)
                ),
                roi_text(line.roi),
                line.payback.describe() if line.payback else "",
                ", ".join(line.flags) or "none",
            ]
        )
    for total in folio.totals:
        label = "total" if len(folio.totals) == 1 else f"total {total.currency or NO_CURRENCY}"
        rows.append(
            [
                f"{label} ({len(total.models)} model{'' if len(total.models) == 1 else 's'})",
                "",
                "",
                *(
                    money(v, total.currency)
                    for v in (total.profit, total.uplift, total.operating_cost, total.net_profit)
                ),
                roi_text(total.roi),
                total.payback_text(),
                f"{total.flags} active",
            ]
        )
    return pd.DataFrame(rows, columns=list(TABLE_HEADERS))


def portfolio_text(folio: Portfolio) -> str:
    """The portfolio for the run summary: the table, then the notes on its totals."""
    table = portfolio_table(folio).to_string(index=False)
    return "\n".join([table, *(f"  {note}" for note in folio.notes())])


def combined(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Several models' tables as one: a ``model`` column first, each model's rows in turn
    (the file's order), each as its own export has them."""
    return pd.concat(
        [frame.assign(**{MODEL_COLUMN: name})[[MODEL_COLUMN, *frame.columns]]
         for name, frame in frames.items()],
        ignore_index=True,
    )  # fmt: skip
