"""Stage the landing folder: each new or changed file is read once and split by day.

Predictions are validated and written as one chunk per (prediction day, file) under
``staging/predictions/<day>/``. Labels carry no day of their own: they are validated,
then routed to the day of their prediction (a DuckDB join against the staged ids) and
written under ``staging/labels/<day>/``; labels whose prediction has not landed (yet)
wait in ``staging/labels_unmatched/`` and are routed again when predictions land.
Routing also keeps, beside each labels chunk, the row of the prediction each label
matched (``staging/matches/``), so that the day's steps need not join the ids again.
A manifest of file fingerprints makes a second run with no new input do nothing, and
tells which days changed (the *dirty* days to re-materialize).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import ConfigError, InputError
from guap_pipeline.readers import PARQUET_ERRORS, iter_landing_file
from guap_pipeline.storage import (
    ParquetParts,
    Store,
    atomic_path,
    copy_file,
    decode_threads,
    duckdb_connection,
    release_memory,
    sql_path,
)
from guap_pipeline.validation import (
    BEFORE_START,
    QUARANTINE_COLUMNS,
    _timestamps,
    local_days,
    validate_labels,
    validate_predictions,
)

KINDS = ("predictions", "labels")
# Staged chunks sit in one folder per prediction day, named by its ISO date.
DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
# Rows validated, routed and written at a time: bounds memory on files of any size.
SLICE_ROWS = 1 << 20
MANIFEST_SECONDS = 1.0
# Files up to this size are staged STAGING_THREADS at a time.
PARALLEL_BYTES = 32 << 20
STAGING_THREADS = 2
MANIFEST = "landing_manifest"
MATCHES = "matches"
# Matches are kept only for a day of at least this many predictions: below, joining the
# ids again costs milliseconds, less than writing a file per (day, labels file).
MATCHES_MIN_ROWS = 1_000_000
# A run waits this long for another run's staging pass (a big first staging takes minutes).
STAGING_LOCK_SECONDS = 3600.0
UNMATCHED_REASON = "no prediction with this prediction_id has landed (yet)"
OUTSIDE_REASON = "symlink to a path outside the landing folder: not read"
BROKEN_LINK_REASON = "symlink to nothing: not read"


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing folder, identified by its path relative to the folder."""

    kind: str
    path: Path
    relative: str
    fingerprint: str
    refused: str | None = None  # why the file is not read (a symlink out of the folder)

    @property
    def file_id(self) -> str:
        return hashlib.sha1(self.relative.encode()).hexdigest()[:16]


@dataclass
class FileOutcome:
    """What staging did with one landing file: rows read, accepted, quarantined by reason."""

    relative: str
    kind: str
    rows_read: int = 0
    rows_accepted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined rows per reason
    rejected: str | None = None  # why the file was not read at all (unreadable, refused)
    first_day: str | None = None  # earliest prediction day of the rows before start_date

    @property
    def rows_quarantined(self) -> int:
        return sum(self.reasons.values())

    @property
    def rejected_whole(self) -> bool:
        """Not read at all, or every row it has quarantined."""
        return self.rejected is not None or (self.rows_read > 0 and not self.rows_accepted)


