"""Exceptions raised by guap_pipeline, all :class:`GuapError`: each says what is wrong and
what to change.

Too little data for a trend flag is *not* an error: the detectors then return no flag and
say why (see :func:`guap_pipeline.flags.assess`).
"""


class GuapError(Exception):
    """Base class of every error guap_pipeline raises on purpose."""


class ConfigError(GuapError, ValueError):
    """The business configuration is invalid; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"config field '{field}': {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickles, e.g. from a worker
        return type(self), (self.field, self.problem)


class InputError(GuapError, ValueError):
    """Input data cannot be used as given; the message names the file, row or column."""


class LockTimeoutError(GuapError, TimeoutError):
    """Another run held a lock on the store for longer than the caller would wait."""


class WorkerDiedError(GuapError, RuntimeError):
    """A worker process building days ended without finishing them (out of memory, killed)."""


class DeliveryError(GuapError):
    """A webhook did not take the alert; the message never contains the URL."""


class FlagError(GuapError):
    """Base class of every error the trend flags raise on purpose."""


class FlagSettingsError(FlagError, ValueError):
    """A :class:`~guap_pipeline.flags.FlagSettings` value is out of range; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"flag setting '{field}': {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickles, e.g. from a worker
        return type(self), (self.field, self.problem)


class FlagInputError(FlagError, InputError):
    """The daily summary table cannot be used as given; names the column."""
