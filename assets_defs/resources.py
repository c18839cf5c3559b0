"""Resources: the validated config and the store it names, where the input comes from,
where alerts go."""

import datetime as dt
from dataclasses import replace

import dagster as dg

from assets_defs.settings import today
from guap_pipeline.alerts.delivery import WEBHOOK_ENV, Notifier, WebhookNotifier, notifiers
from guap_pipeline.config import GuapConfig, load_config
from guap_pipeline.ingest.source import stage_input
from guap_pipeline.ingest.stage_report import StageReport
from guap_pipeline.models_config import load_model_config
from guap_pipeline.store.store import Store


class GuapResource(dg.ConfigurableResource):
    """Business config (``guap.yaml``) and the pipeline's table store.

    ``as_of`` pins "today" (ISO date) for reproducible runs; empty means the real date.
    ``model`` names one model of a config with a ``models:`` section; empty means the
    file's single model. One resource serves every model: each model's assets, checks
    and sensors take their own with :meth:`of`. ``model_name`` is the name a single-model
    file's model goes by in alerts and reports (a component's ``name``).
    """

    config_path: str
    as_of: str = ""
    model: str = ""
    model_name: str = ""

    def of(self, model: str) -> "GuapResource":
        """This resource for model ``model`` (itself for the single model ``""``)."""
        if model == self.model:
            return self
        return GuapResource(config_path=self.config_path, as_of=self.as_of, model=model)

    def config(self) -> GuapConfig:
        if self.model:
            return load_model_config(self.config_path, self.model)
        if self.model_name:
            return replace(load_config(self.config_path), model_name=self.model_name)
        return load_config(self.config_path)

    def store(self) -> Store:
        return Store(self.config().storage)

    def today(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of) if self.as_of else today(self.config().timezone)


class SourceResource(dg.ConfigurableResource):
    """Where predictions and labels come from, as guap.yaml's ``source:`` says: the
    landing folder (default) or a database read incrementally. Another source (an object
    store) plugs in here, with a ``stage`` that returns the same report."""

    def stage(self, config: GuapConfig, store: Store) -> StageReport:
        """Validate and stage what is new at the source; say what was read."""
        return stage_input(config, store)


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go: the log always; a JSON webhook (Slack-compatible) when the
    environment variable named here holds its URL. The URL itself is a secret: it is
    read at send time and never enters config, metadata, logs or tables."""

    webhook_url_env: str = WEBHOOK_ENV
    timeout_seconds: float = 5.0

    def notifiers(self) -> list[Notifier]:
        return notifiers(
            WebhookNotifier(env_var=self.webhook_url_env, timeout_seconds=self.timeout_seconds)
        )
