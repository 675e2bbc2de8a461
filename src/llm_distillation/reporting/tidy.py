"""The one result-table schema of ``reporting``: one row per test (or per coefficient).

Every statistic of the study's analysis and of the paired / metric comparisons is a row of a
table with :data:`RESULT_SCHEMA`, at full precision (never rounded). Fields that do not apply to
a test are null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "analysis": pl.String(),  # performance, explainability, paired, metrics, ...
    "test": pl.String(),  # levene, shapiro, anova_type2, tukey_hsd, ols, kruskal_wallis, ...
    "variable": pl.String(),  # the outcome: accuracy, Quality, Completeness, a metric name
    "subset": pl.String(),  # the rows tested, e.g. "size=220M"; null = all rows
    "term": pl.String(),  # a model term (ANOVA effect, OLS coefficient), or the test's name
    "groups": pl.String(),  # "group2 vs group1", the grouping factor, or null
    "group1": pl.String(),
    "group2": pl.String(),
    "statistic": pl.Float64(),  # F, W, H, z, t, chi-squared, q, ...
    "statistic_name": pl.String(),
    "df": pl.Float64(),
    "df2": pl.Float64(),
    "p": pl.Float64(),
    "p_adjusted": pl.Float64(),
    "p_adjust_method": pl.String(),
    "p_permutation": pl.Float64(),  # a permutation test's p (npmv), where one was run
    "estimate": pl.Float64(),  # a difference, coefficient, mean rank difference, ...
    "std_error": pl.Float64(),
    "conf_low": pl.Float64(),
    "conf_high": pl.Float64(),
    "effect_size": pl.Float64(),
    "effect_size_name": pl.String(),
    "n": pl.Int64(),
    "detectable": pl.Float64(),  # smallest difference the test detects (reporting.power, α)
    "note": pl.String(),
}
"""Column -> type of every result table."""

RESULT_COLUMNS: tuple[str, ...] = tuple(RESULT_SCHEMA)


def result_table(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows (dicts with a subset of :data:`RESULT_COLUMNS`) -> a table with the full schema."""
    rows = list(rows)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(RESULT_SCHEMA))
        if unknown:
            raise ValueError(
                f"result row {i}: unknown columns {unknown}; allowed: {RESULT_COLUMNS}"
            )
    data = {
        name: pl.Series(name, [_plain(row.get(name)) for row in rows], dtype=dtype)
        for name, dtype in RESULT_SCHEMA.items()
    }
    return pl.DataFrame(data)


def concat_results(tables: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Several result tables (each with :data:`RESULT_SCHEMA`) as one."""
    tables = [t.select(RESULT_COLUMNS) for t in tables]
    return pl.concat(tables) if tables else result_table([])


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars; NaN stays NaN (a test that gave NaN says so)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
