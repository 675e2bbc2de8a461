"""Long teacher outputs + examples -> the study's consolidated (wide) table, checks, rejects.

:func:`consolidate` is the one code path for generated shards and for the study's imported
data: clean every text (``cleaning.py``), run the checks (``checks.py``), pivot one row per
(example, teacher) with a column per task and option, and join the example's input fields.
The work is a polars lazy query over all shards; the cleaned long table is materialized once
(without the raw text) and everything else is derived from it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final

import polars as pl

from llm_distillation.cleaning import (
    ANSWER_PREAMBLE,
    CleaningRules,
    base_text,
    ends_like_sentence,
    finish_text,
    is_empty_text,
)
from llm_distillation.consolidation.checks import (
    REJECTS_SCHEMA,
    ChecksConfig,
    check_answer_mismatch,
    check_duplicates,
    check_empty_text,
    check_missing,
    check_truncated,
    check_unknown,
    summarize,
)
from llm_distillation.errors import require_known
from llm_distillation.schema import EXAMPLE_SCHEMA, N_OPTIONS
from llm_distillation.teacher.records import (
    STUDY_TASK_COLUMNS,
    TASKS,
    counterfactual_column,
    counterfactual_column_expr,
)

logger = logging.getLogger(__name__)

TASK_COLUMNS: Final = STUDY_TASK_COLUMNS
"""Consolidated column of each single-output task (the study's names)."""

INPUT_SCHEMA: Final = pl.Schema(
    {
        **{c: EXAMPLE_SCHEMA[c] for c in ("example_id", "benchmark", "split")},
        "teacher": pl.String,
        **{
            c: EXAMPLE_SCHEMA[c]
            for c in ("question", "premise", "hypothesis", "choices", "answer", "answer_index")
        },
    }
)
"""The example columns a consolidated table carries (from ``EXAMPLE_SCHEMA``) + the teacher."""

DEFAULT_REQUIRED_TASKS: Final = (
    "positive_rationale",
    "counterfactual_rationale",
    "critique",
    "revision",
)


def rationale_columns(n_options: int) -> list[str]:
    """All text columns of a consolidated table, in order."""
    return [
        TASK_COLUMNS["positive_rationale"],
        TASK_COLUMNS["negative_rationale"],
        *(counterfactual_column(i) for i in range(n_options)),
        TASK_COLUMNS["critique"],
        "critique_request",
        TASK_COLUMNS["revision"],
    ]


def _task_columns(tasks: tuple[str, ...], n_options: int) -> list[str]:
    cols = [TASK_COLUMNS[t] for t in tasks if t in TASK_COLUMNS]
    if "counterfactual_rationale" in tasks:
        cols += [counterfactual_column(i) for i in range(n_options)]
    return cols


def consolidated_schema(benchmark: str) -> pl.Schema:
    """The one schema of ``{benchmark}.consolidated_{split}`` and its study import."""
    return pl.Schema(
        {
            **INPUT_SCHEMA,
            **dict.fromkeys(rationale_columns(N_OPTIONS[benchmark]), pl.String),
            "quality_flags": pl.List(pl.String),
        }
    )


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTS_SCHEMA)


@dataclass(frozen=True)
class Consolidated:
    """What :func:`consolidate` returns."""

    table: pl.DataFrame
    """Wide: one row per (example, teacher) that passed every required check."""
    rejects: pl.DataFrame
    """Every check failure (``REJECTS_SCHEMA``)."""
    summary: pl.DataFrame
    """Failed rows per (teacher, check) against the teacher's rows (``SUMMARY_SCHEMA``)."""


_PREAMBLE_GROUP: Final = "(?i)(" + ANSWER_PREAMBLE.removeprefix("(?i)") + ")"


def _column_name() -> pl.Expr:
    single = pl.col("task").replace_strict(TASK_COLUMNS, default=None, return_dtype=pl.String)
    return (
        pl.when(pl.col("task") == "counterfactual_rationale")
        .then(counterfactual_column_expr(pl.col("option_index")))
        .otherwise(single)
    )


