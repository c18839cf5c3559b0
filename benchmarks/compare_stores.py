"""Compare every Parquet table of two folders: same files, values, Arrow types, schema metadata.

For refactors that must not change what the pipeline writes: run the demo (or
``bench_pipeline.py --keep``) before and after, then compare the two folders::

    python benchmarks/compare_stores.py /tmp/ref-demo /tmp/new-demo --ignore-column delivered_at

Columns given with ``--ignore-column`` (wall-clock stamps of a run, such as the alerts'
``delivered_at``) are left out of the value comparison; their types are still compared.
Exit status 1 on any difference, with each one named.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.store.labeled import ALIGNED, LEGACY, LabeledDay, labeled_day
from guap_pipeline.store.store import Store


def tables(root: Path) -> dict[str, Path | LabeledDay]:
    """Every Parquet file under ``root``, by its path relative to it; a day's labeled
    predictions as one table under their whole file's name, read through
    :mod:`guap_pipeline.store.labeled` (whichever layout stores them)."""
    found: dict[str, Path | LabeledDay] = {}
    for path in sorted(root.rglob("*.parquet")):
        name = str(path.relative_to(root))
        if path.parent.name in (ALIGNED, LEGACY) and path.parent.parent.name == "tables":
            labeled = labeled_day(Store(path.parent.parent.parent), path.stem)
            found[str(Path(name).parent.with_name(LEGACY) / path.name)] = labeled
        else:
            found[name] = path
    return found


def compare(ref: Path | LabeledDay, new: Path | LabeledDay, ignore: set[str]) -> list[str]:
    """What differs between two Parquet tables; empty when they are equal."""
    problems = []
    a, b = _read(ref), _read(new)
    if a.schema.metadata != b.schema.metadata:
        problems.append(f"schema metadata differs: {a.schema.metadata} vs {b.schema.metadata}")
    if not a.schema.equals(b.schema, check_metadata=True):
        problems.append(f"schema differs:\n{a.schema}\nvs\n{b.schema}")
    if a.num_rows != b.num_rows:
        problems.append(f"rows {a.num_rows} vs {b.num_rows}")
        return problems
    keep = [n for n in a.column_names if n not in ignore and n in b.column_names]
    for name in keep:
        if not a[name].equals(b[name]):
            problems.append(f"column {name} differs")
    return problems


def _read(table: Path | LabeledDay) -> pa.Table:
    return pq.read_table(table) if isinstance(table, Path) else table.read()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ref", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--ignore-column", action="append", default=[])
    parser.add_argument("--ignore-path", action="append", default=[])
    args = parser.parse_args()
    ref, new = tables(args.ref), tables(args.new)

    def skip(path: str) -> bool:
        return any(fnmatch.fnmatch(path, glob) for glob in args.ignore_path)

    bad = 0
    only_ref = sorted(set(ref) - set(new))
    only_new = sorted(set(new) - set(ref))
    for p in only_ref:
        print(f"ONLY IN REF: {p}")
    for p in only_new:
        print(f"ONLY IN NEW: {p}")
    bad += len(only_ref) + len(only_new)
    compared = skipped = 0
    for rel in sorted(set(ref) & set(new)):
        if skip(rel):
            skipped += 1
            continue
        compared += 1
        problems = compare(ref[rel], new[rel], set(args.ignore_column))
        if problems:
            bad += 1
            print(f"DIFFERS: {rel}")
            for p in problems:
                print(f"    {p}")
    print(
        f"{compared} tables compared, {skipped} skipped by --ignore-path, "
        f"{bad} differing or missing; ignored columns: {sorted(args.ignore_column) or 'none'}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
