"""Attribution of a profit change to quadrants, volume and value per row."""

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guap_pipeline.series.attribution import around, attribute, describe

QUADRANT_COLUMNS = ["tp", "fp", "fn", "tn", "value_tp", "value_fp", "value_fn", "value_tn"]


def day(date: str, tp: int, fn: int, value_tp: float, value_fn: float) -> dict:
    return dict(
        date=date, tp=tp, fp=0, fn=fn, tn=0, value_tp=value_tp, value_fp=0.0,
        value_fn=value_fn, value_tn=0.0,
    )  # fmt: skip


def test_hand_worked_split_into_volume_and_value_per_row() -> None:
    before = pd.DataFrame([day("d1", 10, 5, 100, -50), day("d2", 10, 5, 100, -50)])
    after = pd.DataFrame([day("d3", 10, 8, 100, -120)])
    table = attribute(before, after).set_index("quadrant")
    # FN: 5/day at -10 each -> 8/day at -15 each: -70 = 3 × -10 (volume) + 8 × -5 (value)
    assert table.loc["fn", "delta"] == -70
    assert table.loc["fn", "volume_effect"] == -30
    assert table.loc["fn", "rate_effect"] == -40
    assert table.loc["tp", "delta"] == 0
    assert describe(table.reset_index()) == "−70/day: FN −70 (3 more a day)"


def test_describe_speaks_the_business_names() -> None:
    before = pd.DataFrame([day("d1", 10, 100, 1000, -5000)])
    after = pd.DataFrame([day("d2", 10, 410, 1000, -20100)])
    names = {"tp": "fraud stopped", "fp": "blocked", "fn": "fraud paid out", "tn": "served"}
    text = describe(attribute(before, after, names), currency="EUR")
    assert text == "−15.1k EUR/day: fraud paid out −15.1k EUR (310 more a day)"


def test_around_takes_the_nearest_mature_days_on_each_side_of_the_change() -> None:
    rows = pd.DataFrame([day(f"2026-05-0{i}", 10, 0, 100, 0) for i in range(1, 8)]).assign(
        mature=[True, True, True, False, True, True, True]
    )
    before, after = around(rows, pd.Timestamp("2026-05-04"), days=2)
    # 05-04 is not mature: the first two mature days from the change are 05-05 and 05-06
    assert before["date"].tolist() == ["2026-05-02", "2026-05-03"]
    assert after["date"].tolist() == ["2026-05-05", "2026-05-06"]


counts = st.integers(0, 50)
money = st.floats(-1e4, 1e4, allow_nan=False)


@pytest.mark.slow  # many generated periods
@given(st.lists(st.tuples(counts, counts, money, money), min_size=1, max_size=4), st.data())
def test_effects_sum_exactly_to_the_change_in_profit(before_days, data) -> None:
    after_days = data.draw(
        st.lists(st.tuples(counts, counts, money, money), min_size=1, max_size=4)
    )

    def frame(days: list, prefix: str) -> pd.DataFrame:
        # a quadrant with no rows carries no value
        return pd.DataFrame(
            [
                day(f"{prefix}{i}", a, b, va if a else 0.0, vb if b else 0.0)
                for i, (a, b, va, vb) in enumerate(days)
            ]
        )

    before, after = frame(before_days, "b"), frame(after_days, "a")
    table = attribute(before, after)
    profit_before = before[QUADRANT_COLUMNS[4:]].to_numpy().sum() / len(before)
    profit_after = after[QUADRANT_COLUMNS[4:]].to_numpy().sum() / len(after)
    assert table["delta"].sum() == pytest.approx(profit_after - profit_before, abs=1e-6)
    assert (table["volume_effect"] + table["rate_effect"]).to_numpy() == pytest.approx(
        table["delta"].to_numpy(), abs=1e-6
    )
