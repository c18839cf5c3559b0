"""What a staging pass did: per landing file, rows read, accepted and quarantined by
reason; per pass, the files added, changed and removed and the days to rebuild. The
run's summary, its metadata and the report read these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd


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
    # unchanged files staged again because the store's id type changed (see staging; not
    # in ``files``), and the file whose text ids made it text (None: every file now has
    # integer ids)
    ids_restaged: int = 0
    ids_text_from: str | None = None

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

    def ids_line(self) -> str | None:
        """Why files already staged were read again: the store's id type changed."""
        if not self.ids_restaged:
            return None
        again = f"{self.ids_restaged:,} staged file{'s' if self.ids_restaged != 1 else ''}"
        if self.ids_text_from is not None:
            return (
                f"ids: {self.ids_text_from} has prediction ids that are not integers (text, "
                f"or a column with a missing id): every id is now kept as text, and {again} "
                "with integer ids were read again"
            )
        return (
            "ids: every landing file now has integer prediction ids: they are kept as "
            f"integers, and {again} with text ids were read again"
        )

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
