"""Realized business value and confusion matrix per day with NannyML's PerformanceCalculator.

Executed by the NannyML virtualenv's Python (``bench_vs_nannyml.py`` does this)::

    python nannyml_realized_runner.py DATA.parquet OUT.parquet TN FP FN TP REFERENCE_DAYS

Fits on the first ``REFERENCE_DAYS`` days (NannyML needs a reference period), then
calculates every day of the data as one chunk per day (``chunk_period="D"``). Writes one
row per day (``date, tp, fp, fn, tn, value``) and prints one JSON line: seconds to
import NannyML, read the data, fit and calculate (wall and CPU), and the process's
peak RSS in MiB.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings

started = time.perf_counter()
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml as nml  # noqa: E402
import pandas as pd  # noqa: E402

CONFUSION = {
    "tp": "true_positive",
    "fp": "false_positive",
    "fn": "false_negative",
    "tn": "true_negative",
}


def main(data_path: str, out_path: str, tn: str, fp: str, fn: str, tp: str, days: str) -> None:
    warnings.filterwarnings("ignore")
    imported = time.perf_counter()
    data = pd.read_parquet(data_path)
    read = time.perf_counter()
    first = data["predicted_at"].min().normalize()
    reference = data[data["predicted_at"] < first + pd.Timedelta(days=int(days))]
    calculator = nml.PerformanceCalculator(
        y_true="y_true",
        y_pred="y_pred",
        y_pred_proba="score",
        timestamp_column_name="predicted_at",
        problem_type="classification_binary",
        metrics=["business_value", "confusion_matrix"],
        chunk_period="D",
        business_value_matrix=[[float(tn), float(fp)], [float(fn), float(tp)]],
        normalize_business_value=None,
        normalize_confusion_matrix=None,
    )
    calculator.fit(reference)
    fitted, cpu = time.perf_counter(), time.process_time()
    result = calculator.calculate(data).filter(period="analysis").to_df()
    calculated, cpu = time.perf_counter(), time.process_time() - cpu
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(result[("chunk", "start_date")]).dt.strftime("%Y-%m-%d"),
            **{q: result[(name, "value")].to_numpy() for q, name in CONFUSION.items()},
            "value": result[("business_value", "value")].to_numpy(),
        }
    )
    out.to_parquet(out_path)
    figures = {
        "import_s": imported - started,
        "read_s": read - imported,
        "fit_s": fitted - read,
        "compute_s": calculated - fitted,
        "compute_cpu_s": cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "version": nml.__version__,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main(*sys.argv[1:8])
