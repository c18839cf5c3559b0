"""Several models in one ``guap.yaml``: a ``models:`` section, one full config per model.

A file without ``models:`` is one model, exactly as before (its name is ``""``, and the
Dagster layer keeps its keys unprefixed). With ``models:``, each entry is a complete
single-model config (value matrix, classes, time zone, start date, label window, costs,
alerts, flags, landing, storage) under a name that prefixes its Dagster keys; its
errors name it (``models.fraud.value_matrix``). Nothing is inherited between models:
each entry reads on its own, as the single-model file it would be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from guap_pipeline.config import GuapConfig, parse_config, read_config_file
from guap_pipeline.errors import ConfigError

MODELS_KEY = "models"
# A Dagster name part (asset key prefix, job and sensor names): lower case, no "__",
# which separates the prefix from the name.
MODEL_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class Deployment:
    """The models one config file monitors, in the file's order; ``""`` is the single
    model of a file without ``models:``."""

    models: Mapping[str, GuapConfig]

    @property
    def several(self) -> bool:
        """True when the file has a ``models:`` section (keys prefixed by model name)."""
        return "" not in self.models

    def select(self, name: str | None) -> Deployment:
        """The deployment reduced to model ``name`` (all of them for ``None``)."""
        if name is None:
            return self
        if not self.several:
            raise ConfigError(
                MODELS_KEY, f"--model {name}: this config has no models: section (one model)"
            )
        if name not in self.models:
            raise ConfigError(
                MODELS_KEY, f"no model named {name!r}; the models are {list(self.models)}"
            )
        return Deployment({name: self.models[name]})


def load_deployment(path: str | Path) -> Deployment:
    """Read and validate a config file of one model or several."""
    path = Path(path)
    return parse_deployment(read_config_file(path), base_dir=path.resolve().parent)


def load_model_config(path: str | Path, name: str) -> GuapConfig:
    """The config of model ``name`` (``""``: the file's single model)."""
    return load_deployment(path).select(name or None).models[name]


def parse_deployment(raw: object, *, base_dir: str | Path = ".") -> Deployment:
    """Validate an already-parsed file: one model's settings, or ``models:`` only."""
    if not isinstance(raw, Mapping) or MODELS_KEY not in raw:
        return Deployment({"": parse_config(raw, base_dir=base_dir)})
    others = sorted(str(key) for key in raw if key != MODELS_KEY)
    if others:
        raise ConfigError(
            others[0], "with a models: section every setting goes under its model's name"
        )
    entries = raw[MODELS_KEY]
    if not isinstance(entries, Mapping) or not entries:
        raise ConfigError(
            MODELS_KEY, f"expected a mapping of model name: settings, got {entries!r}"
        )
    models: dict[str, GuapConfig] = {}
    for name, settings in entries.items():
        if not isinstance(name, str) or not MODEL_NAME.match(name):
            raise ConfigError(
                f"{MODELS_KEY}.{name}",
                "a model name is lower-case letters, digits and single underscores, "
                "starting with a letter (it prefixes the model's Dagster keys)",
            )
        try:
            models[name] = replace(parse_config(settings, base_dir=base_dir), model_name=name)
        except ConfigError as exc:
            field = "" if exc.field == "<file>" else f".{exc.field}"
            raise ConfigError(f"{MODELS_KEY}.{name}{field}", exc.problem) from None
    own_folders(models)
    return Deployment(models)


def own_folders(
    models: Mapping[str, GuapConfig],
    field: Callable[[str, str], str] = lambda key, folder: f"{MODELS_KEY}.{key}.{folder}",
) -> None:
    """Each model keeps its own store and reads its own landing folder: shared, one
    model's run would overwrite the other's tables or stage its files. Raises on the
    first model (in ``models``' order) whose folder an earlier one holds; ``field``
    names the config field from the model's key and the folder."""
    for folder in ("storage", "landing"):
        seen: dict[Path, str] = {}
        for key, config in models.items():
            if folder == "landing" and config.source is not None:
                continue  # read from a database: the landing folder is not used
            path = getattr(config, folder).resolve()
            if path in seen:
                raise ConfigError(
                    field(key, folder),
                    f"{path} is model {seen[path]!r}'s {folder} too; each model needs its own",
                )
            seen[path] = config.model_name or key
