"""Corruptions of landing files, each with the quarantine reason it must get.

Shared by the fuzz test (``tests/test_fuzz.py``) and the soak test
(``benchmarks/soak.py``). A CSV file is handled as a header plus lines, each tagged with
what it holds: a clean row (its ``prediction_id``) or a corrupted one (its expected
reason), so that a test knows which row numbers must be quarantined and why, and which
rows are untouched.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from guap_pipeline.ingest.staged import UNMATCHED_REASON

WRONG_FIELDS = "line has the wrong number of fields"

# (column, bad value, reason) for a prediction row; ``{start}`` is the config's start_date.
PREDICTION_MUTATIONS: tuple[tuple[str, str, str], ...] = (
    ("prediction_id", "", "'prediction_id' is missing"),
    ("predicted_at", "", "'predicted_at' is missing"),
    ("predicted_at", "yesterday", "'predicted_at' is not a timestamp"),
    ("predicted_at", "2020-01-01T00:00:00Z", "predicted before start_date {start}"),
    ("score", "1.5", "'score' is outside [0, 1]"),
    ("score", "-0.25", "'score' is outside [0, 1]"),
    ("score", "NaN", "'score' is not a number"),
    ("score", "high", "'score' is not a number"),
    ("y_pred", "7", "'y_pred' is not one of the classes [0, 1]"),
    ("y_pred", "yes", "'y_pred' is not one of the classes [0, 1]"),
    ("amount", "lots", "'amount' is not a finite number"),
    ("amount", "inf", "'amount' is not a finite number"),
    ("amount", "", "'amount' is missing"),
)
# The same for a label row; an unknown id waits in quarantine for its prediction.
LABEL_MUTATIONS: tuple[tuple[str, str, str], ...] = (
    ("prediction_id", "", "'prediction_id' is missing"),
    ("prediction_id", "ghost-{n}", UNMATCHED_REASON),
    ("y_true", "", "'y_true' is missing"),
    ("y_true", "maybe", "'y_true' is not one of the classes [0, 1]"),
    ("y_true", "2", "'y_true' is not one of the classes [0, 1]"),
    ("labeled_at", "soon", "'labeled_at' is not a timestamp"),
)


@dataclass
class Line:
    """One data line of a CSV file: its fields, and the id it carries if still clean."""

    fields: list[str]
    clean_id: str | None = None
    reason: str | None = None  # set once the line is corrupted
    copy_of: str | None = None  # a verbatim copy of the clean line with this id

    def text(self) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(self.fields)
        return out.getvalue()


@dataclass
class CsvFile:
    """A landing CSV as a header and tagged lines; rows are numbered from 1 after the header."""

    header: list[str]
    lines: list[Line] = field(default_factory=list)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> CsvFile:
        """A clean file holding ``frame`` (values written as pandas writes them)."""
        text = frame.to_csv(index=False, lineterminator="\n")
        rows = list(csv.reader(io.StringIO(text)))
        ids = frame["prediction_id"].astype(str).tolist()
        return cls(rows[0], [Line(r, i) for r, i in zip(rows[1:], ids, strict=True)])

    def write(self, path: Path) -> None:
        body = "".join(line.text() + "\n" for line in self.lines)
        path.write_text(",".join(self.header) + "\n" + body, encoding="utf-8")

    def mutate(self, index: int, column: str, value: str, reason: str) -> None:
        """Give line ``index`` a bad value in ``column``: it must be quarantined for ``reason``."""
        line = self.lines[index]
        line.fields = list(line.fields)
        line.fields[self.header.index(column)] = value
        line.reason = reason

    def add_field(self, index: int) -> None:
        """A stray delimiter: one field too many on line ``index``."""
        line = self.lines[index]
        line.fields = [*line.fields, "stray"]
        line.reason = WRONG_FIELDS

    def insert(self, index: int, values: dict[str, str], reason: str) -> None:
        """A new bad line at position ``index`` (missing columns are empty)."""
        fields = [values.get(c, "") for c in self.header]
        self.lines.insert(index, Line(fields, None, reason))

    def duplicate(self, index: int, at: int) -> None:
        """Insert a verbatim copy of line ``index`` at position ``at`` (after it); a copy
        of a corrupted line is corrupted the same way."""
        line = self.lines[index]
        self.lines.insert(at, Line(list(line.fields), None, line.reason, line.clean_id))

    def expected(self, source: str) -> dict[tuple[str, int], str]:
        """(source, row) -> reason of every corrupted line.

        A copy is a duplicate of the first valid line with its id; when every earlier
        line with that id is corrupted, the copy is the one kept (and counts as clean).
        """
        reasons, first = {}, {}
        for row, line in enumerate(self.lines, start=1):
            if line.reason is not None:
                reasons[(source, row)] = line.reason
                continue
            key = line.clean_id or line.copy_of
            if key in first:
                reasons[(source, row)] = (
                    f"duplicate prediction_id (first seen in {source} row {first[key]})"
                )
            else:
                first[key] = row
        return reasons

    def untouched_ids(self) -> set[str]:
        """Ids of clean lines still intact (a copy may have taken a corrupted one's place)."""
        return {
            line.clean_id or line.copy_of
            for line in self.lines
            if line.reason is None and (line.clean_id or line.copy_of)
        }

    def lost_ids(self) -> set[str]:
        """Clean ids whose every line was corrupted (their rows must not be accepted)."""
        spoiled = {line.clean_id for line in self.lines if line.reason and line.clean_id}
        return spoiled - self.untouched_ids()

    def data_lines(self) -> int:
        return len(self.lines)


def bad_prediction(
    day: str, n: int, mutation: tuple[str, str, str], start: str
) -> tuple[dict[str, str], str]:
    """A new prediction row of ``day`` (id ``bad-<day>-<n>``) spoiled by ``mutation``."""
    column, value, reason = mutation
    row = {
        "prediction_id": f"bad-{day}-{n}",
        "predicted_at": f"{day}T12:00:00Z",
        "model_version": "v1",
        "score": "0.9",
        "y_pred": "1",
        "amount": "10",
        "country": "US",
    }
    row[column] = value.format(n=n)
    return row, reason.format(start=start)


def bad_label(
    prediction_id: str, labeled_at: str, n: int, mutation: tuple[str, str, str]
) -> tuple[dict[str, str], str]:
    """A label row for ``prediction_id`` spoiled by ``mutation``."""
    column, value, reason = mutation
    row = {"prediction_id": prediction_id, "y_true": "1", "labeled_at": labeled_at}
    row[column] = value.format(n=n)
    return row, reason


def truncate(path: Path, keep: int) -> None:
    """Cut a file to its first ``keep`` bytes (an interrupted upload)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep])