@dataclass
class StageReport:
    """What one staging pass did; ``dirty_days`` need re-materializing.

    ``files`` holds the outcome of each file read in this pass; ``labels_waiting``
    counts every staged label whose prediction has not landed (yet), from any pass.
    """

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    files: list[FileOutcome] = field(default_factory=list)
    labels_waiting: int = 0
    dirty_days: set[str] = field(default_factory=set)
    pulled: dict[str, int] = field(default_factory=dict)  # rows read from a database, per kind

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def quarantined_rows(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def unreadable(self) -> list[str]:
        return [f.relative for f in self.files if f.rejected is not None]

    def add_day_quarantine(self, quarantine: pd.DataFrame) -> None:
        """Count the rows of this pass's files that the day steps quarantined after
        staging accepted them (a duplicated prediction_id, a label whose prediction is
        not the day's), by reason without the row it repeats."""
        outcomes = {f.relative: f for f in self.files}
        rows = quarantine[quarantine["source"].isin(list(outcomes))]
        reasons = rows["reason"].str.replace(r" row \d+\)$", ")", regex=True)
        for (source, reason), n in rows.groupby([rows["source"], reasons]).size().items():
            outcome = outcomes[source]
            outcome.reasons[reason] = outcome.reasons.get(reason, 0) + int(n)
            outcome.rows_accepted -= int(n)

    def as_dict(self) -> dict:
        """Plain JSON-able figures (for run metadata); :meth:`from_dict` reads them back."""
        figures = asdict(self)
        figures["dirty_days"] = sorted(self.dirty_days)
        return figures

    @classmethod
    def from_dict(cls, figures: dict) -> StageReport:
        files = [FileOutcome(**f) for f in figures.get("files", [])]
        return cls(**{**figures, "files": files, "dirty_days": set(figures.get("dirty_days", []))})


def scan_landing(landing: Path) -> list[LandingFile]:
    """Every non-hidden file under ``predictions/`` and ``labels/``, sorted by path.

    A symlink is followed only if it resolves inside the landing folder (or inside its
    ``predictions/`` or ``labels/`` folder, which may itself be a link to a mount); one
    that leads out (or to nothing) is listed with the reason it is ``refused``, so that
    it is quarantined whole and never read. Symlinked folders are not descended into.
    A ``landing`` folder that does not exist is a :class:`ConfigError` (read as empty, a
    wrong path would look like a quiet day); one without ``predictions/`` yet is empty.
    """
    if not landing.is_dir():
        problem = "is not a folder" if landing.exists() else "does not exist"
        raise ConfigError(
            "landing",
            f"{landing} {problem}: create it (with predictions/ and labels/) or fix the path",
        )
    files = []
    for kind in KINDS:
        folder = landing / kind
        if not folder.is_dir():
            continue
        roots = (landing.resolve(), folder.resolve())
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(landing)
            if any(p.startswith(".") for p in relative.parts):
                continue
            refused = _refusal(path, roots)
            if refused is None and not path.is_file():
                continue  # a folder, or a symlinked folder inside the landing folder
            stat = path.lstat() if refused else path.stat()
            files.append(
                LandingFile(
                    kind=kind,
                    path=path,
                    relative=relative.as_posix(),
                    fingerprint=f"{stat.st_size}-{stat.st_mtime_ns}",
                    refused=refused,
                )
            )
    return files


def _refusal(path: Path, roots: tuple[Path, ...]) -> str | None:
    """Why a landing path must not be read (it leads outside ``roots``), else ``None``."""
    target = path.resolve()
    if not any(target.is_relative_to(root) for root in roots):
        return OUTSIDE_REASON
    if path.is_symlink() and not target.exists():
        return BROKEN_LINK_REASON
    return None


def pending_changes(config: GuapConfig, store: Store) -> dict[str, list[str]]:
    """Files added, changed or removed since the last staging (cheap: stats only); a file
    staged under other ``columns:`` or ``class_values:`` counts as changed."""
    manifest = store.read_json(MANIFEST, {})
    files = {f.relative: f for f in scan_landing(config.landing)}
    reading = reading_signature(config)
    return {
        "added": sorted(r for r in files if r not in manifest),
        "changed": sorted(
            r for r, f in files.items() if r in manifest and _stale(manifest[r], f, reading)
        ),
        "removed": sorted(r for r in manifest if r not in files),
    }


def reading_signature(config: GuapConfig) -> str:
    """What, besides its bytes, decides how a landing file reads: the ``columns:`` and
    ``class_values:`` mappings (empty when neither is set, as in manifests before them)."""
    if not config.columns and not config.class_values:
        return ""
    mappings = [sorted(config.columns.items()), [repr(i) for i in config.class_values.items()]]
    return hashlib.sha1(json.dumps(mappings).encode()).hexdigest()[:16]


def _stale(entry: dict, landing_file: LandingFile, reading: str) -> bool:
    """Whether a staged file must be staged again: its bytes or its reading changed."""
    return entry["fingerprint"] != landing_file.fingerprint or entry.get("reading", "") != reading


class _Stager:
    def __init__(self, config: GuapConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.staging = store.root / "staging"
        self.manifest: dict[str, dict] = store.read_json(MANIFEST, {})
        self.report = StageReport()
        self.saved_at, self.unsaved = time.monotonic(), False

    def chunk(self, kind: str, day: str, file_id: str) -> Path:
        return self.staging / kind / day / f"{file_id}.parquet"

    def save_manifest(self, *, now: bool = False) -> None:
        """Write the manifest, at most once a second unless ``now`` (a big first staging
        touches hundreds of files). Staging a file again rewrites the same chunks, so a
        crash between two saves only makes the next run redo a few files."""
        self.unsaved = True
        if now or time.monotonic() - self.saved_at >= MANIFEST_SECONDS:
            self.store.write_json(MANIFEST, self.manifest)
            self.saved_at, self.unsaved = time.monotonic(), False

    def forget(self, relative: str) -> None:
        """Remove everything a file staged before (it changed or was deleted)."""
        entry = self.manifest.pop(relative)
        file_id = entry["file_id"]
        for day in entry.get("days", {}):
            self.chunk(entry["kind"], day, file_id).unlink(missing_ok=True)
            self.chunk(MATCHES, day, file_id).unlink(missing_ok=True)
            self.report.dirty_days.add(day)
        for extra in ("labels_raw", "labels_unmatched", "quarantine"):
            (self.staging / extra / f"{file_id}.parquet").unlink(missing_ok=True)
        self.save_manifest()

    def write(self, path: Path, frame: pd.DataFrame) -> None:
        self.store.write_path(path, frame)

    def _stage_rows(
        self, landing_file: LandingFile, entry: dict, outcome: FileOutcome
    ) -> pd.DataFrame:
        """Validate and write a file's rows, slice by slice; returns its quarantine rows
        and counts the rows read and accepted in ``outcome``.

        Raises :class:`InputError` for an unreadable file, having written nothing.
        """
        predictions = landing_file.kind == "predictions"
        validate = validate_predictions if predictions else validate_labels
        stamp = self.config.file_column("predicted_at" if predictions else "labeled_at")
        raw_path = self.staging / "labels_raw" / f"{landing_file.file_id}.parquet"
        quarantines, empty = [], None
        batches = iter_landing_file(
            landing_file.path, batch_rows=SLICE_ROWS, timestamp=stamp, whole_if_gaps=not predictions
        )
        with ParquetParts() as parts:
            for raw in batches:
                for part in _slices(raw, stamp, whole_if_gaps=not predictions):
                    good, quarantine = validate(part, self.config, source=landing_file.relative)
                    quarantines.append(quarantine)
                    outcome.rows_read += len(part)
                    outcome.rows_accepted += len(good)
                    if predictions:
                        outcome.first_day = _first_day(part, quarantine, self.config, outcome)
                        for day, rows in _by_day(good):
                            parts.write(self.chunk("predictions", day, landing_file.file_id), rows)
                    elif len(good):
                        parts.write(raw_path, good)
                    else:
                        empty = good
                    del part, good
                    release_memory()
                del raw
            if not predictions and raw_path not in parts.rows and empty is not None:
                parts.write(raw_path, empty)
        if predictions:
            for path, n_rows in parts.rows.items():
                entry["days"][path.parent.name] = n_rows
        else:
            entry["route"] = True
        found = [q for q in quarantines if len(q)]
        return pd.concat(found, ignore_index=True) if len(found) > 1 else (found or quarantines)[0]

    def stage_file(self, landing_file: LandingFile) -> None:
        self.record(landing_file, *self.prepare(landing_file))

    def prepare(self, landing_file: LandingFile) -> tuple[dict, FileOutcome]:
        """Validate and write one file's chunks; its manifest entry and outcome. Touches
        only this file's own paths, so files can be staged in parallel."""
        entry = {"kind": landing_file.kind, "file_id": landing_file.file_id, "days": {}}
        outcome = FileOutcome(landing_file.relative, landing_file.kind)
        if landing_file.refused:
            outcome.rejected = landing_file.refused
        else:
            try:
                quarantine = self._stage_rows(landing_file, entry, outcome)
            except InputError as exc:
                outcome = FileOutcome(landing_file.relative, landing_file.kind, rejected=str(exc))
        if outcome.rejected is not None:
            quarantine = _whole_file(landing_file, outcome.rejected)
        else:
            outcome.reasons = quarantine["reason"].value_counts(sort=False).to_dict()
        if len(quarantine):
            self.write(self.staging / "quarantine" / f"{landing_file.file_id}.parquet", quarantine)
        entry["fingerprint"] = landing_file.fingerprint
        entry["reading"] = reading_signature(self.config)
        entry["quarantined"] = len(quarantine)
        return entry, outcome

    def record(self, landing_file: LandingFile, entry: dict, outcome: FileOutcome) -> None:
        """Enter a staged file in the report and the manifest."""
        self.report.files.append(outcome)
        if landing_file.kind == "predictions":
            self.report.dirty_days.update(entry["days"])
        self.manifest[landing_file.relative] = entry
        self.save_manifest()

    def stage_files(self, files: list[LandingFile]) -> None:
        """Stage files; small ones two at a time (reading, validating and writing Parquet
        release the GIL for much of the work), big ones alone to bound memory."""
        small = [f for f in files if f.refused or f.path.stat().st_size <= PARALLEL_BYTES]
        workers = min(STAGING_THREADS, os.cpu_count() or 1)
        done: dict[str, tuple[dict, FileOutcome]] = {}
        if len(small) > 1 and workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                staged = pool.map(self.prepare, small)
                done = dict(zip([f.relative for f in small], staged, strict=True))
        for landing_file in files:  # recorded in path order, as when staged one by one
            staged = done.pop(landing_file.relative, None) or self.prepare(landing_file)
            self.record(landing_file, *staged)

    def route_labels(self, relatives: Iterable[str]) -> None:
        """Send validated labels to their prediction's day; keep the unmatched waiting."""
        entries = [self.manifest[r] for r in relatives]
        if not entries:
            return
        raw_paths = [self.staging / "labels_raw" / f"{e['file_id']}.parquet" for e in entries]
        matches = _match_labels(self.staging / "predictions", raw_paths)
        routes = []
        for entry, raw_path, (rows, days, found) in zip(entries, raw_paths, matches, strict=True):
            file_id = entry["file_id"]
            groups, unmatched, matched = _route_groups(
                rows, days, found, pq.ParquetFile(raw_path).metadata.num_rows
            )
            changed = {
                d: index for d, index in groups.items() if entry["days"].get(d) != len(index)
            }
            targets = {self.chunk("labels", day, file_id): index for day, index in changed.items()}
            unmatched_path = self.staging / "labels_unmatched" / f"{file_id}.parquet"
            if len(unmatched):
                targets[unmatched_path] = unmatched
            kept = {day: matched[day] for day in changed} if matched is not None else {}
            for day in changed:  # a day's old matches go with its old chunk
                self.chunk(MATCHES, day, file_id).unlink(missing_ok=True)
            routes.append(
                _Route(entry, raw_path, groups, set(changed), unmatched_path, targets, kept)
            )
        small = [r for r in routes if r.raw_path.stat().st_size <= PARALLEL_BYTES]
        workers = min(STAGING_THREADS, os.cpu_count() or 1)
        if len(small) < 2 or workers < 2:
            small = []
        with ThreadPoolExecutor(max_workers=workers) as pool:  # each writes its own chunks
            list(pool.map(_Route.write, small))
        for route in routes:
            if route not in small:
                route.write()
            if route.unmatched_path not in route.targets:
                route.unmatched_path.unlink(missing_ok=True)
            route.entry["days"] = {day: len(index) for day, index in route.groups.items()}
            route.entry["unmatched"] = len(route.targets.get(route.unmatched_path, []))
            route.entry["route"] = False
            self.report.dirty_days.update(route.changed)
            self.save_manifest()


def _whole_file(landing_file: LandingFile, reason: str) -> pd.DataFrame:
    """The one quarantine row of a file that is not read at all (row 0: the whole file)."""
    return pd.DataFrame(
        {
            "source": [landing_file.relative],
            "kind": [landing_file.kind],
            "row": [0],
            "prediction_id": [None],
            "reason": [reason],
            "record": ["{}"],
        },
        columns=list(QUARANTINE_COLUMNS),
    )


@dataclass(eq=False)
class _Route:
    """Where one labels file's rows go: row numbers per day chunk (and the unmatched)."""

    entry: dict
    raw_path: Path
    groups: dict[str, np.ndarray]
    changed: set[str]
    unmatched_path: Path
    targets: dict[Path, np.ndarray]
    matches: dict[str, np.ndarray]  # per day written: the prediction row of each label

    def write(self) -> None:
        _write_rows(self.raw_path, self.targets)
        staging = self.raw_path.parent.parent
        for day, prediction_rows in self.matches.items():
            _write_matches(staging, day, self.entry["file_id"], prediction_rows)


def _first_day(
    raw: pd.DataFrame, quarantine: pd.DataFrame, config: GuapConfig, outcome: FileOutcome
) -> str | None:
    """The earliest prediction day seen so far in a file with rows before start_date
    (the day to suggest as start_date); ``outcome.first_day`` while a slice has none."""
    early = quarantine["reason"].str.startswith(BEFORE_START).any()
    column = config.file_column("predicted_at")  # the slice is still in the file's names
    if not early or column not in raw.columns:
        return outcome.first_day
    days = local_days(_timestamps(raw[column]), config.timezone)
    plain = days[(days.str.len() == len("2018-03-01")).fillna(False)]  # 4-digit years
    found = [d for d in (plain.min() if len(plain) else None, outcome.first_day) if d]
    return str(min(found)) if found else None


def _slices(raw: pd.DataFrame, time_column: str, *, whole_if_gaps: bool) -> Iterable[pd.DataFrame]:
    """Row slices of a big raw frame, validated one at a time to bound memory.

    Validation is row by row, so slices give the same rows as the whole frame. A text
    timestamp column is parsed whole (its unit is inferred from all of its values), and
    so, ``whole_if_gaps``, is one with some values missing (a slice where every valid row
    misses it gets another unit).
    """
    column = raw[time_column] if time_column in raw.columns else None
    sliceable = column is None or (
        pd.api.types.is_datetime64_any_dtype(column.dtype)
        and (not whole_if_gaps or column.notna().all() or column.isna().all())
    )
    if len(raw) <= SLICE_ROWS or not sliceable:
        yield raw
        return
    for start in range(0, len(raw), SLICE_ROWS):
        yield raw.iloc[start : start + SLICE_ROWS]


def _by_day(good: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    """Valid prediction rows per prediction day, in row order (no copy for a single day)."""
    if not len(good):
        return
    days = good["date"].unique()
    if len(days) == 1:
        yield str(days[0]), good
        return
    for day, rows in good.groupby("date", sort=True):
        yield str(day), rows


def _match_labels(
    folder: Path, raw_paths: list[Path]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each labels file, (row, day, prediction row) of every label whose
    prediction_id is staged that day; the prediction row is its row in its chunk.

    One DuckDB hash join of every file's ids against the ids of all staged predictions;
    only integers come back (row numbers, and the index of the matched chunk, whose
    folder names its day: no day text is read or parsed per row), streamed in batches.
    Each side is one ``read_parquet`` of a file list, whatever the number of files: a
    ``UNION ALL`` of one scan per labels file, when DuckDB builds its hash table on it,
    reserves ~8 MiB per scan and ran out of the 1 GB budget from ~120 files.
    """
    nothing = np.array([], dtype=np.int64)
    chunks = [c for c in sorted(folder.glob("*/*.parquet")) if DAY_FOLDER.fullmatch(c.parent.name)]
    if not raw_paths or not chunks:
        return [(nothing, nothing, nothing) for _ in raw_paths]
    chunk_days = np.array([c.parent.name for c in chunks], dtype="datetime64[D]").view(np.int64)
    query = f"""
        SELECT CAST(l.file_index AS INTEGER) AS f, CAST(l.file_row_number AS INTEGER) AS j,
               CAST(p.file_index AS INTEGER) AS chunk, CAST(p.file_row_number AS INTEGER) AS i
        FROM read_parquet({_sql_list(raw_paths)}, file_row_number = true) AS l
        JOIN read_parquet({_sql_list(chunks)}, file_row_number = true) AS p
        USING (prediction_id)
    """
    found: list[list[tuple[np.ndarray, ...]]] = [[] for _ in raw_paths]
    with duckdb_connection() as con:
        for batch in con.sql(query).to_arrow_reader(SLICE_ROWS):
            files, rows, chunk, predictions = (column.to_numpy() for column in batch.columns)
            days = chunk_days[chunk]
            if len(raw_paths) == 1:  # the usual single labels file: nothing to sort apart
                found[0].append((rows, days, predictions))
                continue
            order = np.argsort(_small_ints(files), kind="stable")
            bounds = np.searchsorted(files[order], np.arange(len(raw_paths) + 1))
            rows, days, predictions = rows[order], days[order], predictions[order]
            for i, (a, b) in enumerate(pairwise(bounds)):
                if b > a:
                    found[i].append((rows[a:b], days[a:b], predictions[a:b]))
    return [
        (
            np.concatenate([r for r, _, _ in parts]).astype(np.int64),
            np.concatenate([d for _, d, _ in parts]),
            np.concatenate([p for _, _, p in parts]),
        )
        if parts
        else (nothing, nothing, nothing)
        for parts in found
    ]


def _sql_list(paths: list[Path]) -> str:
    """SQL: a list of file paths, for one ``read_parquet`` over all of them."""
    return f"[{', '.join(sql_path(path) for path in paths)}]"


def _route_groups(
    rows: np.ndarray, days: np.ndarray, predictions: np.ndarray, n_rows: int
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray] | None]:
    """Sorted row numbers of a labels file per prediction day, of the unmatched rows, and
    per day the prediction row each routed label matched (``None`` when a label matched
    several predictions: a prediction_id staged twice).

    A label whose prediction_id is staged on two days goes to both, once each.
    """
    matched = None
    first = int(days.min()) if len(days) else 0
    codes = (days - first).astype(np.int64)
    found = np.zeros(n_rows, dtype=bool)
    found[rows] = True
    once = np.count_nonzero(found) == len(rows)  # no row matched twice
    if not once:  # rare: sort pairs
        pairs = np.unique(np.stack([codes, rows], axis=1), axis=0)
        codes, rows = pairs[:, 0], pairs[:, 1]  # by day, then row
        starts = np.flatnonzero(np.diff(codes, prepend=-1))
        bounds = [*starts.tolist(), len(codes)]
        groups = {int(codes[a]): rows[a:b] for a, b in pairwise(bounds)}
    elif n_rows and len(rows) == n_rows and not codes.any():  # usual: all matched, one day
        groups = {0: np.arange(n_rows)}
    else:  # each row has at most one day: a counting sort keeps rows in order
        day_of_row = np.full(n_rows, -1, dtype=np.int64)
        day_of_row[rows] = codes
        order = np.argsort(_small_ints(day_of_row + 1), kind="stable")
        counts = np.bincount(day_of_row + 1)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        groups = {
            code - 1: order[a:b] for code, (a, b) in enumerate(pairwise(bounds)) if code and b > a
        }
        del day_of_row, order
    if once:
        prediction_of_row = np.zeros(n_rows, dtype=np.int32)
        prediction_of_row[rows] = predictions
        matched = {code: prediction_of_row[index] for code, index in groups.items()}
        del prediction_of_row
    labels = {code: str(np.datetime64(first + code, "D")) for code in groups}
    routed = {labels[code]: index for code, index in sorted(groups.items())}
    if matched is not None:
        matched = {labels[code]: found_rows for code, found_rows in matched.items()}
    return routed, np.flatnonzero(~found), matched


def _small_ints(values: np.ndarray) -> np.ndarray:
    """Non-negative ints in the narrowest dtype: NumPy sorts 8/16-bit ints by radix, O(n)."""
    top = int(values.max()) if len(values) else 0
    return values.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int64)


def _write_rows(source: Path, targets: dict[Path, np.ndarray]) -> None:
    """Write the given (sorted) rows of a Parquet file to each target, streaming the file.

    A target that takes every row is a plain copy of the file.
    """
    reader = pq.ParquetFile(source)
    n_rows = reader.metadata.num_rows
    rest = {}
    for target, index in targets.items():
        if len(index) == n_rows:
            copy_file(source, target)
        else:
            rest[target] = index
    if not rest:
        return
    schema = reader.schema_arrow
    with ParquetParts() as parts:
        offset = 0
        batches = reader.iter_batches(batch_size=SLICE_ROWS, use_threads=decode_threads(reader))
        for batch in batches:
            end = offset + batch.num_rows
            table = pa.Table.from_batches([batch], schema=schema)
            for target, index in rest.items():
                lo, hi = np.searchsorted(index, [offset, end])
                if hi > lo:
                    parts.write(target, table.take(index[lo:hi] - offset))
            offset = end
        for target in rest:
            if target not in parts.rows:
                parts.write(target, schema.empty_table())


def _chunk_stamp(path: Path) -> str:
    """A staged chunk's name, size and modification time: changes whenever it is rewritten."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def _non_empty_chunks(folder: Path) -> list[Path]:
    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    return [p for p in paths if pq.ParquetFile(p).metadata.num_rows]


def _write_matches(staging: Path, day: str, file_id: str, prediction_rows: np.ndarray) -> None:
    """For each row of a labels chunk, the row of the prediction it matched in the day's
    predictions chunk; written only while the day has one predictions chunk, with the
    stamps of both chunks, so that a later change of either makes it unusable."""
    predictions = _non_empty_chunks(staging / "predictions" / day)
    labels_chunk = staging / "labels" / day / f"{file_id}.parquet"
    if len(predictions) != 1 or pq.ParquetFile(predictions[0]).metadata.num_rows < MATCHES_MIN_ROWS:
        return
    stamps = {"predictions": _chunk_stamp(predictions[0]), "labels": _chunk_stamp(labels_chunk)}
    table = pa.table({"prediction_row": prediction_rows}).replace_schema_metadata(
        {MATCHES: json.dumps(stamps)}
    )
    with atomic_path(staging / MATCHES / day / f"{file_id}.parquet") as tmp:
        pq.write_table(table, tmp, use_dictionary=False, write_statistics=False)


def staged_matches(store: Store, day: str) -> tuple[Path, dict[Path, np.ndarray]] | None:
    """The day's only predictions chunk and, for each of its labels chunks (path order),
    the row of that chunk each label matched when routed; ``None`` unless every labels
    chunk has matches made against the chunks as they are now."""
    staging = store.root / "staging"
    if not (staging / MATCHES / day).is_dir():  # the usual small day: nothing to read
        return None
    predictions = _non_empty_chunks(staging / "predictions" / day)
    labels = _non_empty_chunks(staging / "labels" / day)
    if len(predictions) != 1 or not labels:
        return None
    found = {}
    for chunk in labels:
        path = staging / MATCHES / day / chunk.name
        if not path.exists():
            return None
        try:  # a file torn by a crash is no matches
            reader = pq.ParquetFile(path)
            metadata = reader.schema_arrow.metadata or {}
            stamps = json.loads(metadata.get(MATCHES.encode(), b"{}"))
            expected = {"predictions": _chunk_stamp(predictions[0]), "labels": _chunk_stamp(chunk)}
            if stamps != expected:
                return None
            found[chunk] = reader.read(use_threads=False)["prediction_row"].to_numpy()
        except PARQUET_ERRORS:
            return None
    return predictions[0], found


def stage_landing(config: GuapConfig, store: Store) -> StageReport:
    """Stage every new or changed landing file, route labels, and report dirty days.

    One staging pass at a time per store (a lock): two at once would both stage the same
    files and each save a manifest without the other's entries.
    """
    with store.lock(MANIFEST, timeout=STAGING_LOCK_SECONDS):
        return _stage_landing(config, store)


def _stage_landing(config: GuapConfig, store: Store) -> StageReport:
    stager = _Stager(config, store)
    files = {f.relative: f for f in scan_landing(config.landing)}
    for relative in sorted(set(stager.manifest) - set(files)):
        stager.forget(relative)
        stager.report.removed.append(relative)
    predictions_landed = False
    pending = []
    reading = reading_signature(config)
    for relative, landing_file in files.items():
        entry = stager.manifest.get(relative)
        if entry is not None and not _stale(entry, landing_file, reading):
            stager.report.unchanged += 1
            continue
        (stager.report.changed if entry else stager.report.added).append(relative)
        if entry is not None:
            stager.forget(relative)
        pending.append(landing_file)
        predictions_landed |= landing_file.kind == "predictions"
    stager.stage_files(pending)
    stager.route_labels(
        r
        for r, e in stager.manifest.items()
        if e["kind"] == "labels" and (e.get("route") or (predictions_landed and e.get("unmatched")))
    )
    if stager.unsaved:
        stager.save_manifest(now=True)
    stager.report.labels_waiting = sum(e.get("unmatched", 0) for e in stager.manifest.values())
    return stager.report


def staged_signature(store: Store, day: str) -> str:
    """Fingerprint of every staged chunk of one day: changes whenever its inputs change."""
    parts = []
    for kind in KINDS:
        folder = store.root / "staging" / kind / day
        if folder.is_dir():
            parts.extend(f"{kind}/{_chunk_stamp(c)}" for c in sorted(folder.glob("*.parquet")))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def staged_days(store: Store) -> list[str]:
    """Every day that has staged predictions or labels."""
    days: set[str] = set()
    for kind in KINDS:
        folder = store.root / "staging" / kind
        if folder.is_dir():
            days.update(p.name for p in folder.iterdir() if p.is_dir())
    return sorted(days)


def has_staged_rows(store: Store, day: str) -> bool:
    """Whether any staged chunk of the day holds a row (an empty folder or chunk does not
    make a day: older versions left ``labels/1970-01-01`` for labels that matched nothing)."""
    return any(_non_empty_chunks(store.root / "staging" / kind / day) for kind in KINDS)


def read_staged(store: Store, kind: str, day: str) -> pd.DataFrame:
    """All staged chunks of one day, in file order (by path), then row order."""
    folder = store.root / "staging" / kind / day
    chunks = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    frames = [pd.read_parquet(c) for c in chunks]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def staged_quarantine(store: Store) -> pd.DataFrame:
    """Every row quarantined while staging, plus labels still waiting for their prediction."""
    staging = store.root / "staging"
    frames = [pd.read_parquet(p) for p in sorted((staging / "quarantine").glob("*.parquet"))]
    for path in sorted((staging / "labels_unmatched").glob("*.parquet")):
        waiting = pd.read_parquet(path)
        frames.append(
            pd.DataFrame(
                {
                    "source": waiting["_source"],
                    "kind": "labels",
                    "row": waiting["_row"],
                    "prediction_id": waiting["prediction_id"],
                    "reason": UNMATCHED_REASON,
                    "record": "{}",
                }
            )
        )
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(QUARANTINE_COLUMNS))
    return pd.concat(frames, ignore_index=True)
