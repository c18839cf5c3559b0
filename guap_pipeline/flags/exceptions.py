"""Exceptions of the trend flags: each says what is wrong and what to change.

Too little data is *not* an error: the detectors then return no flag and say why
(see :func:`guap_pipeline.flags.assess`). Errors are for settings that cannot work and
for tables the flags cannot read.
"""

from guap_pipeline.errors import GuapError, InputError


class FlagError(GuapError):
    """Base class of every error the trend flags raise on purpose."""


class FlagSettingsError(FlagError, ValueError):
    """A :class:`~guap_pipeline.flags.FlagSettings` value is out of range; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"flag setting '{field}': {problem}")


class FlagInputError(FlagError, InputError):
    """The daily summary table cannot be used as given; names the column."""
