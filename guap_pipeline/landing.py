"""Stage the landing folder: each new or changed file is read once and split by day.

Predictions are validated and written as one chunk per (prediction day, file) under
``staging/predictions/<day>/``. Labels carry no day of their own: they are validated,
then routed to the day of their prediction (a DuckDB join against the staged ids) and
written under ``staging/labels/<day>/``; labels whose prediction has not landed (yet)
wait in ``staging/labels_unmatched/`` and are routed again when predictions land.
A manifest of file fingerprints makes a second run with no new input do nothing, and
tells which days changed (the *dirty* days to re-materialize).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import InputError
from guap_pipeline.readers import read_landing_file
from guap_pipeline.storage import Store
from guap_pipeline.validation import QUARANTINE_COLUMNS, validate_labels, validate_predictions

KINDS = ("predictions", "labels")
MANIFEST = "landing_manifest"
UNMATCHED_REASON = "no prediction with this prediction_id has landed (yet)"


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing folder, identified by its path relative to the folder."""

    kind: str
    path: Path
    relative: str
    fingerprint: str

    @property
    def file_id(self) -> str:
        return hashlib.sha1(self.relative.encode()).hexdigest()[:16]


@dataclass
class StageReport:
    """What one staging pass did; ``dirty_days`` need re-materializing."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    quarantined_rows: int = 0
    unreadable: list[str] = field(default_factory=list)
    dirty_days: set[str] = field(default_factory=set)

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def scan_landing(landing: Path) -> list[LandingFile]:
    """Every non-hidden file under ``predictions/`` and ``labels/``, sorted by path."""
    files = []
    for kind in KINDS:
        folder = landing / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(
                p.startswith(".") for p in path.relative_to(landing).parts
            ):
                stat = path.stat()
                files.append(
                    LandingFile(
                        kind=kind,
                        path=path,
                        relative=path.relative_to(landing).as_posix(),
                        fingerprint=f"{stat.st_size}-{stat.st_mtime_ns}",
                    )
                )
    return files


def pending_changes(config: GuapConfig, store: Store) -> dict[str, list[str]]:
    """Files added, changed or removed since the last staging (cheap: stats only)."""
    manifest = store.read_json(MANIFEST, {})
    files = {f.relative: f for f in scan_landing(config.landing)}
    return {
        "added": sorted(r for r in files if r not in manifest),
        "changed": sorted(
            r
            for r, f in files.items()
            if r in manifest and manifest[r]["fingerprint"] != f.fingerprint
        ),
        "removed": sorted(r for r in manifest if r not in files),
    }


class _Stager:
    def __init__(self, config: GuapConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.staging = store.root / "staging"
        self.manifest: dict[str, dict] = store.read_json(MANIFEST, {})
        self.report = StageReport()

    def chunk(self, kind: str, day: str, file_id: str) -> Path:
        return self.staging / kind / day / f"{file_id}.parquet"

    def save_manifest(self) -> None:
        self.store.write_json(MANIFEST, self.manifest)

    def forget(self, relative: str) -> None:
        """Remove everything a file staged before (it changed or was deleted)."""
        entry = self.manifest.pop(relative)
        file_id = entry["file_id"]
        for day in entry.get("days", {}):
            self.chunk(entry["kind"], day, file_id).unlink(missing_ok=True)
            self.report.dirty_days.add(day)
        for extra in ("labels_raw", "labels_unmatched", "quarantine"):
            (self.staging / extra / f"{file_id}.parquet").unlink(missing_ok=True)
        self.save_manifest()

    def write(self, path: Path, frame: pd.DataFrame) -> None:
        self.store.write_path(path, frame)

    def stage_file(self, landing_file: LandingFile) -> None:
        entry = {"kind": landing_file.kind, "file_id": landing_file.file_id, "days": {}}
        try:
            raw = read_landing_file(landing_file.path)
        except InputError as exc:
            self.report.unreadable.append(landing_file.relative)
            raw = None
            quarantine = pd.DataFrame(
                {
                    "source": [landing_file.relative],
                    "kind": [landing_file.kind],
                    "row": [0],
                    "prediction_id": [None],
                    "reason": [str(exc)],
                    "record": ["{}"],
                },
                columns=list(QUARANTINE_COLUMNS),
            )
        if raw is not None:
            validate = (
                validate_predictions if landing_file.kind == "predictions" else validate_labels
            )
            good, quarantine = validate(raw, self.config, source=landing_file.relative)
            if landing_file.kind == "predictions":
                for day, rows in good.groupby("date", sort=True):
                    self.write(self.chunk("predictions", str(day), landing_file.file_id), rows)
                    entry["days"][str(day)] = len(rows)
                    self.report.dirty_days.add(str(day))
            else:
                self.write(self.staging / "labels_raw" / f"{landing_file.file_id}.parquet", good)
                entry["route"] = True
        if len(quarantine):
            self.write(self.staging / "quarantine" / f"{landing_file.file_id}.parquet", quarantine)
        self.report.quarantined_rows += len(quarantine)
        entry["fingerprint"] = landing_file.fingerprint
        entry["quarantined"] = len(quarantine)
        self.manifest[landing_file.relative] = entry
        self.save_manifest()

    def route_labels(self, relatives: Iterable[str]) -> None:
        """Send validated labels to their prediction's day; keep the unmatched waiting."""
        entries = {r: self.manifest[r] for r in relatives}
        if not entries:
            return
        index = _prediction_index(self.staging / "predictions")
        for entry in entries.values():
            file_id = entry["file_id"]
            labels = pd.read_parquet(self.staging / "labels_raw" / f"{file_id}.parquet")
            routed = labels.merge(index, on="prediction_id", how="left")
            old_days = dict(entry["days"])
            entry["days"] = {}
            for day, rows in routed[routed["date"].notna()].groupby("date", sort=True):
                day = str(day)
                entry["days"][day] = len(rows)
                if old_days.get(day) != len(rows):
                    self.write(self.chunk("labels", day, file_id), rows.drop(columns="date"))
                    self.report.dirty_days.add(day)
            unmatched = routed[routed["date"].isna()].drop(columns="date")
            unmatched_path = self.staging / "labels_unmatched" / f"{file_id}.parquet"
            if len(unmatched):
                self.write(unmatched_path, unmatched)
            else:
                unmatched_path.unlink(missing_ok=True)
            entry["unmatched"] = len(unmatched)
            entry["route"] = False
            self.save_manifest()


