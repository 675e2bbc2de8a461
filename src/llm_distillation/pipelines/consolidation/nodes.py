"""Nodes of the ``consolidation`` pipeline (pure functions; the catalog does all I/O)."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from llm_distillation.cleaning import CleaningRules
from llm_distillation.consolidation.checks import REJECTS_SCHEMA, SUMMARY_SCHEMA, enforce_thresholds
from llm_distillation.consolidation.merge import consolidate
from llm_distillation.consolidation.quality import quality_figure, quality_report
from llm_distillation.consolidation.study_import import import_study
from llm_distillation.pipelines.consolidation.params import ConsolidationParams
from llm_distillation.schema import table_namespace
from llm_distillation.sources.formats import RawBenchmark
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA

logger = logging.getLogger(__name__)


def _frame(data: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return data.collect() if isinstance(data, pl.LazyFrame) else data


def consolidate_split(
    teacher_outputs: pl.LazyFrame | pl.DataFrame,
    examples: pl.DataFrame,
    params: dict[str, Any],
    cleaning: dict[str, Any],
    *,
    benchmark: str,
    split: str,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """All teachers' outputs of one split + its examples -> (table before the gate, check
    failures, check summary)."""
    cfg = ConsolidationParams.model_validate(params)
    rules = CleaningRules.model_validate(cleaning)
    outputs = teacher_outputs.lazy()
    present = set(outputs.select(pl.col("teacher").unique()).collect()["teacher"])
    overridden = sorted(present & set(cfg.teachers))
    groups: list[tuple[str | None, pl.LazyFrame]] = [
        (name, outputs.filter(pl.col("teacher") == name)) for name in overridden
    ]
    if present - set(overridden) or not groups:
        groups.insert(0, (None, outputs.filter(~pl.col("teacher").is_in(overridden))))
    results = []
    for teacher, part in groups:
        checks, required = cfg.for_teacher(teacher or "")
        results.append(
            consolidate(
                part,
                examples,
                benchmark=benchmark,
                split=split,
                rules=rules,
                checks=checks,
                required_tasks=required,
                batch_rows=cfg.batch_rows,
            )
        )
    return tuple(  # type: ignore[return-value]
        pl.concat([getattr(r, part) for r in results], how="diagonal_relaxed")
        for part in ("table", "rejects", "summary")
    )


def collect_rejects(*parts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check failures and summaries of every split -> one rejects table, one summary table.

    ``parts`` are ``rejects_1, summary_1, rejects_2, summary_2, …``.
    """
    rejects = [_frame(p) for p in parts[0::2]]
    summaries = [_frame(p) for p in parts[1::2]]
    all_rejects = pl.concat([pl.DataFrame(schema=REJECTS_SCHEMA), *rejects], how="vertical")
    all_summary = pl.concat([pl.DataFrame(schema=SUMMARY_SCHEMA), *summaries], how="vertical")
    return all_rejects, all_summary


def enforce_quality_thresholds(
    rejects: pl.DataFrame | pl.LazyFrame,
    summary: pl.DataFrame | pl.LazyFrame,
    params: dict[str, Any],
    *tables: pl.DataFrame,
    benchmark: str,
    study: bool = False,
) -> tuple[pl.DataFrame, ...]:
    """Pass the consolidated ``tables`` (one per split) on, or fail naming every check above
    its ``max_share`` (the study import only logs them unless
    ``study_import.enforce_thresholds``).

    Reads the *saved* ``consolidation_rejects``, so every failure can be read when it fails.
    """
    cfg = ConsolidationParams.model_validate(params)
    fail = cfg.study_import.enforce_thresholds if study else cfg.enforce_thresholds
    name = f"{table_namespace(benchmark, study=study)}.consolidation_rejects"
    enforce_thresholds(_frame(summary), _frame(rejects), name, fail=fail)
    return tables


def import_study_outputs(
    raw: RawBenchmark, *, teacher: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The study's consolidated shards of one (benchmark, teacher) -> (examples, long teacher
    outputs, invalid records)."""
    return import_study(raw, teacher)


def consolidate_study_split(
    params: dict[str, Any],
    cleaning: dict[str, Any],
    *inputs: pl.DataFrame,
    benchmark: str,
    split: str,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The study import of one split through the same consolidation as generated shards.

    ``inputs`` are ``examples_1, outputs_1, invalid_1, examples_2, …``, one triple per teacher.
    """
    cfg = ConsolidationParams.model_validate(params)
    study = cfg.study_import
    examples = pl.concat(list(inputs[0::3]), how="vertical").unique(
        "example_id", keep="first", maintain_order=True
    )
    outputs = pl.concat(
        [pl.DataFrame(schema=TEACHER_OUTPUT_SCHEMA), *inputs[1::3]], how="vertical"
    ).filter(pl.col("split") == split)
    invalid = pl.concat(list(inputs[2::3]), how="vertical").filter(pl.col("split") == split)
    result = consolidate(
        outputs.lazy(),
        examples,
        benchmark=benchmark,
        split=split,
        rules=CleaningRules.model_validate(cleaning),
        checks=study.checks,
        required_tasks=study.required_tasks,
        batch_rows=cfg.batch_rows,
    )
    rejects = pl.concat([result.rejects, invalid.select(REJECTS_SCHEMA.names())], how="vertical")
    return result.table, rejects, result.summary


def build_quality_report(**inputs: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """Quality report of consolidated tables.

    Keyword inputs by prefix: ``table_*`` consolidated tables, ``summary_*`` check summaries,
    ``rejects_*`` check failures.
    """

    def pick(prefix: str) -> list[pl.DataFrame]:
        return [_frame(v) for k, v in sorted(inputs.items()) if k.startswith(prefix)]

    return quality_report(pick("table_"), pick("summary_"), pick("rejects_"))


def plot_quality(report: dict[str, Any]) -> Any:
    """The report's figure: rationale lengths and distractor mentions per kind."""
    return quality_figure(report)
