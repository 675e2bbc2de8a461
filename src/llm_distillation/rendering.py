"""The one rendering of an example's task text, used by teacher prompts, training views and
evaluation prompts alike.

Multiple-choice questions (CommonsenseQA, StrategyQA)::

    Question: <question>
    Choices: (a) <choice 0> (b) <choice 1> …

Natural language inference (e-SNLI; any row with a premise)::

    Premise: <premise>
    Hypothesis: <hypothesis>
    Choices: (a) entailment (b) neutral (c) contradiction

:func:`task_text_expr` is the definition (a polars expression over the example columns
``question``, ``premise``, ``hypothesis`` and ``choices``); :func:`task_texts` and
:func:`task_text` evaluate it on Python rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import ascii_lowercase
from typing import Any, Final

import polars as pl

RENDERING_VERSION: Final = 1
"""Bump when the rendering changes (it is part of the teacher prompts' template hash)."""

LETTERS: Final = tuple(f"({c})" for c in ascii_lowercase)
"""Option labels: ``(a)`` for option 0, ``(b)`` for option 1 …"""

_COLUMNS: Final = {
    "question": pl.String,
    "premise": pl.String,
    "hypothesis": pl.String,
    "choices": pl.List(pl.String),
}


def concat(*parts: str | pl.Expr) -> pl.Expr:
    """Text from literal pieces and expressions (``pl.format`` panicked on multi-chunk string
    columns in polars 2.1; ``concat_str`` does not)."""
    return pl.concat_str(
        [p.cast(pl.String) if isinstance(p, pl.Expr) else pl.lit(p) for p in parts]
    )


def choices_expr(column: str = "choices") -> pl.Expr:
    """``(a) first (b) second …`` from a list-of-strings column."""
    letters = dict(enumerate(LETTERS))
    return (
        pl.col(column)
        .list.eval(
            pl.concat_str(
                pl.int_range(pl.len()).replace_strict(letters, return_dtype=pl.String),
                pl.element(),
                separator=" ",
            )
        )
        .list.join(" ")
    )


def task_text_expr() -> pl.Expr:
    """The task text of every row (see the module docstring)."""
    nli = concat(
        "Premise: ", pl.col("premise"), "\nHypothesis: ", pl.col("hypothesis"),
        "\nChoices: ", choices_expr(),
    )  # fmt: skip
    qa = concat("Question: ", pl.col("question"), "\nChoices: ", choices_expr())
    return pl.when(pl.col("premise").is_not_null()).then(nli).otherwise(qa)


def task_texts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """:func:`task_text_expr` of Python rows (dicts with the example columns; missing text
    columns count as null)."""
    if not rows:
        return []
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in _COLUMNS}, schema=_COLUMNS
    )
    return frame.select(task_text_expr()).to_series().to_list()


def task_text(row: Mapping[str, Any]) -> str:
    """The task text of one example row."""
    return task_texts([row])[0]
