"""The quick commands' shortcuts give what the general path gives.

A ``run`` with nothing missing or stale ends before Dagster is imported; it must retry
the pending alerts, print the summary and exit as a run through the asset graph does.
Reading a partitioned table skips the empty partitions from their footers; the overall
estimate is summed per date without a Python function per group.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets_defs.cli import main, summary
from guap_pipeline.alerts.incidents import ALERT_COLUMNS
from guap_pipeline.estimate import ESTIMATED_PROFIT, overall_estimate
from guap_pipeline.store.store import Store
from tests.pipeline_data import AS_OF, labels_for, predictions_for, write_config
from tests.webhook import receiving

ROOT = Path(__file__).parent.parent
CLOCK = re.compile(r"^\[\d\d:\d\d:\d\d\] ", re.MULTILINE)


def pending_alert() -> pd.DataFrame:
    """One alert the webhook refused last time: still to deliver."""
    row = dict.fromkeys(ALERT_COLUMNS) | {
        "alert_id": "a1",
        "incident_id": "i1",
        "kind": "opened",
        "flag": "decline",
        "model_version": "v1",
        "series": "v1",
        "severity": "ERROR",
        "start_date": "2026-10-02",
        "money_at_stake": 12.5,
        "message": "v1: profit down 12.50/day since 2 Oct",
        "created_on": "2026-10-19",
        "attempts": 3,
        "last_error": "webhook: webhook answered HTTP 500",
    }
    frame = pd.DataFrame([row])
    typed = {c: "string" for c in ALERT_COLUMNS} | {"money_at_stake": "float64"}
    return frame.astype(typed | {"attempts": "int64"})


def built_store(root: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store after one run (through Dagster), with a day outside the partitions and
    an alert left pending."""
    config = write_config(root)
    for i, day in enumerate(("2026-10-01", "2026-10-02", "2030-01-01")):  # 2030: not yet
        frame = predictions_for(day, 120, seed=i)
        frame.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        labels = labels_for(frame, share=0.8, seed=i)
        labels.to_parquet(root / "landing" / "labels" / f"{day}.parquet")
    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    capsys.readouterr()
    Store(root / "store").write("alerts", pending_alert())
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Status, stdout and stderr of `run`, with the store's folder and the clock left out."""
    status = main(["run", "--config", str(config), "--as-of", AS_OF])
    out, err = capsys.readouterr()
    root = str(config.parent)
    return status, out.replace(root, "<root>"), CLOCK.sub("", err).replace(root, "<root>")


def tables(store: Path) -> dict[str, pd.DataFrame]:
    """Every table and state file of a store (Dagster's own folder aside)."""
    found = {}
    for path in sorted(store.rglob("*")):
        name = str(path.relative_to(store))
        if name.startswith(("dagster_home", "locks")) or not path.is_file():
            continue
        if path.suffix == ".parquet":
            found[name] = pd.read_parquet(path)
        else:
            found[name] = pd.DataFrame({"text": [path.read_text()]})
    return found


def test_a_run_with_nothing_new_skips_dagster_and_does_what_the_graph_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = built_store(tmp_path / "quick", capsys)
    shutil.copytree(tmp_path / "quick", tmp_path / "graph")
    general = tmp_path / "graph" / "guap.yaml"

    quick = run(config, capsys)
    with monkeypatch.context() as patch:  # the general path: Dagster plans and finds nothing
        patch.setattr(summary, "run_if_current", lambda *args, **kwargs: None)
        graph = run(general, capsys)

    assert quick == graph
    status, out, err = quick
    assert status == 0 and "input: no new files in <root>/landing" in out
    assert "nothing new: every day is current" in err
    assert "alerts: 1 delivered" in err
    assert "1 day(s) outside the partitions (2030-01-01 ..)" in err
    ours, theirs = tables(tmp_path / "quick" / "store"), tables(tmp_path / "graph" / "store")
    assert ours.keys() == theirs.keys()
    alerts = "tables/alerts.parquet"
    assert ours[alerts]["attempts"].tolist() == [4]
    for delivered in (ours, theirs):  # delivered a moment apart
        assert delivered[alerts].pop("delivered_at").notna().all()
    for name, frame in ours.items():
        pd.testing.assert_frame_equal(frame, theirs[name], obj=name)