def clean_outputs(outputs: pl.LazyFrame, rules: CleaningRules) -> pl.LazyFrame:
    """Long outputs with ``column``, cleaned ``text``, ``preamble`` (an echoed "The answer is
    X." opening, else null), ``is_empty``, ``is_truncated`` and ``raw_chars`` added; the raw
    text is dropped. Row-wise only, so it runs on polars' streaming engine: the raw text of
    all shards is never in memory at once."""
    src = pl.col("raw_text")
    return (
        outputs.with_columns(
            _base=base_text(src, rules),
            raw_end=src.str.strip_chars().str.tail(16),
            raw_chars=src.str.len_chars().fill_null(0).cast(pl.Int64),
            column=_column_name(),
        )
        .with_columns(
            text=finish_text(pl.col("_base"), rules),
            preamble=pl.col("_base").str.extract(_PREAMBLE_GROUP, 1).str.strip_chars(),
        )
        .with_columns(
            is_empty=is_empty_text(pl.col("text")),
            reaches_end=pl.col("raw_end").str.ends_with(pl.col("text").str.tail(16)),
        )
        .with_columns(
            is_truncated=pl.col("reaches_end").fill_null(False)
            & (
                (pl.col("finish_reason") == "length").fill_null(False)
                | (
                    pl.col("finish_reason").is_null()
                    & ~ends_like_sentence(pl.col("text")).fill_null(False)
                )
            )
        )
        .select(
            "example_id",
            "benchmark",
            "split",
            "teacher",
            "task",
            "option_index",
            "option",
            "column",
            "text",
            "preamble",
            "finish_reason",
            "critique_request",
            "raw_chars",
            "is_empty",
            "is_truncated",
        )
    )


def _expected(examples: pl.LazyFrame, teacher_tasks: dict[str, list[str]]) -> pl.LazyFrame:
    """One row per (teacher, example, task, option) that must be present."""
    base = examples.select("example_id", "benchmark", "split", "choices", "answer", "answer_index")
    parts = []
    for teacher, tasks in teacher_tasks.items():
        for task in tasks:
            if task == "counterfactual_rationale":
                part = (
                    base.with_columns(option_index=pl.int_ranges(pl.col("choices").list.len()))
                    .explode("choices", "option_index")
                    .rename({"choices": "option"})
                )
            else:
                part = base.select(
                    pl.exclude("choices", "answer", "answer_index"),
                    option_index=pl.col("answer_index"),
                    option=pl.col("answer"),
                )
            parts.append(
                part.with_columns(
                    teacher=pl.lit(teacher),
                    task=pl.lit(task),
                    option_index=pl.col("option_index").cast(pl.Int64),
                )
            )
    cols = ["example_id", "benchmark", "split", "teacher", "task", "option_index", "option"]
    if not parts:
        return pl.LazyFrame(schema={c: pl.String for c in cols} | {"option_index": pl.Int64})
    return pl.concat([p.select(cols) for p in parts]).with_columns(column=_column_name())


def _check_failures(
    long: pl.DataFrame,
    ex_df: pl.DataFrame,
    teacher_tasks: dict[str, list[str]],
    *,
    benchmark: str,
    split: str,
    checks: ChecksConfig,
) -> pl.DataFrame:
    """Every enabled check on the cleaned long outputs (``FAILURE_SCHEMA``)."""
    known = long.lazy().filter(pl.col("is_known"))
    unknown = long.lazy().filter(~pl.col("is_known"))
    first = known.filter(~pl.col("is_duplicate"))
    choices = ex_df.lazy().select("example_id", "choices")

    failures: list[pl.LazyFrame] = []
    rule = checks.rule
    if rule("duplicate_example").enabled:
        failures.append(check_duplicates(known))
    if rule("unknown_example").enabled:
        failures.append(check_unknown(unknown, benchmark, split))
    if rule("empty_text").enabled:
        failures.append(check_empty_text(first))
    if rule("truncated").enabled:
        failures.append(check_truncated(first))
    if rule("answer_mismatch").enabled:
        scoped = first.with_columns(
            scope=pl.concat_str(["preamble", "text"], separator=" ", ignore_nulls=True)
        )
        failures.append(check_answer_mismatch(scoped, choices, checks.mismatch_tasks))
    if (rule("missing_example").enabled or rule("missing_output").enabled) and teacher_tasks:
        expected = _expected(ex_df.lazy(), teacher_tasks)
        seen = first.select("teacher", "example_id").unique()
        whole, partial = check_missing(expected, first, seen)
        if rule("missing_example").enabled:
            failures.append(whole)
        if rule("missing_output").enabled:
            failures.append(partial)

    if not failures:
        return empty_rejects().drop("rejected")
    return pl.concat(failures, how="vertical_relaxed").collect()


