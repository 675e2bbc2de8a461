"""The long format of teacher outputs: one row per (example, task, option).

Every backend writes shards of this schema (and the study import produces it);
``consolidation`` pivots them into the study's wide layout. See ``docs/schema.md``.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

TASKS: Final = (
    "positive_rationale",
    "negative_rationale",
    "counterfactual_rationale",
    "critique",
    "revision",
)
"""Teacher tasks. ``counterfactual_rationale`` has one row per answer option; the others one row
per example, conditioned on the gold answer (``option_index`` = the gold ``answer_index``)."""

TEACHER_OUTPUT_SCHEMA: Final = pl.Schema(
    {
        "example_id": pl.String,
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,  # teacher name from the config (e.g. "smollm2-135m", "llama")
        "task": pl.String,  # one of TASKS
        "option_index": pl.Int64,  # the answer option the text argues for (0-based)
        "option": pl.String,  # that option's text
        "text": pl.String,  # post-processed output
        "raw_text": pl.String,  # exactly what the backend returned
        "prompt_tokens": pl.Int64,
        "generated_tokens": pl.Int64,
        "finish_reason": pl.String,  # "stop" | "length" | "error" | null (unknown: imported)
        "is_empty": pl.Boolean,  # text empty after post-processing (kept, never replaced)
        "prompt_truncated": pl.Boolean,  # prompt was cut to fit the context window
        "critique_request": pl.String,  # critique/revision only: the request drawn (else null)
    }
)


STUDY_TASK_COLUMNS: Final = {
    "positive_rationale": "few_shot_positive_rationale",
    "negative_rationale": "few_shot_negative_rationale",
    "critique": "critique",
    "revision": "few_shot_revision",
}
"""The study's wide-table column of each task stored once per example (the gold option).
The study itself kept no critiques; ``critique`` is our addition."""

_CF_PREFIX: Final = "counterfactual_prompt_answer_"
_CF_SUFFIX: Final = "_rationale"
COUNTERFACTUAL_COLUMN_PATTERN: Final = rf"^{_CF_PREFIX}(\d+){_CF_SUFFIX}$"
"""The study's counterfactual columns ``counterfactual_prompt_answer_<n>_rationale``; the group
is the 1-based option number ``n``."""


def counterfactual_columns(table: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The counterfactual columns of a wide (study-layout) table, in table order."""
    pattern = re.compile(COUNTERFACTUAL_COLUMN_PATTERN)
    return [c for c in table.collect_schema().names() if pattern.match(c)]


def counterfactual_column(option_index: int) -> str:
    """The study's column of the rationale for option ``option_index`` (0-based here, 1-based
    in the name)."""
    return f"{_CF_PREFIX}{option_index + 1}{_CF_SUFFIX}"


def counterfactual_option(column: str) -> int:
    """The 0-based option index of a counterfactual column (inverse of
    :func:`counterfactual_column`)."""
    match = re.match(COUNTERFACTUAL_COLUMN_PATTERN, column)
    if match is None:
        raise ValueError(
            f"{column!r} is not a counterfactual column ({COUNTERFACTUAL_COLUMN_PATTERN})"
        )
    return int(match.group(1)) - 1


def counterfactual_column_expr(option_index: pl.Expr) -> pl.Expr:
    """:func:`counterfactual_column` of a 0-based option index expression."""
    return pl.concat_str(pl.lit(_CF_PREFIX), (option_index + 1).cast(pl.String), pl.lit(_CF_SUFFIX))


def empty_outputs() -> pl.DataFrame:
    """A teacher-output table with no rows and the full schema."""
    return pl.DataFrame(schema=TEACHER_OUTPUT_SCHEMA)
