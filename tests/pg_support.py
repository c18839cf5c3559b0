"""A PostgreSQL-backed Dagster home per test: deploy/dagster.yaml on a fresh database.

The server comes from the environment (``DAGSTER_PG_HOST``, ``_PORT``, ``_DB``,
``_USERNAME``, ``_PASSWORD``), as in production; CI starts one with ``.ci/postgres.sh``.
Without those variables the tests that need it skip — unless ``GUAP_REQUIRE_POSTGRES=1``
(set by ``.ci/run``), where they fail instead. Each test gets a database of its own,
dropped afterwards, so tests never see each other's runs or materializations.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_YAML = ROOT / "deploy" / "dagster.yaml"
PG_ENV = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
)
REQUIRE_ENV = "GUAP_REQUIRE_POSTGRES"


def postgres_configured() -> bool:
    return all(os.environ.get(name) for name in PG_ENV)


def require_postgres() -> None:
    """Skip (or fail, where Postgres is required) when no server is configured."""
    if postgres_configured():
        return
    missing = ", ".join(name for name in PG_ENV if not os.environ.get(name))
    reason = (
        f"needs a PostgreSQL server: {missing} not set "
        '(start one with: env="$(bash .ci/postgres.sh start)" && eval "$env")'
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the Postgres tests cannot run: {reason}")
    pytest.skip(reason)


def _connect():
    import psycopg2  # installed with dagster-postgres

    connection = psycopg2.connect(
        host=os.environ["DAGSTER_PG_HOST"],
        port=int(os.environ["DAGSTER_PG_PORT"]),
        dbname=os.environ["DAGSTER_PG_DB"],
        user=os.environ["DAGSTER_PG_USERNAME"],
        password=os.environ["DAGSTER_PG_PASSWORD"],
        connect_timeout=10,
    )
    connection.autocommit = True
    return connection


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the configured server (the role needs CREATEDB)."""
    name = f"guap_test_{uuid.uuid4().hex[:12]}"
    connection = _connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


@contextmanager
def postgres_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$DAGSTER_HOME`` holding deploy/dagster.yaml as shipped, on a fresh database.

    ``DAGSTER_PG_DB`` and ``DAGSTER_HOME`` are set for this test and for the processes
    it starts.
    """
    require_postgres()
    with fresh_database() as database:
        monkeypatch.setenv("DAGSTER_PG_DB", database)
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        yield home
