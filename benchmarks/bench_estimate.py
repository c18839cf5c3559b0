"""Benchmark of the immature-day profit estimate against a known truth, beside NannyML CBPE.

Each run simulates ``DAYS`` days of scored traffic with late labels (legitimate outcomes
after ~1-7 days, positives after ~5-25 days, as in the demo), stops the clock at the
end of the last day, and estimates every day whose label window (28 days) has not
passed, from the labels that have arrived by then. The truth of a day is its realized
profit once every label is in. Scenarios (``SCENARIOS``):

- ``stable`` — calibrated scores, constant prevalence: CBPE's assumptions hold.
- ``miscalibrated`` — stable, but the scores are over-confident (both methods calibrate).
- ``prevalence_shift`` — the positive rate doubles half-way through the estimated days;
  the class-conditional score distributions do not change (so P(y | score) does).
- ``degrading`` — the model separates the classes less and less over the last 6 weeks:
  P(y | score) drifts, which no score-only method can see until labels arrive.
- ``covariate_shift`` — over the estimated days the traffic moves towards riskier
  customers (the latent signal's distribution tilted by ``exp(λ·latent)``, λ = 0.4:
  fraud ×3.3, every score higher) while P(y | latent, amount) stays the same: the
  scores stay calibrated, CBPE's assumptions hold, and there is nothing to correct.
- ``covariate_no_labels`` — the issue-15 data set: ``PRE_DAYS`` days labeled as usual, then
  no label at all for ``DARK_DAYS`` days (labels stop arriving when they start) while the
  traffic drifts towards riskier customers (tilt λ rising linearly from 0 to 0.4, as in
  ``covariate_shift``). The days past their window whose labels stopped are marked stalled
  as the pipeline's label feed marks them (:mod:`guap_pipeline.ingest.label_feed`), so every day
  since the labels stopped is estimated; the clock stops at the end of the last day.

Two value matrices: ``constant`` (TN 0, FP −10, FN −170, TP 145: what CBPE supports)
and ``amount`` (the demo's example-dependent values: FN −amount, TP 0.9 × amount − 5);
CBPE gets the constant matrix whose cells are the reference's mean values per quadrant.

Metrics, per scenario, matrix and method, over the estimated days of every seed:
``mae`` (mean absolute error of the daily estimate against the realized value once all
labels are in), ``bias_total`` (Σ estimate − Σ truth, relative to Σ |truth|),
``coverage`` of the interval (90 % for ours; CBPE's ±3 sampling-error band) and its
mean ``width``. Ours is also reported on the days that are at most one day old
(``age ≤ 1``: almost no labels, the like-for-like comparison with CBPE, which uses none).

``coverage_open`` counts only the days still *open*: a day whose unlabeled rows are all
at their most likely outcome with probability ≥ 90 % (``DECIDED``; e.g. a week-old day
whose last unlabeled rows are almost surely fraud) is covered by any honest 90 %
interval, so it says nothing of the interval's level. ``oracle`` is the yardstick: the
truth's own P(fraud | latent, amount) and label delays, summed with a normal 90 %
interval — what a perfect method would score on the same seeds, so that the sampling
noise of a few dozen seeds is not read as the method's error.

CBPE runs in its own virtualenv (NannyML 0.13 pulls scikit-learn, XGBoost, LightGBM...),
driven through :mod:`cbpe_runner` with Parquet files; see ``benchmarks/README.md``::

    python3 -m venv benchmarks/.venv-nannyml
    benchmarks/.venv-nannyml/bin/pip install nannyml==0.13.1 statsmodels pyarrow
    .venv/bin/python benchmarks/bench_estimate.py            # 12 seeds, see the README
    .venv/bin/python benchmarks/bench_estimate.py --quick    # 6 seeds
    .venv/bin/python benchmarks/bench_estimate.py --no-cbpe  # ours only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from guap_pipeline.config import parse_config
from guap_pipeline.estimate import estimate_frame, fit_calibration
from guap_pipeline.ingest import label_feed
from guap_pipeline.money.accounting import account
from guap_pipeline.money.one_day import day_profit
from guap_pipeline.series.daily_table import daily_summary

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
NANNYML_PYTHON = HERE / ".venv-nannyml" / "bin" / "python"

DAYS = 84
WINDOW = 28  # label_window_days: the last 28 days are estimated
ROWS_PER_DAY = 2000
START = dt.date(2026, 1, 1)
PREVALENCE = 0.03
SEPARATION = 3.0  # latent N(0, 1) vs N(d, 1)
SHIFT_DAY = DAYS - WINDOW // 2  # prevalence_shift: doubles from here
DEGRADE_FROM, DEGRADED = DAYS - 42, 1.5  # degrading: separation 3.0 -> 1.5 linearly
COVARIATE_FROM, TILT = DAYS - WINDOW, 0.4  # covariate_shift: latent density × exp(0.4·x)
PRE_DAYS, DARK_DAYS = 56, 300  # covariate_no_labels: labeled days, then days with no label
SCENARIOS = (
    "stable",
    "miscalibrated",
    "prevalence_shift",
    "degrading",
    "covariate_shift",
    "covariate_no_labels",
)
MATRICES = {
    "constant": {"tp": 145, "fp": -10, "fn": -170, "tn": 0},
    "amount": {"tp": {"amount": 0.9, "constant": -5}, "fp": -10, "fn": {"amount": -1.0}, "tn": 0},
}
AMOUNT_SHIFT, AMOUNT_SD = 0.5, 0.7  # log-amount ~ N(log 80 + 0.5·fraud, 0.7)
# label delays in days: legitimate 1 + 6·Beta(1.5, 3), fraud 5 + 20·Beta(2, 3)
DELAYS = {0: stats.beta(1.5, 3.0, loc=1.0, scale=6.0), 1: stats.beta(2.0, 3.0, loc=5.0, scale=20.0)}
LEVEL = 0.9
Z = float(stats.norm.ppf(0.5 + LEVEL / 2))
ORACLE = ("oracle", "oracle_low", "oracle_high")
DECIDED = 0.9  # a day whose unlabeled outcomes are this likely all at their mode is "decided"
AGES = {"age<=1": (0, 1), "age 2-6": (2, 6), "age>=7": (7, PRE_DAYS + DARK_DAYS)}  # since the day


def config_for(matrix: str):
    return parse_config(
        {
            "value_matrix": MATRICES[matrix],
            "label_window_days": WINDOW,
            "min_label_coverage": 0.95,
            "start_date": START.isoformat(),
        }
    )


def n_days(scenario: str) -> int:
    return PRE_DAYS + DARK_DAYS if scenario == "covariate_no_labels" else DAYS


def label_stop(scenario: str) -> pd.Timestamp:
    """When the labels stop arriving: the end of the last day, or for
    ``covariate_no_labels`` the start of its first day without labels."""
    days = PRE_DAYS if scenario == "covariate_no_labels" else n_days(scenario)
    return pd.Timestamp(START + dt.timedelta(days=days), tz="UTC")


def simulate(scenario: str, seed: int) -> pd.DataFrame:
    """One run's rows with their final outcome (``y_true``) and label time."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_days(scenario)):
        day = START + dt.timedelta(days=i)
        n = int(rng.poisson(ROWS_PER_DAY))
        prevalence = PREVALENCE * (2.0 if scenario == "prevalence_shift" and i >= SHIFT_DAY else 1)
        separation = SEPARATION
        if scenario == "degrading" and i >= DEGRADE_FROM:
            separation -= (SEPARATION - DEGRADED) * (i - DEGRADE_FROM) / (DAYS - 1 - DEGRADE_FROM)
        tilt = TILT if scenario == "covariate_shift" and i >= COVARIATE_FROM else 0.0
        if scenario == "covariate_no_labels" and i >= PRE_DAYS:
            tilt = TILT * (i - PRE_DAYS) / (DARK_DAYS - 1)
        # a density tilted by exp(tilt·x) moves each class's N(μ, 1) to N(μ + tilt, 1) and
        # its odds by exp(tilt·separation): P(y | latent) is unchanged
        odds = prevalence / (1 - prevalence) * np.exp(tilt * separation)
        y = (rng.random(n) < odds / (1 + odds)).astype(np.int64)
        latent = rng.normal(tilt, 1.0, n) + separation * y
        # the truth's own P(fraud | latent, amount): what an oracle would know
        true_log_odds = (
            separation * latent - separation**2 / 2 + np.log(prevalence / (1 - prevalence))
        )
        # the model's belief: separation 3.0 at the original prevalence (calibrated then)
        log_odds = SEPARATION * latent - SEPARATION**2 / 2 + np.log(PREVALENCE / (1 - PREVALENCE))
        if scenario == "miscalibrated":
            log_odds = 1.8 * log_odds + 1.0
        score = 1.0 / (1.0 + np.exp(-log_odds))
        amount = np.round(rng.lognormal(np.log(80.0) + AMOUNT_SHIFT * y, AMOUNT_SD), 2).clip(
            min=1.0
        )
        true_log_odds += (
            AMOUNT_SHIFT / AMOUNT_SD**2 * (np.log(amount) - np.log(80.0) - AMOUNT_SHIFT / 2)
        )
        seconds = np.sort(rng.integers(0, 86_400, n))
        predicted = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")
        delay = np.where(
            y == 1, DELAYS[1].rvs(size=n, random_state=rng), DELAYS[0].rvs(size=n, random_state=rng)
        )
        frames.append(
            pd.DataFrame(
                {
                    "prediction_id": [f"{day}-{j}" for j in range(n)],
                    "predicted_at": predicted,
                    "date": day.isoformat(),
                    "model_version": "m1",
                    "score": score,
                    "y_pred": (score >= 0.5).astype(np.int64),
                    "amount": amount,
                    "y_true": y,
                    "labeled_at": predicted + pd.to_timedelta(delay * 86_400, unit="s").round("s"),
                    "p_true": 1.0 / (1.0 + np.exp(-true_log_odds)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def as_seen(rows: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The row-level table as the pipeline holds it at ``now``: later labels are null."""
    seen = rows.copy()
    late = seen["labeled_at"] >= now
    seen["y_true"] = seen["y_true"].astype("Int64").mask(late)
    seen["labeled_at"] = seen["labeled_at"].mask(late)
    return seen


def row_values(matrix: str, y: int, y_pred: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each row's value were its outcome ``y`` (written out here, not read from the library)."""
    if matrix == "constant":
        cells = MATRICES["constant"]
        return np.where(y_pred == 1, cells["tp"] if y else cells["fp"], cells["fn"] if y else 0.0)
    if y:
        return np.where(y_pred == 1, 0.9 * amount - 5.0, -amount)
    return np.where(y_pred == 1, -10.0, 0.0)


def oracle(rows: pd.DataFrame, now: pd.Timestamp, matrix: str) -> pd.DataFrame:
    """Per date, what an oracle knowing the truth's P(fraud | latent, amount) and the label
    delays would say: a normal 90 % interval, and how likely the day is already decided."""
    unlabeled = (rows["labeled_at"] >= now).to_numpy()
    age = ((now - rows["predicted_at"]) / pd.Timedelta(days=1)).to_numpy()
    p, y_pred = rows["p_true"].to_numpy(), rows["y_pred"].to_numpy()
    amount = rows["amount"].to_numpy()
    # still unlabeled at this age: P(fraud) tilted by how likely each class's label is late
    late1, late0 = DELAYS[1].sf(age), DELAYS[0].sf(age)
    q = np.where(unlabeled, p * late1 / np.maximum(p * late1 + (1 - p) * late0, 1e-300), 0.0)
    v1, v0 = row_values(matrix, 1, y_pred, amount), row_values(matrix, 0, y_pred, amount)
    y = rows["y_true"].to_numpy()
    seen = np.where(y == 1, v1, v0)
    frame = pd.DataFrame(
        {
            "date": rows["date"],
            "mean": np.where(unlabeled, q * v1 + (1 - q) * v0, seen),
            "var": np.where(unlabeled, q * (1 - q) * (v1 - v0) ** 2, 0.0),
            "log_mode": np.where(unlabeled, np.log(np.maximum(q, 1 - q)), 0.0),
        }
    )
    day = frame.groupby("date").sum()
    sd = np.sqrt(day["var"])
    return pd.DataFrame(
        {
            "oracle": day["mean"],
            "oracle_low": day["mean"] - Z * sd,
            "oracle_high": day["mean"] + Z * sd,
            "decided": np.exp(day["log_mode"]) >= DECIDED,
        }
    ).reset_index()


@dataclass(frozen=True)
class Run:
    scenario: str
    matrix: str
    seed: int
    adapt: str = "auto"  # estimate.py's adapt: auto | always | never


def run_ours(run: Run) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(our estimates joined with the truth, CBPE reference rows, CBPE analysis rows)."""
    config = config_for(run.matrix)
    rows = simulate(run.scenario, run.seed)
    stop = label_stop(run.scenario)
    as_of = START + dt.timedelta(days=n_days(run.scenario))
    seen = as_seen(rows, stop)
    summary = day_profit(seen, config).summary
    stalled = stalled_dates(seen, summary, config, as_of)
    daily = daily_summary(summary, config, as_of, stalled=stalled)
    estimated = estimate_frame(seen, daily, config, as_of=as_of, adapt=run.adapt)
    truth = (
        account(rows, config.value_matrix, by=["date", "model_version"], positive_class=1)
        .summary(1)[["date", "model_version", "profit"]]
        .rename(columns={"profit": "truth"})
    )
    out = estimated.merge(truth, on=["date", "model_version"]).merge(
        oracle(rows, stop, run.matrix), on="date"
    )
    out = out[out["estimate_kind"] == "estimated"].copy()
    out["age"] = (as_of - pd.to_datetime(out["date"]).dt.date).map(lambda d: d.days - 1)
    out["scenario"], out["matrix"], out["seed"] = run.scenario, run.matrix, run.seed
    out["stalled"] = out["date"].isin(stalled)

    # CBPE: reference = the mature days that calibrate ours; analysis = the estimated days
    estimated_days = set(out["date"])
    reference_days = sorted(set(daily["date"]) - estimated_days)[-WINDOW:]
    ref = rows[rows["date"].isin(reference_days)]
    out = out.merge(isotonic(ref, seen[seen["date"].isin(estimated_days)], run.matrix), on="date")
    ana = rows[rows["date"].isin(estimated_days)]
    matrix = cbpe_matrix(run.matrix, ref)
    keep = ["predicted_at", "date", "score", "y_pred", "y_true"]
    tag = {"scenario": run.scenario, "matrix": run.matrix, "seed": run.seed}
    ref_out = ref[keep].assign(
        **tag, tn=matrix[0][0], fp=matrix[0][1], fn=matrix[1][0], tp=matrix[1][1]
    )
    return out, ref_out, ana[keep].assign(**tag)


def stalled_dates(
    seen: pd.DataFrame, summary: pd.DataFrame, config, as_of: dt.date
) -> frozenset[str]:
    """The days the pipeline's label feed holds back as stalled (past their window, far
    below the usual coverage for their age), learned from the labels seen."""
    labeled = seen[seen["y_true"].notna()]
    start = pd.to_datetime(labeled["date"]).dt.tz_localize("UTC")
    age = ((labeled["labeled_at"] - start) // pd.Timedelta(days=1)).to_numpy()
    counts = {}
    for day in summary["date"].astype(str).unique():
        size = (as_of - dt.date.fromisoformat(day)).days + 1
        mine = age[(labeled["date"] == day).to_numpy()]
        counts[day] = np.bincount(np.clip(mine, 0, size - 1), minlength=size)
    ages = label_feed.LabelAges(counts, dict.fromkeys(counts, 0), labeled["labeled_at"].max())
    days = label_feed.day_coverage(summary, as_of)
    samples = label_feed.samples_from_label_ages(ages, days["n_predictions"], config, as_of)
    usual = label_feed.usual_coverage(samples, basis=label_feed.BASIS_LABELED_AT)
    stalled = label_feed.stalled_days(days, usual, config.label_window_days)
    return frozenset(stalled.index.astype(str))


def isotonic(reference: pd.DataFrame, days: pd.DataFrame, matrix: str) -> pd.DataFrame:
    """Per date, the plain isotonic expected value: the labeled rows' realized value plus
    Σ P(fraud | score) × value over the unlabeled ones, P from the reference rows alone (no
    label delays, recalibration or prior shift: the yardstick those must not lose to)."""
    p = fit_calibration(reference["score"], reference["y_true"]).predict(days["score"])
    y_pred, amount = days["y_pred"].to_numpy(), days["amount"].to_numpy()
    v1, v0 = row_values(matrix, 1, y_pred, amount), row_values(matrix, 0, y_pred, amount)
    y = days["y_true"].to_numpy(dtype=float, na_value=np.nan)
    value = np.where(np.isnan(y), p * v1 + (1 - p) * v0, np.where(y == 1, v1, v0))
    per_day = pd.DataFrame({"date": days["date"], "isotonic": value}).groupby("date").sum()
    return per_day.reset_index()


def cbpe_matrix(matrix: str, reference: pd.DataFrame) -> list[list[float]]:
    """CBPE's constant business value matrix [[TN, FP], [FN, TP]]."""
    cells = MATRICES[matrix]
    if matrix == "constant":
        return [[cells["tn"], cells["fp"]], [cells["fn"], cells["tp"]]]
    fraud = reference.loc[(reference["y_true"] == 1), "amount"]
    caught = reference.loc[(reference["y_true"] == 1) & (reference["y_pred"] == 1), "amount"]
    missed = reference.loc[(reference["y_true"] == 1) & (reference["y_pred"] == 0), "amount"]
    tp = 0.9 * (caught.mean() if len(caught) else fraud.mean()) - 5
    fn = -(missed.mean() if len(missed) else fraud.mean())
    return [[0.0, -10.0], [float(fn), float(tp)]]


def run_cbpe(reference: pd.DataFrame, analysis: pd.DataFrame, python: Path) -> pd.DataFrame:
    """CBPE estimates per (scenario, matrix, seed, date), from the NannyML virtualenv."""
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, ana_path, out_path = (Path(tmp) / f"{n}.parquet" for n in ("ref", "ana", "out"))
        reference.to_parquet(ref_path)
        analysis.to_parquet(ana_path)
        env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
        subprocess.run(
            [
                str(python),
                str(HERE / "cbpe_runner.py"),
                str(ref_path),
                str(ana_path),
                str(out_path),
            ],
            check=True,
            env=env,
        )
        return pd.read_parquet(out_path)


def metrics(frame: pd.DataFrame, estimate: str, low: str, high: str) -> dict[str, float]:
    err = frame[estimate] - frame["truth"]
    slack = 1e-6 * (1 + frame["truth"].abs())  # a degenerate interval at the truth covers it
    covered = (frame["truth"] >= frame[low] - slack) & (frame["truth"] <= frame[high] + slack)
    open_days = (
        ~frame["decided"].astype(bool) if "decided" in frame else pd.Series(True, frame.index)
    )
    return {
        "days": len(frame),
        "mae": float(err.abs().mean()),
        "bias_total": float(err.sum() / frame["truth"].abs().sum()),
        "coverage": float(covered.mean()),
        "open_days": int(open_days.sum()),
        "coverage_open": float(covered[open_days].mean()),
        "width": float((frame[high] - frame[low]).mean()),
    }


def summarise(results: pd.DataFrame, cbpe: pd.DataFrame | None) -> pd.DataFrame:
    rows = []
    est = ("estimated_profit", "estimated_profit_low", "estimated_profit_high")
    cb = ("cbpe_value", "cbpe_lower", "cbpe_upper")
    for (scenario, matrix), group in results.groupby(["scenario", "matrix"], sort=False):
        key = {"scenario": scenario, "matrix": matrix}
        rows.append({**key, "method": "ours", **metrics(group, *est)})
        for label, (first, last) in AGES.items():
            part = group[group["age"].between(first, last)]
            rows.append({**key, "method": f"ours, {label}", **metrics(part, *est)})
        rows.append({**key, "method": "oracle", **metrics(group, *ORACLE)})
        young = group[group["age"] <= 1]
        rows.append({**key, "method": "oracle, age<=1", **metrics(young, *ORACLE)})
        iso = ["isotonic"] * 3  # a point value: its "coverage" says nothing
        rows.append({**key, "method": "isotonic", **metrics(group, *iso)})
        rows.append({**key, "method": "isotonic, age<=1", **metrics(young, *iso)})
        dark = group["n_labeled"] == 0  # like for like: no method has a label of these
        if dark.any() and not dark.all():
            rows.append({**key, "method": "ours, no label", **metrics(group[dark], *est)})
            rows.append({**key, "method": "isotonic, no label", **metrics(group[dark], *iso)})
        if group["stalled"].any():
            stalled = group[group["stalled"]]
            rows.append({**key, "method": "ours, stalled days", **metrics(stalled, *est)})
        realized = group.assign(lo=group["profit"], hi=group["profit"])
        rows.append({**key, "method": "realized so far", **metrics(realized, "profit", "lo", "hi")})
        if cbpe is not None:
            mine = cbpe[(cbpe["scenario"] == scenario) & (cbpe["matrix"] == matrix)]
            joined = mine.merge(
                group[["seed", "date", "truth", "age", "decided", "n_labeled"]], on=["seed", "date"]
            )
            rows.append({**key, "method": "CBPE", **metrics(joined, *cb)})
            if dark.any() and not dark.all():
                unlabeled = joined[joined["n_labeled"] == 0]
                rows.append({**key, "method": "CBPE, no label", **metrics(unlabeled, *cb)})
            young = joined[joined["age"] <= 1]
            rows.append({**key, "method": "CBPE, age<=1", **metrics(young, *cb)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="6 seeds")
    parser.add_argument("--no-cbpe", action="store_true", help="skip NannyML CBPE")
    parser.add_argument("--nannyml-python", type=Path, default=NANNYML_PYTHON)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--name", help="output file stem under benchmarks/out/")
    parser.add_argument("--matrices", nargs="*", default=list(MATRICES), choices=list(MATRICES))
    parser.add_argument("--adapt", default="auto", choices=("auto", "always", "never"))
    args = parser.parse_args(argv)
    seeds = 6 if args.quick else args.seeds
    runs = [
        Run(s, m, seed, args.adapt)
        for s in args.scenarios
        for m in args.matrices
        for seed in range(seeds)
    ]
    if not args.no_cbpe and not args.nannyml_python.exists():
        print(f"no NannyML interpreter at {args.nannyml_python}; see benchmarks/README.md")
        return 2
    started = time.time()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        parts = pool.map(run_ours, runs)
    results = pd.concat([p[0] for p in parts], ignore_index=True)
    ours_seconds = time.time() - started
    cbpe = None
    if not args.no_cbpe:
        t = time.time()
        cbpe = run_cbpe(
            pd.concat([p[1] for p in parts], ignore_index=True),
            pd.concat([p[2] for p in parts], ignore_index=True),
            args.nannyml_python,
        )
        cbpe_seconds = time.time() - t
    table = summarise(results, cbpe)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    print(f"\nours: {len(runs)} runs in {ours_seconds:.0f} s", end="")
    print(f"; CBPE: {cbpe_seconds:.0f} s" if cbpe is not None else "")
    OUT.mkdir(exist_ok=True)
    name = args.name or ("bench_estimate_quick" if args.quick else "bench_estimate")
    (OUT / f"{name}.json").write_text(json.dumps(table.to_dict("records"), indent=1))
    results.to_parquet(OUT / f"{name}_days.parquet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
