"""The code location built from a config: every asset, check, job, schedule and sensor.

:func:`build_definitions` takes the config's path, so the partitions (start date, time
zone) and the resources follow it without an environment variable read at import; the
command line and tests call it, and :mod:`assets_defs.definitions` calls it for
``dagster dev``.
"""

from pathlib import Path

import dagster as dg

from assets_defs.assets import model_assets
from assets_defs.checks import freshness_checks, model_checks
from assets_defs.jobs import model_jobs
from assets_defs.models import ModelKeys
from assets_defs.partitions import daily_partitions
from assets_defs.resources import AlertsResource, GuapResource, SourceResource
from assets_defs.schedules import daily_monitoring_schedule
from assets_defs.sensors import model_sensors, run_failure_alert_sensor
from assets_defs.settings import load_models_if_present
from guap_pipeline.config import GuapConfig


def build_definitions(config_path: str | Path) -> dg.Definitions:
    """Definitions for the config at ``config_path`` (defaults when it does not exist yet):
    each model's under its name when the config has a ``models:`` section."""
    return dg.Definitions.merge(
        *(
            model_definitions(ModelKeys(name), config)
            for name, config in load_models_if_present(config_path).items()
        ),
        dg.Definitions(
            sensors=[run_failure_alert_sensor],
            resources={
                "guap": GuapResource(config_path=str(config_path)),
                "source": SourceResource(),
                "alerts": AlertsResource(),
            },
        ),
    )


def model_definitions(model: ModelKeys, config: GuapConfig | None) -> dg.Definitions:
    """One model's assets, checks, jobs, schedule and sensors, without resources (the
    code location and the component bind them); ``config=None``: defaults."""
    freshness = freshness_checks(model)
    jobs = model_jobs(model, freshness)
    timezone = config.timezone if config else "UTC"
    return dg.Definitions(
        assets=model_assets(model, daily_partitions(config)),
        asset_checks=[*model_checks(model), *freshness],
        jobs=list(jobs),
        schedules=[daily_monitoring_schedule(timezone, jobs.ingest_landing, model)],
        sensors=model_sensors(model, jobs, freshness),
    )
