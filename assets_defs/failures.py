"""A failed run's cause in its own words, for the command line and the run-failure alert:
Dagster's run failure names only the steps that failed, not why."""

from collections.abc import Iterable

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from guap_pipeline import errors
from guap_pipeline.errors import GuapError


def failure_cause(events: Iterable[dg.DagsterEvent], run_failure: dg.DagsterEvent | None) -> str:
    """The first failed step among ``events`` and its error's own words; without one,
    what the run's failure event says."""
    for event in events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None:  # Dagster wraps the op's own exception
                error = error.cause
            return f"step {event.step_key}: {own_words(error)}"
    return (run_failure.message if run_failure else None) or "unknown failure"


def own_words(error: SerializableErrorInfo) -> str:
    """A GuapError's message as written; any other error with its class name (a bug)."""
    name = error.cls_name or ""
    head, _, tail = error.message.strip().partition(": ")  # "module.Class: words"
    words = tail if name and head.endswith(name) else error.message.strip()
    known = getattr(errors, name, None)
    mine = isinstance(known, type) and issubclass(known, GuapError)
    return words if mine else f"{name}: {words}"
