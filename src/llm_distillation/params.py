"""Typed parameters of every pipeline, validated before any node runs (see ``hooks.py``).

Each ``conf/*/parameters_<pipeline>.yml`` has one top-level key, the pipeline's name; the model
registered for that key by :func:`parameter_models` validates it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llm_distillation.errors import require_known
from llm_distillation.schema import BENCHMARKS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subsample(_Strict):
    """Keep ``n`` examples, or a ``fraction`` of them (seeded); neither keeps all."""

    n: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_of(self) -> Subsample:
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either n or fraction, not both")
        return self


class BenchmarkIngest(_Strict):
    """Per-benchmark ingest settings: subsample sizes per source split."""

    train: Subsample = Subsample()
    dev: Subsample = Subsample()
    test: Subsample = Subsample()


class IngestParams(_Strict):
    """``params:ingest``."""

    seed: int = 0
    dev_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Share of the (subsampled) train split carved out as the dev split, when the source has
    no dev split of its own. Model selection uses dev; the test split never picks checkpoints."""
    max_rejected_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """The run fails when a benchmark rejects more than this share of its rows."""
    benchmarks: dict[str, BenchmarkIngest] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> IngestParams:
        require_known(self.benchmarks, BENCHMARKS, "benchmarks")
        return self

    def for_benchmark(self, benchmark: str) -> BenchmarkIngest:
        return self.benchmarks.get(benchmark, BenchmarkIngest())


def parameter_models() -> dict[str, type[BaseModel]]:
    """Top-level parameter key -> its model.

    ``ingest`` is defined here; every other pipeline package may define its model as
    ``PARAMETERS`` in ``llm_distillation.pipelines.<name>.params`` (key = the pipeline's name).
    """
    models: dict[str, type[BaseModel]] = {"ingest": IngestParams}
    import llm_distillation.pipelines as pipelines_pkg

    for info in pkgutil.iter_modules(pipelines_pkg.__path__):
        if not info.ispkg or info.name in models:
            continue
        module_name = f"llm_distillation.pipelines.{info.name}.params"
        if importlib.util.find_spec(module_name) is None:
            continue
        model = getattr(importlib.import_module(module_name), "PARAMETERS", None)
        if model is not None:
            models[info.name] = model
    return models


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every known top-level key of ``params``; raise one error naming each problem."""
    out: dict[str, BaseModel] = {}
    problems: list[str] = []
    for key, model in parameter_models().items():
        if key not in params:
            continue
        try:
            out[key] = model.model_validate(params[key])
        except ValidationError as err:
            for e in err.errors():
                where = ".".join(str(p) for p in (key, *e["loc"]))
                problems.append(
                    f"  {where}: {e['msg']} (got {e.get('input')!r}; "
                    f"see conf/*/parameters_{key}.yml)"
                )
    if problems:
        raise ValueError("Invalid parameters:\n" + "\n".join(problems))
    return out
