"""The study's performance analysis (performance.R) on accuracy per trained student run.

Input layout: the study's ``experiment.csv`` (columns ``run``, ``test accuracy`` (fraction),
``target_rationale``, ``model_size``, ``training_mode``), or this project's accuracy table
brought into it by :func:`from_accuracy_table`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from llm_distillation.reporting.outliers import split_outliers
from llm_distillation.reporting.tidy import result_table
from llm_distillation.reporting.univariate import (
    group_summary,
    levels_of,
    levene,
    shapiro_by_group,
    tukey_hsd,
)

CONDITIONS: tuple[str, ...] = ("CF:Unrevised", "MT:Unrevised", "MT+CF:Unrevised", "MT+CF:Revised")
"""The four conditions of the study, in its factor order (CF:Unrevised = reference)."""

TRAINING_MODES: dict[str, str] = {
    "task-prefix": "MT",
    "counterfactual-prefix": "CF",
    "both": "MT+CF",
}
RATIONALES: dict[str, str] = {
    "few-shot-positive-rationale": "Unrevised",
    "few-shot-revision": "Revised",
}
EXPERIMENT_COLUMNS: tuple[str, ...] = (
    "run",
    "test accuracy",
    "target_rationale",
    "model_size",
    "training_mode",
)


def prepare_experiment(raw: pl.DataFrame, source: str = "experiment.csv") -> pl.DataFrame:
    """The study's filter and labels: accuracy in percent; rows that pair a revised rationale
    with a training mode other than ``both`` dropped; ``condition`` = ``<mode>:<rationale>``.

    Returns ``run, size, training_mode, rationale, condition, accuracy`` (condition as an
    ordered Enum of :data:`CONDITIONS`).
    """
    missing = [c for c in EXPERIMENT_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{source}: missing columns {missing}; expected {list(EXPERIMENT_COLUMNS)}"
        )
    for column, allowed in (("training_mode", TRAINING_MODES), ("target_rationale", RATIONALES)):
        bad = raw.with_row_index("row").filter(~pl.col(column).is_in(list(allowed)))
        if bad.height:
            row = bad.row(0, named=True)
            raise ValueError(
                f"{source}: row {row['row'] + 1}, field {column!r}: unknown value "
                f"{row[column]!r}; allowed: {list(allowed)}"
            )
    nulls = raw.with_row_index("row").filter(pl.col("test accuracy").is_null())
    if nulls.height:
        raise ValueError(f"{source}: row {nulls['row'][0] + 1}, field 'test accuracy': missing")
    data = raw.filter(
        ~((pl.col("target_rationale") == "few-shot-revision") & (pl.col("training_mode") != "both"))
    ).select(
        pl.col("run"),
        pl.col("model_size").cast(pl.String).alias("size"),
        pl.col("training_mode").replace_strict(TRAINING_MODES).alias("training_mode"),
        pl.col("target_rationale").replace_strict(RATIONALES).alias("rationale"),
        (pl.col("test accuracy").cast(pl.Float64) * 100).alias("accuracy"),
    )
    return data.with_columns(
        pl.concat_str("training_mode", pl.lit(":"), "rationale")
        .cast(pl.Enum(CONDITIONS))
        .alias("condition")
    ).select("run", "size", "training_mode", "rationale", "condition", "accuracy")


def from_accuracy_table(
    accuracy: pl.DataFrame,
    benchmark: str,
    students: Mapping[str, str] | None = None,
    conditions: Sequence[str] | None = None,
) -> pl.DataFrame:
    """This project's accuracy table (``benchmark, student, condition, seed, accuracy``, accuracy
    a fraction in [0, 1]) -> the analysis layout of :func:`prepare_experiment` for one benchmark:
    ``run`` (= seed), ``size`` (the student's label in ``students``; default its name),
    ``condition`` (String; only ``conditions`` when given), ``accuracy`` in percent.
    """
    need = ("benchmark", "student", "condition", "seed", "accuracy")
    missing = [c for c in need if c not in accuracy.columns]
    if missing:
        raise ValueError(f"accuracy table: missing columns {missing}; expected {list(need)}")
    bad = accuracy.with_row_index("row").filter(
        pl.col("accuracy").is_null() | ~pl.col("accuracy").is_between(0.0, 1.0)
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"accuracy table: row {row['row'] + 1}, field 'accuracy': {row['accuracy']!r} is not "
            "a fraction in [0, 1]"
        )
    rows = accuracy.filter(pl.col("benchmark") == benchmark)
    if students:
        rows = rows.filter(pl.col("student").is_in(list(students)))
    if conditions:
        rows = rows.filter(pl.col("condition").is_in(list(conditions)))
    size = pl.col("student").cast(pl.String)
    if students:
        size = size.replace_strict(dict(students))
    return rows.select(
        pl.col("seed").cast(pl.Int64).alias("run"),
        size.alias("size"),
        pl.col("condition").cast(pl.String),
        (pl.col("accuracy").cast(pl.Float64) * 100).alias("accuracy"),
    )


def analyse_performance(
    data: pl.DataFrame,
    min_per_group: int = 2,
    conf_level: float = 0.95,
    conditions: Sequence[str] | None = CONDITIONS,
) -> dict[str, pl.DataFrame]:
    """performance.R on prepared data (:func:`prepare_experiment`).

    Returns ``summary`` (n, mean, sd, se per size and condition, ``stage`` = before / after
    outlier removal), ``outliers`` (the removed runs) and ``tests`` (result schema: Levene over
    the condition × size cells, Shapiro per cell, the type II two-way ANOVA accuracy ~
    condition * size with generalised eta², Tukey HSD between conditions per size).
    Tests that the data cannot support (a cell with fewer than ``min_per_group`` runs left,
    fewer than two conditions) are rows whose ``note`` says why (and, after ``; cells:``, which
    cells), instead of failing.
    ``conditions`` orders the conditions (Tukey's group1/group2); None: sorted names.
    """
    if conditions is not None:
        conditions = levels_of(data, "condition", conditions)
        # summaries and tables in this order, whatever the condition names
        order = pl.Enum(conditions)
        data = data.with_columns(pl.col("condition").cast(pl.String).cast(order))
    by = ["size", "condition"]
    data = data.sort(["size", "condition", "run"])
    kept, outliers = split_outliers(data, "accuracy", by)
    summary = pl.concat(
        [
            group_summary(data, "accuracy", by).with_columns(pl.lit("before").alias("stage")),
            group_summary(kept, "accuracy", by).with_columns(pl.lit("after").alias("stage")),
        ]
    ).sort(["stage", "size", "condition"], descending=[True, False, False])
    rows: list[dict[str, Any]] = []
    sizes = kept["size"].unique().sort().to_list()
    reason, cells = not_possible_reason(kept, by, min_per_group)
    if reason:
        note = f"{reason}; cells: {cells}" if cells else reason
        rows += [
            {"test": test, "variable": "accuracy", "note": note}
            for test in ("levene", "anova_type2", "tukey_hsd")
        ]
    else:
        rows.append(levene(kept, "accuracy", by))
        rows += _anova_type2(kept, two_way=len(sizes) > 1)
        for size in sizes:
            for row in tukey_hsd(
                kept.filter(pl.col("size") == size),
                "accuracy",
                "condition",
                levels=conditions,
                conf_level=conf_level,
            ):
                rows.append({**row, "subset": f"size={size}"})
    rows += shapiro_by_group(kept, "accuracy", by)
    table = result_table({"analysis": "performance", **r} for r in rows)
    return {"summary": summary, "outliers": outliers, "tests": table}


def not_possible_reason(
    data: pl.DataFrame, by: list[str], min_per_group: int
) -> tuple[str | None, str | None]:
    """Why the group tests cannot run on ``data`` (a ``not possible: …`` note, None when they
    can), and the cells it concerns (``size/condition (n=…)``, comma-separated; None: all).
    The test rows' note is ``<reason>; cells: <cells>``."""
    if data.height == 0:
        return "not possible: no runs", None
    if data["condition"].n_unique() < 2:
        return "not possible: fewer than two conditions", None
    counts = data.group_by(by).len().sort(by)
    small = counts.filter(pl.col("len") < min_per_group)
    if small.height:
        cells = ", ".join(
            f"{r['size']}/{r['condition']} (n={r['len']})" for r in small.iter_rows(named=True)
        )
        if counts["len"].max() == 1:
            reason = (
                f"not possible: one seed per condition (the group tests need {min_per_group} "
                "runs per cell)"
            )
            cells = ", ".join(f"{r['size']}/{r['condition']}" for r in small.iter_rows(named=True))
        else:
            reason = f"not possible: fewer than {min_per_group} runs after outlier removal"
        return reason, cells
    spread = data.group_by(by).agg((pl.col("accuracy").max() - pl.col("accuracy").min()).alias("r"))
    if (spread["r"] == 0).all():
        return "not possible: every run of a cell scored the same (no variance within cells)", None
    return None, None


def _anova_type2(data: pl.DataFrame, two_way: bool) -> list[dict[str, Any]]:
    """Type II ANOVA (car::Anova type 2, what rstatix::anova_test uses for a between design)
    of accuracy ~ condition * size; effect size: generalised eta² = SS / (SS + SS_residual)."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    frame = data.select(
        pl.col("accuracy"), pl.col("condition").cast(pl.String), pl.col("size")
    ).to_pandas()
    formula = "accuracy ~ C(condition) * C(size)" if two_way else "accuracy ~ C(condition)"
    table = anova_lm(smf.ols(formula, data=frame).fit(), typ=2)
    names = {
        "C(condition)": "condition",
        "C(size)": "size",
        "C(condition):C(size)": "condition:size",
    }
    ss_resid = float(table.loc["Residual", "sum_sq"])
    df_resid = float(table.loc["Residual", "df"])
    rows = []
    for effect, term in names.items():
        if effect not in table.index:
            continue
        ss = float(table.loc[effect, "sum_sq"])
        rows.append(
            {
                "test": "anova_type2",
                "variable": "accuracy",
                "term": term,
                "statistic": float(table.loc[effect, "F"]),
                "statistic_name": "F",
                "df": float(table.loc[effect, "df"]),
                "df2": df_resid,
                "p": float(table.loc[effect, "PR(>F)"]),
                "effect_size": ss / (ss + ss_resid),
                "effect_size_name": "ges",
                "n": data.height,
                "note": formula.replace("C(", "").replace(")", ""),
            }
        )
    return rows
