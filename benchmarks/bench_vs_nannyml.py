"""Realized business value per day: this project's core beside NannyML, on the same rows.

1M scored, labeled binary predictions over 365 days (about 2,700 a day) are written to
one Parquet file, then valued per day twice, each side in its own process reading that
file:

- ours: :func:`guap_pipeline.money.accounting.account` grouped by the prediction's day (the
  day taken from the timestamp, as NannyML's chunker does), then ``summary()``;
- NannyML 0.13.1: ``PerformanceCalculator`` with metrics ``business_value`` and
  ``confusion_matrix``, ``chunk_period="D"``, fitted on the first 28 days (it needs a
  reference period). It runs in its own virtualenv (NannyML pulls scikit-learn,
  LightGBM, ...) through ``nannyml_realized_runner.py``, as ``bench_estimate.py`` runs
  CBPE.

The value matrix is constant (all NannyML supports) with cents in every cell. Every
day's TP/FP/FN/TN must be equal and its value equal to the cent, else the script exits
1. Printed: each side's computation time, wall and CPU (after reading the data;
NannyML's ``fit`` apart), its whole process's wall time, its peak RSS, and the ratios
NannyML / ours.

Usage::

    .venv/bin/python benchmarks/bench_vs_nannyml.py [--rows 1000000] [--days 365]
        [--nannyml-python benchmarks/.venv-nannyml/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NANNYML_PYTHON = HERE / ".venv-nannyml" / "bin" / "python"
MATRIX = {"tn": 0.0, "fp": -10.19, "fn": -170.83, "tp": 145.37}  # cents in every cell
REFERENCE_DAYS = 28
QUADRANTS = ("tp", "fp", "fn", "tn")
CENT = 0.005


def write_data(path: Path, rows: int, days: int, seed: int) -> None:
    """Scored traffic: 3 % positives, scores separating them, decisions at 0.5."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    day = np.sort(rng.integers(0, days, rows))
    positive = rng.random(rows) < 0.03
    score = np.clip(rng.normal(np.where(positive, 0.7, 0.3), 0.15), 0, 1)
    pd.DataFrame(
        {
            "predicted_at": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(day * 86_400 + rng.integers(0, 86_400, rows), unit="s"),
            "score": score,
            "y_pred": (score >= 0.5).astype("int64"),
            "y_true": positive.astype("int64"),
        }
    ).to_parquet(path)


def ours(data_path: str, out_path: str) -> None:
    """The child process of our side: read, value per day, write; one JSON line."""
    started = time.perf_counter()
    import pandas as pd

    from guap_pipeline import ValueMatrix, account

    imported = time.perf_counter()
    data = pd.read_parquet(data_path)
    read, cpu = time.perf_counter(), time.process_time()
    matrix = ValueMatrix.from_named(MATRIX, classes=[0, 1], positive_class=1)
    data["date"] = data["predicted_at"].dt.floor("D")
    days = account(data, matrix, by=["date"], positive_class=1).summary(positive_class=1)
    computed, cpu = time.perf_counter(), time.process_time() - cpu
    out = days.assign(date=days["date"].dt.strftime("%Y-%m-%d"))
    out[["date", *QUADRANTS]].assign(value=days["profit"]).to_parquet(out_path)
    figures = {
        "import_s": imported - started,
        "read_s": read - imported,
        "compute_s": computed - read,
        "compute_cpu_s": cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(figures))


def side(command: list[str]) -> tuple[dict, float]:
    """Run one side's process; its figures and its whole wall time."""
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - started
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def compare(ours_days, theirs_days) -> list[str]:
    """Every disagreement, day by day: counts exactly, value to the cent."""
    merged = ours_days.merge(theirs_days, on="date", how="outer", suffixes=("", "_nml"))
    problems = []
    if merged.isna().any(axis=None):
        problems.append(f"days differ: {len(ours_days)} ours, {len(theirs_days)} NannyML")
    for q in QUADRANTS:
        wrong = merged[merged[q] != merged[f"{q}_nml"]]
        problems += [f"{r.date}: {q} {r[q]} vs {r[f'{q}_nml']}" for _, r in wrong.iterrows()]
    gap = (merged["value"] - merged["value_nml"]).abs()
    for _, r in merged[~(gap < CENT)].iterrows():
        problems.append(f"{r.date}: value {r.value:.2f} vs {r.value_nml:.2f}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nannyml-python", type=Path, default=NANNYML_PYTHON)
    args = parser.parse_args(argv)
    if not args.nannyml_python.exists():
        print(f"no NannyML interpreter at {args.nannyml_python}; see benchmarks/README.md")
        return 2
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        data, mine, theirs = (Path(tmp) / f"{n}.parquet" for n in ("data", "ours", "nannyml"))
        write_data(data, args.rows, args.days, args.seed)
        load = Path("/proc/loadavg").read_text().split()[0]
        ours_figures, ours_wall = side(
            [sys.executable, __file__, "--side-ours", str(data), str(mine)]
        )
        cells = [str(MATRIX[q]) for q in ("tn", "fp", "fn", "tp")]
        runner = [str(args.nannyml_python), str(HERE / "nannyml_realized_runner.py")]
        nml_figures, nml_wall = side([*runner, str(data), str(theirs), *cells, str(REFERENCE_DAYS)])
        problems = compare(pd.read_parquet(mine), pd.read_parquet(theirs))
        n_days = len(pd.read_parquet(mine))
    rows = [
        ("compute (s)", ours_figures["compute_s"], nml_figures["compute_s"]),
        ("compute, CPU (s)", ours_figures["compute_cpu_s"], nml_figures["compute_cpu_s"]),
        ("whole process (s)", ours_wall, nml_wall),
        ("peak RSS (MiB)", ours_figures["peak_rss_mib"], nml_figures["peak_rss_mib"]),
    ]
    print(
        f"{args.rows:,} rows in {n_days} daily chunks, load average {load} at the start; "
        f"NannyML {nml_figures['version']} (fit on {REFERENCE_DAYS} days: "
        f"{nml_figures['fit_s']:.2f} s, not counted in compute)"
    )
    print(f"{'':20}{'ours':>10}{'NannyML':>10}{'NannyML/ours':>14}")
    for name, a, b in rows:
        print(f"{name:20}{a:10.2f}{b:10.2f}{b / a:13.1f}×")
    if problems:
        print(f"{len(problems)} disagreement(s), e.g. " + "; ".join(problems[:5]))
        return 1
    print(f"every day's TP/FP/FN/TN equal and its value equal to the cent ({n_days} days)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--side-ours"]:
        ours(*sys.argv[2:4])
    else:
        sys.exit(main())
