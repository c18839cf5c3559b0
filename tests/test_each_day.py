"""Days built two at a time (``steps.each_day``), on threads or in worker processes, give
what building them one by one gives: the same results in day order, the same stored
tables, the first failing day's own error."""

import dataclasses
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
import traceback
from functools import partial
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets_defs.failures import failure_cause
from benchmarks.compare_stores import compare, tables
from guap_pipeline import ConfigError, GuapError, InputError, load_config
from guap_pipeline.errors import WorkerDiedError
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import (
    build_day_profit,
    build_labeled,
    build_labels,
    build_predictions,
    dirty_days,
)
from guap_pipeline.steps import each_day as module
from guap_pipeline.steps.each_day import built_alone, each_day, staged_bytes
from guap_pipeline.store.store import DUCKDB_MEMORY_ENV, Store, spill_folder
from tests.pipeline_data import days, labels_for, predictions_for, write_config

DAYS = days("2026-10-01", 9)


class Running:
    """A build that records how many days run at once, and finishes out of order."""

    def __init__(self, fail: str | None = None) -> None:
        self.now, self.most, self.started = 0, 0, []
        self.lock = threading.Lock()
        self.fail = fail
        self.beside_alone: list[int] = []

    def __call__(self, day: str) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.started.append(day)
        time.sleep(0.02 if int(day[-1]) % 2 else 0.005)  # odd days finish later
        with self.lock:
            self.now -= 1
        if day == self.fail:
            raise ValueError(f"day {day} is broken")
        return f"built {day}"


def test_results_come_in_day_order_two_at_a_time() -> None:
    build = Running()
    got = list(each_day(DAYS, build, alone=lambda _day: False))
    assert got == [(day, f"built {day}") for day in DAYS]
    assert build.most == 2


def test_a_day_built_alone_runs_with_nothing_beside_it() -> None:
    build = Running()
    big = {DAYS[3], DAYS[6]}

    def watched(day: str) -> str:
        if day in big:
            build.beside_alone.append(build.now)  # days running when it starts
        return build(day)

    got = list(each_day(DAYS, watched, alone=lambda day: day in big))
    assert got == [(day, f"built {day}") for day in DAYS]
    assert build.beside_alone == [0, 0]
    assert build.started.index(DAYS[3]) == 3 and build.started.index(DAYS[6]) == 6


def test_the_first_failing_day_raises_its_own_error_after_the_days_before_it() -> None:
    build = Running(fail=DAYS[2])
    seen = []
    with pytest.raises(ValueError, match=f"day {DAYS[2]} is broken"):
        for day, _ in each_day(DAYS, build, alone=lambda _day: False):
            seen.append(day)
    assert seen == DAYS[:2]
    assert len(build.started) < len(DAYS)  # the days after it were not all started


