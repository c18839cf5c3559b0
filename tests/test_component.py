"""The Dagster component: a small Dagster project of someone else's, with two monitored
models added by one ``defs.yaml`` each, loads as ``dg`` loads it and materializes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets_defs.factory import build_definitions
from assets_defs.models import ModelKeys
from assets_defs.resources import GuapResource
from assets_defs.sensors import range_tags
from guap_pipeline.errors import ConfigError
from guap_pipeline.store.store import Store
from tests.pipeline_data import AS_OF
from tests.test_several_models import CHURN, FRAUD, land_churn, land_fraud

PYPROJECT = """\
[project]
name = "shop"
version = "0.1.0"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "shop"
"""
ORDERS = """\
import dagster as dg


@dg.asset
def orders() -> int:
    return 3
"""
DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""
DEFS_YAML = """\
type: assets_defs.component.GuapModel
attributes:
  name: {name}
  config: guap.yaml
"""
STEPS = ("ingest_landing_job", "daily_profit_job", "profit_timeseries_job")


def scaffold(root: Path) -> Path:
    """A Dagster project ``shop`` with an asset of its own and two monitored models:
    ``defs/fraud`` (binary, amounts) and ``defs/churn`` (multiclass, Europe/Paris)."""
    project = root / "project"
    (project / "shop" / "defs").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "definitions.py").write_text(DEFINITIONS)
    (project / "shop" / "defs" / "__init__.py").write_text("")
    (project / "shop" / "defs" / "orders.py").write_text(ORDERS)
    land_fraud(root / "fraud-landing")
    land_churn(root / "churn-landing")
    for name, settings in {"fraud": FRAUD, "churn": CHURN}.items():
        folder = project / "shop" / "defs" / name
        folder.mkdir()
        (folder / "defs.yaml").write_text(DEFS_YAML.format(name=name))
        paths = f"landing: {root / f'{name}-landing'}\nstorage: {root / f'{name}-store'}\n"
        (folder / "guap.yaml").write_text(paths + settings)
    return project


def load(project: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    """The project's definitions, as ``dg`` and its ``definitions.py`` load them."""
    monkeypatch.syspath_prepend(str(project))
    for module in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        monkeypatch.delitem(sys.modules, module)
    return dg.load_from_defs_folder(path_within_project=project)


def test_two_instances_hold_each_model_under_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = scaffold(tmp_path)
    defs = load(project, monkeypatch)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    # exactly the assets the code location builds for the same file alone
    alone = build_definitions(project / "shop" / "defs" / "fraud" / "guap.yaml")
    assets = {key.to_user_string() for key in alone.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"orders"} | {f"{m}/{a}" for m in ("fraud", "churn") for a in assets}
    groups = {graph.get(dg.AssetKey(["churn", a])).group_name for a in assets}
    assert groups == {"churn_landing", "churn_daily", "churn_series"}
    churn_days = graph.get(dg.AssetKey(["churn", "daily_quadrant_profit"])).partitions_def
    assert churn_days.start.date().isoformat() == "2026-10-03"
    assert str(churn_days.timezone) == "Europe/Paris"
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("fraud/profit_flags", "no_profit_decline") in checks
    assert ("churn/staged_landing_files", "no_quarantined_rows") in checks
    assert len(checks) == 2 * 9
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {f"{m}__{job}" for m in ("fraud", "churn") for job in STEPS} <= jobs
    assert {s.name for s in defs.schedules} == {
        "fraud__daily_monitoring_schedule",
        "churn__daily_monitoring_schedule",
    }
    assert defs.resolve_schedule_def("churn__daily_monitoring_schedule").execution_timezone == (
        "Europe/Paris"
    )
    sensors = ("landing_folder_sensor", "stale_days_sensor", "freshness_checks_sensor")
    assert {s.name for s in defs.sensors} == {
        f"{m}__{s}" for m in ("fraud", "churn") for s in (*sensors, "run_failure_alert_sensor")
    }
    # each model's run-failure sensor watches its own jobs, not the project's others
    # (RunStatusSensorDefinition has no public accessor for them)
    watched = defs.resolve_sensor_def("fraud__run_failure_alert_sensor")._monitored_jobs
    assert sorted(job.name for job in watched) == sorted(f"fraud__{job}" for job in STEPS)
    # what the runs read: each model's own file, under its name (its alerts and report say it)
    shared = GuapResource(config_path="", as_of=AS_OF)
    fraud = ModelKeys("fraud", config_path=str(project / "shop/defs/fraud/guap.yaml"))
    assert fraud.resource(shared).config().model_name == "fraud"
    assert fraud.resource(shared).config().storage == tmp_path / "fraud-store"


