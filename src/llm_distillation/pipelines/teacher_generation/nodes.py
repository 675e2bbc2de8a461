"""Nodes of ``teacher_generation``. They generate nothing themselves.

The ``*_jobs`` nodes return *lazy* shard jobs (Kedro's lazy-saving pattern: the node returns
callables, the dataset runs them): the teacher runs inside ``TeacherShardsDataset``'s save,
which skips complete shards and computes the others exactly once, so a node call never loads a
model and Kedro's timing of these nodes excludes the generation (it is in the save).
:func:`teacher_model_source` returns the GGUF file the ``teacher_model`` dataset converts in
its save (``HFModelFolderDataset``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from llm_distillation.cleaning import CleaningRules
from llm_distillation.pipelines.teacher_generation.params import validate
from llm_distillation.teacher.generate import ShardJobs, build_jobs
from llm_distillation.teacher.prompts import RATIONALE_TASKS
from llm_distillation.teacher.sharding import STATS_SCHEMA

logger = logging.getLogger(__name__)


def teacher_model_source(
    teacher_gguf: Callable[[], Path], params: dict[str, Any], prompts: dict[str, Any]
) -> dict[str, Any]:
    """What the ``teacher_model`` folder is made from: the GGUF file of the ``teacher_gguf``
    catalog entry (a function that locates it: ``PackagedFileDataset``).

    Validates the parameters and prompt templates first. Returns ``{}`` when no teacher uses
    the folder (then nothing is located or converted). The conversion itself runs in the
    save of ``teacher_model`` (``HFModelFolderDataset``), which skips it when the folder
    already holds a conversion of the same file.
    """
    cfg, _ = validate(params, prompts)
    uses_model = any(
        t.use_teacher_model and any(t.tasks_for(b) for b in t.benchmarks)
        for t in cfg.teachers.values()
    )
    if not uses_model:
        return {}
    return {"gguf_path": str(teacher_gguf())}


def _jobs(
    tasks: tuple[str, ...], examples: pl.DataFrame, teacher_model: Any, params: dict[str, Any],
    prompts: dict[str, Any], *, cleaning: dict[str, Any], **inputs: pl.LazyFrame,
) -> ShardJobs:  # fmt: skip
    cfg, prompt_cfg = validate(params, prompts)
    return build_jobs(
        examples, cfg, prompt_cfg, tasks=tasks, teacher_model=teacher_model,
        cleaning=CleaningRules.model_validate(cleaning), **inputs,
    )  # fmt: skip


def rationale_jobs(
    *, examples: pl.DataFrame, teacher_model: Any, params: dict[str, Any],
    prompts: dict[str, Any], cleaning: dict[str, Any],
) -> ShardJobs:  # fmt: skip
    """Lazy jobs of the positive, negative and counterfactual rationales (all conditioned on
    an answer); the teacher writes them when ``<b>.teacher_rationales_<split>`` saves them."""
    return _jobs(RATIONALE_TASKS, examples, teacher_model, params, prompts, cleaning=cleaning)


def critique_jobs(
    *, examples: pl.DataFrame, rationales: pl.LazyFrame, teacher_model: Any,
    params: dict[str, Any], prompts: dict[str, Any], cleaning: dict[str, Any],
) -> ShardJobs:  # fmt: skip
    """Lazy jobs of the critiques of each teacher's positive rationales (their cleaned text,
    exactly as consolidation stores it); run by ``<b>.teacher_critiques_<split>``'s save."""
    return _jobs(
        ("critique",), examples, teacher_model, params, prompts, cleaning=cleaning,
        rationales=rationales,
    )  # fmt: skip


def revision_jobs(
    *, examples: pl.DataFrame, rationales: pl.LazyFrame, critiques: pl.LazyFrame,
    teacher_model: Any, params: dict[str, Any], prompts: dict[str, Any], cleaning: dict[str, Any],
) -> ShardJobs:  # fmt: skip
    """Lazy jobs of the revised rationales, given each positive rationale and its critique;
    run by ``<b>.teacher_outputs_<split>``'s save."""
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
