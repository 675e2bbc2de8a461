"""Checks of a training setup that run BEFORE any model is loaded (issue 8, item 9).

:func:`validate_training_setup` is what a training node calls first: every problem raises a
``TrainingSetupError`` naming the setting and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from llm_distillation.consolidation.views import RATIONALE_COLUMNS
from llm_distillation.schema import N_OPTIONS
from llm_distillation.teacher.records import counterfactual_column, counterfactual_columns
from llm_distillation.training.conditions import (
    VIEW_RATIONALE,
    condition_spec,
    condition_views,
    factual_rationale,
    for_benchmark,
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
    benchmark: str | None = None,
    condition_key: str | None = None,
) -> tuple[ConditionSpec, Any, TrainingConfig]:
    """Validate everything that can be checked without a model; return the parsed
    (condition, student spec, training config); the condition as trained on ``benchmark``
    (:func:`~llm_distillation.training.conditions.for_benchmark`) when one is given.

    Checks: known condition and student kind; α, β, γ in [0, 1] (and every other setting's
    range); the student's local folder/tokenizer exists (safetensors present); a non-empty
    training table with every column the condition's views need on the benchmark (the
    explain and factual rationale kinds, one counterfactual column per option), not all
    empty; and, given ``tokenizer``, that it has an EOS token and encodes a sample of the
    condition's targets with few unknown tokens. ``benchmark`` (default: the table's
    ``benchmark`` values) and ``condition_key`` (default: ``condition`` when it is a name)
    name the failing cell in the errors.
    """
    try:
        cond = condition_spec(condition, setting=f"{setting}.condition")
        if benchmark is not None:
            cond = for_benchmark(cond, benchmark)
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
    key = condition_key or (condition if isinstance(condition, str) else None)
    _check_table(train_table, cond, setting, key=key, benchmark=benchmark)
    _check_batch(train_table, cond, cfg, setting)
    if tokenizer is not None:
        check_tokenizer(tokenizer, train_table, cond, setting=f"{setting}.student tokenizer")
    return cond, spec, cfg


def required_columns(condition: ConditionSpec) -> list[str]:
    """Rationale columns a condition's views read (counterfactual columns not included: their
    number depends on the benchmark)."""
    return list(dict.fromkeys(_column_needs(condition)))


def _column_needs(condition: ConditionSpec) -> dict[str, str]:
    """Rationale column -> what it is needed for (counterfactual columns not included)."""
    views = condition_views(condition)
    needs: dict[str, str] = {}
    if "explain" in views:
        kind = VIEW_RATIONALE[condition.rationale]
        needs[RATIONALE_COLUMNS[kind]] = f"the explain view's target: {kind} rationales"  # type: ignore[index]
    if "factual" in views:
        kind = factual_rationale(condition)
        if kind != "counterfactual":
            needs.setdefault(
                RATIONALE_COLUMNS[kind],  # type: ignore[index]
                f"the factual view's target: factual_rationale {kind}",
            )
    return needs


def _who(cond: ConditionSpec, key: str | None, benchmark: str | None) -> str:
    """``condition 'mt_cf_revised' (MT+CF:Revised; mode mt_cf, rationale revised,
    factual_rationale counterfactual) on benchmark 'cqa'``."""
    name = f"condition {key!r}" if key else "condition"
    parts = [cond.label] if cond.label else []
    parts.append(f"mode {cond.mode}, rationale {cond.rationale}")
    if "factual" in condition_views(cond):
        parts.append(f"factual_rationale {factual_rationale(cond)}")
    where = f" on benchmark {benchmark!r}" if benchmark else ""
    return f"{name} ({'; '.join(parts)}){where}"


def _check_table(
    table: pl.DataFrame | pl.LazyFrame,
    cond: ConditionSpec,
    setting: str,
    *,
    key: str | None = None,
    benchmark: str | None = None,
) -> None:
    """Every column the condition's views need on ``benchmark`` exists and is not empty in
    every row; errors name the condition, the benchmark and the column."""
    frame = table.lazy()
    names = frame.collect_schema().names()
    n = frame.select(pl.len()).collect().item()
    if n == 0:
        raise TrainingSetupError(f"{setting}: the training table is empty (0 rows)")
    if benchmark is None and "benchmark" in names:
        found = frame.select(pl.col("benchmark").unique().sort()).collect().to_series()
        benchmark = ",".join(b for b in found.to_list() if b) or None
    who = _who(cond, key, benchmark)
    views = condition_views(cond)
    needs = _column_needs(cond)
    cf_needs = [
        what
        for what, needed in (
            ("the counterfactual views", "counterfactual" in views),
            (
                "the factual view's target: factual_rationale counterfactual, the gold "
                "option's counterfactual rationale",
                "factual" in views and factual_rationale(cond) == "counterfactual",
            ),
        )
        if needed
    ]
    for col, what in needs.items():
        if col not in names:
            raise TrainingSetupError(
                f"{setting}: {who}: the training table has no column {col!r} (needed for {what})"
            )
    cf_cols = counterfactual_columns(frame)
    if cf_needs:
        expected = (
            [counterfactual_column(i) for i in range(N_OPTIONS[benchmark])]
            if benchmark in N_OPTIONS
            else cf_cols or [counterfactual_column(0)]
        )
        missing = [c for c in expected if c not in names]
        if missing:
            options = f"{benchmark} has {len(expected)} options; " if benchmark in N_OPTIONS else ""
            raise TrainingSetupError(
                f"{setting}: {who}: the training table has no counterfactual rationale column "
                f"{missing[0]!r} ({options}missing {missing}; needed for "
                f"{' and for '.join(cf_needs)})"
            )
        needs.update(dict.fromkeys(expected, cf_needs[0]))
    for col in needs:
        usable = (
            frame.select((pl.col(col).is_not_null() & (pl.col(col).str.strip_chars() != "")).sum())
            .collect()
            .item()
        )
        if usable == 0:
            raise TrainingSetupError(
                f"{setting}: {who}: column {col!r} is empty in all {n} rows of the training table"
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