def test_big_days_and_distributed_engines_are_built_alone(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    store = Store(config.storage)
    chunk = store.staging.chunk("predictions", DAYS[0], "file")
    chunk.parent.mkdir(parents=True)
    chunk.write_bytes(b"x" * 100)
    assert staged_bytes(store, DAYS[0]) == 100 and staged_bytes(store, DAYS[1]) == 0
    assert not built_alone(config, store)(DAYS[0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "ALONE_BYTES", 99)
        assert built_alone(config, store)(DAYS[0])
        assert not built_alone(config, store)(DAYS[1])
    dask = dataclasses.replace(config, engine=dataclasses.replace(config.engine, kind="dask"))
    assert built_alone(dask, store)(DAYS[1])


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_days_built_two_at_a_time_store_what_one_at_a_time_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: bool
) -> None:
    """Every table of every step, byte for byte in content, against the one-by-one loop."""
    monkeypatch.setattr(module, "PROCESS_MIN_DAYS", 2)  # the nine days go to the workers
    config_path = write_config(tmp_path / "one")
    landing = tmp_path / "one" / "landing"
    for i, day in enumerate(DAYS):
        predictions = predictions_for(day, 300 + 50 * i, seed=i)
        predictions = pd.concat([predictions, predictions.iloc[:3]])  # duplicates to quarantine
        predictions.to_parquet(landing / "predictions" / f"{day}.parquet")
        labels_for(predictions.iloc[:-3], share=0.7, seed=i).to_parquet(
            landing / "labels" / f"{day}.parquet"
        )
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    stores = {}
    for name, threads in (("one", False), ("two", True)):
        config = load_config(tmp_path / name / config_path.name)
        store = stores[name] = Store(config.storage)
        stage_landing(config, store)
        built = dirty_days(store)
        assert built == DAYS
        for step in (
            partial(build_predictions, store),
            partial(build_labels, store),
            partial(build_labeled, store),
            partial(build_day_profit, store, config),
        ):
            if threads:
                list(each_day(built, step, alone=lambda _day: False, processes=processes))
            else:
                for day in built:
                    step(day)
    one, two = tables(stores["one"].root / "tables"), tables(stores["two"].root / "tables")
    assert sorted(one) == sorted(two) and len(one) >= 6 * len(DAYS)
    assert all(not compare(one[name], two[name], set()) for name in one)
    assert not dirty_days(stores["two"]) and not dirty_days(stores["one"])  # built, recorded


def _process_of(day: str) -> tuple[str, int]:
    return day, os.getpid()


def _timed(day: str) -> tuple[int, float, float]:
    """Where and when a day was built; odd days take longer, so they finish out of order."""
    began = time.monotonic()  # one clock for every process of the machine
    time.sleep(0.06 if int(day[-1]) % 2 else 0.01)
    return os.getpid(), began, time.monotonic()


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(b, 1) for b, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def _fails_on(bad: str, day: str) -> str:
    if day == bad:
        raise InputError(f"table 'labels' of {day} is damaged: restore it from a backup")
    return day


def _dies_on(bad: str, day: str) -> str:
    if day == bad:
        os._exit(9)  # as the out-of-memory killer ends a process
    return day


class _TwoPartError(Exception):
    """An error whose pickle does not rebuild it (two arguments, one passed up)."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"column {column}: {problem}")


def _unpicklable_on(bad: str, day: str) -> str:
    if day == bad:
        raise _TwoPartError("amount", "is text")
    return day


@pytest.fixture
def processes_from_two_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "PROCESS_MIN_DAYS", 2)


def test_a_long_range_is_built_in_two_worker_processes_in_day_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "PROCESS_MIN_DAYS", len(DAYS))
    got = list(each_day(DAYS, _timed, alone=lambda _day: False, processes=True))
    assert [day for day, _ in got] == DAYS
    workers = {pid for _, (pid, _, _) in got}
    assert os.getpid() not in workers and 1 <= len(workers) <= 2
    assert _most_at_once([(began, ended) for _, (_, began, ended) in got]) == 2

    shorter = list(each_day(DAYS[1:], _process_of, alone=lambda _day: False, processes=True))
    assert {pid for _, (_, pid) in shorter} == {os.getpid()}  # below the bar: threads


@pytest.mark.usefixtures("processes_from_two_days")
def test_the_workers_end_with_their_step() -> None:
    """Idle workers would keep their memory through the run's later steps."""
    got = dict(each_day(DAYS, _process_of, alone=lambda _day: False, processes=True))
    workers = {pid for _, pid in got.values()}
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers and not any(_alive(pid) for pid in workers)


@pytest.mark.usefixtures("processes_from_two_days")
def test_a_day_built_alone_in_a_range_of_workers_runs_here_with_nothing_beside_it() -> None:
    got = dict(each_day(DAYS, _timed, alone=lambda day: day == DAYS[4], processes=True))
    pid, began, ended = got.pop(DAYS[4])
    assert pid == os.getpid()
    assert all(pid != os.getpid() for pid, _, _ in got.values())
    assert all(end <= began or start >= ended for _, start, end in got.values())


@pytest.mark.usefixtures("processes_from_two_days")
def test_a_day_failing_in_a_worker_raises_its_own_error_after_the_days_before_it() -> None:
    seen = []
    with pytest.raises(InputError, match=f"table 'labels' of {DAYS[5]} is damaged") as raised:
        build = partial(_fails_on, DAYS[5])
        for day, _ in each_day(DAYS, build, alone=lambda _day: False, processes=True):
            seen.append(day)
    assert seen == DAYS[:5]
    assert raised.value.__cause__ is None  # the worker's traceback is not what users read,
    assert "in _fails_on" in "".join(traceback.format_exception(raised.value))  # but is kept


def _dies_or_waits(bad: str, day: str) -> str:
    if day == bad:
        os._exit(9)
    time.sleep(60)
    return day


@pytest.mark.usefixtures("processes_from_two_days")
def test_when_a_worker_dies_the_step_ends_at_once_not_after_the_other_worker_s_day() -> None:
    began = time.monotonic()
    with pytest.raises(WorkerDiedError, match=f"with {DAYS[0]}, {DAYS[1]}, {DAYS[2]} not built"):
        build = partial(_dies_or_waits, DAYS[1])
        list(each_day(DAYS, build, alone=lambda _day: False, processes=True))
    assert time.monotonic() - began < 30  # the other worker's day would take 60 s


@pytest.mark.usefixtures("processes_from_two_days")
def test_a_run_whose_day_fails_in_a_worker_tells_the_error_in_its_own_words() -> None:
    @dg.asset
    def step() -> None:
        for _ in each_day(DAYS, partial(_fails_on, DAYS[2]), alone=lambda _: False, processes=True):
            pass

    result = dg.materialize([step], raise_on_error=False)
    told = failure_cause(result.all_events, result.get_run_failure_event())
    assert told == f"step step: table 'labels' of {DAYS[2]} is damaged: restore it from a backup"


@pytest.mark.usefixtures("processes_from_two_days")
def test_an_error_that_does_not_unpickle_comes_back_in_words_not_as_a_dead_worker() -> None:
    with pytest.raises(GuapError, match="_TwoPartError: column amount: is text"):
        list(
            each_day(DAYS, partial(_unpicklable_on, DAYS[3]), alone=lambda _: False, processes=True)
        )
    config_error = ConfigError("value_matrix", "needs tp")
    assert str(pickle.loads(pickle.dumps(config_error))) == str(config_error)


@pytest.mark.usefixtures("processes_from_two_days")
def test_a_worker_that_dies_is_told_with_its_day_and_the_next_step_gets_new_workers() -> None:
    with pytest.raises(WorkerDiedError, match=f"a worker process died .* with .*{DAYS[3]}"):
        list(each_day(DAYS, partial(_dies_on, DAYS[3]), alone=lambda _: False, processes=True))
    got = list(each_day(DAYS, _process_of, alone=lambda _day: False, processes=True))
    assert [day for day, _ in got] == DAYS


@pytest.mark.usefixtures("processes_from_two_days")
def test_a_worker_spills_under_this_process_folder() -> None:
    """This process removes its spill folder at exit: its workers' go with it, even a
    killed worker's."""
    got = dict(each_day(DAYS, _spill_of, alone=lambda _day: False, processes=True))
    assert all(folder.parent == spill_folder() for folder in got.values())


def _spill_of(_day: str) -> Path:
    return spill_folder()


def _duckdb_memory(_day: str) -> str | None:
    return os.environ.get(DUCKDB_MEMORY_ENV)


@pytest.mark.usefixtures("processes_from_two_days")
def test_workers_see_the_environment_of_the_run_as_it_is_when_the_step_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    list(each_day(DAYS, _process_of, alone=lambda _day: False, processes=True))  # a server up
    monkeypatch.setenv(DUCKDB_MEMORY_ENV, "123MB")
    got = dict(each_day(DAYS, _duckdb_memory, alone=lambda _day: False, processes=True))
    assert set(got.values()) == {"123MB"}


def _sleeps(folder: Path, day: str) -> str:
    (folder / str(os.getpid())).touch()
    time.sleep(120)
    return day


def test_workers_end_when_the_run_process_is_killed(tmp_path: Path) -> None:
    """A killed run (SIGKILL, or SIGTERM without a handler) must not leave its workers."""
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import functools, sys\n"
            "from guap_pipeline.steps import each_day as m\n"
            "from tests.test_each_day import _sleeps\n"
            "m.PROCESS_MIN_DAYS = 1\n"
            "build = functools.partial(_sleeps, __import__('pathlib').Path(sys.argv[1]))\n"
            "list(m.each_day(['a', 'b', 'c'], build, alone=lambda d: False, processes=True))\n",
            str(tmp_path),
        ],
        cwd=Path(__file__).parents[1],
        env={**os.environ, "TMPDIR": str(tmp_path)},  # its spill folder: killed, it stays
    )
    deadline = time.monotonic() + 60
    while len(_pids(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _pids(tmp_path)
    assert len(workers) == 2
    run.kill()
    run.wait()
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _pids(folder: Path) -> list[int]:
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))
