"""The HTML report: self-contained, every chart present, and rendered by a real browser."""

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from assets_defs.cli import main
from guap_pipeline.formatting import DECIMALS, money
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


def landed_report(
    root: Path, n_days: int, labeled_days: int, n: int, *, v2_from: int | None = None
) -> Path:
    """``n`` predictions a day of v1 (and of v2 from day ``v2_from``) from 2026-10-01, the
    first ``labeled_days`` days fully labeled; run, then the report and the daily table."""
    config = write_config(root)
    for i, day in enumerate(days("2026-10-01", n_days)):
        for version in ["v1", "v2"] if v2_from is not None and i >= v2_from else ["v1"]:
            preds = predictions_for(day, n, seed=i if version == "v1" else 100 + i, version=version)
            preds["prediction_id"] = version + "-" + preds["prediction_id"]
            preds.to_parquet(root / "landing" / "predictions" / f"{version}-{day}.parquet")
            if i < labeled_days:
                labels_for(preds, share=1.0, seed=i).to_parquet(
                    root / "landing" / "labels" / f"{version}-{day}.parquet"
                )
    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    output = root / "report.html"
    assert main(["report", "--config", str(config), "--output", str(output)]) == 0
    daily = str(root / "daily.csv")
    assert main(["export", "daily", "--config", str(config), "--output", daily]) == 0
    return output


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return landed_report(tmp_path_factory.mktemp("report"), 12, 10, 200)


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
    daily = pd.read_csv(report.parent / "daily.csv")
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


def chromium_flags(profile: Path) -> list[str]:
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}",
    ]  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_report_renders_its_charts_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    flags = chromium_flags(tmp_path / "profile")
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


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of two model versions, the second deployed a week later, the newest
    days still waiting for labels; and its exported daily table beside it."""
    return landed_report(tmp_path_factory.mktemp("two_versions"), 16, 13, 300, v2_from=7)


PROBE = """<script>
const probe = document.createElement("pre");
probe.id = "probe";
probe.textContent = JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  text: document.body.innerText,
});
document.body.appendChild(probe);
</script></body>"""


def laid_out(page: Path, width: int, tmp_path: Path) -> dict:
    """The page as Chromium lays it out ``width`` pixels wide: its scroll width and the
    text a reader sees (closed ``<details>`` hidden), measured by a probe script added to
    a copy (the report itself has no script)."""
    probed = tmp_path / f"probed-{width}.html"
    probed.write_text(page.read_text().replace("</body>", PROBE))
    flags = [*chromium_flags(tmp_path / f"profile-{width}"), f"--window-size={width},900"]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    [found] = re.findall(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    return json.loads(html.unescape(found))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
@pytest.mark.parametrize("width", [1024, 1440])
def test_report_fits_the_screen_and_answers_first_per_version(
    two_versions: Path, width: int, tmp_path: Path
) -> None:
    """No horizontal scrolling; a headline card for every model version whose figures
    match the exported daily table; no figure with more decimals than people read."""
    page = laid_out(two_versions, width, tmp_path)
    assert page["innerWidth"] == width
    assert page["scrollWidth"] <= width, "the page scrolls sideways"
    text = page["text"]
    daily = pd.read_csv(two_versions.parent / "daily.csv")
    answer = text[: text.index("What needs attention")]  # the cards come first
    for version, rows in daily.groupby("model_version"):
        mature = rows[rows["mature"]].sort_values("date").tail(28)
        assert f"{version}\n" in answer
        assert f"{money(mature['profit'].mean(), compact=True)}/day" in answer
        assert f"{money(mature['uplift'].mean(), compact=True)}/day" in answer
        assert (
            f"too young to judge: {len(mature)} of {rows['date'].nunique()} days mature" in answer
        )
    assert "all versions" in answer
    decimals = [len(d) for d in re.findall(r"\d\.(\d+)", text)]
    assert decimals and max(decimals) <= DECIMALS, sorted(set(decimals))
