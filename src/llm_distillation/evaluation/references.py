"""Metrics that need a teacher reference, and which of them a test table cannot give.

Three metrics compare the student with the teacher's text of the same test example:

=======================  ==================================================================
``rouge_l``              against the teacher rationale the cell learned from (unrevised
``embedding_similarity`` ``few_shot_positive_rationale`` or revised ``few_shot_revision``)
``cf_faithfulness``      probes with the teacher's rationales of the wrong options
                         (``counterfactual_prompt_answer_{i}_rationale``)
=======================  ==================================================================

A test split without those columns (the ingest test split, e.g. e-SNLI in ``conf/paper``:
the study kept no teacher outputs of e-SNLI's test rows), or with them empty, cannot give
them: they are *skipped*, and each skip is a row of ``<ns>.skipped_metrics`` with its reason,
so the report can say why a cell has no value. The counterfactual probes themselves are then
not generated. Every other metric (words, distractors, option consistency, probe consistency,
LAS) needs only the student's own outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import polars as pl

from llm_distillation.teacher.records import counterfactual_columns

if TYPE_CHECKING:
    from llm_distillation.evaluation.plan import CellPlan

SKIPPED_SCHEMA: Final = pl.Schema(
    {
        **dict.fromkeys(["cell", "benchmark", "student", "condition", "split"], pl.String),
        "metric": pl.String,
        "reason": pl.String,
    }
)
"""``<ns>.skipped_metrics``: one row per enabled metric the cell's test table cannot give."""


def _has_text(table: pl.DataFrame, column: str) -> bool:
    if column not in table.columns:
        return False
    text = pl.col(column).str.strip_chars()
    return bool(table.select((text.is_not_null() & (text != "")).any()).item())


def has_counterfactual_rationales(table: pl.DataFrame) -> bool:
    """Whether any row of ``table`` has a teacher rationale of some option."""
    return any(_has_text(table, c) for c in counterfactual_columns(table))


def missing_references(
    table: pl.DataFrame, plan: CellPlan, metrics: Sequence[str]
) -> dict[str, str]:
    """metric -> why it is skipped, for the ``metrics`` (enabled) that the cell's condition
    has (explanations, probes) but ``table`` (the cell's test rows) gives no teacher text for.
    """
    out: dict[str, str] = {}
    column = plan.reference_column
    if column is not None and not _has_text(table, column):
        reason = (
            f"the test table has no teacher rationale ({column}) to compare the student's "
            "explanation with"
        )
        out |= {m: reason for m in ("rouge_l", "embedding_similarity") if m in metrics}
    if plan.probes and "cf_faithfulness" in metrics and not has_counterfactual_rationales(table):
        out["cf_faithfulness"] = (
            "the test table has no teacher counterfactual rationales "
            "(counterfactual_prompt_answer_{i}_rationale) to probe the student with"
        )
    return out


def skipped_table(
    skipped: dict[str, str], columns: dict[str, str], split: str = "test"
) -> pl.DataFrame:
    """``SKIPPED_SCHEMA`` rows of ``skipped`` (metric -> reason); ``columns``: cell,
    benchmark, student, condition."""
    rows = [{**columns, "split": split, "metric": m, "reason": r} for m, r in skipped.items()]
    return pl.DataFrame(rows, schema=SKIPPED_SCHEMA)
