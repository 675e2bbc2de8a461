"""Nodes of the ``reporting`` pipeline: thin wrappers over :mod:`llm_distillation.reporting`.

This module: the shared helpers and the analysis of the study's own data;
:mod:`~llm_distillation.pipelines.reporting.evaluation_nodes`: this project's evaluation.

Figure nodes return the figure (saved by the catalog) and its PNG bytes (for the report, since
a ``MatplotlibDataset`` cannot be loaded back).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import polars as pl

from llm_distillation.pipelines.reporting.params import ReportingParams
from llm_distillation.reporting import figures
from llm_distillation.reporting.explainability import (
    ITEMS,
    analyse_explainability,
    prepare_study,
)
from llm_distillation.reporting.performance import (
    CONDITIONS,
    analyse_performance,
    prepare_experiment,
)
from llm_distillation.reporting.report import ReportSection, build_report, input_record, run_record
from llm_distillation.reporting.sentences import describe, describe_shapiro

if TYPE_CHECKING:
    from matplotlib.figure import Figure
else:
    # Kedro resolves every node's type hints (its parameter validation): the name must exist at
    # run time, and matplotlib is imported only inside the plotting functions.
    Figure = Any

logger = logging.getLogger(__name__)


def reporting_params(params: dict[str, Any]) -> ReportingParams:
    """``params:reporting`` validated."""
    return ReportingParams.model_validate(params)


def with_png(fig: Figure) -> tuple[Figure, bytes]:
    """A figure node's outputs: the figure and its PNG bytes."""
    return fig, figures.figure_png(fig)


def analyse_study_performance(
    experiment: pl.DataFrame, params: dict[str, Any]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """experiment.csv -> (summary, outliers, tests) of performance.R."""
    p = reporting_params(params).study
    out = analyse_performance(prepare_experiment(experiment), min_per_group=p.min_runs_per_group)
    logger.info(
        "Study performance: %d runs, %d outliers removed, %d test rows",
        out["summary"].filter(pl.col("stage") == "before")["n"].sum(),
        out["outliers"].height,
        out["tests"].height,
    )
    return out["summary"], plain(out["outliers"]), out["tests"]


def analyse_study_ratings(
    study: pl.DataFrame, params: dict[str, Any]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """study.csv -> (summary, Quality outliers, npmv relative effects, tests) of
    explainability.R."""
    p = reporting_params(params).study
    out = analyse_explainability(
        prepare_study(study), permutations=p.permutations, seed=p.seed, p_adjust=p.dunn_p_adjust
    )
    logger.info(
        "Study ratings: %d ratings, %d Quality outliers (left out of the regressions only)",
        study.height,
        out["outliers"].height,
    )
    return (
        plain(out["summary"]),
        plain(out["outliers"]),
        out["relative_effects"],
        out["tests"],
    )


def plain(table: pl.DataFrame) -> pl.DataFrame:
    """Enum columns as strings (Parquet readers elsewhere need not know the categories)."""
    return table.with_columns(pl.col(pl.Enum).cast(pl.String))


def plot_study_accuracy(summary: pl.DataFrame) -> tuple[Figure, bytes]:
    """The study's main figure, on the runs that the ANOVA used (after outlier removal)."""
    after = summary.filter(pl.col("stage") == "after")
    return with_png(figures.accuracy_by_condition(after, CONDITIONS))


def plot_study_ratings(summary: pl.DataFrame) -> tuple[Figure, bytes]:
    """The five rating items and Quality per condition."""
    return with_png(figures.rating_items(summary, [*ITEMS, "Quality"], CONDITIONS))


def plot_study_rationale_length(study: pl.DataFrame) -> tuple[Figure, bytes]:
    """Length of the rated explanations per condition."""
    data = plain(prepare_study(study))
    return with_png(
        figures.distribution_by_condition(
            data, "rationale_length", label="Rationale length (characters)", conditions=CONDITIONS
        )
    )


def plot_study_length_vs_quality(study: pl.DataFrame) -> tuple[Figure, bytes]:
    """An automatic metric (length) against the human Quality rating."""
    data = plain(prepare_study(study))
    return with_png(
        figures.metric_vs_rating(
            data,
            "rationale_length",
            "Quality",
            metric_label="Rationale length (characters)",
            rating_label="Quality (mean of five items, jittered)",
            conditions=CONDITIONS,
            jitter=0.08,  # Quality moves in steps of 0.2
        )
    )


def build_study_report(
    *,
    experiment: pl.DataFrame,
    study: pl.DataFrame,
    performance_summary: pl.DataFrame,
    performance_tests: pl.DataFrame,
    ratings_summary: pl.DataFrame,
    ratings_tests: pl.DataFrame,
    accuracy_png: bytes,
    ratings_png: bytes,
    length_png: bytes,
    length_vs_quality_png: bytes,
    input_versions: dict[str, Any],
    params: dict[str, Any],
) -> tuple[str, str]:
    """(HTML, Markdown) report of the study's analysis on its own data. ``input_versions``:
    the catalog versions of the inputs (filled by the project hook)."""
    p = reporting_params(params)
    alpha = p.alpha
    perf_main = performance_tests.filter(pl.col("test") != "shapiro")
    check_tests = ["shapiro", "levene", "box_m", "multivariate_shapiro", "pearson"]
    rating_main = ratings_tests.filter(~pl.col("test").is_in(check_tests))
    checks = ratings_tests.filter(pl.col("test").is_in(check_tests))
    sections = [
        ReportSection(
            "Study: accuracy by condition and model size (experiment.csv)",
            statements=describe(perf_main, alpha) + describe_shapiro(performance_tests, alpha),
            figures={
                "Mean test accuracy ± SE per condition and size, after outlier removal": (
                    accuracy_png
                )
            },
            tables={
                "Group means before and after outlier removal": performance_summary,
                "Tests (full precision in study_performance_tests)": performance_tests,
            },
            notes=[
                "Outliers: 1.5 IQR beyond the quartiles per condition and size "
                "(rstatix::identify_outliers); the tests use the remaining runs."
            ],
        ),
        ReportSection(
            "Study: human ratings of explanations (study.csv)",
            statements=describe(rating_main, alpha)
            + describe(checks, alpha)
            + describe_shapiro(ratings_tests, alpha),
            figures={
                "Mean rating ± SE per item and condition": ratings_png,
                "Rationale length per condition": length_png,
                "Rationale length against Quality": length_vs_quality_png,
            },
            tables={
                "Mean ratings": ratings_summary,
                "Tests (full precision in study_ratings_tests)": ratings_tests.filter(
                    pl.col("test") != "shapiro"
                ),
            },
            notes=[
                "As in the study, only the two regressions leave out the Quality outliers; "
                "Kruskal-Wallis, Dunn, Vargha-Delaney A and the MANOVA use all ratings."
            ],
        ),
    ]
    run = run_record(
        p.model_dump(),
        [
            input_record("study_experiment", experiment, input_versions),
            input_record("study_ratings", study, input_versions),
        ],
    )
    html, markdown = build_report(f"{p.title}: the study's analysis", sections, run)
    return html, markdown
