"""`guap-pipeline run` as a user meets it: what each run says it did with the input, its
exit status, and a command line free of Dagster's banner and maturity warnings."""

import subprocess
import sys
from pathlib import Path
from traceback import TracebackException

import pandas as pd
import pytest
from dagster_shared.error import SerializableErrorInfo

from assets_defs.cli import main
from assets_defs.definitions import defs
from assets_defs.failures import own_words
from guap_pipeline import steps
from guap_pipeline.errors import InputError
from tests.pipeline_data import (
    AS_OF,
    CLI,
    CONFIG,
    days,
    labels_for,
    predictions_for,
    run_as_a_user,
    write_config,
)

pytestmark = pytest.mark.slow  # guap-pipeline run in subprocesses

ROOT = Path(__file__).parent.parent


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["run", "--config", str(config), "--as-of", AS_OF])
    out, err = capsys.readouterr()
    return status, out, err


def input_section(out: str) -> str:
    """The run's last lines: what it did with the landing files."""
    return out[out.index("input:") :]


def test_runs_say_what_they_did_with_the_input_and_exit_by_the_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    landing = tmp_path / "landing"
    good = [predictions_for(day, 200, seed=i) for i, day in enumerate(days("2026-10-01", 2))]
    for frame in good:
        frame.to_parquet(landing / "predictions" / f"p_{frame['predicted_at'].min():%F}.parquet")
    scored = predictions_for("2026-10-03", 100, seed=7)
    scored.loc[[10, 20], "score"] = 1.5  # two rows out of [0, 1]
    scored.to_csv(landing / "predictions" / "scored.csv", index=False)
    labels = labels_for(good[0], share=1.0, seed=1)
    strangers = pd.DataFrame({"prediction_id": [f"nobody-{i}" for i in range(7)], "y_true": 0})
    pd.concat([labels, strangers]).to_csv(landing / "labels" / "labels.csv", index=False)

    status, out, err = run(config, capsys)

    # 200 + 200 + 100 predictions and 200 + 7 labels read; 2 quarantined: 2 / 707 < 1 %.
    assert status == 0, err
    summary = input_section(out)
    read = "input: 4 files read (1 labels, 3 predictions): 707 rows, 705 accepted, 2 quarantined"
    assert read in summary
    assert "2  predictions/scored.csv: 'score' is outside [0, 1]" in summary
    assert "labels waiting for their prediction: 7" in summary
    assert "nan" not in out
    assert "Welcome to Dagster" not in err

    status, out, err = run(config, capsys)
    assert status == 0, err
    assert input_section(out).startswith(f"input: no new files in {landing}")

    (landing / "predictions" / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    status, out, err = run(config, capsys)
    assert status == 3
    assert "input: 0 files read (none), 1 not read: 0 rows" in out
    assert "not read: predictions/broken.parquet: unreadable Parquet file" in out
    assert "1 file rejected whole (predictions/broken.parquet)" in err
    assert "labels waiting for their prediction: 7" in out  # still waiting, from any run

    good[1].to_parquet(landing / "predictions" / "z_copy.parquet")  # landed twice
    status, out, err = run(config, capsys)
    assert status == 3
    summary = input_section(out)
    assert "1 file read (1 predictions): 200 rows, 0 accepted, 200 quarantined (100.0%)" in summary
    assert (
        "200  predictions/z_copy.parquet: duplicate prediction_id "
        "(first seen in predictions/p_2026-10-02.parquet)  (every row)"
    ) in summary
    assert "1 file rejected whole (predictions/z_copy.parquet)" in err


def test_more_quarantined_than_the_tolerance_exits_3_naming_the_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    config.write_text(CONFIG + "quarantine_tolerance: 0.05\n")
    frame = predictions_for("2026-10-01", 100, seed=3)
    frame.loc[:5, "score"] = -1.0  # rows 0..5: 6 of 100 rows out of [0, 1]
    frame.to_csv(tmp_path / "landing" / "predictions" / "day.csv", index=False)

    status, out, err = run(config, capsys)

    assert status == 3
    assert "6  predictions/day.csv: 'score' is outside [0, 1]" in out
    assert "6.0% of the rows read went to quarantine (quarantine_tolerance 5.0%)" in err
    assert "rejected whole" not in err


def test_data_before_the_default_start_date_exits_3_with_the_date_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    config.write_text(CONFIG.replace("start_date: 2026-10-01\n", ""))
    for i, day in enumerate(["2018-03-02", "2018-03-01", "2018-03-03"]):
        frame = predictions_for(day, 50, seed=i)
        frame.to_parquet(tmp_path / "landing" / "predictions" / f"{day}.parquet")

    status, out, err = run(config, capsys)

    assert status == 3
    assert "50  predictions/2018-03-01.parquet: predicted before start_date 2025-01-01" in out
    assert "hint: your data starts 2018-03-01: set `start_date: 2018-03-01` in guap.yaml" in out
    assert (
        "150 rows predicted before start_date 2025-01-01, the default (guap.yaml sets none): "
        "your data starts 2018-03-01: set `start_date: 2018-03-01` in guap.yaml and run again"
    ) in err


def test_the_start_date_hint_names_the_day_in_mapped_column_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    text = CONFIG.replace("start_date: 2026-10-01\n", "")
    config.write_text(text + "columns: {prediction_id: id, predicted_at: timestamp}\n")
    frame = predictions_for("2018-03-01", 50, seed=1)
    frame = frame.rename(columns={"prediction_id": "id", "predicted_at": "timestamp"})
    frame.to_parquet(tmp_path / "landing" / "predictions" / "2018-03-01.parquet")

    status, out, err = run(config, capsys)

    assert status == 3
    assert "hint: your data starts 2018-03-01: set `start_date: 2018-03-01`" in out
    assert "your data starts 2018-03-01: set `start_date: 2018-03-01` in guap.yaml" in err


def test_nothing_labeled_prints_no_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    frame = predictions_for("2026-10-18", 100, seed=5)
    frame.to_parquet(tmp_path / "landing" / "predictions" / "day.parquet")

    status, out, err = run(config, capsys)

    assert status == 0, err
    assert "nan" not in out.lower()
    assert "n/a" in out  # no mature day: no recent pace, no value capture
    assert "2026-10-18 .. 2026-10-18, 1 day (recent pace" in out


def test_an_error_inside_a_step_is_told_with_its_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's run failure says only "Steps failed"; the user needs the step's own words."""
    config = write_config(tmp_path)
    predictions_for("2026-10-18", 100, seed=5).to_parquet(
        tmp_path / "landing" / "predictions" / "day.parquet"
    )

    def damaged(*_: object) -> None:
        raise InputError("table 'labels' of 2026-10-18 is damaged: restore it from a backup")

    monkeypatch.setattr(steps, "build_labels", damaged)
    status, _, err = run(config, capsys)

    assert status == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("guap-pipeline: error: building day 2026-10-18 failed")
    assert "step outcome_labels: table 'labels' of 2026-10-18 is damaged: restore it" in last
    assert "Traceback" not in err and "Stack Trace" not in err  # Dagster's ERROR log line
    assert "dagster - " not in err


def test_a_failing_day_of_a_range_is_told_with_its_own_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days built two at a time (steps.each_day): the first failing day's own error, not
    another day's, and the range run fails at that step."""
    config = write_config(tmp_path)
    for i, day in enumerate(days("2026-10-01", 6)):
        predictions_for(day, 50, seed=i).to_parquet(
            tmp_path / "landing" / "predictions" / f"{day}.parquet"
        )
    build_labels = steps.build_labels

    def damaged(store: object, day: str) -> object:
        if day in ("2026-10-04", "2026-10-05"):
            raise InputError(f"table 'labels' of {day} is damaged: restore it from a backup")
        return build_labels(store, day)

    monkeypatch.setattr(steps, "build_labels", damaged)
    status, _, err = run(config, capsys)

    assert status == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("guap-pipeline: error: building days 2026-10-01 .. 2026-10-06 failed")
    assert "step outcome_labels: table 'labels' of 2026-10-04 is damaged" in last


def test_a_bug_inside_a_step_is_told_with_its_exception_class() -> None:
    """A GuapError speaks for itself; anything else is a bug, and its class is the clue."""
    try:
        {}["amount"]
    except KeyError as error:
        bug = SerializableErrorInfo.from_traceback(TracebackException.from_exception(error))
    try:
        raise InputError("no rows")
    except InputError as error:
        mine = SerializableErrorInfo.from_traceback(TracebackException.from_exception(error))
    assert own_words(bug) == "KeyError: 'amount'"
    assert own_words(mine) == "no rows"


def test_a_bad_config_exits_1_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "guap.yaml"
    config.write_text("quarantine_tolerance: 2\nvalue_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}\n")
    done = subprocess.run(
        [CLI, "run", "--config", config], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("guap-pipeline: error: config field 'quarantine_tolerance'")
    assert "Traceback" not in done.stderr


def test_one_process_run_with_other_column_names_is_quiet_and_exits_3_with_the_fix(
    tmp_path: Path,
) -> None:
    """As a user meets it: the installed command, a fresh store, DAGSTER_HOME an empty
    folder (Dagster prints its telemetry banner on an instance's first run)."""
    config = write_config(tmp_path)
    frame = predictions_for("2026-10-01", 40, seed=2).rename(columns={"prediction_id": "id"})
    frame.to_csv(tmp_path / "landing" / "predictions" / "preds.csv", index=False)

    done = run_as_a_user(config)

    assert done.returncode == 3, done.stderr
    assert (
        "40  predictions/preds.csv: file has no 'prediction_id' column (it has: id, "
    ) in done.stdout
    assert "set columns: {prediction_id: <your column>} in guap.yaml  (every row)" in done.stdout
    assert "1 file rejected whole (predictions/preds.csv)" in done.stderr
    both = done.stdout + done.stderr
    for noise in ("Welcome to Dagster", "Telemetry", "Warning", "warnings.warn"):
        assert noise not in both


HELP_WITHOUT_IMPORTS = """\
import sys
from assets_defs.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m for m in ("dagster", "pandas") if m in sys.modules))
"""


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["export", "daily", "--help"]])
def test_help_imports_neither_dagster_nor_pandas(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HELP_WITHOUT_IMPORTS, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "usage: guap-pipeline" in done.stdout
    assert done.stdout.rstrip().endswith("[]")


def test_help_documents_the_exit_statuses() -> None:
    done = subprocess.run([CLI, "run", "--help"], capture_output=True, text=True, check=True)
    assert "--as-of" in done.stdout
    for status in ("0  all went well", "1  an error", "3  the tables were built"):
        assert status in done.stdout


def test_export_daily_does_not_import_dagster(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    script = f"""\
import sys
from assets_defs.cli import main
status = main(["export", "daily", "--config", {str(config)!r}, "--output", "d.csv"])
print(status, "dagster" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == ["1", "False"]  # no table yet: the error, without Dagster
    assert "no daily table" in done.stderr


def test_loading_the_code_location_shows_no_maturity_warnings() -> None:
    """What `dagster dev` logs when it loads the code location, every warning shown."""
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import assets_defs.definitions"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "BetaWarning" not in done.stderr
    assert "PreviewWarning" not in done.stderr


def test_freshness_is_left_to_its_sensor_not_checked_right_after_the_write() -> None:
    """Checked in the same run, the last update is under a second old, which Dagster
    words as `The last update was  ago`."""
    job = defs.resolve_job_def("profit_timeseries_job")
    names = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert "freshness_check" not in names
    assert {"no_profit_decline", "label_coverage"} <= names


def test_a_file_with_a_header_and_no_rows_is_rejected_when_it_lacks_a_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header-only export of the right shape is an empty file; one of the wrong shape (or
    text under a ``.parquet`` name) is a mistake the run must name, not stage as empty."""
    config = write_config(tmp_path)
    landing = tmp_path / "landing"
    good = predictions_for("2026-10-01", 200, seed=1)
    good.to_parquet(landing / "predictions" / "good.parquet")
    good.head(0).to_csv(landing / "predictions" / "empty_export.csv", index=False)
    pd.DataFrame({"id": [], "when": []}).to_csv(landing / "labels" / "renamed.csv", index=False)
    (landing / "predictions" / "text.parquet").write_text("not parquet\n")

    status, out, err = run(config, capsys)

    assert status == 3
    summary = input_section(out)
    assert "input: 2 files read (2 predictions), 2 not read: 200 rows, 200 accepted" in out
    assert "not read: predictions/text.parquet: no rows, and the file has no " in out
    assert "not read: labels/renamed.csv: no rows, and the file has no " in out
    assert "(it has: id, when)" in out
    assert "empty_export.csv" not in summary  # header-only, right columns: an empty file
    assert "2 files rejected whole" in err
