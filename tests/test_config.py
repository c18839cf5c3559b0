"""guap.yaml: the SPEC example loads; every mistake fails at load naming the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from guap_pipeline import CellValue, ConfigError, load_config, parse_config
from guap_pipeline.config import Engine, GuapConfig, OperatingCost

SPEC_EXAMPLE = """\
landing: ./landing          # folder with predictions/ and labels/ (Parquet or CSV files)
storage: ./.guap            # where the pipeline keeps its tables (embedded default)
classes: [0, 1]             # optional; binary 0/1 by default; multiclass lists all
positive_class: 1           # binary only
threshold: 0.5              # used when rows carry `score` but no `y_pred`
value_matrix:               # named form (binary)...
  tp: 1500
  fp: -200
  fn: {amount: -1.0}        # example-dependent: Σ rate × column, plus optional `constant`
  tn: 0
baseline: all_negative      # all_negative | all_positive | baseline_pred
label_window_days: 14
min_label_coverage: 0.95
operating_cost: {per_day: 0, per_prediction: 0, investment: 0}
quadrants: {tp: fraud stopped, fp: good customer blocked, fn: fraud paid out, tn: customer served}
acceptance: {min_uplift_per_day: 5000, min_value_capture: 0.3, payback_by: 2026-06-30}
currency: EUR               # shown with money in summaries, messages, UI and report
quarantine_tolerance: 0.02  # share of a run's rows that may be quarantined before exit 3
"""

MATRIX = "value_matrix: {tp: 1500, fp: -200, fn: -1000, tn: 0}\n"
MULTICLASS = "classes: [a, b, c]\nvalue_matrix: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\n"


def write(folder: Path, text: str, name: str = "guap.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, text))
    return excinfo.value


def test_spec_example_loads_with_every_field(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SPEC_EXAMPLE))

    assert config.landing == (tmp_path / "landing").resolve()
    assert config.storage == (tmp_path / ".guap").resolve()
    assert config.classes == (0, 1)
    assert config.positive_class == 1
    assert config.negative_class == 0
    assert config.is_binary
    assert config.threshold == 0.5
    # rows = true class, columns = predicted class: [[TN, FP], [FN, TP]]
    assert config.value_matrix.cells == (
        (CellValue(0.0), CellValue(-200.0)),
        (CellValue(0.0, (("amount", -1.0),)), CellValue(1500.0)),
    )
    assert config.value_matrix.columns == ("amount",)
    assert config.baseline == "all_negative"
    assert config.label_window_days == 14
    assert config.min_label_coverage == 0.95
    assert config.operating_cost == OperatingCost(0.0, 0.0, 0.0)
    assert config.quadrants == {
        "tp": "fraud stopped",
        "fp": "good customer blocked",
        "fn": "fraud paid out",
        "tn": "customer served",
    }
    assert config.acceptance.min_uplift_per_day == 5000
    assert config.acceptance.min_value_capture == 0.3
    assert config.acceptance.payback_by == dt.date(2026, 6, 30)
    assert config.currency == "EUR"
    assert config.quarantine_tolerance == 0.02


def test_spec_matrix_form_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "value_matrix: [[0, -200], [-1000, 1500]]\n"))
    assert config.value_matrix.constants().tolist() == [[0, -200], [-1000, 1500]]


def test_defaults_of_a_minimal_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MATRIX))
    assert config.classes == (0, 1)
    assert config.positive_class == 1
    assert config.baseline == "all_negative"
    assert config.landing == (tmp_path / "landing").resolve()
    assert config.storage == (tmp_path / ".guap").resolve()
    assert config.quadrants == {"tp": "TP", "fp": "FP", "fn": "FN", "tn": "TN"}
    assert config.operating_cost == OperatingCost()
    assert config.acceptance.payback_by is None
    assert config.timezone == "UTC"
    assert config.currency == ""
    assert config.quarantine_tolerance == 0.01


def test_default_positive_class_of_string_classes_is_the_second(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "classes: [legit, fraud]\n" + MATRIX))
    assert config.positive_class == "fraud"
    assert config.negative_class == "legit"


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "conf", MATRIX + "landing: ../data/landing\nstorage: store\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.landing == (tmp_path / "data" / "landing").resolve()
    assert config.storage == (tmp_path / "conf" / "store").resolve()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "somewhere" / "landing"
    config = load_config(write(tmp_path / "conf", MATRIX + f"landing: {target}\n"))
    assert config.landing == target


def test_multiclass_k_by_k_matrix_is_ok(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MULTICLASS + "baseline: baseline_pred\n"))
    assert config.classes == ("a", "b", "c")
    assert config.positive_class is None
    assert config.negative_class is None
    assert not config.is_binary
    assert config.value_matrix.constants().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_parse_config_accepts_a_mapping_from_a_notebook(tmp_path: Path) -> None:
    config = parse_config(
        {"value_matrix": [[0, -200], [-1000, 1500]], "landing": "in"}, base_dir=tmp_path
    )
    assert isinstance(config, GuapConfig)
    assert config.landing == (tmp_path / "in").resolve()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param(MATRIX + "colour: red\n", "colour", id="unknown-top-level-key"),
        pytest.param(
            "value_matrix: {tp: 1, fp: 1, fn: 1, tn: 1, tx: 1}\n",
            "value_matrix",
            id="unknown-quadrant",
        ),
        pytest.param(
            "value_matrix: {tp: 1, fp: 1, fn: 1}\n", "value_matrix", id="missing-quadrant"
        ),
        pytest.param("value_matrix: [[0, 1], [2]]\n", "value_matrix", id="ragged-matrix"),
        pytest.param(
            "value_matrix: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]\n", "value_matrix", id="3x3-for-binary"
        ),
        pytest.param(
            "classes: [a, b, c]\nbaseline: baseline_pred\nvalue_matrix: [[1, 0], [0, 1]]\n",
            "value_matrix",
            id="2x2-for-multiclass",
        ),
        pytest.param("baseline: all_negative\n", "value_matrix", id="no-value-matrix"),
        pytest.param("classes: [0, 1, 1]\n" + MATRIX, "classes", id="duplicated-class"),
        pytest.param("classes: [1]\n" + MATRIX, "classes", id="single-class"),
        pytest.param("classes: [0, 1.5]\n" + MATRIX, "classes", id="float-class"),
        pytest.param(MATRIX + "label_window_days: -1\n", "label_window_days", id="negative-window"),
        pytest.param(MATRIX + "label_window_days: 1.5\n", "label_window_days", id="window-float"),
        pytest.param(
            MATRIX + "min_label_coverage: 1.2\n", "min_label_coverage", id="coverage-above-1"
        ),
        pytest.param(MATRIX + "threshold: 2\n", "threshold", id="threshold-above-1"),
        pytest.param(MATRIX + "positive_class: 2\n", "positive_class", id="positive-not-a-class"),
        pytest.param(MATRIX + "baseline: sometimes\n", "baseline", id="bad-baseline"),
        pytest.param(
            MULTICLASS + "baseline: all_negative\n", "baseline", id="multiclass-all-negative"
        ),
        pytest.param(MULTICLASS, "baseline", id="multiclass-without-baseline"),
        pytest.param(
            "value_matrix: {tp: lots, fp: -200, fn: -1000, tn: 0}\n",
            "value_matrix.tp",
            id="non-numeric-cell",
        ),
        pytest.param(
            "value_matrix: [[0, -200], [-1000, lots]]\n",
            "value_matrix[1][1]",
            id="non-numeric-matrix-cell",
        ),
        pytest.param(
            "value_matrix: {tp: 1500, fp: -200, fn: {amount: high}, tn: 0}\n",
            "value_matrix.fn.amount",
            id="non-number-rate",
        ),
        pytest.param(MATRIX + "timezone: Mars/Olympus_Mons\n", "timezone", id="unknown-timezone"),
        pytest.param(
            MATRIX + "acceptance: {payback_by: soon}\n", "acceptance.payback_by", id="date-word"
        ),
        pytest.param(
            MATRIX + "acceptance: {payback_by: 2026-13-45}\n",
            "acceptance.payback_by",
            id="date-impossible-month",
        ),
        pytest.param(
            MATRIX + "acceptance: {payback_by: 2026-02-30}\n",
            "acceptance.payback_by",
            id="date-impossible-day",
        ),
        pytest.param(MATRIX + "start_date: 2025-02-30\n", "start_date", id="bad-start-date"),
        pytest.param(
            MATRIX + "acceptance: {payback_in: 2026-06-30}\n",
            "acceptance.payback_in",
            id="unknown-acceptance-key",
        ),
        pytest.param(
            MATRIX + "operating_cost: {per_day: -10}\n",
            "operating_cost.per_day",
            id="negative-operating-cost",
        ),
        pytest.param(
            MATRIX + "operating_cost: {per_month: 10}\n",
            "operating_cost.per_month",
            id="unknown-operating-cost",
        ),
        pytest.param(
            MATRIX + "quadrants: {tq: fraud stopped}\n", "quadrants.tq", id="unknown-quadrant-name"
        ),
        pytest.param(MATRIX + "segments: country\n", "segments", id="segments-not-a-list"),
        pytest.param(MATRIX + "engine: {kind: spark}\n", "engine.kind", id="unknown-engine"),
        pytest.param(MATRIX + "engine: dask\n", "engine", id="engine-not-a-mapping"),
        pytest.param(
            MATRIX + "engine: {kind: dask, cores: 4}\n", "engine.cores", id="unknown-engine-key"
        ),
        pytest.param(
            MATRIX + "engine: {workers: 4}\n", "engine.workers", id="settings-for-embedded"
        ),
        pytest.param(
            MATRIX + "engine: {kind: dask, workers: 0}\n", "engine.workers", id="no-workers"
        ),
        pytest.param(
            MATRIX + "engine: {kind: dask, scheduler: localhost}\n",
            "engine.scheduler",
            id="scheduler-without-protocol",
        ),
        pytest.param(
            MATRIX + "engine: {kind: dask, scheduler: 'tcp://h:8786', workers: 2}\n",
            "engine.workers",
            id="workers-of-a-remote-cluster",
        ),
        pytest.param(
            MATRIX + "engine: {kind: dask, processes: maybe}\n",
            "engine.processes",
            id="processes-not-a-bool",
        ),
        pytest.param(MATRIX + "currency: 12\n", "currency", id="currency-not-text"),
        pytest.param(MATRIX + "currency: EUROS-AND-CENTS\n", "currency", id="currency-too-long"),
        pytest.param(MATRIX + "quarantine_tolerance: 1.5\n", "quarantine_tolerance", id="tol>1"),
        pytest.param(MATRIX + "quarantine_tolerance: -0.1\n", "quarantine_tolerance", id="tol<0"),
        pytest.param(MATRIX + "columns: id\n", "columns", id="columns-not-a-mapping"),
        pytest.param(
            MATRIX + "columns: {identifier: id}\n", "columns.identifier", id="unknown-tool-column"
        ),
        pytest.param(
            MATRIX + "columns: {amount: montant}\n", "columns.amount", id="column-no-one-reads"
        ),
        pytest.param(
            MATRIX + "columns: {prediction_id: id, y_true: id}\n",
            "columns.y_true",
            id="two-names-for-one-column",
        ),
        pytest.param(
            MATRIX + "columns: {prediction_id: ''}\n", "columns.prediction_id", id="empty-name"
        ),
        pytest.param(
            MATRIX + "columns: {prediction_id: 7}\n", "columns.prediction_id", id="name-not-text"
        ),
        pytest.param(
            MATRIX + "class_values: [yes, no]\n", "class_values", id="class-values-not-a-mapping"
        ),
        pytest.param(
            MATRIX + 'class_values: {"yes": 2}\n', "class_values.yes", id="target-not-a-class"
        ),
        pytest.param(
            MATRIX + "class_values: {repaid: true}\n",
            "class_values.repaid",
            id="target-a-boolean",
        ),
        pytest.param(
            MATRIX + "class_values: {0: 1}\n", "class_values.0", id="value-is-another-class"
        ),
        pytest.param(MATRIX + "class_values: {0.5: 1}\n", "class_values.0.5", id="value-a-float"),
        pytest.param(
            MULTICLASS + "baseline: baseline_pred\nclass_values: {true: d}\n",
            "class_values.true",
            id="target-not-a-multiclass-class",
        ),
        pytest.param("- tp\n- fp\n", "<file>", id="yaml-list-not-mapping"),
        pytest.param("just words\n", "<file>", id="yaml-scalar-not-mapping"),
        pytest.param("", "<file>", id="empty-file"),
        pytest.param("value_matrix: [[0, 1], [2, 3]\n", "<file>", id="invalid-yaml"),
        pytest.param("value_matrix:\n  tp: 1\n tn: 2\n", "<file>", id="bad-indentation"),
    ],
)
def test_mistake_fails_at_load_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    error = load_error(tmp_path, text)
    assert error.field == field
    assert f"'{field}'" in str(error)


def test_yaml_python_tags_are_rejected_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = MATRIX + f"landing: !!python/object/apply:os.system ['touch {marker}']\n"
    error = load_error(tmp_path, text)
    assert error.field == "<file>"
    assert "python/object/apply" in str(error)
    assert not marker.exists()


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "nope.yaml")
    assert excinfo.value.field == "<file>"


def test_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "guap.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert excinfo.value.field == "<file>"


def test_quoted_and_datetime_payback_dates_are_read_as_dates(tmp_path: Path) -> None:
    quoted = load_config(write(tmp_path, MATRIX + "acceptance: {payback_by: '2026-06-30'}\n"))
    stamp = load_config(write(tmp_path, MATRIX + "acceptance: {payback_by: 2026-06-30T12:00:00}\n"))
    assert quoted.acceptance.payback_by == dt.date(2026, 6, 30)
    assert stamp.acceptance.payback_by == dt.date(2026, 6, 30)


def test_operating_cost_fields_are_read(tmp_path: Path) -> None:
    text = MATRIX + "operating_cost: {per_day: 120, per_prediction: 0.002, investment: 50000}\n"
    assert load_config(write(tmp_path, text)).operating_cost == OperatingCost(120, 0.002, 50000)


def test_a_key_given_twice_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "guap.yaml"
    path.write_text("value_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}\nthreshold: 0.4\nthreshold: 0.6\n")
    with pytest.raises(ConfigError, match="'threshold': given twice"):
        load_config(path)


def test_alerts_on_is_a_key_and_yaml_1_1_booleans_stay_text(tmp_path: Path) -> None:
    """YAML 1.1 reads on/off/yes/no as booleans: `alerts: {on: [...]}` became {True: ...}."""
    text = MATRIX + "alerts: {on: [decline, plateau]}\nquadrants: {tp: yes, fp: no}\n"
    config = load_config(write(tmp_path, text))
    assert config.alert_on == ("decline", "plateau")
    assert (config.quadrants["tp"], config.quadrants["fp"]) == ("yes", "no")
    assert load_error(tmp_path, MATRIX + "engine: {kind: dask, processes: yes}\n").field == (
        "engine.processes"
    )


def test_readme_example_config_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = readme.split("Write a `guap.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, example))
    assert config.alert_on == ("decline",) and config.segments == ("country",)
    assert config.engine == Engine()


def test_engine_is_embedded_by_default_and_dask_when_chosen(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MATRIX)).engine == Engine()
    assert Engine().kind == "embedded"
    local = load_config(write(tmp_path, MATRIX + "engine: {kind: dask, workers: 3}\n")).engine
    assert (local.kind, local.scheduler, local.workers, local.processes) == ("dask", None, 3, True)
    remote = "engine: {kind: dask, scheduler: 'tcp://10.0.0.5:8786'}\n"
    assert load_config(write(tmp_path, MATRIX + remote)).engine.scheduler == "tcp://10.0.0.5:8786"


def test_columns_and_class_values_are_read(tmp_path: Path) -> None:
    """Tool names map to file names, including value-matrix and segment columns; words,
    numbers and booleans map to declared classes."""
    text = (
        "value_matrix: {tp: 1, fp: -1, fn: {amount: -1.0}, tn: 0}\nsegments: [country]\n"
        "columns: {prediction_id: id, score: y_pred_proba, amount: montant, country: pays}\n"
        'class_values: {"yes": 1, "no": 0, true: 1, false: 0}\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.columns == {
        "prediction_id": "id",
        "score": "y_pred_proba",
        "amount": "montant",
        "country": "pays",
    }
    assert config.file_column("score") == "y_pred_proba"
    assert config.file_column("y_true") == "y_true"
    assert list(config.class_values.items()) == [("yes", 1), ("no", 0), (True, 1), (False, 0)]
    assert all(type(v) is bool for v in list(config.class_values)[2:])


def test_string_classes_take_words_and_numbers(tmp_path: Path) -> None:
    text = (
        "classes: [legit, fraud]\nvalue_matrix: {tp: 1, fp: -1, fn: -5, tn: 0}\n"
        "class_values: {1: fraud, 0: legit, Betrug: fraud}\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.class_values == {1: "fraud", 0: "legit", "Betrug": "fraud"}
    assert load_config(write(tmp_path, MATRIX)).class_values == {}
