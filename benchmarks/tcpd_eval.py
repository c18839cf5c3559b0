"""Score the flags' change-point search on the TCPD benchmark series (F1 and covering).

The data are the Turing Change Point Dataset series shipped in ``../shared/tcpd/`` (see
its README: van den Burg & Williams, *An Evaluation of Change Point Detection
Algorithms*, arXiv:2003.06222). Only the 25 univariate series of the paper's benchmark
that are present are scored. Each series is z-scored (as TCPDBench does) and given to
:func:`guap_pipeline.flags.changepoint.change_points` with fixed parameters — no tuning
per series, which is the paper's "default" experiment.

Metrics, implemented here from the paper's definitions:

- F1 with a margin of 5 points. Precision compares the predictions with the union of
  all annotators' change points; recall is averaged over annotators; the start of the
  series (index 0) counts as a change point in every set; each annotated point can be
  matched by at most one prediction.
- Covering: for each annotator, Σ over their segments of |segment| × the best Jaccard
  overlap with a predicted segment, divided by the series length; averaged over
  annotators.

Published averages (over the paper's full univariate set, which includes ten series not
shipped here): default PELT F1 0.674 / cover 0.652; "zero" (no change point) 0.645 /
0.566. The zero method is scored here too, on the same 25 series, so the comparison
with the published numbers can be read on equal footing.

Usage::

    .venv/bin/python benchmarks/tcpd_eval.py [--tcpd ../shared/tcpd]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import ruptures as rpt

from guap_pipeline.flags.changepoint import MeanShiftCost, change_points, noise_scale

BENCHMARK = (
    "bank",
    "brent_spot",
    "businv",
    "centralia",
    "children_per_woman",
    "co2_canada",
    "construction",
    "debt_ireland",
    "gdp_argentina",
    "gdp_croatia",
    "gdp_iran",
    "gdp_japan",
    "global_co2",
    "homeruns",
    "jfk_passengers",
    "lga_passengers",
    "nile",
    "ozone",
    "rail_lines",
    "seatbelts",
    "shanghai_license",
    "unemployment_nl",
    "us_population",
    "usd_isk",
    "well_log",
)
PUBLISHED = {"pelt (default)": (0.674, 0.652), "zero": (0.645, 0.566)}
DEFAULT_TCPD = Path(__file__).resolve().parents[2] / "shared" / "tcpd"


# --- metrics ------------------------------------------------------------------------------


def matched(truth: Iterable[int], predicted: Iterable[int], margin: int = 5) -> int:
    """How many true points have a prediction within ``margin``, each prediction used once.

    True points are taken in increasing order, each matched to the nearest unused
    prediction (ties to the earlier one).
    """
    free = sorted(set(predicted))
    hits = 0
    for tau in sorted(set(truth)):
        near = [(abs(tau - x), x) for x in free if abs(tau - x) <= margin]
        if near:
            free.remove(min(near)[1])
            hits += 1
    return hits


def f1_score(
    annotations: Mapping[str, Sequence[int]], predicted: Sequence[int], margin: int = 5
) -> float:
    """The paper's F1: precision against all annotators' points, recall per annotator."""
    truths = [set(points) | {0} for points in annotations.values()]
    union = set().union(*truths)
    pred = set(predicted) | {0}
    precision = matched(union, pred, margin) / len(pred)
    recall = sum(matched(t, pred, margin) / len(t) for t in truths) / len(truths)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def segments(points: Iterable[int], n: int) -> list[range]:
    """The segments ``[0, p1), [p1, p2), … [pk, n)`` cut at ``points`` (0 and n ignored)."""
    cuts = sorted({p for p in points if 0 < p < n})
    bounds = [0, *cuts, n]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


def cover_score(
    annotations: Mapping[str, Sequence[int]], predicted: Sequence[int], n: int
) -> float:
    """The paper's covering: best-overlap-weighted agreement, averaged over annotators."""

    def jaccard(a: range, b: range) -> float:
        inter = max(0, min(a.stop, b.stop) - max(a.start, b.start))
        return inter / (len(a) + len(b) - inter)

    mine = segments(predicted, n)
    scores = []
    for points in annotations.values():
        theirs = segments(points, n)
        scores.append(sum(len(s) * max(jaccard(s, m) for m in mine) for s in theirs) / n)
    return sum(scores) / len(scores)


# --- methods ------------------------------------------------------------------------------


def flags_default(x: np.ndarray) -> list[int]:
    """The flags' change-point search with the product's defaults (MBIC, min 7 points)."""
    return change_points(x)