def _teacher_tasks(
    outputs: pl.LazyFrame, required_tasks: tuple[str, ...], where: str
) -> dict[str, list[str]]:
    """Per teacher, the required tasks it has outputs for.

    A required task a teacher produced no output for at all was not run for it (the study
    kept no critiques): logged, not checked, its column stays null. Holes are missing_output.
    """
    present = outputs.select("teacher", "task").unique().collect()
    out: dict[str, list[str]] = {}
    for teacher in sorted(present.get_column("teacher").drop_nulls().unique().to_list()):
        tasks = set(present.filter(pl.col("teacher") == teacher).get_column("task").to_list())
        absent = [t for t in required_tasks if t not in tasks]
        if absent:
            logger.warning(
                "%s: teacher %r has no %s outputs at all; not checked for them",
                where,
                teacher,
                ", ".join(absent),
            )
        out[teacher] = [t for t in required_tasks if t in tasks]
    return out


def _consolidate_part(
    outputs: pl.LazyFrame,
    ex_df: pl.DataFrame,
    teacher_tasks: dict[str, list[str]],
    *,
    benchmark: str,
    split: str,
    rules: CleaningRules,
    checks: ChecksConfig,
    required_tasks: tuple[str, ...],
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Consolidate the outputs of some examples: ``(table, rejects, rows per teacher)``."""
    n_options = N_OPTIONS[benchmark]
    keys = ["teacher", "example_id", "task", "option_index"]
    long = (
        clean_outputs(outputs, rules)
        .collect(engine="streaming")
        .with_row_index("row_id")
        .with_columns(
            benchmark=pl.lit(benchmark),
            split=pl.lit(split),
            is_duplicate=~pl.struct(keys).is_first_distinct(),
            is_known=pl.col("example_id").is_in(ex_df.get_column("example_id").implode()),
        )
    )
    failed = _check_failures(
        long, ex_df, teacher_tasks, benchmark=benchmark, split=split, checks=checks
    )
    logger.debug("%s/%s: %d outputs checked, %d failures", benchmark, split, len(long), len(failed))
    rule = checks.rule
    # A failure rejects the row when its check is required, unless it concerns the text of a
    # task that is not required (an empty negative rationale is only flagged).
    required = [c for c in failed.get_column("check").unique().to_list() if rule(c).required]
    optional_columns = _task_columns(tuple(t for t in TASKS if t not in required_tasks), n_options)
    rejects = (
        failed.with_columns(
            rejected=pl.col("check").is_in(required)
            & ~pl.col("column").is_in(optional_columns).fill_null(False)
        )
        .select(REJECTS_SCHEMA.names())
        .cast(dict(REJECTS_SCHEMA))
    )
    # A row leaves the table when a required check failed on it. Duplicate copies and unknown
    # ids are not rows of the table (the first copy stays).
    row_level = rejects.filter(
        pl.col("rejected") & ~pl.col("check").is_in(["duplicate_example", "unknown_example"])
    )
    flags = (
        rejects.filter(~pl.col("rejected"))
        .group_by("teacher", "example_id")
        .agg(quality_flags=pl.col("check").unique().sort())
    )
    text_cols = [c for c in rationale_columns(n_options) if c != "critique_request"]
    # Rows in the order of the outputs (teacher_generation's shards: teacher, then example id).
    # One left join per column: faster and half the memory of a filtered group_by or a pivot.
    valid = long.lazy().filter(pl.col("is_known") & ~pl.col("is_duplicate"))
    pair = ["teacher", "example_id"]
    wide = valid.select(pair).unique(maintain_order=True)
    for c in text_cols:
        wide = wide.join(
            valid.filter(pl.col("column") == c).select(*pair, pl.col("text").alias(c)),
            on=pair,
            how="left",
            maintain_order="left",
        )
    requests = (
        valid.filter(
            pl.col("task").is_in(["critique", "revision"])
            & pl.col("critique_request").is_not_null()
        )
        .select(*pair, "critique_request")
        .unique(pair, keep="first", maintain_order=True)
    )
    wide = wide.join(requests, on=pair, how="left", maintain_order="left").collect()
    covered = dict(wide.group_by("teacher").len().iter_rows())
    del long, valid  # free the long table before the join
    schema = consolidated_schema(benchmark)
    inputs = ex_df.select([c for c in INPUT_SCHEMA.names() if c != "teacher"])
    table = (
        wide.lazy()
        .join(row_level.lazy().select(pair).unique(), on=pair, how="anti")
        .join(flags.lazy(), on=pair, how="left", maintain_order="left")
        .join(inputs.lazy(), on="example_id", how="inner", maintain_order="left")
        .with_columns(
            quality_flags=pl.col("quality_flags").fill_null(pl.lit([], pl.List(pl.String)))
        )
        .select(schema.names())
        .cast(dict(schema))
        .collect()
    )
    return table, rejects, covered


def consolidate(
    outputs: pl.LazyFrame,
    examples: pl.DataFrame | pl.LazyFrame,
    *,
    benchmark: str,
    split: str,
    rules: CleaningRules | None = None,
    checks: ChecksConfig | None = None,
    required_tasks: tuple[str, ...] = DEFAULT_REQUIRED_TASKS,
    batch_rows: int = 1_000_000,
) -> Consolidated:
    """Merge all teacher outputs of one (benchmark, split) with its examples.

    ``outputs``: long teacher outputs (``TEACHER_OUTPUT_SCHEMA``) of any number of teachers;
    ``examples``: the split's examples (``EXAMPLE_SCHEMA``), carried through unchanged.

    More than ``batch_rows`` outputs are consolidated in batches of examples (by a hash of the
    example id, so every output of an example is in one batch and every check stays exact);
    memory then grows with the batch, not with the whole split.
    """
    rules = rules or CleaningRules()
    checks = checks or ChecksConfig()
    require_known(required_tasks, TASKS, "tasks")
    outputs = outputs.lazy()
    ex_df = (
        examples.lazy()
        .filter(pl.col("split") == split)
        .unique("example_id", keep="first", maintain_order=True)
        .with_columns(benchmark=pl.lit(benchmark))
        .collect()
    )
    n_rows = outputs.select(pl.len()).collect().item()
    teacher_tasks = _teacher_tasks(outputs, required_tasks, f"{benchmark}/{split}")
    teachers = sorted(teacher_tasks)
    batches = max(1, math.ceil(n_rows / batch_rows))
    logger.info(
        "%s/%s: %d teacher outputs of teachers %s, %d batch(es)",
        benchmark,
        split,
        n_rows,
        teachers,
        batches,
    )
    tables, rejects_parts = [], []
    covered: dict[str, int] = dict.fromkeys(teachers, 0)
    for k in range(batches):
        in_batch = pl.col("example_id").hash(seed=0) % batches == k
        table_k, rejects_k, covered_k = _consolidate_part(
            outputs.filter(in_batch) if batches > 1 else outputs,
            ex_df.filter(in_batch) if batches > 1 else ex_df,
            teacher_tasks,
            benchmark=benchmark,
            split=split,
            rules=rules,
            checks=checks,
            required_tasks=required_tasks,
        )
        tables.append(table_k)
        rejects_parts.append(rejects_k)
        for t, n in covered_k.items():
            covered[t] = covered.get(t, 0) + n
    table = pl.concat(tables) if len(tables) > 1 else tables[0]
    rejects = pl.concat(rejects_parts).sort("teacher", "example_id", "check", "column")
    # Shares are of the split's examples when every example must be covered
    # (missing_example on), else of the examples the teacher was run on.
    rule = checks.rule
    totals = pl.DataFrame(
        {
            "benchmark": benchmark,
            "split": split,
            "teacher": teachers,
            "total_rows": [
                len(ex_df) if rule("missing_example").enabled else int(covered.get(t, 0))
                for t in teachers
            ],
        },
        schema={
            "benchmark": pl.String,
            "split": pl.String,
            "teacher": pl.String,
            "total_rows": pl.Int64,
        },
    )
    summary = summarize(rejects, totals, checks)
    n_rejected = (
        rejects.filter(
            pl.col("rejected") & ~pl.col("check").is_in(["duplicate_example", "unknown_example"])
        )
        .select("teacher", "example_id")
        .n_unique()
    )
    logger.info(
        "%s/%s: %d consolidated rows, %d failures (%d rows rejected)",
        benchmark,
        split,
        len(table),
        len(rejects),
        n_rejected,
    )
    return Consolidated(table=table, rejects=rejects, summary=summary)
