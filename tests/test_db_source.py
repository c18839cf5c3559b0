"""Predictions and labels read straight from PostgreSQL, incrementally (issue 17).

Each test takes a fresh database on the server CI starts (tests/pg_support.py), fills
a predictions and a labels table, and runs ``guap-pipeline run`` as a user does. The
same rows also go to landing files where a test compares the two sources.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from assets_defs.cli import main
from guap_pipeline.config import parse_config
from guap_pipeline.errors import ConfigError
from guap_pipeline.ingest import database as db_source
from guap_pipeline.source_config import DatabaseSource
from guap_pipeline.store.store import Store
from tests.pg_support import fresh_database, require_postgres
from tests.pipeline_data import AS_OF, CONFIG, days, labels_for, predictions_for, write_config

CLI = Path(sys.executable).with_name("guap-pipeline")
URL_ENV = "GUAP_TEST_SOURCE_URL"
SOURCE = f"""\
source:
  kind: database
  url_env: {URL_ENV}
  predictions: {{table: scoring.predictions, watermark: predicted_at}}
  labels: {{table: scoring.labels, watermark: updated_at}}
"""
DAYS = days("2026-10-01", 3)
VALUES = {"tp": 1, "fp": -1, "fn": -1, "tn": 0}


def url(database: str, *, password: str | None = None) -> str:
    return sa.engine.URL.create(
        "postgresql+psycopg2",
        username=os.environ["DAGSTER_PG_USERNAME"],
        password=password or os.environ["DAGSTER_PG_PASSWORD"],
        host=os.environ["DAGSTER_PG_HOST"],
        port=int(os.environ["DAGSTER_PG_PORT"]),
        database=database,
    ).render_as_string(hide_password=False)


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """A fresh database with empty ``scoring.predictions`` and ``scoring.labels``; its
    URL in the environment variable the config names."""
    require_postgres()
    with fresh_database() as name:
        monkeypatch.setenv(URL_ENV, url(name))
        engine = sa.create_engine(url(name))
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE SCHEMA scoring")
            connection.exec_driver_sql(
                "CREATE TABLE scoring.predictions (prediction_id text, predicted_at timestamptz,"
                " model_version text, score double precision, y_pred integer,"
                " amount numeric(12, 2))"
            )
            connection.exec_driver_sql(
                "CREATE TABLE scoring.labels (prediction_id text, y_true integer,"
                " labeled_at timestamptz, updated_at timestamptz)"
            )
        yield engine
        engine.dispose()


def traffic() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three days of predictions; labels for most of the first two days."""
    predictions = [predictions_for(day, 300, seed=i) for i, day in enumerate(DAYS)]
    labels = [labels_for(p, share=0.9, seed=20 + i) for i, p in enumerate(predictions[:2])]
    labels = pd.concat(labels, ignore_index=True)
    labels["updated_at"] = labels["labeled_at"]
    return pd.concat(predictions, ignore_index=True), labels


def insert(engine: sa.Engine, table: str, frame: pd.DataFrame) -> None:
    frame.to_sql(table, engine, schema="scoring", if_exists="append", index=False)


def write_database_config(root: Path, source: str = SOURCE) -> Path:
    path = write_config(root)
    path.write_text(CONFIG + source)
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["run", "--config", str(config), "--as-of", AS_OF])
    out, err = capsys.readouterr()
    return status, out, err


def export_daily(config: Path, output: Path) -> pd.DataFrame:
    assert main(["export", "daily", "--config", str(config), "--output", str(output)]) == 0
    return pd.read_csv(output)


