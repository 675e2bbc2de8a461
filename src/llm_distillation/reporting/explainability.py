"""The study's explainability analysis (explainability.R) on the human ratings (study.csv).

One row per rating of one explanation by one participant: five 1-5 Likert items, the condition
that produced the explanation (``model``), its length and the participant's demographics.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from llm_distillation.reporting.multivariate import (
    box_m,
    multivariate_shapiro,
    nonparametric_manova,
    relative_effects,
)
from llm_distillation.reporting.outliers import split_outliers
from llm_distillation.reporting.performance import CONDITIONS
from llm_distillation.reporting.regression import factor_levels, ols
from llm_distillation.reporting.tidy import result_table
from llm_distillation.reporting.univariate import (
    compare_groups,
    group_summary,
    levene,
    pearson_correlations,
    shapiro_by_group,
)

ITEMS: tuple[str, ...] = (
    "Plausibility",
    "Understandability",
    "Completeness",
    "Satisfaction",
    "Contrastiveness",
)
"""The five rating items, in the order of the study's ``rowMeans`` and ``nonpartest``."""

STUDY_CONDITIONS: dict[str, str] = {
    "CF:PosRationales": "CF:Unrevised",
    "MT:PosRationales": "MT:Unrevised",
    "MT+CF:PosRationales": "MT+CF:Unrevised",
    "MT+CF:RevRationales": "MT+CF:Revised",
}
"""``model`` labels as stored in study.csv -> the condition names of the analysis."""

DEMOGRAPHICS: tuple[str, ...] = ("gender", "age", "country", "education", "employement")
"""The controls of the second model, in the study's formula order (``employement`` sic)."""

DEMOGRAPHIC_REFERENCES: dict[str, str] = {"gender": "male", "country": "United Kingdom"}
"""The study's ``relevel`` calls; the other factors keep R's default: the first sorted level."""

STUDY_COLUMNS: tuple[str, ...] = ("model", "rationale_length", *ITEMS, *DEMOGRAPHICS)


def prepare_study(raw: pl.DataFrame, source: str = "study.csv") -> pl.DataFrame:
    """``id`` (1-based row number, as the study's ``add_column(id = 1:n)``), ``condition`` (Enum
    of the four conditions), ``Quality`` = mean of the five items, and the original columns."""
    missing = [c for c in STUDY_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing}; expected {list(STUDY_COLUMNS)}")
    indexed = raw.with_row_index("id", offset=1)
    bad = indexed.filter(~pl.col("model").is_in(list(STUDY_CONDITIONS)))
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"{source}: row {row['id']}, field 'model': unknown value {row['model']!r}; "
            f"allowed: {list(STUDY_CONDITIONS)}"
        )
    for item in ITEMS:
        out = indexed.filter(pl.col(item).is_null() | ~pl.col(item).is_between(1, 5))
        if out.height:
            row = out.row(0, named=True)
            raise ValueError(
                f"{source}: row {row['id']}, field {item!r}: {row[item]!r} is not a 1-5 rating"
            )
    return indexed.with_columns(
        pl.col("id").cast(pl.Int64),
        pl.col("model")
        .replace_strict(STUDY_CONDITIONS)
        .cast(pl.Enum(CONDITIONS))
        .alias("condition"),
        pl.mean_horizontal(*(pl.col(i).cast(pl.Float64) for i in ITEMS)).alias("Quality"),
    )


def analyse_explainability(
    data: pl.DataFrame, permutations: int = 1000, seed: int = 0, p_adjust: str = "bonferroni"
) -> dict[str, pl.DataFrame]:
    """explainability.R on prepared ratings (:func:`prepare_study`).

    As in the study, only the two regressions use the ratings without the Quality outliers
    (1.5 IQR per condition); every other test uses all ratings. The checks: Shapiro-Wilk per
    condition and item, multivariate Shapiro-Wilk, Pearson correlations of the items, Box's M,
    Levene per item. Returns ``summary`` (mean ± SE
    of each item and Quality per condition), ``outliers`` (removed ratings), ``relative_effects``
    (npmv) and ``tests`` (result schema).
    """
    outcomes = [*ITEMS, "Quality"]
    kept, outliers = split_outliers(data, "Quality", ["condition"])
    rows: list[dict[str, Any]] = []
    for outcome in outcomes:
        rows += shapiro_by_group(data, outcome, ["condition"])
        rows.append(levene(data, outcome, ["condition"]))
    rows.append(multivariate_shapiro(data, ITEMS))
    rows += pearson_correlations(data, ITEMS)
    rows.append(box_m(data, ITEMS, "condition", CONDITIONS))
    condition_levels = factor_levels(kept, "condition", CONDITIONS)
    rows += [
        {**r, "subset": "without Quality outliers"}
        for r in ols(
            kept, "Quality", ["condition", "rationale_length"], {"condition": condition_levels}
        )
    ]
    factors = {"condition": condition_levels} | {
        d: factor_levels(kept, d, reference=DEMOGRAPHIC_REFERENCES.get(d)) for d in DEMOGRAPHICS
    }
    rows += [
        {**r, "subset": "without Quality outliers"}
        for r in ols(kept, "Quality", ["condition", "rationale_length", *DEMOGRAPHICS], factors)
    ]
    rows += nonparametric_manova(
        data, ITEMS, "condition", CONDITIONS, permutations=permutations, seed=seed
    )
    rows += compare_groups(data, ITEMS, "condition", CONDITIONS, p_adjust=p_adjust)
    long = data.unpivot(index=["condition"], on=outcomes, variable_name="item", value_name="value")
    summary = group_summary(
        long.with_columns(pl.col("value").cast(pl.Float64)), "value", ["item", "condition"]
    ).sort(["item", "condition"])
    table = result_table({"analysis": "explainability", **r} for r in rows)
    return {
        "summary": summary,
        "outliers": outliers,
        "relative_effects": relative_effects(data, ITEMS, "condition", CONDITIONS),
        "tests": table,
    }
