"""Run NannyML CBPE on the benchmark's data; executed by the NannyML virtualenv's Python.

Usage (bench_estimate.py does this): ``python cbpe_runner.py REF.parquet ANA.parquet
OUT.parquet``. Both inputs carry ``scenario, matrix, seed``; each (scenario, matrix,
seed) is one CBPE fit on its reference rows (labeled, mature days) and one estimate on
its analysis rows, chunked by day. The business value matrix [[TN, FP], [FN, TP]] comes
from the reference rows' ``tn, fp, fn, tp`` columns. Output: one row per day with
``cbpe_value`` (estimated total business value), ``cbpe_sampling_error`` and NannyML's
confidence band ``cbpe_lower`` / ``cbpe_upper`` (value ± 3 sampling errors).
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml as nml
import pandas as pd

KEYS = ["scenario", "matrix", "seed"]


def estimate(reference: pd.DataFrame, analysis: pd.DataFrame) -> pd.DataFrame:
    first = reference.iloc[0]
    matrix = [[first["tn"], first["fp"]], [first["fn"], first["tp"]]]
    estimator = nml.CBPE(
        y_pred_proba="score",
        y_pred="y_pred",
        y_true="y_true",
        timestamp_column_name="predicted_at",
        metrics=["business_value"],
        chunk_period="D",
        problem_type="classification_binary",
        business_value_matrix=matrix,
        normalize_business_value=None,
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    value = result["business_value"]
    return pd.DataFrame(
        {
            "date": pd.to_datetime(result[("chunk", "start_date")]).dt.strftime("%Y-%m-%d"),
            "cbpe_value": value["value"].to_numpy(),
            "cbpe_sampling_error": value["sampling_error"].to_numpy(),
            "cbpe_lower": value["lower_confidence_boundary"].to_numpy(),
            "cbpe_upper": value["upper_confidence_boundary"].to_numpy(),
        }
    )


def main(ref_path: str, ana_path: str, out_path: str) -> None:
    warnings.filterwarnings("ignore")
    reference = pd.read_parquet(ref_path)
    analysis = pd.read_parquet(ana_path)
    for frame in (reference, analysis):
        frame["predicted_at"] = pd.to_datetime(frame["predicted_at"]).dt.tz_localize(None)
    outs = []
    groups = dict(list(analysis.groupby(KEYS, sort=True)))
    for key, ref in reference.groupby(KEYS, sort=True):
        out = estimate(ref.reset_index(drop=True), groups[key].reset_index(drop=True))
        outs.append(out.assign(**dict(zip(KEYS, key, strict=True))))
    pd.concat(outs, ignore_index=True).to_parquet(out_path)


if __name__ == "__main__":
    main(*sys.argv[1:4])