def test_the_database_gives_the_same_daily_table_as_files_and_reads_each_row_once(
    tmp_path: Path, database: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions, labels = traffic()
    files = write_config(tmp_path / "files")
    predictions.to_parquet(tmp_path / "files" / "landing" / "predictions" / "p.parquet")
    labels.to_csv(tmp_path / "files" / "landing" / "labels" / "l.csv", index=False)
    insert(database, "predictions", predictions)
    insert(database, "labels", labels)
    config = write_database_config(tmp_path / "db")

    assert run(files, capsys)[0] == 0
    status, out, err = run(config, capsys)

    assert status == 0, err
    assert f"database: {900 + len(labels):,} new rows read (900 predictions, " in out
    from_files = export_daily(files, tmp_path / "files.csv")
    from_database = export_daily(config, tmp_path / "db.csv")
    assert len(from_database) == 3
    assert from_database["n_labeled"].tolist() == [270, 270, 0]  # 90 % of 300, twice
    pd.testing.assert_frame_equal(from_database, from_files)

    status, out, err = run(config, capsys)  # nothing new in the database: nothing read
    assert status == 0, err
    assert "database: 0 new rows read (0 predictions, 0 labels)" in out
    assert "nothing new: every day is current" in err

    late = predictions_for(DAYS[2], 300, seed=2)  # the third day's labels, late
    new_labels = labels_for(late, share=0.5, seed=9).assign(updated_at=pd.Timestamp.now("UTC"))
    insert(database, "labels", new_labels)
    status, out, err = run(config, capsys)
    assert status == 0, err
    assert "database: 150 new rows read (0 predictions, 150 labels)" in out
    assert "1 day(s) rebuilt" in err
    assert export_daily(config, tmp_path / "late.csv")["n_labeled"].tolist() == [270, 270, 150]


def test_a_label_updated_or_added_in_the_database_rebuilds_its_day_and_only_it(
    tmp_path: Path, database: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions, labels = traffic()
    insert(database, "predictions", predictions)
    insert(database, "labels", labels)
    config = write_database_config(tmp_path)
    assert run(config, capsys)[0] == 0
    before = export_daily(config, tmp_path / "before.csv").set_index("date")

    # On the second day: a labeled false positive turns out fraud (y_true 0 -> 1: FP ->
    # TP), and an unlabeled prediction gets its first label, a true negative.
    day = predictions[predictions["predicted_at"].dt.strftime("%F") == DAYS[1]]
    joined = day.merge(labels, on="prediction_id", how="left")
    fp = joined[(joined["y_pred"] == 1) & (joined["y_true"] == 0)].iloc[0]
    fresh = joined[joined["y_true"].isna() & (joined["y_pred"] == 0)].iloc[0]
    with database.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE scoring.labels SET y_true = 1, updated_at = now() WHERE prediction_id = :id"
            ),
            {"id": fp["prediction_id"]},
        )
    insert(
        database,
        "labels",
        pd.DataFrame(
            {
                "prediction_id": [fresh["prediction_id"]],
                "y_true": [0],
                "labeled_at": [pd.Timestamp(f"{DAYS[1]} 23:00", tz="UTC")],
                "updated_at": [pd.Timestamp.now("UTC")],
            }
        ),
    )

    status, out, err = run(config, capsys)

    assert status == 0, err
    assert "database: 2 new rows read (0 predictions, 2 labels)" in out
    assert f"building day {DAYS[1]}" in err
    assert "1 day(s) rebuilt" in err
    after = export_daily(config, tmp_path / "after.csv").set_index("date")
    unchanged = [DAYS[0], DAYS[2]]
    own = [c for c in after.columns if not c.startswith("cumulative_") and c != "roi"]
    pd.testing.assert_frame_equal(after.loc[unchanged, own], before.loc[unchanged, own])
    was, now = before.loc[DAYS[1]], after.loc[DAYS[1]]
    assert (now["tp"], now["fp"], now["tn"]) == (was["tp"] + 1, was["fp"] - 1, was["tn"] + 1)
    assert now["n_labeled"] == was["n_labeled"] + 1
    # FP value -10 becomes the TP value -5 + 0.9 x amount (tests/pipeline_data.CONFIG);
    # the new true negative is worth 0.
    assert now["profit"] == pytest.approx(was["profit"] + 10 - 5 + 0.9 * fp["amount"])


def test_a_bad_row_in_the_database_is_quarantined_with_its_reason(
    tmp_path: Path, database: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions, labels = traffic()
    bad = predictions.index[~predictions["prediction_id"].isin(labels["prediction_id"])][0]
    predictions.loc[bad, "score"] = 1.7  # an unlabeled one: no label waits for it
    insert(database, "predictions", predictions)
    insert(database, "labels", labels)
    config = write_database_config(tmp_path)

    status, out, err = run(config, capsys)

    assert status == 0, err  # 1 of 1,386 rows: within the 1 % tolerance
    assert "1 quarantined" in out
    assert "'score' is outside [0, 1]" in out
    output = tmp_path / "quarantine.csv"
    assert main(["export", "quarantine", "--config", str(config), "--output", str(output)]) == 0
    quarantine = pd.read_csv(output)
    assert quarantine["prediction_id"].tolist() == [predictions.loc[bad, "prediction_id"]]
    assert "'score' is outside [0, 1]" in quarantine.loc[0, "reason"]


def cli_run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "run", "--config", str(config), "--as-of", AS_OF],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