def _prediction_index(folder: Path) -> pd.DataFrame:
    """Distinct (prediction_id, date) of every staged prediction, read by DuckDB."""
    if not any(folder.glob("*/*.parquet")):
        return pd.DataFrame({"prediction_id": pd.Series([], dtype="string"), "date": []})
    pattern = (folder / "*" / "*.parquet").as_posix()
    with duckdb.connect() as con:
        return con.execute(
            "SELECT DISTINCT prediction_id, date FROM read_parquet(?)", [pattern]
        ).df()


def stage_landing(config: GuapConfig, store: Store) -> StageReport:
    """Stage every new or changed landing file, route labels, and report dirty days."""
    stager = _Stager(config, store)
    files = {f.relative: f for f in scan_landing(config.landing)}
    for relative in sorted(set(stager.manifest) - set(files)):
        stager.forget(relative)
        stager.report.removed.append(relative)
    predictions_landed = False
    for relative, landing_file in files.items():
        entry = stager.manifest.get(relative)
        if entry is not None and entry["fingerprint"] == landing_file.fingerprint:
            stager.report.unchanged += 1
            continue
        (stager.report.changed if entry else stager.report.added).append(relative)
        if entry is not None:
            stager.forget(relative)
        stager.stage_file(landing_file)
        predictions_landed |= landing_file.kind == "predictions"
    stager.route_labels(
        r
        for r, e in stager.manifest.items()
        if e["kind"] == "labels" and (e.get("route") or (predictions_landed and e.get("unmatched")))
    )
    return stager.report


def staged_signature(store: Store, day: str) -> str:
    """Fingerprint of every staged chunk of one day: changes whenever its inputs change."""
    parts = []
    for kind in KINDS:
        folder = store.root / "staging" / kind / day
        if folder.is_dir():
            for chunk in sorted(folder.glob("*.parquet")):
                stat = chunk.stat()
                parts.append(f"{kind}/{chunk.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def staged_days(store: Store) -> list[str]:
    """Every day that has staged predictions or labels."""
    days: set[str] = set()
    for kind in KINDS:
        folder = store.root / "staging" / kind
        if folder.is_dir():
            days.update(p.name for p in folder.iterdir() if p.is_dir())
    return sorted(days)


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
