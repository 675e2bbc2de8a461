"""The ``reporting`` pipeline.

Study analysis (tag ``study_analysis``), on the study's own results data::

    study_experiment -> analyse_study_performance -> study_performance_{summary,outliers,tests}
    study_ratings    -> analyse_study_ratings     -> study_ratings_{summary,outliers,
                                                      relative_effects,tests}
    -> plot_* (study_*_figure) -> build_study_report -> study_report_html, study_report_md

:func:`create_evaluation_pipeline` builds the same analyses on this project's evaluation
outputs (accuracy table, per-example predictions, per-explanation metrics); it is part of
``create_pipeline`` (tag ``evaluation_analysis``), reading the evaluation pipeline's stacked
tables ``evaluation.accuracy_all``, ``evaluation.predictions_all`` and ``evaluation.metrics_all``.
"""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.experiment import load_matrix
from llm_distillation.pipelines.reporting.nodes import (
    analyse_evaluation_accuracy,
    analyse_explanation_metrics,
    analyse_paired_predictions,
    analyse_study_performance,
    analyse_study_ratings,
    build_evaluation_report,
    build_study_report,
    plot_evaluation_accuracy,
    plot_explanation_distributions,
    plot_study_accuracy,
    plot_study_length_vs_quality,
    plot_study_ratings,
    plot_study_rationale_length,
    plot_training_curves,
)
from llm_distillation.reporting.report import INPUT_VERSIONS

PARAMS = "params:reporting"


def _study_pipeline() -> Pipeline:
    return Pipeline(
        [
            Node(
                analyse_study_performance,
                inputs=["study_experiment", PARAMS],
                outputs=[
                    "study_performance_summary",
                    "study_performance_outliers",
                    "study_performance_tests",
                ],
                name="analyse_study_performance",
            ),
            Node(
                analyse_study_ratings,
                inputs=["study_ratings", PARAMS],
                outputs=[
                    "study_ratings_summary",
                    "study_ratings_outliers",
                    "study_ratings_relative_effects",
                    "study_ratings_tests",
                ],
                name="analyse_study_ratings",
            ),
            Node(
                plot_study_accuracy,
                inputs="study_performance_summary",
                outputs=["study_accuracy_figure", "study_accuracy_png"],
                name="plot_study_accuracy",
            ),
            Node(
                plot_study_ratings,
                inputs="study_ratings_summary",
                outputs=["study_ratings_figure", "study_ratings_png"],
                name="plot_study_ratings",
            ),
            Node(
                plot_study_rationale_length,
                inputs="study_ratings",
                outputs=["study_rationale_length_figure", "study_rationale_length_png"],
                name="plot_study_rationale_length",
            ),
            Node(
                plot_study_length_vs_quality,
                inputs="study_ratings",
                outputs=["study_length_vs_quality_figure", "study_length_vs_quality_png"],
                name="plot_study_length_vs_quality",
            ),
            Node(
                build_study_report,
                inputs={
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
                },
                outputs=["study_report_html", "study_report_md"],
                name="build_study_report",
            ),
        ],
        tags="study_analysis",
    )


def create_evaluation_pipeline(
    accuracy: str = "evaluation.accuracy_all",
    predictions: str = "evaluation.predictions_all",
    metrics: str = "evaluation.metrics_all",
    curves: list[str] | None = None,
) -> Pipeline:
    """The study's analyses on this project's evaluation outputs (tag ``evaluation_analysis``).

    Inputs (catalog names): ``accuracy`` (``benchmark, student, condition, seed, accuracy``),
    ``predictions`` (``example_id, benchmark, student, condition, seed, correct``), ``metrics``
    (``example_id, condition, seed, metric, value``), ``curves`` (default: every matrix cell's
    ``<cell>.training_curves``).
    """
    if curves is None:
        curves = [f"{cell.namespace}.training_curves" for cell in load_matrix()]
    return Pipeline(
        [
            Node(
                analyse_evaluation_accuracy,
                inputs=[accuracy, PARAMS],
                outputs=["evaluation_accuracy_summary", "evaluation_accuracy_tests"],
                name="analyse_evaluation_accuracy",
            ),
            Node(
                analyse_paired_predictions,
                inputs=[predictions, PARAMS],
                outputs="evaluation_paired_tests",
                name="analyse_paired_predictions",
            ),
            Node(
                analyse_explanation_metrics,
                inputs=[metrics, PARAMS],
                outputs="evaluation_metric_tests",
                name="analyse_explanation_metrics",
            ),
            Node(
                plot_evaluation_accuracy,
                inputs=["evaluation_accuracy_summary", PARAMS],
                outputs=["evaluation_accuracy_figure", "evaluation_accuracy_png"],
                name="plot_evaluation_accuracy",
            ),
            Node(
                plot_training_curves,
                inputs=curves,
                outputs=["evaluation_training_curves_figure", "evaluation_training_curves_png"],
                name="plot_training_curves",
            ),
            Node(
                plot_explanation_distributions,
                inputs=metrics,
                outputs=[
                    "evaluation_explanation_length_figure",
                    "evaluation_explanation_length_png",
                ],
                name="plot_explanation_distributions",
            ),
            Node(
                _bind(build_evaluation_report, names=(accuracy, predictions, metrics)),
                inputs={
                    "accuracy": accuracy,
                    "predictions": predictions,
                    "metrics": metrics,
                    "accuracy_summary": "evaluation_accuracy_summary",
                    "accuracy_tests": "evaluation_accuracy_tests",
                    "paired": "evaluation_paired_tests",
                    "metric_tests": "evaluation_metric_tests",
                    "accuracy_png": "evaluation_accuracy_png",
                    "curves_png": "evaluation_training_curves_png",
                    "lengths_png": "evaluation_explanation_length_png",
                    "input_versions": INPUT_VERSIONS,
                    "params": PARAMS,
                },
                outputs=["evaluation_report_html", "evaluation_report_md"],
                name="build_evaluation_report",
            ),
        ],
        tags="evaluation_analysis",
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The study analysis and the same analyses on this project's evaluation outputs (the
    stacked tables of the ``evaluation`` pipeline)."""
    with warnings.catch_warnings():
        # The evaluation analysis reads the evaluation pipeline's `evaluation.*` tables on
        # purpose; Kedro warns about dots in names read outside a namespace.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        evaluation = create_evaluation_pipeline()
    return Pipeline([_study_pipeline(), evaluation], tags="reporting")
