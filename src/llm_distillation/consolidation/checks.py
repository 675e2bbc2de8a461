"""Quality checks of teacher outputs, per row, with a reason for every failure.

Every check is a pure function from (long) teacher outputs, or outputs and examples, to a
frame of failures in :data:`FAILURE_SCHEMA`. :func:`llm_distillation.consolidation.merge`
runs the enabled ones; rows failing a *required* check leave the consolidated table and are
kept, with their reason, in ``consolidation_rejects`` (see ``docs/consolidation.md``).

Checks (names are the values of the ``check`` column):

``missing_example``    the teacher produced no output at all for an example of the split
``missing_output``     a task output (or one option's counterfactual) is missing
``duplicate_example``  more than one output for (teacher, example, task, option): the first
                       is kept, later copies are rejected
``unknown_example``    an output whose ``example_id`` is not in the split's examples
``empty_text``         the text is empty after cleaning
``truncated``          generation stopped at the token limit inside the kept text
                       (``finish_reason == "length"``; for replayed/imported text without a
                       finish reason: the kept text runs to the end of the raw text and does
                       not end like a sentence)
``answer_mismatch``    the rationale states a different answer ("the answer is X") than the
                       option it was asked to explain
"""

from __future__ import annotations

import logging
from typing import Final

import polars as pl
from pydantic import Field

from llm_distillation.answers import statement_matches
from llm_distillation.config import StrictModel
from llm_distillation.errors import TooManyRejectionsError
from llm_distillation.rendering import concat as _concat

logger = logging.getLogger(__name__)

CHECKS: Final = (
    "missing_example",
    "missing_output",
    "duplicate_example",
    "unknown_example",
    "empty_text",
    "truncated",
    "answer_mismatch",
)

FAILURE_SCHEMA: Final = pl.Schema(
    {
        "example_id": pl.String,
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,
        "check": pl.String,
        "column": pl.String,  # the consolidated column concerned (null: the whole row)
        "reason": pl.String,
    }
)
"""What every check returns: one row per failure."""

REJECTS_SCHEMA: Final = pl.Schema({**FAILURE_SCHEMA, "rejected": pl.Boolean})
"""``consolidation_rejects``: every failure; ``rejected`` is true when the check is required
(the example's row left the consolidated table), false when it is only flagged."""

SUMMARY_SCHEMA: Final = pl.Schema(
    {
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,
        "check": pl.String,
        "required": pl.Boolean,
        "failed_rows": pl.Int64,
        "total_rows": pl.Int64,
        "share": pl.Float64,
        "max_share": pl.Float64,
    }
)
"""Per (benchmark, split, teacher, check): how many (example, teacher) rows failed."""


class CheckRule(StrictModel):
    """One check's settings: off/on, whether failing rows are rejected, the gate threshold."""

    enabled: bool = True
    required: bool = True
    """Failing rows leave the consolidated table (else they are only flagged)."""
    max_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """The run fails when more than this share of a teacher's rows fail the check."""


class ChecksConfig(StrictModel):
    """``consolidation.checks``: one rule per check."""

    missing_example: CheckRule = CheckRule(max_share=0.0)
    missing_output: CheckRule = CheckRule(max_share=0.0)
    duplicate_example: CheckRule = CheckRule(max_share=0.0)
    unknown_example: CheckRule = CheckRule(max_share=0.0)
    empty_text: CheckRule = CheckRule(max_share=0.02)
    truncated: CheckRule = CheckRule(required=False, max_share=1.0)
    answer_mismatch: CheckRule = CheckRule(max_share=0.1)
    mismatch_tasks: tuple[str, ...] = (
        "positive_rationale",
        "negative_rationale",
        "counterfactual_rationale",
        "revision",
    )
    """Tasks whose text must not state another option than the one it was conditioned on."""

    def rule(self, check: str) -> CheckRule:
        return getattr(self, check)


class ConsolidationQualityError(TooManyRejectionsError):
    """More rows failed a consolidation check than its ``max_share`` allows."""


