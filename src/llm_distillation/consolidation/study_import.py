"""The study's own consolidated shards -> examples + long teacher outputs.

The study stored one wide table per (benchmark, teacher, split) with raw teacher text
(``llm_outputs/SOURCE.md``). Importing melts it back into the long format of our teacher
outputs (``TEACHER_OUTPUT_SCHEMA``) so that it goes through exactly the same cleaning, checks
and pivot as generated shards (:func:`llm_distillation.consolidation.merge.consolidate`): one
schema, one code path. This is the only way the study's outputs enter the project.

Which folders are imported is configuration: every catalog entry named
``study_<benchmark>_<teacher>.source`` (a ``BenchmarkSourceDataset`` with ``format: hf_disk``
whose ``splits`` name the study's folders, e.g. ``{train: cqa-llama-train, test:
cqa-llama-test}``) is imported (:func:`study_sources`); importing another folder such as
``cqa-qwen-test`` is one more catalog entry.

Mapping: ``few_shot_positive_rationale`` -> ``positive_rationale`` (and negative),
``counterfactual_prompt_answer_{i}_rationale`` -> ``counterfactual_rationale`` option ``i-1``,
``few_shot_revision`` -> ``revision``; the study has no critique column, so there are no
``critique`` rows. What the study did not record is null (unknown): ``finish_reason``, the
token counts and ``prompt_truncated``. Example fields come from the
benchmark loaders (``dialect hf``), so ids match ingest: ``id`` (cqa), ``qid`` (strategyqa,
``answer`` True = "yes" = index 0), ``content_id("esnli", premise, hypothesis)`` (e-SNLI).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from llm_distillation.errors import RowError, require_known
from llm_distillation.schema import BENCHMARKS, EXAMPLE_SCHEMA, SPLITS, STUDY_PREFIX
from llm_distillation.sources.benchmarks import get_loader
from llm_distillation.sources.formats import RawBenchmark
from llm_distillation.sources.normalize import check_example, example_row
from llm_distillation.teacher.records import (
    COUNTERFACTUAL_COLUMN_PATTERN,
    STUDY_TASK_COLUMNS,
    TEACHER_OUTPUT_SCHEMA,
)

logger = logging.getLogger(__name__)

STUDY_SOURCE: Final = re.compile(rf"^{STUDY_PREFIX}(?P<rest>[A-Za-z0-9_-]+)\.source$")
"""Catalog entries of the study's folders: ``study_<benchmark>_<teacher>.source``."""


def study_source(benchmark: str, teacher: str) -> str:
    """The catalog name of the study's folders of (``benchmark``, ``teacher``)
    (:data:`STUDY_SOURCE`)."""
    return f"{STUDY_PREFIX}{benchmark}_{teacher}.source"


STUDY_COLUMNS: Final = {column: task for task, column in STUDY_TASK_COLUMNS.items()}
"""Study column -> task, for the columns stored once per example."""
_CF = re.compile(COUNTERFACTUAL_COLUMN_PATTERN)

IMPORT_REJECTS_SCHEMA: Final = pl.Schema(
    {
        "example_id": pl.String,
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,
        "check": pl.String,
        "column": pl.String,
        "reason": pl.String,
        "rejected": pl.Boolean,
    }
)