def test_alerts_a_run_through_the_graph_could_not_deliver_are_told_in_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's console log is off in `run`: what profit_alerts could not deliver must
    still reach the person running it, with the webhook's answer, and nothing else of
    Dagster's log."""
    config = built_store(tmp_path, capsys)
    frame = predictions_for("2026-10-03", 120, seed=7)  # new input: the graph runs
    frame.to_parquet(tmp_path / "landing" / "predictions" / "2026-10-03.parquet")
    with receiving(monkeypatch) as hook:
        hook.status = 500
        status, _, err = run(config, capsys)

    assert status == 0
    assert hook.bodies  # it was tried
    line = "alerts: 1 not delivered (webhook: webhook answered HTTP 500), retried by the next run"
    assert line in err.splitlines()
    assert "dagster - " not in err


def test_quick_commands_import_no_dagster_detectors_nor_database_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seconds of imports these commands do not need: Dagster, the detectors (SciPy's
    statistics, ruptures; a flag's message needs neither) and SQLAlchemy."""
    config = built_store(tmp_path, capsys)
    commands = {
        "nothing new": ["run", "--config", str(config), "--as-of", AS_OF],
        "wrote": ["export", "daily", "--config", str(config), "--out", str(tmp_path / "d.csv")],
    }
    for said, argv in commands.items():
        script = f"""\
import sys
from assets_defs.cli import main
status = main({argv!r})
heavy = ("dagster", "ruptures", "sqlalchemy", "scipy.stats")
print(status, sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy))
"""
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert done.stdout.splitlines()[-1] == "0 []", argv
        assert said in done.stderr


def test_partitions_without_rows_are_skipped_as_reading_each_would(tmp_path: Path) -> None:
    store = Store(tmp_path)
    empty = pd.DataFrame(
        {"reason": pd.Series([], dtype="string"), "row": pd.Series([], dtype="int64")}
    )
    store.write("q", empty, "2026-10-01")
    store.write(
        "q",
        pd.DataFrame({"reason": ["dup"], "row": [7]}).astype({"reason": "string"}),
        "2026-10-02",
    )
    store.write("q", empty, "2026-10-03")
    store.write("q", pd.DataFrame({"reason": ["orphan", "dup"], "row": [1, 2]}), "2026-10-04")

    each = [store.read("q", key) for key in store.partitions("q")]
    general = pd.concat([f for f in each if len(f)], ignore_index=True)

    pd.testing.assert_frame_equal(store.read_partitions("q"), general)
    assert store.read_partitions("q", ["2026-10-01", "2026-10-03"]).empty
    assert store.read("q", "2026-10-01", with_rows=True) is None


def overall_by_hand(daily: pd.DataFrame) -> pd.DataFrame:
    """The overall estimate date by date: the sum over versions (NaN if any version has
    none), half-widths added in quadrature; ``none`` if any version's kind is, else
    ``realized`` if all are, else ``estimated``."""
    rows = []
    for date, day in daily.groupby("date", sort=True):
        point = day["estimated_profit"].sum() if day["estimated_profit"].notna().all() else np.nan
        below = ((day["estimated_profit"] - day["estimated_profit_low"]) ** 2).sum()
        above = ((day["estimated_profit_high"] - day["estimated_profit"]) ** 2).sum()
        kinds = list(day["estimate_kind"])
        kind = (
            "none" if "none" in kinds else "realized" if set(kinds) == {"realized"} else "estimated"
        )
        rows.append((date, point, point - below**0.5, point + above**0.5, kind))
    return pd.DataFrame(rows, columns=["date", *ESTIMATED_PROFIT, "estimate_kind"])


def test_the_overall_estimate_is_the_sum_over_versions_date_by_date() -> None:
    rng = np.random.default_rng(5)
    n = 60
    point = rng.normal(1000, 300, n)
    point[rng.random(n) < 0.15] = np.nan
    daily = pd.DataFrame(
        {
            "date": np.repeat(pd.date_range("2026-10-01", periods=20).strftime("%F"), 3),
            "model_version": np.tile(["v1", "v2", "v3"], 20),
            "estimated_profit": point,
            "estimated_profit_low": point - rng.uniform(0, 100, n),
            "estimated_profit_high": point + rng.uniform(0, 100, n),
            "estimate_kind": rng.choice(["realized", "estimated", "none"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    daily.loc[:8, "estimate_kind"] = "realized"  # three dates realized by every version

    out = overall_estimate(daily)

    pd.testing.assert_frame_equal(out, overall_by_hand(daily))
    assert set(out["estimate_kind"]) == {"none", "realized", "estimated"}
