"""The portfolio: models side by side and in total, on hand-worked daily tables."""

import math

import pandas as pd
import pytest

from guap_pipeline.config import parse_config
from guap_pipeline.money.summary import summary_from_counts
from guap_pipeline.report.portfolio import (
    combined,
    model_line,
    portfolio,
    portfolio_table,
    portfolio_text,
)
from guap_pipeline.series.roi import add_roi

# tp earns 10, fp costs 2, fn costs 5; baseline all_negative: uplift = 15 tp − 2 fp.
MATRIX = {"tp": 10, "fp": -2, "fn": -5, "tn": 0}


def config(per_day: float, investment: float, currency: str = "EUR") -> object:
    return parse_config(
        {
            "value_matrix": MATRIX,
            "currency": currency,
            "operating_cost": {"per_day": per_day, "investment": investment},
        }
    )


def daily(days: int, tp: int, fp: int, fn: int, cfg: object) -> pd.DataFrame:
    """``days`` identical fully labeled days of 100 predictions."""
    counts = pd.DataFrame(
        {
            "date": [f"2026-10-0{i + 1}" for i in range(days)],
            "model_version": "v1",
            "n_predictions": 100,
            "n_labeled": 100,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": 100 - tp - fp - fn,
            "mature": True,
        }
    )
    money = summary_from_counts(counts, cfg.value_matrix, positive_class=1)
    return add_roi(money, cfg.operating_cost)


def two_models(currency_b: str = "EUR") -> list:
    # fraud: profit 30−10−5 = 15/day, uplift 45−10 = 35/day, cost 10/day: net 25/day;
    # 2 days: profit 30, uplift 70, cost 20, net 50, paid back (40) on the 2nd day.
    fraud = config(10, 40)
    # churn: profit 10−20−10 = −20/day, uplift 15−20 = −5/day, cost 5/day: net −10/day;
    # 3 days: profit −60, uplift −15, cost 15, net −30; investment 100 not paid back.
    churn = config(5, 100, currency_b)
    flags = pd.DataFrame(
        {"series": [""], "model_version": ["v1"], "flag": ["decline"], "start_date": ["2026-10-02"]}
    )
    return [
        model_line("fraud", daily(2, 3, 5, 1, fraud), None, fraud),
        model_line("churn", daily(3, 1, 10, 2, churn), flags, churn),
    ]


def test_totals_are_sums_and_roi_is_total_net_over_total_cost() -> None:
    folio = portfolio(two_models())
    fraud, churn = folio.lines
    assert (fraud.profit, fraud.uplift, fraud.operating_cost, fraud.net_profit) == (30, 70, 20, 50)
    assert (churn.profit, churn.uplift, churn.operating_cost, churn.net_profit) == (
        -60,
        -15,
        15,
        -30,
    )
    assert fraud.roi == pytest.approx(2.5) and churn.roi == pytest.approx(-2.0)
    [total] = folio.totals
    assert (total.profit, total.uplift, total.operating_cost, total.net_profit) == (-30, 55, 35, 20)
    assert total.roi == pytest.approx(20 / 35)  # not 2.5 − 2.0, nor their mean 0.25
    assert (total.paid_back, total.with_investment, total.flags) == (1, 2, 1)
    table = portfolio_table(folio)
    assert table["model"].tolist() == ["fraud", "churn", "total (2 models)"]
    assert table.iloc[0, :3].tolist() == ["fraud", "2", "2026-10-01 .. 2026-10-02"]
    assert table.iloc[-1].tolist() == [
        "total (2 models)", "", "", "−30 EUR", "55 EUR", "35 EUR", "20 EUR", "0.6×",
        "1 of 2 paid back", "1 active",
    ]  # fmt: skip
    assert table.loc[0, "payback"] == "paid back on 2026-10-02"
    assert table.loc[1, "active flags"] == "decline (v1)"


def test_models_in_different_currencies_are_not_added_up() -> None:
    folio = portfolio(two_models(currency_b="USD"))
    assert [(t.currency, t.models, t.net_profit) for t in folio.totals] == [
        ("EUR", ("fraud",), 50),
        ("USD", ("churn",), -30),
    ]
    table = portfolio_table(folio)
    assert table["model"].tolist()[-2:] == ["total EUR (1 model)", "total USD (1 model)"]
    text = portfolio_text(folio)
    assert "not added up: one total each (EUR: fraud; USD: churn)" in text


def test_a_model_without_a_daily_table_is_listed_and_left_out_of_the_totals() -> None:
    fraud, _ = two_models()
    empty = model_line("credit", None, None, config(0, 0))
    folio = portfolio([fraud, empty])
    [total] = folio.totals
    assert total.models == ("fraud",) and total.net_profit == 50
    assert math.isnan(empty.roi)
    assert "not in the totals, no labeled predictions yet: credit" in portfolio_text(folio)


def test_combined_puts_the_model_first_and_keeps_each_models_rows() -> None:
    a = pd.DataFrame({"date": ["d1", "d2"], "profit": [1.0, 2.0]})
    b = pd.DataFrame({"date": ["d1"], "profit": [5.0]})
    both = combined({"fraud": a, "churn": b})
    assert both.columns.tolist() == ["model", "date", "profit"]
    assert both.to_dict("list") == {
        "model": ["fraud", "fraud", "churn"],
        "date": ["d1", "d2", "d1"],
        "profit": [1.0, 2.0, 5.0],
    }
