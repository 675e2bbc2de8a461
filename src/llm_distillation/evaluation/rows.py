"""The test rows a cell is evaluated on: exactly one per test example.

A consolidated test table has one row per (example, teacher): the study's StrategyQA test has a
``llama`` and a ``qwen`` row of every question. Evaluating every row would count each example
once per teacher (accuracy ``n`` doubled, confidence intervals too narrow) and would probe the
student with rationales of a teacher it never learned from. So a cell's test rows are:

- the rows of the teachers the cell trained on (``student_training.data.teachers``);
- of those, one row per ``example_id``: the row of the first of those teachers, in the order
  the setting lists them, that has the example;
- when ``data.teachers`` is null (the cell trained on every teacher of its train table), the
  row of the alphabetically first teacher that has the example.

A table without a ``teacher`` column (the ingest test split: the benchmark's own rows, no
teacher text) already has one row per example and is returned as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import polars as pl

from llm_distillation.errors import require_known

logger = logging.getLogger(__name__)

TEACHERS_SETTING: Final = "student_training.data.teachers"


def one_row_per_example(
    table: pl.DataFrame,
    teachers: Sequence[str] | None,
    *,
    table_name: str = "the test table",
    setting: str = TEACHERS_SETTING,
) -> pl.DataFrame:
    """The rows of ``table`` the cell is evaluated on (see the module docstring), in table
    order. Raises ``ValueError`` naming ``setting`` and the table's teachers when ``teachers``
    names one the table does not have."""
    if "teacher" not in table.columns:
        return table
    known = sorted(table["teacher"].drop_nulls().unique().to_list())
    if teachers:
        require_known(teachers, known, f"teachers of {table_name}", field=setting)
        order = list(dict.fromkeys(teachers))
    else:
        order = known
    rank = pl.col("teacher").replace_strict(
        {t: i for i, t in enumerate(order)}, default=None, return_dtype=pl.Int64
    )
    rows = (
        table.with_columns(_rank=rank)
        .filter(pl.col("_rank").is_not_null())
        .filter(pl.col("_rank") == pl.col("_rank").min().over("example_id"))
        .unique("example_id", keep="first", maintain_order=True)
        .drop("_rank")
    )
    chosen = rows["teacher"].value_counts(sort=True).iter_rows()
    logger.info(
        "%s: %d rows of teachers %s -> %d examples (%s)",
        table_name,
        table.height,
        known,
        rows.height,
        ", ".join(f"{t}: {n}" for t, n in chosen),
    )
    return rows
