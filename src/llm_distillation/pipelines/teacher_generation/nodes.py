"""Nodes of ``teacher_generation`` (pure functions; the catalog does all I/O).

The generation nodes return *lazy* shard jobs: the ``TeacherShardsDataset`` they are saved to
skips complete shards and computes the others, so a node call itself never loads a model.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from llm_distillation.cleaning import CleaningRules
from llm_distillation.pipelines.teacher_generation.params import validate
from llm_distillation.teacher.generate import ShardJobs, build_jobs
from llm_distillation.teacher.prompts import RATIONALE_TASKS
from llm_distillation.teacher.sharding import STATS_SCHEMA

logger = logging.getLogger(__name__)


def prepare_teacher_model(params: dict[str, Any], prompts: dict[str, Any]) -> dict[str, Any]:
    """What the ``teacher_model`` artefact is made from: the packaged SmolLM2 GGUF file.

    Validates the parameters and prompt templates first. Returns ``{}`` when no teacher uses
    the artefact (then nothing is located or converted).
    """
    from llm_distillation.teacher.model_artifacts import find_smollm2_gguf

    cfg, _ = validate(params, prompts)
    uses_model = any(
        t.use_teacher_model and any(t.tasks_for(b) for b in t.benchmarks)
        for t in cfg.teachers.values()
    )
    if not uses_model:
        return {}
    return {"gguf_path": str(find_smollm2_gguf())}


def _jobs(
    tasks: tuple[str, ...], examples: pl.DataFrame, teacher_model: Any, params: dict[str, Any],
    prompts: dict[str, Any], *, cleaning: dict[str, Any], **inputs: pl.LazyFrame,
) -> ShardJobs:  # fmt: skip
    cfg, prompt_cfg = validate(params, prompts)
    return build_jobs(
        examples, cfg, prompt_cfg, tasks=tasks, teacher_model=teacher_model,
        cleaning=CleaningRules.model_validate(cleaning), **inputs,
    )  # fmt: skip


def generate_rationales(
    *, examples: pl.DataFrame, teacher_model: Any, params: dict[str, Any],
    prompts: dict[str, Any], cleaning: dict[str, Any],
) -> ShardJobs:  # fmt: skip
    """Positive, negative and counterfactual rationales (all conditioned on an answer)."""
    return _jobs(RATIONALE_TASKS, examples, teacher_model, params, prompts, cleaning=cleaning)


def generate_critiques(
    *, examples: pl.DataFrame, rationales: pl.LazyFrame, teacher_model: Any,
    params: dict[str, Any], prompts: dict[str, Any], cleaning: dict[str, Any],
) -> ShardJobs:  # fmt: skip
    """Critiques of each teacher's positive rationales (their cleaned text, exactly as
    consolidation stores it)."""
    return _jobs(
        ("critique",), examples, teacher_model, params, prompts, cleaning=cleaning,
        rationales=rationales,
    )  # fmt: skip


def generate_revisions(
    *, examples: pl.DataFrame, rationales: pl.LazyFrame, critiques: pl.LazyFrame,
    teacher_model: Any, params: dict[str, Any], prompts: dict[str, Any], cleaning: dict[str, Any],
) -> ShardJobs:  # fmt: skip
    """Revised rationales, given each positive rationale and its critique."""
    return _jobs(
        ("revision",), examples, teacher_model, params, prompts, cleaning=cleaning,
        rationales=rationales, critiques=critiques,
    )  # fmt: skip


def summarize_generation(outputs: pl.LazyFrame, shard_stats: pl.DataFrame) -> pl.DataFrame:
    """Per-shard accounting of every teacher output (token counts, empty, truncated, errors,
    seconds), checked against the rows the shards actually hold."""
    stats = shard_stats.select(list(STATS_SCHEMA)).sort("teacher", "task", "shard")
    rows = outputs.select(pl.len()).collect().item()
    expected = int(stats["rows"].sum() or 0)
    if rows != expected:
        raise ValueError(f"teacher outputs hold {rows} rows but their manifests say {expected}")
    for r in (
        stats.group_by("teacher", "task")
        .agg(pl.col("rows", "generated_tokens", "empty_outputs", "errors", "seconds").sum())
        .sort("teacher", "task")
        .iter_rows(named=True)
    ):
        logger.info(
            "%s/%s: %d rows, %d generated tokens, %d empty, %d errors, %.1f s",
            r["teacher"], r["task"], r["rows"], r["generated_tokens"], r["empty_outputs"],
            r["errors"], r["seconds"] or 0.0,
        )  # fmt: skip
    return stats