# ---------------------------------------------------------------------------- checks


def _failures(frame: pl.LazyFrame, check: str, column: pl.Expr, reason: pl.Expr) -> pl.LazyFrame:
    return frame.select(
        "example_id",
        "benchmark",
        "split",
        "teacher",
        check=pl.lit(check),
        column=column.cast(pl.String),
        reason=reason.cast(pl.String),
    )


def check_empty_text(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Texts that clean to nothing (``rows`` has ``column``, ``is_empty`` and ``raw_chars``)."""
    return _failures(
        rows.filter(pl.col("is_empty")),
        "empty_text",
        pl.col("column"),
        pl.when(pl.col("finish_reason") == "error")
        .then(pl.lit("no text: the backend reported an error (finish_reason 'error')"))
        .otherwise(
            _concat("empty after cleaning (raw text had ", pl.col("raw_chars"), " characters)")
        ),
    )


def check_truncated(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Kept text cut by the token limit (``rows`` has ``is_truncated``)."""
    return _failures(
        rows.filter(pl.col("is_truncated") & ~pl.col("is_empty")),
        "truncated",
        pl.col("column"),
        pl.when(pl.col("finish_reason") == "length")
        .then(pl.lit("generation stopped at the token limit inside the kept text"))
        .otherwise(pl.lit("kept text runs to the end of the output and stops mid-sentence")),
    )


def check_answer_mismatch(
    rows: pl.LazyFrame, choices: pl.LazyFrame, tasks: tuple[str, ...]
) -> pl.LazyFrame:
    """Rationales that state another option than the one they were conditioned on.

    ``choices``: ``example_id`` and ``choices`` of the examples (joined only to the rows that
    state something).
    """
    subject = rows.filter(pl.col("task").is_in(list(tasks)) & ~pl.col("is_empty"))
    subject = subject.collect().lazy()  # read by several branches below
    matches = statement_matches(subject, choices)
    bad = subject.join(matches.filter(pl.col("states_other")), on="row_id")
    return _failures(
        bad,
        "answer_mismatch",
        pl.col("column"),
        _concat(
            "states '",
            pl.col("stated_other"),
            "' but was asked to explain option ",
            pl.col("option_index") + 1,
            " '",
            pl.col("option"),
            "'",
        ),
    )


def check_duplicates(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Second and later outputs for one (teacher, example, task, option) (``is_duplicate``)."""
    return _failures(
        rows.filter(pl.col("is_duplicate")),
        "duplicate_example",
        pl.col("column"),
        pl.lit("another output for the same teacher, example, task and option came first"),
    )


def check_unknown(rows: pl.LazyFrame, benchmark: str, split: str) -> pl.LazyFrame:
    """Outputs for example ids that are not in the split (rows already anti-joined)."""
    return _failures(
        rows.unique(["teacher", "example_id"]).with_columns(
            benchmark=pl.lit(benchmark), split=pl.lit(split)
        ),
        "unknown_example",
        pl.lit(None, pl.String),
        _concat("no example ", pl.col("example_id"), f" in {benchmark}/{split}"),
    )


def check_missing(
    expected: pl.LazyFrame, present: pl.LazyFrame, seen_examples: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """``(missing_example, missing_output)`` failures.

    ``expected``: one row per (teacher, example, task, option) that must exist, with
    ``column`` and ``option``; ``present``: the keys that do; ``seen_examples``: (teacher,
    example_id) pairs with at least one output.
    """
    keys = ["teacher", "example_id", "task", "option_index"]
    missing = expected.join(present.select(keys), on=keys, how="anti")
    whole = missing.join(seen_examples, on=["teacher", "example_id"], how="anti")
    partial = missing.join(seen_examples, on=["teacher", "example_id"], how="semi")
    missing_example = _failures(
        whole.unique(["teacher", "example_id"]),
        "missing_example",
        pl.lit(None, pl.String),
        pl.lit("the teacher has no output for this example"),
    )
    missing_output = _failures(
        partial,
        "missing_output",
        pl.col("column"),
        pl.when(pl.col("task") == "counterfactual_rationale")
        .then(
            _concat(
                "no counterfactual rationale for option ",
                pl.col("option_index") + 1,
                " '",
                pl.col("option"),
                "'",
            )
        )
        .otherwise(_concat("no ", pl.col("task"), " output")),
    )
    return missing_example, missing_output


# ------------------------------------------------------------------------------ gate


def summarize(failures: pl.DataFrame, totals: pl.DataFrame, config: ChecksConfig) -> pl.DataFrame:
    """Failed (example, teacher) rows per check against the teacher's total rows.

    ``failures``: ``REJECTS_SCHEMA`` rows; ``totals``: benchmark, split, teacher, total_rows.
    """
    enabled = [c for c in CHECKS if config.rule(c).enabled]
    required = [c for c in enabled if config.rule(c).required]
    # A required check counts the rows it rejected (not the ones it only flagged, e.g. an
    # empty text of a task that is not required); a flagging check counts every failure.
    counted = failures.filter(pl.col("rejected") | ~pl.col("check").is_in(required))
    counts = counted.group_by("benchmark", "split", "teacher", "check").agg(
        failed_rows=pl.struct("example_id").n_unique().cast(pl.Int64)
    )
    grid = totals.join(pl.DataFrame({"check": enabled}), how="cross")
    rules = pl.DataFrame(
        {
            "check": enabled,
            "required": [config.rule(c).required for c in enabled],
            "max_share": [config.rule(c).max_share for c in enabled],
        }
    )
    out = (
        grid.join(counts, on=["benchmark", "split", "teacher", "check"], how="left")
        .join(rules, on="check")
        .with_columns(
            failed_rows=pl.col("failed_rows").fill_null(0),
            total_rows=pl.col("total_rows").cast(pl.Int64),
        )
        .with_columns(
            share=pl.when(pl.col("total_rows") > 0)
            .then(pl.col("failed_rows") / pl.col("total_rows"))
            .otherwise(0.0)
        )
    )
    return out.select(SUMMARY_SCHEMA.names()).cast(dict(SUMMARY_SCHEMA)).sort("teacher", "check")


def over_threshold(summary: pl.DataFrame) -> pl.DataFrame:
    """Summary rows whose share of failing rows exceeds the check's ``max_share``."""
    return summary.filter(pl.col("share") > pl.col("max_share"))


def enforce_thresholds(
    summary: pl.DataFrame, rejects: pl.DataFrame, rejects_dataset: str, *, fail: bool = True
) -> None:
    """Raise :class:`ConsolidationQualityError` naming every check above its threshold and the
    first failures of each (or only log them when ``fail`` is false)."""
    bad = over_threshold(summary)
    if bad.is_empty():
        return
    lines = []
    for r in bad.iter_rows(named=True):
        lines.append(
            f"  {r['benchmark']}/{r['split']} teacher {r['teacher']!r}: check {r['check']!r} "
            f"failed for {r['failed_rows']} of {r['total_rows']} rows ({r['share']:.2%}), "
            f"more than max_share={r['max_share']:.2%}"
        )
        first = rejects.filter(
            (pl.col("check") == r["check"])
            & (pl.col("teacher") == r["teacher"])
            & (pl.col("split") == r["split"])
        ).head(3)
        lines.extend(
            f"      e.g. {f['example_id']} [{f['column'] or 'row'}]: {f['reason']}"
            for f in first.iter_rows(named=True)
        )
    message = (
        "Consolidation quality checks failed:\n"
        + "\n".join(lines)
        + f"\nEvery failure is in the catalog dataset '{rejects_dataset}'. Raise the check's "
        "max_share in conf/*/parameters_consolidation.yml only after reading them."
    )
    if fail:
        raise ConsolidationQualityError(message)
    logger.warning("%s", message)
