"""Helpers shared by the consolidation tests (writing shards like teacher_generation)."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl

from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA
from llm_distillation.teacher.sharding import ShardStore


def write_shards(root, long: pl.DataFrame, shard_size: int = 50) -> list[SimpleNamespace]:
    """Write long outputs the way teacher_generation does: one folder per teacher and task,
    ``shard-NNNNN.parquet`` + manifest (through its ``ShardStore``); the jobs written (for
    ``ShardStore.write_plan``)."""
    store = ShardStore(root)
    jobs = []
    for (teacher, task), part in long.partition_by(["teacher", "task"], as_dict=True).items():
        ids = sorted(part["example_id"].unique().to_list())
        for shard, start in enumerate(range(0, len(ids), shard_size)):
            chunk = ids[start : start + shard_size]
            job = SimpleNamespace(
                teacher=teacher, task=task, shard=shard, manifest={"example_ids": chunk}
            )
            store.write(job, part.filter(pl.col("example_id").is_in(chunk)))
            jobs.append(job)
    return jobs


def outputs_row(**values) -> dict:
    """One long teacher-output row with defaults for every column."""
    row = dict.fromkeys(TEACHER_OUTPUT_SCHEMA.names())
    row.update(
        benchmark="strategyqa",
        split="test",
        teacher="t",
        finish_reason="stop",
        is_empty=False,
        prompt_truncated=False,
    )
    row.update(values)
    row.setdefault("raw_text", row.get("text"))
    if row["raw_text"] is None:
        row["raw_text"] = row.get("text")
    return row


def outputs_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([outputs_row(**r) for r in rows], schema=TEACHER_OUTPUT_SCHEMA)


def generated_like(long: pl.DataFrame) -> pl.DataFrame:
    """Long outputs as a generating backend writes them: stop/length finish reasons, token
    counts, and critique rows with their request (the study kept no critiques)."""
    gen = long.with_columns(
        finish_reason=pl.lit("stop"),
        prompt_tokens=pl.lit(300, pl.Int64),
        generated_tokens=pl.col("raw_text").str.len_chars() // 4,
    )
    critiques = gen.filter(pl.col("task") == "positive_rationale").with_columns(
        task=pl.lit("critique"),
        raw_text=pl.lit("The rationale does not say why the other options are wrong."),
        text=pl.lit("The rationale does not say why the other options are wrong."),
        critique_request=pl.lit("Point out what the rationale leaves out."),
    )
    return pl.concat([gen, critiques]).select(TEACHER_OUTPUT_SCHEMA.names())
