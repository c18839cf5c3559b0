"""The HTML report: self-contained, every chart present, and rendered by a real browser."""

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from assets_defs.cli import main
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # a pipeline run and the HTML report in Chromium

CHARTS = [
    "profit_series",
    "profit_estimate",
    "cumulative_net_profit",
    "quadrant_values",
    "threshold_curve",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    config = write_config(root)
    for i, day in enumerate(days("2026-10-01", 12)):
        preds = predictions_for(day, 200, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        if i < 10:
            labels_for(preds, share=1.0, seed=i).to_parquet(
                root / "landing" / "labels" / f"{day}.parquet"
            )
    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    output = root / "report.html"
    assert main(["report", "--config", str(config), "--output", str(output)]) == 0
    return output


def test_report_is_self_contained_with_every_chart_as_png(report: Path) -> None:
    page = report.read_text()
    images = dict(re.findall(r'<img alt="(\w+)" src="data:image/png;base64,([^"]+)"', page))
    assert sorted(images) == sorted(CHARTS)
    for encoded in images.values():
        assert base64.b64decode(encoded).startswith(b"\x89PNG")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched to view it
    assert "<script" not in page


def test_report_summary_table_has_a_row_per_version_and_overall(report: Path) -> None:
    summary = report.read_text().split("<h2>Summary</h2>")[1]
    cells = re.findall(r"<td>([^<]*)</td>", summary)
    assert "<th>uplift</th>" in summary
    assert "v1" in cells and "(all)" in cells


def test_report_summary_table_reads_as_the_command_line_summary(report: Path) -> None:
    """Headers in words; money rounded and value capture a percentage, as `run` prints
    them, checked against the exported daily table."""
    daily_csv = report.parent / "daily.csv"
    config = str(report.parent / "guap.yaml")
    assert main(["export", "daily", "--config", config, "--output", str(daily_csv)]) == 0
    daily = pd.read_csv(daily_csv)
    recent = daily[daily["mature"]].sort_values("date").tail(28)
    capture = recent["uplift"].sum() / (recent["oracle_profit"] - recent["baseline_profit"]).sum()
    summary = report.read_text().split("<h2>Summary</h2>")[1]
    headers = re.findall(r"<th>([^<]*)</th>", summary)
    assert headers[0] == "model version" and "value capture, recent" in headers
    assert not [h for h in headers if "_" in h]
    [v1] = re.findall(r"<tr>\s*<td>v1</td>(.*?)</tr>", summary, re.S)
    cells = re.findall(r"<td>([^<]*)</td>", v1)
    assert cells[-1] == f"{capture:.1%}"
    assert f"{daily['uplift'].sum():,.0f}" in cells


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_report_renders_its_charts_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    url = report.as_uri()
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    for name in CHARTS:
        assert f'id="chart-{name}"' in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2400", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000  # charts drawn, not a blank page


def test_flag_lines_say_the_money_and_the_ceiling_per_labeled_prediction() -> None:
    from guap_pipeline.report.text import flag_lines

    flags = pd.DataFrame(
        {
            "series": ["", ""],
            "model_version": ["v1", "v2"],
            "flag": ["decline", "diminishing_returns"],
            "start_date": pd.to_datetime(["2026-03-18", "2026-04-11"]),
            "money_at_stake": [2919.86, float("nan")],
            "ceiling": [float("nan"), 8.3513],
        }
    )
    assert flag_lines(flags) == [
        "flags:",
        "  v1: decline since 2026-03-18, 2,920/day at stake",
        "  v2: diminishing_returns since 2026-04-11, ceiling 8.35 per labeled prediction",
    ]