def fraud_profit_by_day(landing: Path) -> pd.Series:
    """Each day's realized profit, worked by hand from the landing files: tp earns
    0.9 × amount − 5, fp −10, fn −amount, tn 0 (``FRAUD``'s value matrix); UTC days."""
    predictions = pd.concat(map(pd.read_parquet, sorted((landing / "predictions").iterdir())))
    labels = pd.concat(map(pd.read_parquet, sorted((landing / "labels").iterdir())))
    rows = predictions.merge(labels, on="prediction_id")
    pred, true, amount = rows["y_pred"] == 1, rows["y_true"] == 1, rows["amount"]
    value = np.select(
        [pred & true, pred & ~true, ~pred & true], [0.9 * amount - 5, -10.0, -amount], 0.0
    )
    day = rows["predicted_at"].dt.strftime("%Y-%m-%d")
    return pd.Series(value).groupby(day.to_numpy()).sum()


def churn_profit_by_day(landing: Path) -> pd.Series:
    """Each day's realized profit of the churn model, by hand: the value matrix's cell
    (true class row, predicted class column), days cut in Europe/Paris."""
    matrix = {"low": 0, "mid": 1, "high": 2}
    value = [[0, -5, -20], [-10, 8, -5], [-40, -10, 30]]
    predictions = pd.read_csv(landing / "predictions" / "p.csv")
    rows = predictions.merge(pd.read_csv(landing / "labels" / "l.csv"), on="prediction_id")
    money = [
        value[matrix[t]][matrix[p]] for t, p in zip(rows["y_true"], rows["y_pred"], strict=True)
    ]
    local = pd.to_datetime(rows["predicted_at"]).dt.tz_convert("Europe/Paris")
    return pd.Series(money, dtype=float).groupby(local.dt.strftime("%Y-%m-%d").to_numpy()).sum()


@pytest.mark.slow  # six Dagster runs
def test_both_models_materialize_and_make_the_money_worked_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = load(scaffold(tmp_path), monkeypatch)
    guap = GuapResource(config_path="", as_of=AS_OF)  # the shared resource, "today" pinned
    expected = {
        "fraud": fraud_profit_by_day(tmp_path / "fraud-landing"),
        "churn": churn_profit_by_day(tmp_path / "churn-landing"),
    }
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        for name, by_day in expected.items():
            first, last = by_day.index.min(), by_day.index.max()
            runs = [
                ("ingest_landing_job", {}),
                ("daily_profit_job", {"tags": range_tags(first, last)}),
                ("profit_timeseries_job", {}),
            ]
            for job, kwargs in runs:
                result = defs.resolve_job_def(f"{name}__{job}").execute_in_process(
                    instance=instance, resources={"guap": guap}, raise_on_error=False, **kwargs
                )
                assert result.success, (name, job)
            daily = Store(tmp_path / f"{name}-store").read("daily_summary")
            built = daily.groupby(daily["date"].astype(str))["profit"].sum()
            pd.testing.assert_series_equal(
                built.sort_index(), by_day.sort_index(), check_names=False, rtol=1e-9
            )
            series = Store(tmp_path / f"{name}-store").read("profit_timeseries")
            assert not series.empty
        materialized = instance.get_latest_materialization_event(
            dg.AssetKey(["churn", "profit_timeseries"])
        )
        assert materialized is not None


