"""Exceptions raised by guap_pipeline: each says what is wrong and what to change."""


class GuapError(Exception):
    """Base class of every error guap_pipeline raises on purpose."""


class ConfigError(GuapError, ValueError):
    """The business configuration is invalid; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"config field '{field}': {problem}")


class InputError(GuapError, ValueError):
    """Input data cannot be used as given; the message names the file, row or column."""


class LockTimeoutError(GuapError, TimeoutError):
    """Another run held a lock on the store for longer than the caller would wait."""
