"""The Dagster UI as a user sees it: ``dagster-webserver`` on workspace.yaml, pages
rendered by headless Chromium, figures cross-checked through the GraphQL endpoint.

The instance is deploy/dagster.yaml on a fresh PostgreSQL database when ``DAGSTER_PG_*``
are set (as in CI), else a plain local one. The pipeline first runs on that instance
(``guap-pipeline run``), so the pages show materialized partitions and check results.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets_defs.cli import main
from assets_defs.definitions import defs
from guap_pipeline.formatting import money
from tests.pg_support import ROOT, postgres_configured, postgres_home
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WEBSERVER = Path(sys.executable).with_name("dagster-webserver")
BUILT_DAYS = 3
pytestmark = [
    pytest.mark.slow,  # a Dagster webserver driven by Chromium
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)"),
]


@dataclass
class UI:
    url: str
    root: Path
    n_partitions: int
    backend: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload
    return payload["data"]


LOCATION_STATUS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
)


def wait_until_loaded(url: str, server: subprocess.Popen, log: Path) -> None:
    """Until the webserver answers and the ``guap`` code location is loaded."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"dagster-webserver exited ({server.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            data = graphql(url, LOCATION_STATUS)
            entries = data["workspaceOrError"]["locationEntries"]
            if [(e["name"], e["loadStatus"]) for e in entries] == [("guap", "LOADED")]:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not load the code location:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it runs the code server too), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def start_webserver(root: Path, stack: ExitStack) -> tuple[str, subprocess.Popen, Path]:
    """dagster-webserver on workspace.yaml (the environment names the config), stopped
    when ``stack`` closes; its URL, process and log file."""
    url = f"http://127.0.0.1:{free_port()}"
    log = root / "webserver.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [WEBSERVER, "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1], "-w", "workspace.yaml"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    stack.callback(stop, server)
    return url, server, log


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    root = tmp_path_factory.mktemp("ui")
    config = write_config(root)
    for i, day in enumerate(days("2026-10-01", BUILT_DAYS)):
        preds = predictions_for(day, 300, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        labels_for(preds, share=1.0, seed=i).to_parquet(
            root / "landing" / "labels" / f"{day}.parquet"
        )
    with ExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        if postgres_configured():
            stack.enter_context(postgres_home(root / "dagster_home", env))
            backend = "postgres"
        else:
            (root / "dagster_home").mkdir()
            (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
            backend = "sqlite"
        env.setenv("GUAP_CONFIG", str(config))  # the webserver's partitions follow the config
        url, server, log = start_webserver(root, stack)
        # While the server starts: the monitoring run, on the same instance.
        assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
        wait_until_loaded(url, server, log)
        partitions = dg.DailyPartitionsDefinition(start_date="2026-10-01", end_offset=1)
        yield UI(url, root, len(partitions.get_partition_keys()), backend)


def dom(ui: UI, page: str) -> str:
    """The DOM of ``page`` once Chromium has run the UI's JavaScript."""
    profile = ui.root / f"chromium-{time.monotonic_ns()}"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1920,1200", "--virtual-time-budget=15000",
    ]  # fmt: skip
    browser = subprocess.Popen(
        [CHROMIUM, *flags, "--dump-dom", f"{ui.url}/{page}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        page_dom, _ = browser.communicate(timeout=120)
    finally:
        if browser.poll() is None:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return page_dom.decode()


def render(ui: UI, page: str) -> str:
    """The visible text of ``page`` once Chromium has run the UI's JavaScript."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", dom(ui, page), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def asset_names(group: str | None = None) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if group is None or graph.get(key).group_name == group
    }


def test_catalog_lists_every_asset_with_its_partitions(ui: UI) -> None:
    text = render(ui, "assets")
    for name in asset_names():
        assert name in text
    assert f"{ui.n_partitions} partitions" in text


def test_lineage_graph_draws_the_daily_assets_and_their_neighbours(ui: UI) -> None:
    text = render(ui, "locations/guap/asset-groups/daily")
    assert "Lineage" in text
    for name in asset_names("daily") | {"staged_landing_files", "profit_timeseries"}:
        assert name in text
    assert "Partitions" in text


def test_partitions_page_counts_the_days_built(ui: UI) -> None:
    text = render(ui, "assets/daily_quadrant_profit?view=partitions")
    assert f"{ui.n_partitions} Partitions" in text
    assert f"Materialized ({BUILT_DAYS})" in text
    assert f"Missing ({ui.n_partitions - BUILT_DAYS})" in text
    assert "Failed (0)" in text

    data = graphql(
        ui.url,
        "{ assetNodes { assetKey { path } isPartitioned"
        " partitionStats { numMaterialized numPartitions numFailed } } }",
    )
    stats = {
        "/".join(node["assetKey"]["path"]): node["partitionStats"]
        for node in data["assetNodes"]
        if node["isPartitioned"]
    }
    assert set(stats) == asset_names("daily")
    for figures in stats.values():
        assert figures == {
            "numMaterialized": BUILT_DAYS,
            "numPartitions": ui.n_partitions,
            "numFailed": 0,
        }


# Evaluated by freshness_checks_sensor, not by `run`: right after the write Dagster words
# the age of the update as "The last update was  ago".
SENSOR_CHECKS = {"freshness_check"}


def test_checks_pages_show_every_check_evaluated(ui: UI) -> None:
    graph = defs.resolve_asset_graph()
    checks: dict[str, set[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    assert {"staged_landing_files", "profit_timeseries"} <= set(checks)
    for asset, names in checks.items():
        text = render(ui, f"assets/{asset}?view=checks")
        assert f"Checks ({len(names)})" in text
        for name in names - SENSOR_CHECKS:
            assert re.search(rf"{name} (Succeeded|Failed)", text), name

    data = graphql(
        ui.url,
        "{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks"
        " { checks { name executionForLatestMaterialization { status } } } } } }",
    )
    evaluated = {
        ("/".join(node["assetKey"]["path"]), check["name"]): (
            check["executionForLatestMaterialization"] or {}
        ).get("status")
        for node in data["assetNodes"]
        for check in node["assetChecksOrError"].get("checks", [])
    }
    assert set(evaluated) == {(a, n) for a, names in checks.items() for n in names}
    by_run = {key: status for key, status in evaluated.items() if key[1] not in SENSOR_CHECKS}
    assert set(by_run.values()) <= {"SUCCEEDED", "FAILED"}


def test_automation_page_lists_the_schedule_and_sensors(ui: UI) -> None:
    text = render(ui, "automation")
    for automation in [*defs.schedules, *defs.sensors]:
        assert automation.name in text
    assert "At 06:00 AM" in text


def test_instance_is_the_expected_one(ui: UI) -> None:
    """Postgres-backed wherever DAGSTER_PG_* are set, which CI guarantees."""
    info = graphql(ui.url, "{ instance { info } }")["instance"]["info"]
    expected = "PostgresRunStorage" if ui.backend == "postgres" else "SqliteRunStorage"
    assert expected in info


def test_asset_page_of_the_series_answers_first_with_a_chart_and_no_click(ui: UI) -> None:
    """The overview of profit_timeseries opens on the answer per model version, in
    words, and a chart drawn inline (not behind "[Show Markdown]"); the figures match the
    exported daily table."""
    daily_csv = ui.root / "daily.csv"
    config = str(ui.root / "guap.yaml")
    assert main(["export", "daily", "--config", config, "--output", str(daily_csv)]) == 0
    daily = pd.read_csv(daily_csv)
    page = dom(ui, "assets/profit_timeseries")
    text = render(ui, "assets/profit_timeseries")
    assert re.search(r'<img [^>]*src="data:image/svg\+xml', page)  # the chart, inline
    mature = daily[daily["mature"]]
    for version, rows in daily.groupby("model_version"):
        recent = mature[mature["model_version"] == version].sort_values("date").tail(28)
        assert f"profit {money(recent['profit'].mean(), compact=True)}/day" in text
        days = rows["date"].nunique()
        assert f"too young to judge: {len(recent)} of {days} days mature" in text
    metadata = text[text.index("Metadata") :]
    assert metadata.index("all versions") < metadata.index("[Show Markdown]")  # answer first


def check_descriptions() -> dict[tuple[str, str], str]:
    graph = defs.resolve_asset_graph()
    return {
        (key.asset_key.to_user_string(), key.name): graph.get_check_spec(key).description or ""
        for key in graph.asset_check_keys
    }


def test_every_check_shows_its_description(ui: UI) -> None:
    described = check_descriptions()
    assert all(described.values()), [k for k, v in described.items() if not v]
    for (asset, name), description in described.items():
        text = render(ui, f"assets/{asset}?view=checks&checkDetail={name}")
        assert "No description provided" not in text, name
        assert " ".join(description.split()[:6]) in text, name


def test_every_sensor_and_the_schedule_are_running_by_default(ui: UI) -> None:
    """The README says the daemon evaluates freshness every 10 minutes: its sensor is on."""
    data = graphql(
        ui.url,
        "{ repositoriesOrError { ... on RepositoryConnection { nodes {"
        " sensors { name sensorState { status } } schedules { name scheduleState { status } }"
        " } } } }",
    )
    [repository] = data["repositoriesOrError"]["nodes"]
    states = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    states |= {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    assert states["freshness_checks_sensor"] == "RUNNING"
    assert set(states.values()) == {"RUNNING"}, states
