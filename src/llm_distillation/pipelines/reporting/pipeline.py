"""The ``reporting`` pipeline.

Study analysis (tag ``study_analysis``), on the study's own results data::

    study_experiment -> analyse_study_performance -> study_performance_{summary,outliers,tests}
    study_ratings    -> analyse_study_ratings     -> study_ratings_{summary,outliers,
                                                      relative_effects,tests}
    -> plot_* (study_*_figure) -> build_study_report -> study_report_html, study_report_md

:func:`create_evaluation_pipeline` builds the same analyses on this project's evaluation
outputs (accuracy table, per-example predictions, per-explanation metrics, skipped metrics); it
is part of ``create_pipeline`` (tag ``evaluation_analysis``), reading the evaluation pipeline's
stacked tables ``evaluation.accuracy_all``, ``evaluation.predictions_all``,
``evaluation.metrics_all`` and ``evaluation.skipped_metrics_all``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.reporting.evaluation_nodes import (
    analyse_evaluation_accuracy,
    analyse_explanation_metrics,
    analyse_paired_predictions,
    build_evaluation_report,
    describe_evaluation_cells,
    plot_evaluation_accuracy,
    plot_explanation_distributions,
    plot_training_curves,
)
from llm_distillation.pipelines.reporting.nodes import (
    analyse_study_performance,
    analyse_study_ratings,
    build_study_report,
    plot_study_accuracy,
    plot_study_length_vs_quality,
    plot_study_ratings,
    plot_study_rationale_length,
)
from llm_distillation.pipelines.student_training.matrix import Cell
from llm_distillation.pipelines.student_training.pipeline import PARAMS as TRAINING
from llm_distillation.reporting.report import INPUT_VERSIONS

PARAMS = "params:reporting"


def _node(func: Callable[..., Any], inputs: Any, outputs: Any) -> Node:
    """A node named after its function."""
    return Node(func, inputs=inputs, outputs=outputs, name=func.__name__)


def _plot(func: Callable[..., Any], inputs: Any, figure: str) -> Node:
    """A plot node named after its function: ``<figure>_figure`` (the object), ``<figure>_png``."""
    return _node(func, inputs, [f"{figure}_figure", f"{figure}_png"])


def _study_pipeline() -> Pipeline:
    report_inputs = {
        "experiment": "study_experiment",
        "study": "study_ratings",
        "performance_summary": "study_performance_summary",
        "performance_tests": "study_performance_tests",
        "ratings_summary": "study_ratings_summary",
        "ratings_tests": "study_ratings_tests",
        "accuracy_png": "study_accuracy_png",
        "ratings_png": "study_ratings_png",
        "length_png": "study_rationale_length_png",
        "length_vs_quality_png": "study_length_vs_quality_png",
        "input_versions": INPUT_VERSIONS,
        "params": PARAMS,
    }
    return Pipeline(
        [
            _node(
                analyse_study_performance,
                ["study_experiment", PARAMS],
                [
                    "study_performance_summary",
                    "study_performance_outliers",
                    "study_performance_tests",
                ],
            ),
            _node(
                analyse_study_ratings,
                ["study_ratings", PARAMS],
                [
                    "study_ratings_summary",
                    "study_ratings_outliers",
                    "study_ratings_relative_effects",
                    "study_ratings_tests",
                ],
            ),
            _plot(plot_study_accuracy, "study_performance_summary", "study_accuracy"),
            _plot(plot_study_ratings, "study_ratings_summary", "study_ratings"),
            _plot(plot_study_rationale_length, "study_ratings", "study_rationale_length"),
            _plot(plot_study_length_vs_quality, "study_ratings", "study_length_vs_quality"),
            _node(build_study_report, report_inputs, ["study_report_html", "study_report_md"]),
        ],
        tags="study_analysis",
    )


def create_evaluation_pipeline(
    accuracy: str = "evaluation.accuracy_all",
    predictions: str = "evaluation.predictions_all",
    metrics: str = "evaluation.metrics_all",
    curves: Sequence[str] = (),
    skipped: str = "evaluation.skipped_metrics_all",
    *,
    option_accuracy: str = "evaluation.option_accuracy_all",
    option_predictions: str = "evaluation.option_predictions_all",
) -> Pipeline:
    """The study's analyses on this project's evaluation outputs (tag ``evaluation_analysis``).

    Inputs (catalog names): ``accuracy`` (``benchmark, student, condition, seed, accuracy``
    + ``n, ci_low, ci_high, unparseable``), ``predictions`` (``example_id, benchmark, student,
    condition, seed, correct`` + ``predicted_index, gold_index``), ``metrics`` (``example_id,
    condition, seed, metric, value``), ``skipped`` (``benchmark, student, condition, metric,
    reason``: the metrics the evaluation skipped), ``option_accuracy`` /
    ``option_predictions`` (the option log-likelihood answers, shown beside the generated
    ones and tested the same way), ``curves`` (the training curves to plot, e.g. every matrix
    cell's ``<cell>.training_curves``: :func:`create_pipeline`); and
    ``params:student_training`` for the conditions' names.
    """
    report_inputs = {
        "accuracy": accuracy,
        "option_accuracy": option_accuracy,
        "option_paired": "evaluation_option_paired_tests",
        "predictions": predictions,
        "metrics": metrics,
        "skipped": skipped,
        "cells": "evaluation_cells",
        "accuracy_summary": "evaluation_accuracy_summary",
        "accuracy_tests": "evaluation_accuracy_tests",
        "paired": "evaluation_paired_tests",
        "metric_tests": "evaluation_metric_tests",
        "accuracy_png": "evaluation_accuracy_png",
        "curves_png": "evaluation_training_curves_png",
        "lengths_png": "evaluation_explanation_length_png",
        "input_versions": INPUT_VERSIONS,
        "params": PARAMS,
        "student_training": TRAINING,
    }
    report = _bind(build_evaluation_report, names=(accuracy, predictions, metrics, skipped))
    return Pipeline(
        [
            _node(
                analyse_evaluation_accuracy,
                [accuracy, PARAMS, TRAINING],
                ["evaluation_accuracy_summary", "evaluation_accuracy_tests"],
            ),
            _node(
                analyse_paired_predictions,
                [predictions, PARAMS, TRAINING],
                "evaluation_paired_tests",
            ),
            Node(
                analyse_paired_predictions,
                inputs=[option_predictions, PARAMS, TRAINING],
                outputs="evaluation_option_paired_tests",
                name="analyse_option_paired_predictions",
            ),
            _node(
                analyse_explanation_metrics, [metrics, PARAMS, TRAINING], "evaluation_metric_tests"
            ),
            _node(
                describe_evaluation_cells,
                [accuracy, predictions, PARAMS, TRAINING],
                "evaluation_cells",
            ),
            _plot(
                plot_evaluation_accuracy,
                ["evaluation_accuracy_summary", "evaluation_cells", PARAMS, TRAINING],
                "evaluation_accuracy",
            ),
            _plot(plot_training_curves, [PARAMS, TRAINING, *curves], "evaluation_training_curves"),
            _plot(
                plot_explanation_distributions,
                [metrics, PARAMS, TRAINING],
                "evaluation_explanation_length",
            ),
            _node(report, report_inputs, ["evaluation_report_html", "evaluation_report_md"]),
        ],
        tags="evaluation_analysis",
    )


def create_pipeline(*, cells: Sequence[Cell]) -> Pipeline:
    """The study analysis and the same analyses on this project's evaluation outputs (the
    stacked tables of the ``evaluation`` pipeline, and the training curves of ``cells``: the
    experiment matrix's cells)."""
    with warnings.catch_warnings():
        # The evaluation analysis reads the evaluation pipeline's `evaluation.*` tables on
        # purpose; Kedro warns about dots in names read outside a namespace.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        evaluation = create_evaluation_pipeline(
            curves=[f"{cell.namespace}.training_curves" for cell in cells]
        )
    return Pipeline([_study_pipeline(), evaluation], tags="reporting")
