"""The one normalized schema of benchmark examples, shared by every pipeline.

Every benchmark (CommonsenseQA, e-SNLI, StrategyQA) is turned into multiple choice: the NLI
labels and yes/no are choices too. See ``docs/schema.md`` for the meaning of each column.
"""

from __future__ import annotations

from typing import Final

import polars as pl

BENCHMARKS: Final = ("cqa", "esnli", "strategyqa")
SPLITS: Final = ("train", "dev", "test")

STUDY_PREFIX: Final = "study_"
"""What the catalog names of the study's imported tables start with (``study_cqa.…``,
``study_cqa_llama.source``): :func:`table_namespace`."""


def table_namespace(benchmark: str, *, study: bool) -> str:
    """The catalog namespace of a benchmark's consolidated tables: ``study_<benchmark>`` for
    the study's imported teacher outputs, ``<benchmark>`` for our teachers' (the one place
    of this naming rule; ``<namespace>.consolidated_train``, ``….consolidated_test``, …)."""
    return f"{STUDY_PREFIX}{benchmark}" if study else benchmark


ESNLI_LABELS: Final = ("entailment", "neutral", "contradiction")
"""e-SNLI label ids 0, 1, 2 in this order (the HF ``esnli`` and distilling-step-by-step order)."""

YES_NO: Final = ("yes", "no")
"""StrategyQA choices: ``True`` is "yes" (index 0), ``False`` is "no" (index 1)."""

EXAMPLE_SCHEMA: Final = pl.Schema(
    {
        "example_id": pl.String,
        "benchmark": pl.String,
        "split": pl.String,
        "source_file": pl.String,
        "source_row": pl.Int64,
        "question": pl.String,
        "premise": pl.String,
        "hypothesis": pl.String,
        "choices": pl.List(pl.String),
        "answer": pl.String,
        "answer_index": pl.Int64,
        "explanations": pl.List(pl.String),
        "metadata": pl.String,
    }
)
"""Columns of every normalized example table, in order.

``question`` is set for cqa and strategyqa, ``premise``/``hypothesis`` for esnli (the other
text columns are null). ``metadata`` is a JSON object of benchmark-specific extras (e.g. the
StrategyQA ``term`` and ``decomposition``, the CommonsenseQA ``question_concept``).
"""

REJECTED_SCHEMA: Final = pl.Schema(
    {
        "benchmark": pl.String,
        "split": pl.String,
        "source_file": pl.String,
        "source_row": pl.Int64,
        "example_id": pl.String,
        "field": pl.String,
        "reason": pl.String,
    }
)
"""Columns of the ``rejected_examples`` tables: where a bad row came from and why it failed."""

TEXT_FIELDS: Final = {
    "cqa": ("question",),
    "esnli": ("premise", "hypothesis"),
    "strategyqa": ("question",),
}
"""The task text columns that must be non-empty, per benchmark."""

FIXED_CHOICES: Final = {"esnli": ESNLI_LABELS, "strategyqa": YES_NO}
"""Benchmarks whose choices are a fixed label set (a row with other choices is invalid)."""

N_OPTIONS: Final = {"cqa": 5, "esnli": len(ESNLI_LABELS), "strategyqa": len(YES_NO)}
"""Answer options per benchmark (one counterfactual rationale each)."""


def empty_examples() -> pl.DataFrame:
    """An example table with no rows and the full schema."""
    return pl.DataFrame(schema=EXAMPLE_SCHEMA)


def empty_rejections() -> pl.DataFrame:
    """A rejections table with no rows and the full schema."""
    return pl.DataFrame(schema=REJECTED_SCHEMA)
