"""Several models in one config (``models:``): each model's tables are the ones it gets
alone, its Dagster definitions sit under its name, ``--model`` picks one."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets_defs.cli import main
from assets_defs.factory import build_definitions
from assets_defs.resources import GuapResource
from benchmarks.compare_stores import compare, tables
from guap_pipeline.errors import ConfigError
from guap_pipeline.formatting import money
from guap_pipeline.models_config import load_deployment
from guap_pipeline.report.portfolio import read_portfolio
from guap_pipeline.store.store import Store
from tests.failure_alerts import alert_failed_run
from tests.pipeline_data import AS_OF, CONFIG, days, labels_for, predictions_for

FRAUD = CONFIG.replace("landing: ./landing\nstorage: ./store\n", "") + (  # binary, amounts
    "currency: EUR\noperating_cost: {per_prediction: 0.02, investment: 100}\n"
)
CHURN = """\
currency: EUR
operating_cost: {per_day: 15, investment: 100000}
start_date: 2026-10-03
timezone: Europe/Paris
classes: [low, mid, high]
baseline: baseline_pred
value_matrix: [[0, -5, -20], [-10, 8, -5], [-40, -10, 30]]
label_window_days: 7
"""
MODELS = {"fraud": FRAUD, "churn": CHURN}


def indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def land_fraud(folder: Path) -> None:
    (folder / "predictions").mkdir(parents=True)
    (folder / "labels").mkdir(parents=True)
    for i, day in enumerate(days("2026-10-01", 12)):
        predictions = predictions_for(day, 150, seed=i)
        predictions.to_parquet(folder / "predictions" / f"{day}.parquet")
        labels_for(predictions, share=0.8, seed=i).to_parquet(folder / "labels" / f"{day}.parquet")


def land_churn(folder: Path) -> None:
    (folder / "predictions").mkdir(parents=True)
    (folder / "labels").mkdir(parents=True)
    rng = np.random.default_rng(7)
    classes = np.array(["low", "mid", "high"])
    n = 900
    predictions = pd.DataFrame(
        {
            "prediction_id": [f"c{i}" for i in range(n)],
            "predicted_at": pd.Timestamp("2026-10-03", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 9 * 86_400, n), unit="s"),
            "y_pred": classes[rng.integers(0, 3, n)],
            "baseline_pred": "low",
        }
    )
    predictions.to_csv(folder / "predictions" / "p.csv", index=False)
    labels = pd.DataFrame(
        {"prediction_id": predictions["prediction_id"], "y_true": classes[rng.integers(0, 3, n)]}
    )
    labels.to_csv(folder / "labels" / "l.csv", index=False)


def write_configs(root: Path) -> Path:
    """Landing folders of both models; ``fraud.yaml`` and ``churn.yaml`` alone (stores
    ``alone-*``), ``together.yaml`` with both (stores ``together-*``)."""
    land_fraud(root / "fraud-landing")
    land_churn(root / "churn-landing")
    together = "models:\n"
    for name, settings in MODELS.items():
        paths = f"landing: ./{name}-landing\n"
        (root / f"{name}.yaml").write_text(paths + f"storage: ./alone-{name}\n" + settings)
        together += f"  {name}:\n" + indented(paths + f"storage: ./together-{name}\n" + settings, 4)
    (root / "together.yaml").write_text(together)
    return root / "together.yaml"


def differences(ref: Path, new: Path) -> list[str]:
    """Every Parquet table of two stores compared (benchmarks/compare_stores.py)."""
    ref_tables, new_tables = tables(ref), tables(new)
    found = [f"only in one store: {sorted(set(ref_tables) ^ set(new_tables))}"]
    if not set(ref_tables) ^ set(new_tables):
        found = []
    for name in sorted(set(ref_tables) & set(new_tables)):
        found += [
            f"{name}: {problem}"
            for problem in compare(ref_tables[name], new_tables[name], {"delivered_at"})
        ]
    return found


def test_models_section_parses_each_model_and_names_it_in_errors(tmp_path: Path) -> None:
    deployment = load_deployment(write_configs(tmp_path))
    assert deployment.several and list(deployment.models) == ["fraud", "churn"]
    assert deployment.models["churn"].classes == ("low", "mid", "high")
    assert deployment.models["churn"].timezone == "Europe/Paris"
    assert deployment.models["fraud"].storage == (tmp_path / "together-fraud").resolve()
    single = load_deployment(tmp_path / "fraud.yaml")
    assert not single.several and list(single.models) == [""]

    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  fraud:\n    value_matrix: {tp: 1, fp: -1, fn: x, tn: 0}\n")
    with pytest.raises(ConfigError, match=r"'models\.fraud\.value_matrix"):
        load_deployment(bad)
    bad.write_text(
        "models:\n"
        "  a: {value_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}, storage: ./s, landing: ./a}\n"
        "  b: {value_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}, storage: ./s, landing: ./b}\n"
    )
    with pytest.raises(ConfigError, match=r"'models\.b\.storage'.*model 'a'"):
        load_deployment(bad)
    bad.write_text("currency: EUR\nmodels:\n  a: {value_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}}\n")
    with pytest.raises(ConfigError, match=r"'currency'.*under its model's name"):
        load_deployment(bad)
    bad.write_text("models:\n  Fraud-1: {value_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}}\n")
    with pytest.raises(ConfigError, match=r"'models\.Fraud-1'"):
        load_deployment(bad)


def test_definitions_hold_each_model_under_its_name(tmp_path: Path) -> None:
    defs = build_definitions(write_configs(tmp_path))
    dg.Definitions.validate_loadable(defs)  # what `dagster definitions validate` runs
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    single = {
        key.to_user_string()
        for key in build_definitions(tmp_path / "fraud.yaml")
        .resolve_asset_graph()
        .get_all_asset_keys()
    }
    assert keys == {f"{model}/{key}" for model in MODELS for key in single}
    assert graph.get(dg.AssetKey(["churn", "daily_quadrant_profit"])).group_name == "churn_daily"
    churn_days = graph.get(dg.AssetKey(["churn", "daily_quadrant_profit"])).partitions_def
    fraud_days = graph.get(dg.AssetKey(["fraud", "daily_quadrant_profit"])).partitions_def
    assert churn_days.start.date().isoformat() == "2026-10-03"
    assert str(churn_days.timezone) == "Europe/Paris"
    assert fraud_days.start.date().isoformat() == "2026-10-01"
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("fraud/profit_flags", "no_profit_decline") in checks
    assert ("churn/staged_landing_files", "no_quarantined_rows") in checks
    assert len(checks) == 2 * 9
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    for model in MODELS:
        for job in ("ingest_landing_job", "daily_profit_job", "profit_timeseries_job"):
            assert f"{model}__{job}" in jobs
    assert {s.name for s in defs.schedules} == {
        "fraud__daily_monitoring_schedule",
        "churn__daily_monitoring_schedule",
    }
    assert defs.resolve_schedule_def("churn__daily_monitoring_schedule").execution_timezone == (
        "Europe/Paris"
    )
    assert {s.name for s in defs.sensors} == {
        f"{model}__{sensor}"
        for model in MODELS
        for sensor in ("landing_folder_sensor", "stale_days_sensor", "freshness_checks_sensor")
    } | {"run_failure_alert_sensor"}
    job = defs.resolve_job_def("churn__daily_profit_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        f"churn/{name}"
        for name in (
            "validated_predictions",
            "outcome_labels",
            "labeled_predictions",
            "daily_quadrant_profit",
        )
    }


@pytest.mark.slow  # four monitoring runs through Dagster
def test_two_models_together_give_the_tables_each_gives_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    together = write_configs(tmp_path)
    assert main(["run", "--config", str(together), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "== model fraud ==" in out and "== model churn ==" in out
    portfolio_out = out.split("== portfolio ==")[1]
    for model in MODELS:
        assert main(["run", "--config", str(tmp_path / f"{model}.yaml"), "--as-of", AS_OF]) == 0
    assert "== portfolio ==" not in capsys.readouterr().out  # a single model: as it was
    for model in MODELS:
        alone, both = tmp_path / f"alone-{model}", tmp_path / f"together-{model}"
        assert tables(alone), f"{model} built nothing"
        assert differences(alone, both) == [], model
    daily = Store(tmp_path / "together-churn").read("daily_summary")
    assert daily["date"].astype(str).min() == "2026-10-03"  # churn's own start date

    # --model: only that model, and no portfolio
    assert main(["run", "--config", str(together), "--model", "churn", "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "== model churn ==" in out and "fraud" not in out and "portfolio" not in out

    # export: --model NAME gives the model's own table; without it, one file, `model` first
    exports = {}
    for model in MODELS:
        alone, picked = tmp_path / f"alone-{model}.csv", tmp_path / f"picked-{model}.csv"
        assert main(["export", "daily", "--config", str(tmp_path / f"{model}.yaml"),
                     "--output", str(alone)]) == 0  # fmt: skip
        assert main(["export", "daily", "--config", str(together), "--model", model,
                     "--output", str(picked)]) == 0  # fmt: skip
        exports[model] = pd.read_csv(alone)
        assert "model" not in exports[model].columns  # a single model's table is unchanged
        pd.testing.assert_frame_equal(pd.read_csv(picked), exports[model])
    output = tmp_path / "daily.csv"
    assert main(["export", "daily", "--config", str(together), "--output", str(output)]) == 0
    expected = pd.concat(
        [frame.assign(model=name)[["model", *frame.columns]] for name, frame in exports.items()],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(pd.read_csv(output), expected, check_dtype=False)

    # the portfolio's totals: each model's exported figures, summed here
    sums = {c: sum(exports[m][c].sum() for m in MODELS) for c in ("profit", "uplift",
            "operating_cost", "net_profit")}  # fmt: skip
    assert sums["operating_cost"] > 0 and sums["profit"] != 0
    [total] = read_portfolio(load_deployment(together).models).totals
    for column, value in sums.items():
        assert getattr(total, column) == pytest.approx(value, rel=1e-12), column
    assert total.roi == pytest.approx(sums["net_profit"] / sums["operating_cost"])
    [total_line] = [
        line for line in portfolio_out.splitlines() if line.lstrip().startswith("total (")
    ]
    for column in ("profit", "net_profit"):
        assert money(sums[column], "EUR") in total_line, column
    assert f"{sums['net_profit'] / sums['operating_cost']:,.1f}×" in total_line

    # the report: one page, the portfolio then each model; --model: that model's own report
    report = tmp_path / "r.html"
    assert main(["report", "--config", str(together), "--output", str(report)]) == 0
    page = report.read_text()
    assert "<title>guap-pipeline report: fraud, churn</title>" in page
    assert page.index("Portfolio") < page.index('id="model-fraud"') < page.index('id="model-churn"')
    assert money(sums["net_profit"], "EUR") in page
    assert main(["report", "--config", str(together), "--model", "fraud",
                 "--output", str(report)]) == 0  # fmt: skip
    page = report.read_text()
    assert "<title>guap-pipeline report: fraud</title>" in page and "Portfolio" not in page

    # a late label of one model: that model's sensor sees it, its day alone is rebuilt
    late = pd.DataFrame(
        {
            "prediction_id": ["2026-10-05-0"],
            "y_true": [1],
            "labeled_at": [pd.Timestamp("2026-10-15", tz="UTC")],
        }
    )
    late.to_parquet(tmp_path / "fraud-landing" / "labels" / "late.parquet")
    defs = build_definitions(together)
    guap = GuapResource(config_path=str(together), as_of=AS_OF)
    with dg.build_sensor_context(resources={"guap": guap}) as context:
        assert defs.resolve_sensor_def("fraud__landing_folder_sensor")(context).run_requests
    with dg.build_sensor_context(resources={"guap": guap}) as context:
        assert not defs.resolve_sensor_def("churn__landing_folder_sensor")(context).run_requests
    capsys.readouterr()
    assert main(["run", "--config", str(together), "--as-of", AS_OF]) == 0
    progress = capsys.readouterr().err
    fraud, churn = progress.split("model churn")
    assert "building day 2026-10-05" in fraud and fraud.count("building") == 1
    assert "building" not in churn and "nothing new" in churn


def test_model_option_names_the_models_when_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    together = write_configs(tmp_path)
    out = str(tmp_path / "x.csv")
    assert (
        main(["export", "daily", "--config", str(together), "--model", "credit", "--output", out])
        == 1
    )
    assert "no model named 'credit'; the models are ['fraud', 'churn']" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "daily",
                "--config",
                str(tmp_path / "fraud.yaml"),
                "--model",
                "fraud",
                "--output",
                out,
            ]
        )
        == 1
    )
    assert "no models: section" in capsys.readouterr().err
    # before any run: each model's error names it, and the worst status is the command's
    assert main(["export", "daily", "--config", str(together), "--output", out]) == 1
    err = capsys.readouterr().err
    assert "model fraud: no daily table" in err and "model churn: no daily table" in err
    daily = tmp_path / "daily.csv"
    pd.DataFrame({"date": []}).to_csv(daily, index=False)
    assert main(["flags", str(daily), "--config", str(together), "--output", out]) == 1
    assert "name it with --model" in capsys.readouterr().err


def test_a_failed_run_is_alerted_under_its_models_name(tmp_path: Path, caplog) -> None:
    defs = build_definitions(write_configs(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    broken = GuapResource(config_path=str(tmp_path / "missing.yaml"), as_of=AS_OF)
    result = defs.resolve_job_def("churn__ingest_landing_job").execute_in_process(
        instance=instance, resources={"guap": broken}, raise_on_error=False
    )
    assert not result.success
    with caplog.at_level("ERROR", logger="guap_pipeline.alerts.incidents"):
        alert_failed_run(defs.resolve_sensor_def("run_failure_alert_sensor"), result, instance)
    [record] = [r for r in caplog.records if r.name == "guap_pipeline.alerts.incidents"]
    headline, cause = record.getMessage().split("\n")[:2]
    assert headline.endswith(
        f"churn model: monitoring run {result.run_id[:8]} of churn__ingest_landing_job failed"
    )
    assert cause.startswith("step churn__staged_landing_files: ")
    assert "missing.yaml" in cause
