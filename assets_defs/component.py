"""The Dagster component: a team with its own Dagster project adds a monitored model by
writing one ``defs.yaml`` (the ``dg`` convention) instead of running this code location.

.. code-block:: yaml

    type: assets_defs.component.GuapModel
    attributes:
      name: fraud              # prefixes every key: fraud/daily_quadrant_profit, fraud__...
      config: guap.yaml        # a single-model guap.yaml, relative to this defs.yaml

It builds what a model of a ``models:`` section gets in the code location
(:func:`assets_defs.factory.model_definitions`), plus a run-failure sensor that watches
the model's own jobs only. The resources are one shared object per key, so any number of
instances merge; each model reads its own config through its :class:`ModelKeys`.
"""

import datetime as dt
from dataclasses import replace
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets_defs.factory import model_definitions
from assets_defs.models import ModelKeys
from assets_defs.resources import AlertsResource, GuapResource, SourceResource
from assets_defs.sensors import run_failure_alert_sensor_for
from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import ConfigError
from guap_pipeline.models_config import MODEL_NAME, load_deployment, own_folders

# Definitions.merge accepts one resource key from several instances only when it is the
# very same object; the config path lives in each model's ModelKeys, not here.
SHARED_RESOURCES = {
    "guap": GuapResource(config_path=""),
    "source": SourceResource(),
    "alerts": AlertsResource(),
}


STARTER_CONFIG = """\
# The model's business config: README "Configure a real model" lists every setting; the
# guap-pipeline command line reads this file too. Relative paths are from this folder.
landing: ./landing          # where prediction and label files arrive: point it there
storage: ./.guap            # where the pipeline keeps its tables (Parquet)
start_date: {today}
value_matrix: {{tp: 0, fp: 0, fn: 0, tn: 0}}   # money per prediction: fill in
"""


class GuapModelScaffolder(dg.Scaffolder):
    """``dg scaffold defs assets_defs.component.GuapModel fraud``: a ``defs.yaml`` named
    after the folder and a starter ``guap.yaml`` beside it (kept when one exists)."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = request.target_path.name.lower().replace("-", "_")
        dg.scaffold_component(request, {"name": name, "config": "guap.yaml"})
        config = request.target_path / "guap.yaml"
        if not config.exists():
            config.write_text(STARTER_CONFIG.format(today=dt.date.today().isoformat()))


@dg.scaffold_with(GuapModelScaffolder)
class GuapModel(dg.Component, dg.Model, dg.Resolvable):
    """A monitored model: daily realized profit, series, flags, checks and alerts of one
    deployed classifier, its definitions under ``name``."""

    name: str = Field(
        description="The model's name: lower-case letters, digits and single underscores. "
        "It prefixes the asset keys (name/daily_quadrant_profit), job, schedule and sensor "
        "names (name__daily_profit_job) and groups (name_daily)."
    )
    config: str = Field(
        description="Path of the model's guap.yaml (one model, no models: section), "
        "relative to the folder of this defs.yaml; the guap-pipeline command line reads "
        "the same file."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = (Path(context.path) / self.config).resolve()
        model = ModelKeys(self.name, config_path=str(path))
        config = component_config(self.name, path)
        claim_folders(Path(context.path).resolve(), config)
        own = model_definitions(model, config)
        sensor = run_failure_alert_sensor_for(model.named("run_failure_alert_sensor"), own.jobs)
        return dg.Definitions.merge(
            own, dg.Definitions(sensors=[sensor], resources=SHARED_RESOURCES)
        )


def component_config(name: str, path: Path) -> GuapConfig:
    """The config of the component's model, validated by the core parser; errors name
    the attribute or the config field."""
    if not MODEL_NAME.match(name):
        raise ConfigError(
            "name",
            f"{name!r}: a model name is lower-case letters, digits and single underscores, "
            "starting with a letter (it prefixes the model's Dagster keys)",
        )
    deployment = load_deployment(path)
    if deployment.several:
        raise ConfigError(
            "config",
            f"{path} has a models: section; a component monitors one model: point it at a "
            "single-model file (or load that file as its own code location)",
        )
    return replace(deployment.models[""], model_name=name)  # alerts and report name it


# The config of every component loaded in this process, by its defs.yaml's folder (a
# reload of the same folder replaces its entry; a folder since removed or renamed is
# forgotten when the next component loads).
_LOADED: dict[Path, GuapConfig] = {}


def claim_folders(folder: Path, config: GuapConfig) -> None:
    """Refuse a component whose store or landing folder another component of the project
    already uses (as a ``models:`` section refuses it): each instance loads on its own, so
    nothing else would see two models writing one store."""
    for gone in [k for k in _LOADED if not k.is_dir()]:
        del _LOADED[gone]
    others = {str(k): c for k, c in _LOADED.items() if k != folder}
    own_folders({**others, str(folder): config}, field=lambda _key, name: name)
    _LOADED[folder] = config
