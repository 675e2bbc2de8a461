"""Linear models with R's default (treatment) coding of factors, named as R names them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from llm_distillation.reporting.univariate import levels_of

Row = dict[str, Any]


def factor_levels(
    data: pl.DataFrame,
    column: str,
    order: Sequence[str] | None = None,
    reference: str | None = None,
) -> list[str]:
    """R's levels of ``factor(column)``: ``order`` or sorted, then ``relevel(ref=reference)``."""
    lv = levels_of(data, column, order)
    if reference is not None:
        if reference not in lv:
            raise ValueError(f"column {column!r}: reference level {reference!r} not in {lv}")
        lv = [reference, *(x for x in lv if x != reference)]
    return lv


def ols(
    data: pl.DataFrame,
    outcome: str,
    terms: Sequence[str],
    factors: Mapping[str, Sequence[str]],
) -> list[Row]:
    """``lm(outcome ~ terms…)`` with treatment coding: one row per coefficient (t test) and one
    ``ols_model`` row (overall F test; R², adjusted R² in ``effect_size``/``note``).

    ``factors`` maps each factor term to its levels, the first being the reference (see
    :func:`factor_levels`); other terms are numeric.
    """
    import statsmodels.api as sm

    columns: list[np.ndarray] = [np.ones(data.height)]
    names = ["(Intercept)"]
    contrasts: dict[str, tuple[str, str]] = {}
    for term in terms:
        if term in factors:
            levels = list(factors[term])
            values = data[term].cast(pl.String).to_numpy()
            unknown = sorted(set(values) - set(levels))
            if unknown:
                raise ValueError(f"column {term!r}: values {unknown} not among levels {levels}")
            for level in levels[1:]:
                columns.append((values == level).astype(float))
                names.append(f"{term}{level}")
                contrasts[f"{term}{level}"] = (levels[0], level)
        else:
            columns.append(data[term].cast(pl.Float64).to_numpy())
            names.append(term)
    x = np.column_stack(columns)
    y = data[outcome].cast(pl.Float64).to_numpy()
    fit = sm.OLS(y, x).fit()
    formula = f"{outcome} ~ {' + '.join(terms)}"
    rows: list[Row] = []
    for i, name in enumerate(names):
        rows.append(
            {
                "test": "ols_coefficient",
                "variable": outcome,
                "term": name,
                "groups": f"{contrasts[name][1]} vs {contrasts[name][0]}"
                if name in contrasts
                else None,
                "group1": contrasts.get(name, (None, None))[0],
                "group2": contrasts.get(name, (None, None))[1],
                "statistic": float(fit.tvalues[i]),
                "statistic_name": "t",
                "df": float(fit.df_resid),
                "p": float(fit.pvalues[i]),
                "estimate": float(fit.params[i]),
                "std_error": float(fit.bse[i]),
                "conf_low": float(fit.conf_int()[i, 0]),
                "conf_high": float(fit.conf_int()[i, 1]),
                "n": int(fit.nobs),
                "note": formula,
            }
        )
    rows.append(
        {
            "test": "ols_model",
            "variable": outcome,
            "term": formula,
            "statistic": float(fit.fvalue),
            "statistic_name": "F",
            "df": float(fit.df_model),
            "df2": float(fit.df_resid),
            "p": float(fit.f_pvalue),
            "estimate": float(fit.rsquared_adj),
            "effect_size": float(fit.rsquared),
            "effect_size_name": "R2",
            "n": int(fit.nobs),
            "note": "estimate = adjusted R2",
        }
    )
    return rows
