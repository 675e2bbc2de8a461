"""Checks of a training setup that run BEFORE any model is loaded (issue 8, item 9).

:func:`validate_training_setup` is what a training node calls first: every problem raises a
``TrainingSetupError`` naming the setting and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from llm_distillation.consolidation.views import RATIONALE_COLUMNS
from llm_distillation.teacher.records import counterfactual_column, counterfactual_columns
from llm_distillation.training.conditions import (
    VIEW_RATIONALE,
    condition_spec,
    condition_views,
    factual_rationale,
)
from llm_distillation.training.config import ConditionSpec, TrainingConfig, student_spec
from llm_distillation.training.students import student_source

MAX_UNK_SHARE: Final = 0.2
"""A tokenizer that maps more than this share of the sampled target tokens to unk cannot
learn the targets."""
TOKENIZER_SAMPLE: Final = 64


class TrainingSetupError(ValueError):
    """A training setting cannot work; the message names the setting and the reason."""


def validate_training_setup(
    *,
    train_table: pl.DataFrame | pl.LazyFrame,
    condition: str | Mapping[str, Any] | ConditionSpec,
    student: Mapping[str, Any] | Any,
    training: Mapping[str, Any] | TrainingConfig | None = None,
    source: str | None = None,
    tokenizer: Any = None,
    setting: str = "student_training",
) -> tuple[ConditionSpec, Any, TrainingConfig]:
    """Validate everything that can be checked without a model; return the parsed
    (condition, student spec, training config).

    Checks: known condition and student kind; α, β, γ in [0, 1] (and every other setting's
    range); the student's local folder/tokenizer exists (safetensors present); a non-empty
    training table with the rationale columns the condition needs, not all empty; and, given
    ``tokenizer``, that it has an EOS token and encodes a sample of the condition's targets
    with few unknown tokens.
    """
    try:
        cond = condition_spec(condition, setting=f"{setting}.condition")
        spec = student_spec(student, setting=f"{setting}.student")
        cfg = (
            training
            if isinstance(training, TrainingConfig)
            else TrainingConfig.model_validate(dict(training or {}))
        )
    except ValueError as err:
        raise TrainingSetupError(str(err)) from None
    try:
        student_source(spec, source)
    except (ValueError, FileNotFoundError) as err:
        raise TrainingSetupError(f"{setting}.{err}") from None
    _check_table(train_table, cond, setting)
    _check_batch(train_table, cond, cfg, setting)
    if tokenizer is not None:
        check_tokenizer(tokenizer, train_table, cond, setting=f"{setting}.student tokenizer")
    return cond, spec, cfg


def required_columns(condition: ConditionSpec) -> list[str]:
    """Rationale columns a condition's views read (counterfactual columns not included: their
    number depends on the benchmark)."""
    views = condition_views(condition)
    cols: list[str] = []
    if "explain" in views:
        cols.append(RATIONALE_COLUMNS[VIEW_RATIONALE[condition.rationale]])  # type: ignore[index]
    if "factual" in views:
        kind = factual_rationale(condition)
        if kind != "counterfactual":
            cols.append(RATIONALE_COLUMNS[kind])  # type: ignore[index]
    return list(dict.fromkeys(cols))


def _check_table(table: pl.DataFrame | pl.LazyFrame, cond: ConditionSpec, setting: str) -> None:
    frame = table.lazy()
    names = frame.collect_schema().names()
    n = frame.select(pl.len()).collect().item()
    if n == 0:
        raise TrainingSetupError(f"{setting}: the training table is empty (0 rows)")
    views = condition_views(cond)
    needed = required_columns(cond)
    needs_cf = "counterfactual" in views or factual_rationale(cond) == "counterfactual"
    for col in needed:
        if col not in names:
            raise TrainingSetupError(
                f"{setting}.condition (mode {cond.mode}, rationale {cond.rationale}): the training "
                f"table has no column {col!r}"
            )
    cf_cols = counterfactual_columns(frame)
    if needs_cf and not cf_cols:
        raise TrainingSetupError(
            f"{setting}.condition (mode {cond.mode}): the training table has no counterfactual "
            f"rationale columns ({counterfactual_column(0)!r}, …)"
        )
    for col in [*needed, *(cf_cols if needs_cf else [])]:
        usable = (
            frame.select((pl.col(col).is_not_null() & (pl.col(col).str.strip_chars() != "")).sum())
            .collect()
            .item()
        )
        if usable == 0:
            raise TrainingSetupError(
                f"{setting}.condition (mode {cond.mode}, rationale {cond.rationale}): column "
                f"{col!r} is empty in all {n} rows of the training table"
            )


def _check_batch(
    table: pl.DataFrame | pl.LazyFrame, cond: ConditionSpec, cfg: TrainingConfig, setting: str
) -> None:
    """One optimizer step trains ``batch_size × grad_accumulation`` source examples (per
    process), each with all of its views (``training.data_plan``): fail when the table has
    fewer rows (one row per example and teacher)."""
    rows = table.lazy().select(pl.len()).collect().item()
    per_step = cfg.batch_size * cfg.grad_accumulation
    if rows < per_step:
        raise TrainingSetupError(
            f"{setting}.training: batch_size × grad_accumulation = {per_step} source examples "
            f"per step (each with its {list(condition_views(cond))} views), but the training "
            f"table has only {rows} rows"
        )


def check_tokenizer(
    tokenizer: Any,
    table: pl.DataFrame | pl.LazyFrame,
    condition: ConditionSpec,
    *,
    setting: str = "tokenizer",
) -> None:
    """The tokenizer has an EOS token and encodes a sample of the condition's targets (the
    first rows) with at most ``MAX_UNK_SHARE`` unknown tokens."""
    from llm_distillation.training.examples import condition_view_table

    if getattr(tokenizer, "eos_token_id", None) is None:
        raise TrainingSetupError(
            f"{setting}: {type(tokenizer).__name__} has no EOS token; a student could not learn "
            "to stop"
        )
    sample = condition_view_table(table.lazy().head(TOKENIZER_SAMPLE), condition)
    unk = getattr(tokenizer, "unk_token_id", None)
    total = unknown = 0
    for text in sample["target"].to_list():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        total += len(ids)
        unknown += sum(1 for i in ids if unk is not None and i == unk)
        if text.strip() and not ids:
            raise TrainingSetupError(f"{setting}: encodes the target {text[:60]!r} to no tokens")
    if total and unknown / total > MAX_UNK_SHARE:
        raise TrainingSetupError(
            f"{setting}: {unknown} of {total} target tokens are unknown ({unknown / total:.0%} > "
            f"{MAX_UNK_SHARE:.0%}); the tokenizer cannot encode the targets"
        )