def study_sources(catalog: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    """``benchmark -> teacher -> splits`` of the study folders declared in a catalog
    configuration (see the module docstring); an entry naming an unknown benchmark, or whose
    name does not match its ``benchmark``, fails naming the entry."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, entry in sorted(catalog.items()):
        match = STUDY_SOURCE.match(name)
        if match is None or not isinstance(entry, Mapping):
            continue
        benchmark = entry.get("benchmark")
        require_known([benchmark], BENCHMARKS, "benchmarks", field=f"catalog entry {name}")
        prefix = f"{benchmark}_"
        teacher = match.group("rest").removeprefix(prefix)
        if not match.group("rest").startswith(prefix) or not teacher:
            raise ValueError(
                f"catalog entry {name}: a study source is named study_<benchmark>_<teacher>"
                f".source with benchmark {benchmark!r} (from its 'benchmark' setting)"
            )
        splits = tuple(entry.get("splits") or ())
        require_known(splits, SPLITS, "splits", field=f"catalog entry {name}")
        found.setdefault(benchmark, {})[teacher] = tuple(s for s in SPLITS if s in splits)
    return found


def study_examples(raw: RawBenchmark) -> tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    """Examples of every split of a study folder, plus the records' study text columns.

    Returns ``(examples, invalid, texts)``: examples in ``EXAMPLE_SCHEMA`` (duplicates kept:
    consolidation reports them), invalid records as rejects (check ``invalid_input``), and one
    dict per valid record with ``example_id``, ``split`` and the study's text columns.
    """
    loader = get_loader(raw.benchmark)
    examples: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for split, part in raw.splits.items():
        for row, record in part.rows:
            try:
                fields = loader.to_example(record, raw.dialect)
                check_example(raw.benchmark, fields)
            except RowError as err:
                invalid.append(
                    {
                        "example_id": str(record.get("id") or record.get("qid") or ""),
                        "benchmark": raw.benchmark,
                        "split": split,
                        "check": "invalid_input",
                        "column": err.field,
                        "reason": f"{part.source} row {row}: {err.reason}",
                        "rejected": True,
                    }
                )
                continue
            examples.append(example_row(raw.benchmark, split, part.source, row, fields))
            texts.append(
                {
                    "example_id": fields["example_id"],
                    "split": split,
                    **{k: v for k, v in record.items() if k in STUDY_COLUMNS or _CF.match(k)},
                }
            )
    return (
        pl.DataFrame(examples, schema=EXAMPLE_SCHEMA),
        pl.DataFrame(
            invalid, schema={k: v for k, v in IMPORT_REJECTS_SCHEMA.items() if k != "teacher"}
        ),
        texts,
    )


def study_to_long(
    texts: pl.DataFrame, examples: pl.DataFrame, *, benchmark: str, teacher: str
) -> pl.DataFrame:
    """Wide study text columns -> long teacher outputs (``TEACHER_OUTPUT_SCHEMA``).

    ``texts``: ``example_id``, ``split`` and the study's text columns, row-aligned with
    ``examples`` (same order, same length).
    """
    if len(texts) != len(examples):
        raise ValueError("texts and examples must be row-aligned")
    value_cols = [c for c in texts.columns if c in STUDY_COLUMNS or _CF.match(c)]
    if not value_cols:
        raise ValueError(f"{benchmark}/{teacher}: no study text columns in {texts.columns}")
    frame = texts.with_columns(
        row=pl.int_range(pl.len()),
        choices=examples.get_column("choices"),
        answer=examples.get_column("answer"),
        answer_index=examples.get_column("answer_index"),
    ).cast({c: pl.String for c in value_cols})
    long = frame.unpivot(
        on=value_cols,
        index=["row", "example_id", "split", "choices", "answer", "answer_index"],
        variable_name="study_column",
        value_name="raw_text",
    )
    cf = pl.col("study_column").str.extract(COUNTERFACTUAL_COLUMN_PATTERN, 1)
    long = (
        long.with_columns(
            task=pl.when(cf.is_not_null())
            .then(pl.lit("counterfactual_rationale"))
            .otherwise(
                pl.col("study_column").replace_strict(
                    STUDY_COLUMNS, default=None, return_dtype=pl.String
                )
            ),
            option_index=pl.coalesce(cf.cast(pl.Int64) - 1, pl.col("answer_index")),
        )
        .with_columns(option=pl.col("choices").list.get(pl.col("option_index"), null_on_oob=True))
        .filter(pl.col("raw_text").is_not_null())
        .sort("row", "task", "option_index")
    )
    return long.select(
        "example_id",
        benchmark=pl.lit(benchmark),
        split="split",
        teacher=pl.lit(teacher),
        task="task",
        option_index="option_index",
        option="option",
        text="raw_text",
        raw_text="raw_text",
        prompt_tokens=pl.lit(None, pl.Int64),
        generated_tokens=pl.lit(None, pl.Int64),
        finish_reason=pl.lit(None, pl.String),
        is_empty=pl.col("raw_text").str.strip_chars() == "",
        prompt_truncated=pl.lit(None, pl.Boolean),
        critique_request=pl.lit(None, pl.String),
    ).cast(dict(TEACHER_OUTPUT_SCHEMA))


def import_study(
    raw: RawBenchmark, teacher: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One study folder set (all splits of one benchmark and teacher) -> ``(examples, long
    outputs, import rejects)``."""
    examples, invalid, texts = study_examples(raw)
    text_frame = pl.DataFrame(texts, infer_schema_length=None) if texts else None
    long = (
        study_to_long(text_frame, examples, benchmark=raw.benchmark, teacher=teacher)
        if text_frame is not None
        else pl.DataFrame(schema=TEACHER_OUTPUT_SCHEMA)
    )
    rejects = invalid.with_columns(teacher=pl.lit(teacher)).select(IMPORT_REJECTS_SCHEMA.names())
    logger.info(
        "study %s/%s: %d examples, %d outputs, %d invalid records",
        raw.benchmark,
        teacher,
        len(examples),
        len(long),
        len(invalid),
    )
    return examples, long, rejects
