"""Money and dates for people: one formatter for summaries, messages and reports."""

import datetime as dt

import pytest

from guap_pipeline.formatting import day, money


@pytest.mark.parametrize(
    ("value", "compact", "signed", "text"),
    [
        (1250, False, False, "1,250"),
        (-3295.4, True, False, "−3.3k"),
        (3295.4, True, True, "+3.3k"),
        (950, True, False, "950"),
        (999.96, True, False, "1.0k"),  # not "1,000" nor "1.0k" from 950
        (12_400, True, False, "12.4k"),
        (2_500_000, True, False, "2.5M"),
        (-0.4, False, True, "0"),  # rounds to nothing: no sign
        (float("nan"), False, False, "n/a"),
        (None, True, False, "n/a"),
    ],
)
def test_money_reads_as_people_write_it(
    value: object, compact: bool, signed: bool, text: str
) -> None:
    assert money(value, compact=compact, signed=signed) == text


def test_money_carries_the_currency() -> None:
    assert money(-3295.4, "EUR", compact=True) == "−3.3k EUR"
    assert money(float("nan"), "EUR") == "n/a"


def test_day_shows_the_year_only_when_it_is_not_this_one() -> None:
    assert day("2026-05-06", today=dt.date(2026, 7, 1)) == "6 May"
    assert day("2025-12-30", today=dt.date(2026, 1, 2)) == "30 Dec 2025"
    assert day("2025-12-30") == "30 Dec 2025"
