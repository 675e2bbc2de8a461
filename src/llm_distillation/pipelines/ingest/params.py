"""Typed parameters of the ``ingest`` pipeline (``conf/*/parameters_ingest.yml``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from llm_distillation.config import StrictModel
from llm_distillation.errors import require_known
from llm_distillation.sampling import Subsample
from llm_distillation.schema import BENCHMARKS


class BenchmarkIngest(StrictModel):
    """Per-benchmark ingest settings: subsample sizes per source split."""

    train: Subsample = Subsample()
    dev: Subsample = Subsample()
    test: Subsample = Subsample()


class IngestParams(StrictModel):
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


PARAMETERS = IngestParams
