"""The staged area's layout: every path under ``<store>/staging/``, in one place.

Day chunks live in ``staging/<kind>/<day>/<file_id>.parquet`` (kinds ``predictions``,
``labels`` and :data:`MATCHES`); what belongs to one landing file but no day lives in
``staging/<folder>/<file_id>.parquet`` (folders ``labels_raw``, ``labels_unmatched``,
``quarantine``). Readers and writers ask this class for paths so that the layout is
spelled out once.
"""

from __future__ import annotations

from pathlib import Path

# Day chunks: for each labels chunk, the row of the prediction each label matched.
MATCHES = "matches"
# Per landing file, no day: validated labels before routing, labels whose prediction has
# not landed (yet), rows quarantined while staging.
LABELS_RAW = "labels_raw"
LABELS_UNMATCHED = "labels_unmatched"
QUARANTINE = "quarantine"
FILE_FOLDERS = (LABELS_RAW, LABELS_UNMATCHED, QUARANTINE)


class StagingLayout:
    """Paths of the staged area of the store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root / "staging"

    def kind_folder(self, kind: str) -> Path:
        """The folder of one kind's days (``staging/<kind>``)."""
        return self.root / kind

    def day_folder(self, kind: str, day: str) -> Path:
        """The folder of one kind's chunks of one day (``staging/<kind>/<day>``)."""
        return self.root / kind / day

    def chunk(self, kind: str, day: str, file_id: str) -> Path:
        """One landing file's chunk of one day."""
        return self.day_folder(kind, day) / f"{file_id}.parquet"

    def day_chunks(self, kind: str, day: str) -> list[Path]:
        """Every chunk of one kind and day, by path (the order rows are read in)."""
        folder = self.day_folder(kind, day)
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def file_part(self, folder: str, file_id: str) -> Path:
        """What one landing file keeps in a folder of :data:`FILE_FOLDERS`."""
        return self.root / folder / f"{file_id}.parquet"

    def file_parts(self, folder: str) -> list[Path]:
        """Every landing file's part in a folder of :data:`FILE_FOLDERS`, by path."""
        return sorted((self.root / folder).glob("*.parquet"))
