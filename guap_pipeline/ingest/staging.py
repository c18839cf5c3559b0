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

Ids are staged as integers while every landing file has integer ids, else as text (see
:func:`choose_id_type`): one type for the whole store, so that every join compares like
with like.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import InputError
from guap_pipeline.ingest.columns import INTEGER_IDS, TEXT_IDS
from guap_pipeline.ingest.readers import ROW, integer_ids, iter_landing_file
from guap_pipeline.ingest.routing import (
    SLICE_ROWS,
    Route,
    match_labels,
    matchable_days,
    route_groups,
)
from guap_pipeline.ingest.scan import LandingFile, scan_landing
from guap_pipeline.ingest.stage_report import FileOutcome, StageReport
from guap_pipeline.ingest.validation import (
    BEFORE_START,
    _timestamps,
    local_days,
    missing_column,
    quarantine_rows,
    validate_labels,
    validate_predictions,
)
from guap_pipeline.store.layout import (
    FILE_FOLDERS,
    LABELS_RAW,
    LABELS_UNMATCHED,
    MATCHES,
    QUARANTINE,
)
from guap_pipeline.store.store import ParquetParts, Store, release_memory

MANIFEST_SECONDS = 1.0
# Files up to this size are staged STAGING_THREADS at a time.
PARALLEL_BYTES = 32 << 20
STAGING_THREADS = 2
MANIFEST = "landing_manifest"
# A run waits this long for another run's staging pass (a big first staging takes minutes).
STAGING_LOCK_SECONDS = 3600.0


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
        self.staging = store.staging
        self.manifest: dict[str, dict] = store.read_json(MANIFEST, {})
        self.report = StageReport()
        self.saved_at, self.unsaved = time.monotonic(), False
        self.id_type = TEXT_IDS
        self.integer_ids: dict[str, bool] = {}  # per file to stage: are its ids integers
        self.restaged: set[str] = set()  # unchanged files staged again in the new id type

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
        self._remove(self.manifest.pop(relative))
        self.save_manifest()

    def _remove(self, entry: dict) -> None:
        """Delete the staged files of an entry no longer in the manifest; its days are to
        be built again."""
        file_id = entry["file_id"]
        for day in entry.get("days", {}):
            self.staging.chunk(entry["kind"], day, file_id).unlink(missing_ok=True)
            self.staging.chunk(MATCHES, day, file_id).unlink(missing_ok=True)
            self.report.dirty_days.add(day)
        for folder in FILE_FOLDERS:
            self.staging.file_part(folder, file_id).unlink(missing_ok=True)

    def write(self, path: Path, frame: pd.DataFrame) -> None:
        self.store.write_path(path, frame)

    def _stage_rows(
        self, landing_file: LandingFile, entry: dict, outcome: FileOutcome
    ) -> dict[str, int]:
        """Validate and write a file's rows and its quarantine rows, slice by slice (a big
        file of bad rows holds one slice of them, not all: each carries its raw record);
        counts the rows read and accepted in ``outcome``, returns the quarantined rows per
        reason.

        Raises :class:`InputError` for an unreadable file, having written nothing.
        """
        predictions = landing_file.kind == "predictions"
        validate = validate_predictions if predictions else validate_labels
        stamp = self.config.file_column("predicted_at" if predictions else "labeled_at")
        raw_path = self.staging.file_part(LABELS_RAW, landing_file.file_id)
        quarantine_path = self.staging.file_part(QUARANTINE, landing_file.file_id)
        reasons: dict[str, int] = {}
        empty, columns = None, []
        batches = iter_landing_file(
            landing_file.path, batch_rows=SLICE_ROWS, timestamp=stamp, whole_if_gaps=not predictions
        )
        with ParquetParts() as parts:
            for raw in batches:
                for part in _slices(raw, stamp, whole_if_gaps=not predictions):
                    good, quarantine = validate(
                        part, self.config, source=landing_file.relative, id_type=self.id_type
                    )
                    if len(quarantine):
                        parts.write(quarantine_path, quarantine)
                        for reason, n in quarantine["reason"].value_counts(sort=False).items():
                            reasons[reason] = reasons.get(reason, 0) + int(n)
                    outcome.rows_read += len(part)
                    outcome.rows_accepted += len(good)
                    if predictions:
                        outcome.first_day = _first_day(part, quarantine, self.config, outcome)
                        for day, rows in _by_day(good):
                            parts.write(
                                self.staging.chunk("predictions", day, landing_file.file_id), rows
                            )
                    elif len(good):
                        parts.write(raw_path, good)
                    else:
                        empty = good
                    del part, good, quarantine
                    release_memory()
                columns = [c for c in raw.columns if c != ROW]
                del raw
            if outcome.rows_read == 0 and columns:
                _header_only(landing_file, columns, self.config)
            if not predictions and raw_path not in parts.rows and empty is not None:
                parts.write(raw_path, empty)
        if predictions:
            for path, n_rows in parts.rows.items():
                entry["days"][path.parent.name] = n_rows
        else:
            entry["route"] = True
        return reasons

    def prepare(self, landing_file: LandingFile) -> tuple[dict, FileOutcome]:
        """Validate and write one file's chunks (after :meth:`choose_id_type`); its manifest
        entry and outcome. Touches only this file's own paths, so files can be staged in
        parallel."""
        entry = {
            "kind": landing_file.kind,
            "file_id": landing_file.file_id,
            "days": {},
            "ids": self.id_type,
            "integer_ids": self.integer_ids[landing_file.relative],
        }
        outcome = FileOutcome(landing_file.relative, landing_file.kind)
        if landing_file.refused:
            outcome.rejected = landing_file.refused
        else:
            try:
                outcome.reasons = self._stage_rows(landing_file, entry, outcome)
            except InputError as exc:
                outcome = FileOutcome(landing_file.relative, landing_file.kind, rejected=str(exc))
        if outcome.rejected is not None:
            whole = _whole_file(landing_file, outcome.rejected)
            self.write(self.staging.file_part(QUARANTINE, landing_file.file_id), whole)
            quarantined = len(whole)
        else:
            quarantined = outcome.rows_quarantined
        entry["fingerprint"] = landing_file.fingerprint
        entry["reading"] = reading_signature(self.config)
        entry["quarantined"] = quarantined
        return entry, outcome

    def record(self, landing_file: LandingFile, entry: dict, outcome: FileOutcome) -> None:
        """Enter a staged file in the report (unless it is only staged again in the new id
        type: the user heard of it when it landed) and in the manifest."""
        if landing_file.relative not in self.restaged:
            self.report.files.append(outcome)
        if landing_file.kind == "predictions":
            self.report.dirty_days.update(entry["days"])
        self.manifest[landing_file.relative] = entry
        self.save_manifest()

    def choose_id_type(
        self, files: dict[str, LandingFile], pending: list[LandingFile]
    ) -> list[LandingFile]:
        """Set the store's id type: integers when the files to stage and every staged one
        have integer ids (a manifest from before this choice: text). Returns the files to
        stage: ``pending`` and the staged files whose ids are in the other type, forgotten
        here (their chunks would not join with the new ones), in path order."""
        column = self.config.file_column("prediction_id")
        again = {f.relative for f in pending}
        self.integer_ids = {
            f.relative: f.refused is not None or integer_ids(f.path, column) for f in pending
        }
        textual = [r for r in sorted(again) if not self.integer_ids[r]]
        staged_fit = all(e.get("integer_ids", False) for e in self.manifest.values())
        self.id_type = INTEGER_IDS if staged_fit and not textual else TEXT_IDS
        staged_as = {r: e.get("ids", TEXT_IDS) for r, e in self.manifest.items()}
        other = {r: self.manifest.pop(r) for r in sorted(staged_as) if staged_as[r] != self.id_type}
        if not other:
            return pending
        # saved before any chunk goes: a crash in between must not leave entries whose
        # chunks are gone (their files unchanged, nothing would stage them again)
        self.save_manifest(now=True)
        for relative, entry in other.items():
            self.integer_ids[relative] = entry.get("integer_ids", False)
            self._remove(entry)
        self.restaged = set(other)
        self.report.ids_restaged = len(other)
        self.report.ids_text_from = textual[0] if textual else None
        return [f for r, f in files.items() if r in again or r in other]

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
        raw_paths = [self.staging.file_part(LABELS_RAW, e["file_id"]) for e in entries]
        matches = match_labels(self.staging.kind_folder("predictions"), raw_paths)
        big_days = matchable_days(self.manifest.values())
        routes = []
        for entry, raw_path, (rows, days, found) in zip(entries, raw_paths, matches, strict=True):
            file_id = entry["file_id"]
            groups, unmatched, matched = route_groups(
                rows, days, found, pq.ParquetFile(raw_path).metadata.num_rows
            )
            changed = {
                d: index for d, index in groups.items() if entry["days"].get(d) != len(index)
            }
            targets = {
                self.staging.chunk("labels", day, file_id): index for day, index in changed.items()
            }
            unmatched_path = self.staging.file_part(LABELS_UNMATCHED, file_id)
            if len(unmatched):
                targets[unmatched_path] = unmatched
            kept = (
                {day: matched[day] for day in changed if day in big_days}
                if matched is not None
                else {}
            )
            for day in changed:  # a day's old matches go with its old chunk
                self.staging.chunk(MATCHES, day, file_id).unlink(missing_ok=True)
            routes.append(
                Route(
                    self.staging,
                    entry,
                    raw_path,
                    groups,
                    set(changed),
                    unmatched_path,
                    targets,
                    kept,
                )
            )
        small = [r for r in routes if r.raw_path.stat().st_size <= PARALLEL_BYTES]
        workers = min(STAGING_THREADS, os.cpu_count() or 1)
        if len(small) < 2 or workers < 2:
            small = []
        with ThreadPoolExecutor(max_workers=workers) as pool:  # each writes its own chunks
            list(pool.map(Route.write, small))
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
    return quarantine_rows(
        source=[landing_file.relative],
        kind=[landing_file.kind],
        row=[0],
        prediction_id=[None],
        reason=[reason],
        record=["{}"],
    )


def _header_only(landing_file: LandingFile, columns: list[str], config: GuapConfig) -> None:
    """A file with a header and no rows is rejected whole when it lacks a column its rows
    would need: a wrong export (or a ``.parquet`` name on text) must not pass as empty."""
    if reason := missing_column(columns, config, kind=landing_file.kind):
        raise InputError(f"no rows, and the {reason}")


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
    pending = stager.choose_id_type(files, pending)
    predictions_landed = any(f.kind == "predictions" for f in pending)
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
