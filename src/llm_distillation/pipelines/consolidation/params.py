"""Typed parameters of the ``consolidation`` pipeline (``conf/*/parameters_consolidation.yml``).

Discovered and validated before the run by :func:`llm_distillation.pipelines.parameter_models`
(``PARAMETERS``).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from llm_distillation.config import StrictModel, without_removed
from llm_distillation.consolidation.checks import CheckRule, ChecksConfig
from llm_distillation.consolidation.merge import DEFAULT_REQUIRED_TASKS
from llm_distillation.errors import require_known
from llm_distillation.teacher.records import TASKS


def _known_tasks(tasks: tuple[str, ...]) -> tuple[str, ...]:
    require_known(tasks, TASKS, "tasks")
    return tasks


STUDY_CHECKS = ChecksConfig(
    empty_text=CheckRule(required=True, max_share=1.0),
    answer_mismatch=CheckRule(required=False, max_share=1.0),
)
"""The study's data is imported as it is: only rows that cannot be used (empty or missing
text, duplicates) leave the table; answer mismatches are flagged and reported."""


class StudyImportParams(StrictModel):
    """``consolidation.study_import``: the study's own consolidated shards."""

    required_tasks: tuple[str, ...] = (
        "positive_rationale",
        "counterfactual_rationale",
        "revision",
    )
    """The study has no critique column (and e-SNLI no negative rationale)."""
    checks: ChecksConfig = STUDY_CHECKS
    enforce_thresholds: bool = False
    """False: a check above its ``max_share`` is logged, not fatal (the data is fixed)."""

    _tasks = field_validator("required_tasks")(_known_tasks)


class TeacherOverrides(StrictModel):
    """``consolidation.teachers.<name>``: what differs for one teacher's outputs."""

    required_tasks: tuple[str, ...] | None = None
    checks: dict[str, CheckRule] = Field(default_factory=dict)
    """Rules that replace the global ones for this teacher, by check name."""

    _tasks = field_validator("required_tasks")(
        lambda tasks: None if tasks is None else _known_tasks(tasks)
    )

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, checks: dict[str, CheckRule]) -> dict[str, CheckRule]:
        unknown = sorted(set(checks) - set(ChecksConfig.model_fields))
        if unknown:
            raise ValueError(
                f"unknown checks {unknown}; allowed: {list(ChecksConfig.model_fields)}"
            )
        return checks


class ConsolidationParams(StrictModel):
    """``params:consolidation``."""

    required_tasks: tuple[str, ...] = DEFAULT_REQUIRED_TASKS
    """Tasks every (example, teacher) must have; the others are consolidated when present."""
    checks: ChecksConfig = ChecksConfig()
    enforce_thresholds: bool = True
    batch_rows: int = Field(default=1_000_000, ge=1)
    """Above this many teacher outputs per split, consolidate in batches of examples (bounded
    memory; the result is the same)."""
    study_import: StudyImportParams = Field(default_factory=StudyImportParams)
    teachers: dict[str, TeacherOverrides] = Field(default_factory=dict)
    """Per-teacher overrides of ``required_tasks`` and ``checks`` (e.g. a teacher
    that never wrote critiques, or a tiny demo model); null removes the base's entry."""
    _removed = field_validator("teachers", mode="before")(without_removed)

    def for_teacher(self, teacher: str) -> tuple[ChecksConfig, tuple[str, ...]]:
        """The checks and required tasks in force for ``teacher``'s outputs."""
        override = self.teachers.get(teacher)
        if override is None:
            return self.checks, self.required_tasks
        checks = self.checks.model_copy(update=override.checks)
        return checks, override.required_tasks or self.required_tasks

    _tasks = field_validator("required_tasks")(_known_tasks)


PARAMETERS = ConsolidationParams