def test_a_wrong_password_or_a_missing_table_is_one_clear_error(
    tmp_path: Path, database: sa.Engine
) -> None:
    secret = "not-the-Password-42"
    wrong = url(database.url.database, password=secret)
    config = write_database_config(tmp_path)

    done = cli_run(config, {URL_ENV: wrong})

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert secret not in done.stdout + done.stderr
    [message] = [line for line in done.stderr.splitlines() if "error" in line]
    assert f"cannot connect to the database in {URL_ENV}" in message
    assert "password authentication failed" in message

    missing = SOURCE.replace("scoring.labels", "scoring.outcomes")
    config = write_database_config(tmp_path / "missing", missing)
    done = cli_run(config, {})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert os.environ["DAGSTER_PG_PASSWORD"] not in done.stdout + done.stderr
    assert "table scoring.outcomes (source.labels.table) not found in the database" in done.stderr


def test_an_unreachable_server_an_unset_variable_a_missing_column_are_one_line_each(
    tmp_path: Path,
    database: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_database_config(tmp_path)
    cases = {
        "postgresql+psycopg2://reader:pw-1234@127.0.0.1:1/prod": (
            f"cannot connect to the database in {URL_ENV}: connection to server at "
            '"127.0.0.1", port 1 failed: Connection refused'
        ),
        "": f"environment variable {URL_ENV} is not set",
        "not a url pw-1234": f"the value of {URL_ENV} is not a database URL",
    }
    for value, expected in cases.items():
        monkeypatch.setenv(URL_ENV, value)
        status, out, err = run(config, capsys)
        assert status == 1
        [line] = err.splitlines()
        assert line.startswith(f"guap-pipeline: error: {expected}"), line
        assert "pw-1234" not in out + err

    monkeypatch.setenv(URL_ENV, str(database.url.render_as_string(hide_password=False)))
    config.write_text(config.read_text().replace("watermark: updated_at", "watermark: updated"))
    status, out, err = run(config, capsys)
    assert status == 1
    [line] = err.splitlines()
    assert "cannot read table scoring.labels (source.labels) from the database in" in line
    assert line.endswith("column labels.updated does not exist")


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"kind": "warehouse"}, "source.kind"),
        ({"kind": "landing", "url_env": "X"}, "source.url_env"),
        ({"kind": "database", "labels": {"table": "l", "watermark": "t"}}, "source.predictions"),
        (
            {
                "kind": "database",
                "predictions": {"table": "p", "query": "SELECT 1", "watermark": "t"},
                "labels": {"table": "l", "watermark": "t"},
            },
            "source.predictions",
        ),
        (
            {
                "kind": "database",
                "predictions": {"table": "p; DROP TABLE p", "watermark": "t"},
                "labels": {"table": "l", "watermark": "t"},
            },
            "source.predictions.table",
        ),
        (
            {
                "kind": "database",
                "predictions": {"table": "p"},
                "labels": {"table": "l", "watermark": "t"},
            },
            "source.predictions.watermark",
        ),
    ],
)
def test_a_wrong_source_section_names_its_field(source: dict, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"value_matrix": VALUES, "source": source})
    assert error.value.field == field


def test_a_url_pasted_into_guap_yaml_is_refused_without_echoing_it() -> None:
    pasted = "postgresql://reader:s3cret@db/prod"
    source = {
        "kind": "database",
        "url_env": pasted,
        "predictions": {"table": "p", "watermark": "t"},
        "labels": {"table": "l", "watermark": "t"},
    }
    with pytest.raises(ConfigError) as error:
        parse_config({"value_matrix": VALUES, "source": source})
    assert error.value.field == "source.url_env"
    assert "s3cret" not in str(error.value)


