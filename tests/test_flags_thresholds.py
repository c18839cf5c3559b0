"""The decline thresholds shipped for the default settings (flags/thresholds.py)."""

from __future__ import annotations

import pytest

from guap_pipeline.flags import thresholds
from guap_pipeline.flags.cusum import calibrate_threshold
from guap_pipeline.flags.decline import DeclineRule
from guap_pipeline.flags.detect import decline_rule
from guap_pipeline.flags.settings import FlagSettings


@pytest.mark.parametrize("arguments", list(thresholds.SHIPPED), ids=lambda a: str(dict(a)))
def test_each_shipped_threshold_is_what_the_simulation_gives(arguments) -> None:
    # __wrapped__: the simulation itself, not the process's cache of it
    assert calibrate_threshold.__wrapped__(**dict(arguments)) == thresholds.SHIPPED[arguments]


def test_default_settings_read_the_table_and_other_settings_simulate(monkeypatch) -> None:
    simulated: list[dict] = []

    def simulate(**arguments: float) -> float:
        simulated.append(arguments)
        return calibrate_threshold.__wrapped__(**arguments)

    monkeypatch.setattr(thresholds, "calibrate_threshold", simulate)
    default = DeclineRule.calibrated()
    assert simulated == []
    assert default.thresholds == (10.67, 7.86, 6.4, 5.77)  # the four SHIPPED stages
    # as the config builds it: the same settings through FlagSettings, a YAML float
    assert decline_rule(FlagSettings(false_alarms_per_year=float("0.2"))) == default

    stricter = DeclineRule.calibrated(false_alarms_per_year=0.1)
    assert [a["false_alarms_per_year"] for a in simulated] == [0.1] * 4
    assert all(h > h0 for h, h0 in zip(stricter.thresholds, default.thresholds, strict=True))
    simulated.clear()
    DeclineRule.calibrated(reference_days=21)  # one stage-length setting: all four miss
    assert [a["reference_days"] for a in simulated] == [21, 42, 84, 168]
