"""Reading ``guap.yaml``: the YAML loader (plain data only, no duplicate keys, YAML 1.2
booleans, impossible dates kept as text) and the validators of single values (paths,
numbers, whole days, mappings with known keys, time zones, dates), each raising a
:class:`ConfigError` that names the field. :mod:`guap_pipeline.config` builds the config
from them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from guap_pipeline.errors import ConfigError


class _SafeLoader(yaml.SafeLoader):
    """``yaml.safe_load``, except that an impossible date (``2026-02-30``) stays a string.

    PyYAML raises a bare ``ValueError`` for such scalars; kept as text, they reach the
    field's own validation, whose :class:`ConfigError` names the field.
    """


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    """A YAML mapping; a key given twice is an error, not a silent "last one wins"."""
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConfigError(str(key), f"given twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
_SafeLoader.add_constructor("tag:yaml.org,2002:map", _mapping_without_duplicates)
# YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as booleans, which
# turned the documented `alerts: {on: [...]}` into a key True (and `NO` into False).
_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _path(raw: object, base: Path, name: str) -> Path:
    if not isinstance(raw, str) or not raw:
        raise ConfigError(name, f"expected a folder path, got {raw!r}")
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _number(
    raw: object, name: str, *, low: float | None = None, high: float | None = None
) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ConfigError(name, f"expected a finite number, got {raw!r}")
    if (low is not None and raw < low) or (high is not None and raw > high):
        raise ConfigError(name, f"must be between {low} and {high}, got {raw!r}")
    return float(raw)


def _int(raw: object, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ConfigError(name, f"expected a whole number of days, got {raw!r}")
    if raw < 0:
        raise ConfigError(name, f"must not be negative, got {raw}")
    return raw


def _mapping(raw: object, name: str, allowed: set[str]) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(name, f"expected a mapping, got {raw!r}")
    unknown = sorted(str(k) for k in set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}", f"unknown key; allowed: {sorted(allowed)}")
    return raw


def _timezone(raw: object) -> str:
    if not isinstance(raw, str):
        raise ConfigError("timezone", f"expected an IANA time zone name, got {raw!r}")
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"unknown time zone {raw!r}") from None
    return raw


def _date(raw: object, name: str) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise ConfigError(name, f"expected a date like 2026-06-30, got {raw!r}")