def database_source(predictions: dict, labels: dict, **settings: object) -> DatabaseSource:
    """The validated ``source:`` of a database at the URL in ``URL_ENV``."""
    raw = {"kind": "database", "url_env": URL_ENV, "predictions": predictions, "labels": labels}
    config = parse_config({"value_matrix": VALUES, "source": {**raw, **settings}})
    assert config.source is not None
    return config.source


def test_copy_and_the_cursor_read_the_same_rows(
    tmp_path: Path, database: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL is read with COPY (fast); other databases with a cursor: same table."""
    with database.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE scoring.mixed (id bigint, note text, flag boolean, amount numeric(8, 2),"
            " day date, local timestamp, at timestamptz, seq integer)"
        )
        connection.exec_driver_sql(
            "INSERT INTO scoring.mixed VALUES"
            " (1, 'plain', true, 12.34, '2026-10-01', '2026-10-01 08:00', "
            "  '2026-10-01 08:00:00.5+02', 1),"
            " (9007199254740993, 'a, \"quoted\"\nline', false, NULL, NULL, NULL, NULL, 2),"
            " (NULL, '', NULL, -0.01, '2026-10-02', '2026-10-02 00:00:01', "
            "  '2026-10-02 23:59:59+00', 3),"
            " (4, NULL, true, 0, '2026-10-03', '2026-10-03 12:00', '2026-10-03 12:00-05', 4)"
        )
    source = database_source(
        {"table": "scoring.mixed", "watermark": "seq"},
        {"query": "SELECT * FROM scoring.mixed WHERE seq > 2", "watermark": "seq"},
    )
    assert db_source.pull(source, Store(tmp_path / "copy")) == {"predictions": 4, "labels": 2}
    monkeypatch.setattr(db_source, "_copy_part", lambda *_: None)
    assert db_source.pull(source, Store(tmp_path / "cursor")) == {"predictions": 4, "labels": 2}

    for kind in ("predictions", "labels"):
        [copied] = (tmp_path / "copy" / "source" / kind).glob("*.parquet")
        [fetched] = (tmp_path / "cursor" / "source" / kind).glob("*.parquet")
        assert copied.name == fetched.name == "000001-000.parquet"
        copied, fetched = pq.read_table(copied), pq.read_table(fetched)
        assert copied.equals(fetched), (copied.to_pylist(), fetched.to_pylist())
    rows = pq.read_table(tmp_path / "copy" / "source" / "predictions" / "000001-000.parquet")
    assert rows["id"].to_pylist() == [1, 9007199254740993, None, 4]  # exact, not a float
    assert rows["note"].to_pylist() == ["plain", 'a, "quoted"\nline', "", None]
    assert rows["amount"].to_pylist() == [12.34, None, -0.01, 0.0]
    assert [t.isoformat() if t else None for t in rows["at"].to_pylist()] == [
        "2026-10-01T06:00:00.500000+00:00",
        None,
        "2026-10-02T23:59:59+00:00",
        "2026-10-03T17:00:00+00:00",
    ]


def test_each_pull_reads_only_rows_above_the_watermark_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cursor path and the watermark, on SQLite (no server needed): an integer
    ingestion column; rows at or below the last watermark are never read again."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'scores.db'}")
    monkeypatch.setenv(URL_ENV, str(engine.url))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE p (seq integer, prediction_id text)")
        connection.exec_driver_sql("CREATE TABLE l (seq integer, prediction_id text)")
        connection.exec_driver_sql("INSERT INTO p VALUES (1, 'a'), (2, 'b'), (2, 'c')")
    source = database_source(
        {"table": "p", "watermark": "seq"}, {"table": "l", "watermark": "seq"}, slice_rows=2
    )
    store = Store(tmp_path / "store")

    assert db_source.pull(source, store) == {"predictions": 3, "labels": 0}
    assert db_source.pull(source, store) == {"predictions": 0, "labels": 0}
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO p VALUES (3, 'd'), (NULL, 'never')")
        connection.exec_driver_sql("INSERT INTO l VALUES (7, 'a')")
    assert db_source.pull(source, store) == {"predictions": 1, "labels": 1}

    extracts = sorted((store.root / "source" / "predictions").glob("*.parquet"))
    assert [e.name for e in extracts] == ["000001-000.parquet", "000002-000.parquet"]
    ids = [pq.read_table(e)["prediction_id"].to_pylist() for e in extracts]
    assert ids == [["a", "b", "c"], ["d"]]  # two slices of 2 rows, one file
