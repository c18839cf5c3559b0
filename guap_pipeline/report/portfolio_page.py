"""The report of several models: one page, the portfolio on top, then each model.

A manager reads the portfolio table first (a row per model, each linking to its section,
and the totals, :mod:`guap_pipeline.report.portfolio`); each model's section below is its
own report (:func:`guap_pipeline.report.html.model_section`). One self-contained file,
so it can be mailed or archived as the single-model report is.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.formatting import day
from guap_pipeline.report.html import model_section, page
from guap_pipeline.report.portfolio import Portfolio, portfolio_table


@dataclass(frozen=True)
class ModelTables:
    """What one model's section is drawn from: its stored tables and its config."""

    config: GuapConfig
    daily: pd.DataFrame | None
    flags: pd.DataFrame
    curves: pd.DataFrame


def portfolio_html(folio: Portfolio) -> str:
    """The portfolio table (model names link to their sections; totals in bold) and
    the notes on its totals."""
    table = portfolio_table(folio)
    models = {line.model for line in folio.lines}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = []
    for values in table.itertuples(index=False):
        name, *rest = (str(v) for v in values)
        if name in models:
            first = f'<td><a href="#model-{name}">{html.escape(name)}</a></td>'
            cells = "".join(f"<td>{html.escape(v)}</td>" for v in rest)
            rows.append(f"<tr>{first}{cells}</tr>")
        else:
            cells = "".join(
                f"<td><strong>{html.escape(str(v))}</strong></td>" if v else "<td></td>"
                for v in values
            )
            rows.append(f'<tr class="total">{cells}</tr>')
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in folio.notes())
    return (
        f'<table class="portfolio"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<ul class="notes">{notes}</ul>'
    )


def render_portfolio_html(
    folio: Portfolio, tables: Mapping[str, ModelTables], *, generated: dt.date
) -> str:
    """The whole page: the portfolio, then a section per model (its report, or why it has
    none yet)."""
    sections = []
    for name, model in tables.items():
        if model.daily is None or model.daily.empty:
            body = "<p>No labeled predictions yet: run <code>guap-pipeline run</code>.</p>"
        else:
            body = model_section(
                model.daily, model.flags, model.curves, model.config,
                generated=generated, heading=3,
            )  # fmt: skip
        sections.append(
            f'<section id="model-{name}"><h2>Model {html.escape(name)}</h2>\n{body}</section>'
        )
    return page(
        "guap-pipeline report: " + ", ".join(tables),
        f"<h1>Are the models making money?</h1>\n"
        f'<p class="sub">{len(tables)} models; generated {day(generated)}.</p>\n'
        f"<h2>Portfolio</h2>\n{portfolio_html(folio)}\n" + "\n".join(sections),
    )
