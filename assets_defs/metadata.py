"""What the assets show in the Dagster UI: metadata built from the core's tables.

Kept apart from the assets so each asset stays a few lines of wiring.
"""

import base64
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate import estimate_kinds
from guap_pipeline.html_report import charts
from guap_pipeline.monitoring import FlagResult
from guap_pipeline.storage import Store
from guap_pipeline.timeseries import DAILY_COLUMNS
from guap_pipeline.value_matrix import QUADRANTS


def day_metadata(summary: pd.DataFrame, names: Mapping[str, str]) -> dict[str, Any]:
    """Numbers the UI plots per partition, and the quadrant table per model version."""
    totals = summary[["n_predictions", "n_labeled", "profit", "uplift", "baseline_profit"]].sum()
    n_pred, n_lab = int(totals["n_predictions"]), int(totals["n_labeled"])
    metadata: dict[str, Any] = {
        "profit": float(totals["profit"]),
        "uplift": float(totals["uplift"]),
        "baseline_profit": float(totals["baseline_profit"]),
        "n_predictions": n_pred,
        "n_labeled": n_lab,
        "label_coverage": float(n_lab / n_pred) if n_pred else 0.0,
    }
    if summary[list(QUADRANTS)].notna().all().all():
        for q in QUADRANTS:
            metadata[f"value_{q}"] = float(summary[f"value_{q}"].sum())
            metadata[f"count_{q}"] = int(summary[q].sum())
        table = pd.DataFrame(
            [
                {
                    "model_version": row.model_version,
                    "quadrant": f"{q.upper()} ({names[q]})",
                    "count": int(getattr(row, q)),
                    "value": round(float(getattr(row, f"value_{q}")), 2),
                }
                for row in summary.itertuples()
                for q in QUADRANTS
            ]
        )
        metadata["quadrants"] = dg.MetadataValue.md(table.to_markdown(index=False))
    return metadata


def chart_markdown(images: Mapping[str, bytes]) -> dg.MetadataValue:
    """The report's charts as PNG images inside one Markdown metadata value."""
    return dg.MetadataValue.md(
        "\n\n".join(
            f"**{name.replace('_', ' ')}**\n\n![{name}](data:image/png;base64,"
            f"{base64.b64encode(png).decode()})"
            for name, png in images.items()
        )
    )


def series_metadata(
    daily: pd.DataFrame, found: FlagResult, store: Store, config: GuapConfig
) -> dict[str, Any]:
    """The series' totals, its days, and the report's charts."""
    mature = daily[daily["mature"].astype(bool)] if len(daily) else daily
    metadata: dict[str, Any] = {
        "dagster/row_count": len(daily),
        "days": int(daily["date"].nunique()) if len(daily) else 0,
        "mature_days": int(mature["date"].nunique()) if len(mature) else 0,
        "total_profit": float(daily["profit"].sum()) if len(daily) else 0.0,
        "total_uplift": float(daily["uplift"].sum()) if len(daily) else 0.0,
        "cumulative_net_profit": float(daily["net_profit"].sum()) if len(daily) else 0.0,
        "estimated_days": int((estimate_kinds(daily) == "estimated").sum()) if len(daily) else 0,
        "columns": dg.MetadataValue.json(list(DAILY_COLUMNS)),
        "path": dg.MetadataValue.path(str(store.path("daily_summary"))),
    }
    if len(daily):
        curves = store.read_partitions("threshold_curve")
        metadata["charts"] = chart_markdown(charts(daily, found.flags, curves, config))
    return metadata


def flags_metadata(found: FlagResult, store: Store) -> dict[str, Any]:
    """How many flags are active, and what could not be assessed."""
    return {
        "active_flags": len(found.flags),
        "flag_notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in found.notes) or "none"),
        "path": dg.MetadataValue.path(str(store.path("flags"))),
    }
