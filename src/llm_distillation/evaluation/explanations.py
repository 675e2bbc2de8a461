"""``<ns>.explanations``: each sampled example's student explanation with the student's answer
to the same example and the teacher rationale it learned from."""

from __future__ import annotations

from typing import Final

import polars as pl

from llm_distillation.evaluation.plan import CellPlan, explanation_text, reference_rationales
from llm_distillation.rendering import task_text_expr

EXPLANATION_SCHEMA: Final = pl.Schema(
    {
        **dict.fromkeys(["cell", "benchmark", "student", "condition"], pl.String),
        "seed": pl.Int64,
        "split": pl.String,
        "example_id": pl.String,
        "task": pl.String,  # "Question: …\nChoices: (a) …" as in the student's input
        "choices": pl.List(pl.String),
        "explanation_view": pl.String,  # explain, or factual (CF-only students)
        "explanation": pl.String,  # what the metrics and the rating sheet use
        "explain_text": pl.String,  # the [explain] output (null when not trained)
        "factual_text": pl.String,  # the [factual] output (null when not trained)
        "reference": pl.String,  # the teacher rationale of the condition's kind
        "prediction": pl.String,  # the student's answer (primary view) to the same example
        "predicted_index": pl.Int64,
        "gold": pl.String,
        "gold_index": pl.Int64,
        "correct": pl.Boolean,
        "generated_tokens": pl.Int64,
        "finish_reason": pl.String,
    }
)
RUN: Final = ["cell", "benchmark", "student", "condition", "seed", "split"]


def _texts(generations: pl.DataFrame, view: str, name: str) -> pl.DataFrame:
    return generations.filter(pl.col("view") == view).select(
        *RUN, "example_id", pl.col("text").alias(name)
    )


def explanation_table(
    generations: pl.DataFrame,
    predictions: pl.DataFrame,
    table: pl.DataFrame,
    explained_ids: list[str],
    plan: CellPlan,
) -> pl.DataFrame:
    """The explanations of the explained examples (``EXPLANATION_SCHEMA``; empty for a
    condition without explanations)."""
    view = plan.explanation_view
    if view is None:
        return pl.DataFrame(schema=EXPLANATION_SCHEMA)
    outputs = generations.filter(
        (pl.col("view") == view) & pl.col("example_id").is_in(explained_ids)
    ).select(
        *RUN,
        "example_id",
        "generated_tokens",
        "finish_reason",
        explanation_view=pl.lit(view),
        explanation=explanation_text(view, pl.col("text")),
    )
    answers = predictions.filter(pl.col("view") == plan.primary_view).select(
        *RUN, "example_id", "prediction", "predicted_index", "gold", "gold_index", "correct"
    )
    examples = table.select(
        "example_id", "choices", task=task_text_expr(), gold_index_table="answer_index"
    ).join(reference_rationales(table, plan), on="example_id", how="left")
    out = (
        outputs.join(examples, on="example_id", how="left")
        .join(_texts(generations, "explain", "explain_text"), on=[*RUN, "example_id"], how="left")
        .join(_texts(generations, "factual", "factual_text"), on=[*RUN, "example_id"], how="left")
        .join(answers, on=[*RUN, "example_id"], how="left")
        .with_columns(
            gold=pl.coalesce("gold", pl.col("choices").list.get(pl.col("gold_index_table"))),
            gold_index=pl.coalesce("gold_index", "gold_index_table"),
            correct=pl.col("correct").fill_null(False),
        )
    )
    return (
        out.select(EXPLANATION_SCHEMA.names())
        .cast(dict(EXPLANATION_SCHEMA))
        .sort("seed", "example_id")
    )