def flags_min_one(x: np.ndarray) -> list[int]:
    """The same with segments of one point allowed, as the published default PELT."""
    return change_points(x, min_size=1)


def flags_difference_scale(x: np.ndarray) -> list[int]:
    """The same search with the noise scale of first differences (trend-blind, small)."""
    return change_points(x, scale=noise_scale(x))


def previous_default(x: np.ndarray) -> list[int]:
    """The previous version: l2 cost without the MBIC term, scale = the series' sd."""
    n = len(x)
    algo = rpt.Pelt(custom_cost=MeanShiftCost(), min_size=7, jump=1)
    return algo.fit((x - np.median(x)) / x.std()).predict(pen=3 * math.log(n))[:-1]


def published_default_pelt(x: np.ndarray) -> list[int]:
    """Replica of the paper's default PELT: R ``cpt.mean(x, penalty="MBIC", method="PELT")``.

    Normal mean cost with unit variance on ``scale(x)`` (sd with n − 1), the package's
    MBIC, minimum segment 1. Indices as :func:`change_points` returns them (first point
    of the new segment).
    """
    return change_points(x, min_size=1, scale=float(x.std(ddof=1)))


def published_default_pelt_r_indices(x: np.ndarray) -> list[int]:
    """The same, reported as TCPDBench reports R's output: last point of the old segment."""
    return [c - 1 for c in published_default_pelt(x)]


def pelt_normal_mbic(x: np.ndarray) -> list[int]:
    """ruptures PELT, Gaussian mean-and-variance cost, penalty 3 log n."""
    n = len(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ruptures' note on its covariance bias
        algo = rpt.Pelt(model="normal", min_size=2, jump=1)
        return algo.fit(x.reshape(-1, 1)).predict(pen=3 * math.log(n))[:-1]


def zero(x: np.ndarray) -> list[int]:
    """No change point at all."""
    return []


METHODS: dict[str, Callable[[np.ndarray], list[int]]] = {
    "flags change_points, defaults (MBIC, long-run scale, min 7)": flags_default,
    "same, min segment 1": flags_min_one,
    "same, noise scale from first differences": flags_difference_scale,
    "previous default (l2, series sd, min 7)": previous_default,
    "replica of published default PELT (cpt.mean, MBIC)": published_default_pelt,
    "same replica, R's indices (old segment's last point)": published_default_pelt_r_indices,
    "ruptures PELT normal (mean and variance), 3 log n": pelt_normal_mbic,
    "zero": zero,
}


def clean(points: Iterable[int], n: int) -> list[int]:
    """TCPDBench's clean-up: unique indices in ``[1, n − 2]`` (0 and n − 1 are no change)."""
    return sorted({int(p) for p in points if 1 <= p < n - 1})


def load(tcpd: Path, name: str) -> np.ndarray:
    data = json.loads((tcpd / "datasets" / f"{name}.json").read_text())
    raw = np.array([np.nan if v is None else v for v in data["series"][0]["raw"]], dtype=float)
    return (raw - raw.mean()) / raw.std()


def evaluate(tcpd: Path) -> dict[str, dict[str, dict[str, float]]]:
    annotations = json.loads((tcpd / "annotations.json").read_text())
    out: dict[str, dict[str, dict[str, float]]] = {m: {} for m in METHODS}
    for name in BENCHMARK:
        x = load(tcpd, name)
        for method, find in METHODS.items():
            with np.errstate(all="ignore"):
                predicted = clean(find(x), len(x))
            out[method][name] = {
                "f1": f1_score(annotations[name], predicted),
                "cover": cover_score(annotations[name], predicted, len(x)),
                "n_cp": len(predicted),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tcpd", type=Path, default=DEFAULT_TCPD)
    parser.add_argument("--per-series", action="store_true")
    args = parser.parse_args(argv)
    results = evaluate(args.tcpd)
    print(f"| method ({len(BENCHMARK)} TCPD series) | F1 | cover |")
    print("| --- | --- | --- |")
    for method, rows in results.items():
        f1 = np.mean([r["f1"] for r in rows.values()])
        cover = np.mean([r["cover"] for r in rows.values()])
        print(f"| {method} | {f1:.4f} | {cover:.4f} |")
    for method, (f1, cover) in PUBLISHED.items():
        print(f"| published {method} (paper's full set) | {f1:.3f} | {cover:.3f} |")
    if args.per_series:
        for name in BENCHMARK:
            cells = "  ".join(
                f"{r[name]['f1']:.2f}/{r[name]['cover']:.2f}({r[name]['n_cp']})"
                for r in results.values()
            )
            print(f"{name:20s} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
