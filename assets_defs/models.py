"""How one model's definitions are named: unprefixed for a single-model config, under
the model's name for each model of a ``models:`` section.

Asset keys take the name as a prefix (``fraud/daily_quadrant_profit``; its op is
``fraud__daily_quadrant_profit``), as do jobs, schedules and sensors
(``fraud__daily_profit_job``) and groups (``fraud_daily``). Check names stay as they
are: a check is keyed by its asset, which carries the prefix.
"""

from dataclasses import dataclass

import dagster as dg

from assets_defs.resources import GuapResource


@dataclass(frozen=True)
class ModelKeys:
    """The names of one model's definitions; ``name=""`` is the single model.

    ``config_path`` is set by the component (:mod:`assets_defs.component`): there each
    model brings its own single-model ``guap.yaml``, and the resource they share only
    contributes its ``as_of``.
    """

    name: str = ""
    config_path: str = ""

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.name, asset] if self.name else [asset])

    def prefix(self) -> list[str]:
        """The ``key_prefix`` of the model's asset decorators."""
        return [self.name] if self.name else []

    def named(self, name: str) -> str:
        """A job, schedule, sensor or op name of this model."""
        return f"{self.name}__{name}" if self.name else name

    @staticmethod
    def of_job(job_name: str) -> str:
        """The name of the model a job belongs to (``""``: the single model's): undoes
        :meth:`named`."""
        model, named, _ = job_name.rpartition("__")
        return model if named else ""

    def group(self, group: str) -> str:
        return f"{self.name}_{group}" if self.name else group

    def resource(self, guap: GuapResource) -> GuapResource:
        """The deployment's ``guap`` resource, for this model."""
        if self.config_path:
            return GuapResource(
                config_path=self.config_path, as_of=guap.as_of, model_name=self.name
            )
        return guap.of(self.name)


SINGLE = ModelKeys()
