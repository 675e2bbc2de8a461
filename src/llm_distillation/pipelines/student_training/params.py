"""Typed parameters of ``student_training`` (``conf/*/parameters_student_training.yml``).

Validated in the ``after_context_created`` hook and again when the registry expands the
matrix (:mod:`~llm_distillation.pipelines.student_training.matrix`), before any model is
loaded: an unknown student, condition or benchmark in ``matrix``, a bad name, or an invalid
training setting fails the run at once, naming the setting and the allowed values. Students,
conditions and the training settings are the framework's own models
(:mod:`llm_distillation.training.config`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from llm_distillation.config import StrictModel, without_removed
from llm_distillation.errors import require_known
from llm_distillation.sampling import Subsample
from llm_distillation.schema import BENCHMARKS, table_namespace
from llm_distillation.training.conditions import NAMED_CONDITIONS, condition_spec, for_benchmark
from llm_distillation.training.config import ConditionSpec, StudentSpec, TrainingConfig

_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


def _names(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    bad = [v for v in values if not _NAME.match(v)]
    if bad:
        raise ValueError(
            f"{what} names {bad} are not lower-case words joined by '_' (they become part of "
            "Kedro namespaces and folder names)"
        )
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"{what} {duplicates} listed more than once")
    return values


class MatrixParams(StrictModel):
    """``student_training.matrix``: the cells are every benchmark × student × condition; the
    seeds train one after another inside each cell."""

    benchmarks: tuple[str, ...] = Field(min_length=1)
    students: tuple[str, ...] = Field(min_length=1)
    """Keys of ``student_training.students``."""
    conditions: tuple[str, ...] = Field(min_length=1)
    """Keys of ``student_training.conditions``."""
    seeds: tuple[int, ...] = Field(min_length=1)

    @field_validator("benchmarks")
    @classmethod
    def _benchmarks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        require_known(v, BENCHMARKS, "benchmarks")
        return _names(v, "benchmark")

    @field_validator("students", "conditions")
    @classmethod
    def _words(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _names(v, "student/condition")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v) or min(v) < 0:
            raise ValueError(f"seeds must be distinct and >= 0, got {list(v)}")
        return v


class DataParams(StrictModel):
    """``student_training.data``: which consolidated table, and how much of it.

    The train examples are a seeded subsample (``llm_distillation.sampling.take_seeded``) of
    ``<table>_<benchmark>.consolidated_train``; the dev examples are carved from the rest of
    that table (seed + 1). The test split never selects checkpoints.
    """

    source: Literal["study", "generated"] = "study"
    """``study``: the study teacher's outputs imported by consolidation
    (``study_<b>.consolidated_train``); ``generated``: our teachers'
    (``<b>.consolidated_train``)."""
    teachers: tuple[str, ...] | None = None
    """Keep these teachers' rows only (default: every teacher in the table)."""
    train: Subsample = Subsample()
    """Examples to train on, of those left after dev (default: all of them)."""
    dev: Subsample = Subsample(fraction=0.1)
    """Dev examples carved from the table (the study: 10 % of train)."""
    seed: int = 0

    @model_validator(mode="after")
    def _some_dev(self) -> DataParams:
        if self.dev.n is None and self.dev.fraction is None:
            raise ValueError("dev: give n or fraction (model selection needs dev examples)")
        return self

    def table(self, benchmark: str) -> str:
        """The catalog name of the consolidated train table of ``benchmark``."""
        return f"{table_namespace(benchmark, study=self.source == 'study')}.consolidated_train"


class StudentTrainingParams(StrictModel):
    """``params:student_training``."""

    matrix: MatrixParams
    students: dict[str, StudentSpec]
    """An entry set to null (in ``conf/<env>``) removes the base's student of that name."""
    conditions: dict[str, ConditionSpec] = Field(default_factory=lambda: dict(NAMED_CONDITIONS))
    """The study's named conditions (``standard``, ``cf_unrevised``, ``mt_unrevised``,
    ``mt_cf_unrevised``, ``mt_cf_revised``) plus any declared here: a full spec
    (``{mode: mt_cf, rationale: revised, gamma: 0.7}``) or a named one with overrides
    (``{name: mt_cf_revised, gamma: 0.7}``)."""
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    training_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per student: settings that replace ``training``'s (e.g. a smaller per-device batch
    with more accumulation for a large student)."""
    data: DataParams = DataParams()

    _removed = field_validator("students", mode="before")(without_removed)

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        declared = {
            name: condition_spec(spec, setting=f"conditions.{name}") for name, spec in value.items()
        }
        return {**NAMED_CONDITIONS, **declared}

    @model_validator(mode="after")
    def _known(self) -> StudentTrainingParams:
        require_known(self.matrix.students, self.students, "students", field="matrix.students")
        require_known(
            self.matrix.conditions, self.conditions, "conditions", field="matrix.conditions"
        )
        require_known(
            self.training_overrides, self.students, "students", field="training_overrides"
        )
        for student in self.training_overrides:
            self.training_for(student)  # every override must give a valid TrainingConfig
        return self

    def training_for(self, student: str) -> TrainingConfig:
        """``training`` with ``training_overrides[student]`` applied (validated)."""
        override = self.training_overrides.get(student)
        if not override:
            return self.training
        return TrainingConfig.model_validate({**self.training.model_dump(), **override})

    def condition_for(self, condition: str, benchmark: str) -> ConditionSpec:
        """``conditions[condition]`` as trained on ``benchmark``: with the study's
        per-benchmark factual rationale when the condition sets none
        (:func:`llm_distillation.training.conditions.for_benchmark`)."""
        return for_benchmark(self.conditions[condition], benchmark)


PARAMETERS = StudentTrainingParams