def load_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What loading the project fails with: Dagster's tree of the failing ``defs.yaml``,
    and the cause it chains (the user reads both in one traceback)."""
    with pytest.raises(Exception) as failure:
        load(project, monkeypatch)
    cause = failure.value.__cause__
    assert "fraud" in str(failure.value) and "(error)" in str(failure.value)
    assert isinstance(cause, ConfigError), repr(cause)
    return str(cause)


def test_errors_name_the_attribute_or_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = scaffold(tmp_path)
    folder = project / "shop" / "defs" / "fraud"
    (folder / "defs.yaml").write_text(DEFS_YAML.format(name="Fraud-1"))
    assert "config field 'name': 'Fraud-1'" in load_error(project, monkeypatch)
    (folder / "defs.yaml").write_text(DEFS_YAML.format(name="fraud"))
    text = (folder / "guap.yaml").read_text()
    (folder / "guap.yaml").write_text(text.replace("fp: -10", "fp: ten"))
    assert "config field 'value_matrix.fp'" in load_error(project, monkeypatch)
    (folder / "guap.yaml").write_text("models:\n  a:\n" + "    " + text.replace("\n", "\n    "))
    assert re.search(r"config field 'config': .*models: section", load_error(project, monkeypatch))
    (folder / "guap.yaml").unlink()
    assert re.search(
        r"config field '<file>': cannot read .*guap\.yaml", load_error(project, monkeypatch)
    )


def test_two_components_cannot_share_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each instance loads on its own; one writing the other's store would mix their tables."""
    project = scaffold(tmp_path)
    churn = project / "shop" / "defs" / "churn" / "guap.yaml"
    churn.write_text(churn.read_text().replace("churn-store", "fraud-store"))
    with pytest.raises(Exception) as failure:
        load(project, monkeypatch)
    cause = failure.value.__cause__
    assert isinstance(cause, ConfigError), repr(cause)
    store = tmp_path / "fraud-store"
    assert re.fullmatch(
        rf"config field 'storage': {store} is model '(fraud|churn)''s storage too; "
        "each model needs its own",
        str(cause),
    )
    churn.write_text(churn.read_text().replace("fraud-store", "churn-store"))
    dg.Definitions.validate_loadable(load(project, monkeypatch))  # a reload, fixed: loads
    defs = project / "shop" / "defs"
    (defs / "churn").rename(defs / "churn_eu")  # renamed, reloaded in the same process:
    dg.Definitions.validate_loadable(load(project, monkeypatch))  # not its own old entry


def cli(project: Path, *command: str) -> str:
    """Run a command of this environment (``dagster``, ``dg``) in ``project``; its output."""
    home = project.parent / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / command[0]), *command[1:]],
        cwd=project,
        env={**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow  # Dagster processes
def test_dagster_and_dg_validate_the_project(tmp_path: Path) -> None:
    project = scaffold(tmp_path)
    out = cli(project, "dagster", "definitions", "validate", "-m", "shop.definitions")
    assert "passed validation" in out.lower() or "successful" in out.lower(), out


@pytest.mark.slow  # dg processes
@pytest.mark.skipif(
    not (Path(sys.executable).parent / "dg").exists(),
    reason="needs the dg CLI: pip install -e '.[test]' (dagster-dg-cli)",
)
def test_dg_lists_scaffolds_and_checks_the_component(tmp_path: Path) -> None:
    project = scaffold(tmp_path)
    listed = json.loads(cli(project, "dg", "list", "components", "--json"))["items"]
    assert "assets_defs.component.GuapModel" in {item["key"] for item in listed}
    cli(project, "dg", "scaffold", "defs", "assets_defs.component.GuapModel", "credit")
    credit = project / "shop" / "defs" / "credit"
    assert "name: credit" in (credit / "defs.yaml").read_text()
    assert "value_matrix:" in (credit / "guap.yaml").read_text()
    out = cli(project, "dg", "check", "defs")
    assert "All definitions loaded successfully" in out, out
    listed = cli(project, "dg", "list", "defs", "--json")
    assets = {asset["asset_key"] for asset in json.loads(listed)["assets"]}
    assert {"orders", "credit/profit_timeseries", "fraud/profit_timeseries"} <= assets
