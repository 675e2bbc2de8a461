"""Outlier rule of the study: rstatix::identify_outliers (1.5 IQR beyond the quartiles)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

IQR_FACTOR = 1.5


def iqr_outlier_mask(
    values: Sequence[float] | np.ndarray, factor: float = IQR_FACTOR
) -> np.ndarray:
    """True where a value lies below Q1 - factor*IQR or above Q3 + factor*IQR.

    Quartiles as R's ``quantile(x, c(.25, .75))`` (type 7 = numpy's default ``linear``), the
    rule of ``rstatix::is_outlier`` which ``identify_outliers`` applies per group.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    q1, q3 = np.quantile(x, [0.25, 0.75])
    iqr = q3 - q1
    return (x < q1 - factor * iqr) | (x > q3 + factor * iqr)


def split_outliers(
    data: pl.DataFrame, value: str, by: Sequence[str], factor: float = IQR_FACTOR
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, rows flagged as outliers of ``value`` within their ``by`` group).

    Row order is kept in both parts.
    """
    flagged = data.with_row_index("_row").with_columns(
        pl.col(value)
        .map_batches(
            lambda s: pl.Series(iqr_outlier_mask(s.to_numpy(), factor)), return_dtype=pl.Boolean
        )
        .over(list(by))
        .alias("_outlier")
    )
    flagged = flagged.sort("_row")
    kept = flagged.filter(~pl.col("_outlier")).drop("_row", "_outlier")
    out = flagged.filter(pl.col("_outlier")).drop("_row", "_outlier")
    return kept, out
