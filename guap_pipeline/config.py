"""Load and validate ``guap.yaml``: one clear error naming the field, or a valid config.

The file is read with ``yaml.safe_load`` and every value is plain data: nothing in a
config is ever evaluated as code. Unknown keys are errors, not silently ignored.
Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from guap_pipeline.config_reading import (
    _date,
    _int,
    _mapping,
    _number,
    _path,
    _SafeLoader,
    _timezone,
)
from guap_pipeline.errors import ConfigError, FlagSettingsError
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.source_config import DatabaseSource, parse_source
from guap_pipeline.value_matrix import QUADRANTS, ValueMatrix

Baseline = Literal["all_negative", "all_positive", "baseline_pred"]
BASELINES: tuple[str, ...] = ("all_negative", "all_positive", "baseline_pred")
ALERTABLE: tuple[str, ...] = ("decline", "plateau", "diminishing_returns")
# The columns this tool reads by name; ``columns:`` may map each (and the segment and
# value-matrix columns) to the name it has in the user's files.
INPUT_COLUMNS: tuple[str, ...] = (
    "prediction_id",
    "predicted_at",
    "score",
    "y_pred",
    "model_version",
    "baseline_pred",
    "y_true",
    "labeled_at",
)
DEFAULT_START_DATE = dt.date(2025, 1, 1)


@dataclass(frozen=True)
class OperatingCost:
    """Money spent to run the model (positive numbers): per day, per prediction, one-time."""

    per_day: float = 0.0
    per_prediction: float = 0.0
    investment: float = 0.0


@dataclass(frozen=True)
class Acceptance:
    """Targets agreed with the business up front; each becomes an asset check."""

    min_uplift_per_day: float | None = None
    min_value_capture: float | None = None
    payback_by: dt.date | None = None


ENGINES: tuple[str, ...] = ("embedded", "dask")


@dataclass(frozen=True)
class Engine:
    """Where a day's heavy step (ingest → labeled join → quadrant money) runs.

    ``embedded`` (the default): in the calling process, in bounded memory. ``dask``: on a
    Dask distributed cluster, at ``scheduler`` (``tcp://host:8786``), or on a local
    cluster of ``workers`` processes (threads with ``processes: false``) when it is null.
    """

    kind: Literal["embedded", "dask"] = "embedded"
    scheduler: str | None = None
    workers: int = 2
    processes: bool = True


@dataclass(frozen=True)
class GuapConfig:
    """A validated business configuration. Build it with :func:`load_config`."""

    value_matrix: ValueMatrix
    landing: Path = Path("landing")
    storage: Path = Path(".guap")
    positive_class: Hashable | None = 1
    threshold: float = 0.5
    baseline: Baseline = "all_negative"
    label_window_days: int = 14
    min_label_coverage: float = 0.95
    operating_cost: OperatingCost = field(default_factory=OperatingCost)
    quadrants: Mapping[str, str] = field(default_factory=lambda: {q: q.upper() for q in QUADRANTS})
    acceptance: Acceptance = field(default_factory=Acceptance)
    timezone: str = "UTC"
    start_date: dt.date = DEFAULT_START_DATE
    start_date_given: bool = False  # False: the default, which the run summary questions
    segments: tuple[str, ...] = ()
    flags: FlagSettings = field(default_factory=FlagSettings)
    alert_on: tuple[str, ...] = ("decline",)
    engine: Engine = field(default_factory=Engine)
    currency: str = ""
    quarantine_tolerance: float = 0.01
    columns: Mapping[str, str] = field(default_factory=dict)
    class_values: Mapping[Hashable, Hashable] = field(default_factory=dict)
    source: DatabaseSource | None = None  # None: the landing folder
    # Its name under a models: section (models_config), which alerts and reports show;
    # "" for a file of one model. Not a key of the file: the section gives it.
    model_name: str = ""

    def file_column(self, name: str) -> str:
        """The name this tool's column ``name`` has in the user's files."""
        return self.columns.get(name, name)

    @property
    def classes(self) -> tuple[Hashable, ...]:
        return self.value_matrix.classes

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def negative_class(self) -> Hashable | None:
        """The binary negative class; ``None`` for multiclass."""
        if not self.is_binary:
            return None
        return next(c for c in self.classes if c != self.positive_class)


def _default(cls: type, name: str) -> object:
    """A dataclass field's default: ``parse_config`` fills absent keys from the dataclasses,
    so that each default is written once."""
    spec = cls.__dataclass_fields__[name]
    return spec.default_factory() if spec.default is MISSING else spec.default


_KEYS = {
    "landing",
    "storage",
    "classes",
    "positive_class",
    "threshold",
    "value_matrix",
    "baseline",
    "label_window_days",
    "min_label_coverage",
    "operating_cost",
    "quadrants",
    "acceptance",
    "timezone",
    "start_date",
    "segments",
    "flags",
    "alerts",
    "engine",
    "currency",
    "quarantine_tolerance",
    "columns",
    "class_values",
    "source",
}


def load_config(path: str | Path) -> GuapConfig:
    """Read and validate a ``guap.yaml`` file."""
    path = Path(path)
    return parse_config(read_config_file(path), base_dir=path.resolve().parent)


def read_config_file(path: Path) -> object:
    """The YAML file's plain data, or a :class:`ConfigError` saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "<file>", f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        raw = yaml.load(text, Loader=_SafeLoader)  # a SafeLoader: never builds objects
    except yaml.YAMLError as exc:
        raise ConfigError("<file>", f"{path} is not valid YAML: {exc}") from None
    return raw


def parse_config(raw: object, *, base_dir: str | Path = ".") -> GuapConfig:
    """Validate an already-parsed mapping (e.g. from YAML or a notebook)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("<file>", f"expected a mapping of settings, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in set(raw) - _KEYS)
    if unknown:
        raise ConfigError(unknown[0], f"unknown key; allowed keys are {sorted(_KEYS)}")
    base = Path(base_dir)

    def given(key: str) -> object:
        """The file's value of ``key``, else the dataclass default (as the file would say it)."""
        if key in raw:
            return raw[key]
        default = _default(GuapConfig, key)
        return str(default) if isinstance(default, Path) else default

    classes = _classes(raw.get("classes", [0, 1]))
    positive = _positive_class(raw, classes)
    matrix = _value_matrix(raw, classes, positive)
    baseline = _baseline(raw.get("baseline"), binary=len(classes) == 2)
    label_window_days = _int(given("label_window_days"), "label_window_days")
    segments = _segments(raw.get("segments", []))
    return GuapConfig(
        value_matrix=matrix,
        landing=_path(given("landing"), base, "landing"),
        storage=_path(given("storage"), base, "storage"),
        positive_class=positive,
        threshold=_number(given("threshold"), "threshold", low=0.0, high=1.0),
        baseline=baseline,
        label_window_days=label_window_days,
        min_label_coverage=_number(
            given("min_label_coverage"),
            "min_label_coverage",
            low=0.0,
            high=1.0,
        ),
        operating_cost=_operating_cost(raw.get("operating_cost", {})),
        quadrants=_quadrant_names(raw.get("quadrants", {})),
        acceptance=_acceptance(raw.get("acceptance", {})),
        timezone=_timezone(given("timezone")),
        start_date=_date(given("start_date"), "start_date"),
        start_date_given="start_date" in raw,
        segments=segments,
        flags=_flag_settings(raw.get("flags", {}), label_window_days),
        alert_on=_alert_on(raw.get("alerts", {})),
        engine=_engine(raw.get("engine", {})),
        currency=_currency(given("currency")),
        quarantine_tolerance=_number(
            given("quarantine_tolerance"),
            "quarantine_tolerance",
            low=0.0,
            high=1.0,
        ),
        columns=_columns(raw.get("columns", {}), (*INPUT_COLUMNS, *segments, *matrix.columns)),
        class_values=_class_values(raw.get("class_values", {}), classes),
        source=parse_source(raw.get("source")),
    )


def _columns(raw: object, known: tuple[str, ...]) -> dict[str, str]:
    """``columns:``: this tool's column name → the name in the user's files, one to one."""
    fields = _mapping(raw, "columns", set(known))
    mapped: dict[str, str] = {}
    for name, file_name in fields.items():
        if not isinstance(file_name, str) or not file_name.strip():
            raise ConfigError(f"columns.{name}", f"expected a column name, got {file_name!r}")
        other = next((k for k, v in mapped.items() if v == file_name), None)
        if other is not None:
            raise ConfigError(f"columns.{name}", f"{file_name!r} is already the {other} column")
        mapped[name] = file_name
    return mapped


def _class_values(raw: object, classes: tuple[Hashable, ...]) -> dict[Hashable, Hashable]:
    """``class_values:``: a value as written in the user's files → its declared class."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("class_values", f"expected a mapping of value: class, got {raw!r}")
    values: dict[Hashable, Hashable] = {}
    for value, target in raw.items():
        name = f"class_values.{str(value).lower() if isinstance(value, bool) else value}"
        if not isinstance(value, str | int) or (isinstance(value, str) and not value.strip()):
            raise ConfigError(name, f"expected a word, a number or true/false, got {value!r}")
        if isinstance(target, bool) or target not in classes:
            raise ConfigError(name, f"{target!r} is not one of classes {list(classes)}")
        if not isinstance(value, bool) and value in classes and value != target:
            raise ConfigError(name, f"{value!r} is itself a class; it cannot mean {target!r}")
        values[value.strip() if isinstance(value, str) else value] = target
    return values


def _currency(raw: object) -> str:
    """A currency code or symbol shown beside money (``EUR``, ``$``); empty shows none."""
    if not isinstance(raw, str) or len(raw) > 8 or not raw.strip() == raw or "\n" in raw:
        raise ConfigError("currency", f"expected a short code or symbol such as EUR, got {raw!r}")
    return raw


def _classes(raw: object) -> tuple[Hashable, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError("classes", f"expected a list of at least 2 class labels, got {raw!r}")
    for label in raw:
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise ConfigError("classes", f"class labels must be integers or strings, got {label!r}")
    duplicated = sorted({str(c) for c in raw if raw.count(c) > 1})
    if duplicated:
        raise ConfigError("classes", f"duplicated class label(s) {duplicated}")
    return tuple(raw)


def _positive_class(raw: Mapping[str, Any], classes: tuple[Hashable, ...]) -> Hashable | None:
    if "positive_class" not in raw:
        if len(classes) == 2:
            return 1 if 1 in classes else classes[1]
        return None
    positive = raw["positive_class"]
    if positive not in classes or isinstance(positive, bool):
        raise ConfigError("positive_class", f"{positive!r} is not one of classes {list(classes)}")
    return positive


def _value_matrix(
    raw: Mapping[str, Any], classes: tuple[Hashable, ...], positive: Hashable | None
) -> ValueMatrix:
    if "value_matrix" not in raw:
        raise ConfigError("value_matrix", "required: the money each decision earns or costs")
    matrix = raw["value_matrix"]
    if isinstance(matrix, Mapping):
        return ValueMatrix.from_named(matrix, classes=classes, positive_class=positive)
    return ValueMatrix.from_nested(matrix, classes=classes)


def _baseline(raw: object, *, binary: bool) -> Baseline:
    if raw is None:
        if binary:
            return "all_negative"
        raise ConfigError(
            "baseline", "multiclass configs must set 'baseline: baseline_pred' (the status quo)"
        )
    if raw not in BASELINES:
        raise ConfigError("baseline", f"expected one of {list(BASELINES)}, got {raw!r}")
    if not binary and raw != "baseline_pred":
        raise ConfigError("baseline", f"'{raw}' is binary-only; multiclass needs baseline_pred")
    return raw  # type: ignore[return-value]


def _operating_cost(raw: object) -> OperatingCost:
    fields = _mapping(raw, "operating_cost", {"per_day", "per_prediction", "investment"})
    return OperatingCost(
        **{k: _number(v, f"operating_cost.{k}", low=0.0) for k, v in fields.items()}
    )


def _quadrant_names(raw: object) -> Mapping[str, str]:
    fields = _mapping(raw, "quadrants", set(QUADRANTS))
    names = {q: q.upper() for q in QUADRANTS}
    for key, name in fields.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"quadrants.{key}", f"expected a business name, got {name!r}")
        names[key] = name.strip()
    return names


def _acceptance(raw: object) -> Acceptance:
    fields = _mapping(raw, "acceptance", {"min_uplift_per_day", "min_value_capture", "payback_by"})
    return Acceptance(
        min_uplift_per_day=(
            _number(fields["min_uplift_per_day"], "acceptance.min_uplift_per_day")
            if "min_uplift_per_day" in fields
            else None
        ),
        min_value_capture=(
            _number(fields["min_value_capture"], "acceptance.min_value_capture")
            if "min_value_capture" in fields
            else None
        ),
        payback_by=(
            _date(fields["payback_by"], "acceptance.payback_by") if "payback_by" in fields else None
        ),
    )


def _segments(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        raise ConfigError("segments", f"expected a list of column names, got {raw!r}")
    return tuple(raw)


def _flag_settings(raw: object, label_window_days: int) -> FlagSettings:
    """Trend-flag settings; the label window is the config's own, not set twice."""
    allowed = set(FlagSettings.__dataclass_fields__) - {"label_window_days"}
    fields = _mapping(raw, "flags", allowed)
    try:
        return FlagSettings(**fields, label_window_days=label_window_days)
    except FlagSettingsError as exc:
        raise ConfigError(f"flags.{exc.field}", exc.problem) from None
    except TypeError as exc:
        raise ConfigError("flags", str(exc)) from None


def _alert_on(raw: object) -> tuple[str, ...]:
    fields = _mapping(raw, "alerts", {"on"})
    flags = fields.get("on", list(_default(GuapConfig, "alert_on")))
    if not isinstance(flags, list) or any(f not in ALERTABLE for f in flags):
        raise ConfigError(
            "alerts.on", f"expected a list drawn from {list(ALERTABLE)}, got {flags!r}"
        )
    return tuple(flags)


def _engine(raw: object) -> Engine:
    fields = _mapping(raw, "engine", {"kind", "scheduler", "workers", "processes"})
    kind = fields.get("kind", _default(Engine, "kind"))
    if kind not in ENGINES:
        raise ConfigError("engine.kind", f"expected one of {list(ENGINES)}, got {kind!r}")
    extra = sorted(str(k) for k in fields if k != "kind")
    if kind == "embedded" and extra:
        raise ConfigError(f"engine.{extra[0]}", "only the dask engine takes settings")
    scheduler = fields.get("scheduler")
    if scheduler is not None and (
        not isinstance(scheduler, str) or "://" not in scheduler or scheduler.strip() != scheduler
    ):
        raise ConfigError(
            "engine.scheduler",
            f"expected a scheduler address like tcp://host:8786, or null, got {scheduler!r}",
        )
    workers = fields.get("workers", _default(Engine, "workers"))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError("engine.workers", f"expected a whole number >= 1, got {workers!r}")
    if scheduler is not None and "workers" in fields:
        raise ConfigError("engine.workers", "a remote cluster has its own workers: drop it")
    processes = fields.get("processes", _default(Engine, "processes"))
    if not isinstance(processes, bool):
        raise ConfigError("engine.processes", f"expected true or false, got {processes!r}")
    return Engine(kind=kind, scheduler=scheduler, workers=workers, processes=processes)
