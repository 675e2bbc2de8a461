"""Automatic explanation metrics compared across conditions with the tests of the human ratings.

Input: per-explanation metrics of the evaluation pipeline, :data:`METRIC_COLUMNS`
(``example_id, condition, seed, metric, value``). Per metric: Kruskal-Wallis across conditions,
Dunn's pairwise tests (Bonferroni within the metric, as the study) and Vargha-Delaney A — the
functions of the rating analysis (:func:`llm_distillation.reporting.univariate.compare_groups`).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from llm_distillation.reporting.tidy import result_table
from llm_distillation.reporting.univariate import compare_groups

METRIC_COLUMNS: dict[str, pl.DataType] = {
    "example_id": pl.String(),
    "condition": pl.String(),
    "seed": pl.Int64(),
    "metric": pl.String(),
    "value": pl.Float64(),
}


def compare_explanation_metrics(
    metrics: pl.DataFrame,
    conditions: Sequence[str] | None = None,
    p_adjust: str = "bonferroni",
) -> pl.DataFrame:
    """One block of rows per metric (``variable`` = metric name) in the result schema.

    Rows with a missing value are left out (a metric that does not apply to an explanation);
    a metric seen in fewer than two conditions gets a ``not possible`` row.
    """
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics: missing columns {missing}; expected {list(METRIC_COLUMNS)}")
    table = (
        metrics.select(pl.col(c).cast(t) for c, t in METRIC_COLUMNS.items())
        .drop_nulls(["condition", "metric", "value"])
        .filter(pl.col("value").is_not_nan())
    )
    rows = []
    for metric in sorted(table["metric"].unique().to_list()):
        part = table.filter(pl.col("metric") == metric)
        present = part["condition"].unique().to_list()
        order = [c for c in conditions if c in present] if conditions else sorted(present)
        if len(order) < 2:
            rows.append(
                {
                    "analysis": "metrics",
                    "test": "kruskal_wallis",
                    "variable": metric,
                    "note": "not possible: fewer than two conditions",
                }
            )
            continue
        part = part.filter(pl.col("condition").is_in(order)).rename({"value": metric})
        rows += [
            {"analysis": "metrics", **r}
            for r in compare_groups(part, [metric], "condition", order, p_adjust=p_adjust)
        ]
    return result_table(rows)
