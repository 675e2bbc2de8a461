"""The ``evaluation`` pipeline: one namespaced copy per matrix cell, then the stacked tables.

Per cell (namespace ``<cell>`` = ``Cell.namespace``, the namespace student training uses, so
``kedro run --namespaces <cell>`` trains and evaluates a cell)::

    <source><b>.consolidated_test -> select_examples -> examples, explained_ids
    student_model + examples -> generate_outputs -> <cell>.generations
        -> score_predictions    -> <cell>.predictions -> compute_accuracy -> <cell>.accuracy
        -> collect_explanations -> <cell>.explanations
        -> score_explanations   -> <cell>.explanation_metrics, <cell>.metric_summary

Outside the namespaces: ``evaluation.teacher_accuracy`` (the teacher's rationales of each
benchmark's test split), ``evaluation.predictions_all`` / ``accuracy_all`` / ``metrics_all`` /
``metric_summary_all`` (every cell stacked: reporting's inputs) and the blinded
``evaluation.rating_sheet`` with its ``evaluation.rating_key``. ``<source>`` is ``study_`` when
``student_training.data.source`` is ``study`` (the default), else empty.
"""

from __future__ import annotations

import warnings
from typing import Any

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.evaluation.nodes import (
    collect_explanations,
    compute_accuracy,
    export_ratings,
    generate_outputs,
    score_explanations,
    score_predictions,
    select_examples,
    stack_accuracy,
    stack_metrics,
    stack_predictions,
    teacher_answer_accuracy,
)
from llm_distillation.pipelines.student_training.pipeline import PARAMS as TRAINING

PARAMS = "params:evaluation"


def test_table(benchmark: str, source: str) -> str:
    """The catalog name of the consolidated test table the students are evaluated on."""
    return f"{'study_' if source == 'study' else ''}{benchmark}.consolidated_test"


def _cell_pipeline(cell: Any, source: str) -> Pipeline:
    names = {
        "cell": cell.namespace,
        "benchmark": cell.benchmark,
        "student": cell.student,
        "condition": cell.condition,
    }
    cond = {"condition": cell.condition}
    table = test_table(cell.benchmark, source)
    with warnings.catch_warnings():
        # The consolidated table's name has a dot (its benchmark namespace) on purpose.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        return _cell_nodes(cell, names, cond, table)


def _cell_nodes(cell: Any, names: dict[str, str], cond: dict[str, str], table: str) -> Pipeline:
    nodes = [
        Node(
            select_examples,
            inputs=[table, PARAMS],
            outputs=["test_sample", "explained_ids"],
            name="select_examples",
        ),
        Node(
            _bind(generate_outputs, **names),
            inputs=["student_model", "test_sample", "explained_ids", PARAMS, TRAINING],
            outputs="generations",
            name="generate_outputs",
        ),
        Node(
            _bind(score_predictions, **cond),
            inputs=["generations", "test_sample", TRAINING],
            outputs="predictions",
            name="score_predictions",
        ),
        Node(
            _bind(compute_accuracy, **cond),
            inputs=["predictions", PARAMS, TRAINING],
            outputs="accuracy",
            name="compute_accuracy",
        ),
        Node(
            _bind(collect_explanations, **cond),
            inputs=["generations", "predictions", "test_sample", "explained_ids", TRAINING],
            outputs="explanations",
            name="collect_explanations",
        ),
        Node(
            _bind(score_explanations, **cond),
            inputs=["explanations", "predictions", PARAMS, TRAINING],
            outputs=["explanation_metrics", "metric_summary"],
            name="score_explanations",
        ),
    ]
    return Pipeline(
        nodes,
        namespace=cell.namespace,
        inputs={table},  # student_model stays in the namespace: <cell>.student_model
        parameters={PARAMS, TRAINING},
    )


def _stacking(cells: list[Any], source: str) -> Pipeline:
    ns = [c.namespace for c in cells]
    benchmarks = sorted({c.benchmark for c in cells})
    with warnings.catch_warnings():
        # These nodes read every cell's namespaced datasets on purpose; Kedro warns about the
        # dots in their names whenever a node outside a namespace names them.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        return Pipeline(
            [
                Node(
                    teacher_answer_accuracy,
                    inputs=[PARAMS, *(test_table(b, source) for b in benchmarks)],
                    outputs="evaluation.teacher_accuracy",
                    name="evaluation_teacher_accuracy",
                ),
                Node(
                    stack_predictions,
                    inputs=[f"{n}.predictions" for n in ns],
                    outputs="evaluation.predictions_all",
                    name="evaluation_stack_predictions",
                ),
                Node(
                    stack_accuracy,
                    inputs=[f"{n}.accuracy" for n in ns],
                    outputs="evaluation.accuracy_all",
                    name="evaluation_stack_accuracy",
                ),
                Node(
                    stack_metrics,
                    inputs=[
                        x for n in ns for x in (f"{n}.explanation_metrics", f"{n}.metric_summary")
                    ],
                    outputs=["evaluation.metrics_all", "evaluation.metric_summary_all"],
                    name="evaluation_stack_metrics",
                ),
                Node(
                    export_ratings,
                    inputs=[PARAMS, TRAINING, *(f"{n}.explanations" for n in ns)],
                    outputs=["evaluation.rating_sheet", "evaluation.rating_key"],
                    name="evaluation_export_ratings",
                ),
            ]
        )


def data_source() -> str:
    """``student_training.data.source`` of the configuration (``study`` by default)."""
    from llm_distillation.pipelines.experiment import load_parameters

    training = load_parameters().get("student_training") or {}
    return str((training.get("data") or {}).get("source", "study"))


def create_pipeline(**kwargs: Any) -> Pipeline:
    """One namespaced evaluation pipeline per cell of the experiment matrix
    (:func:`llm_distillation.pipelines.experiment.load_matrix`), and the stacking nodes."""
    from llm_distillation.pipelines.experiment import load_matrix

    cells = load_matrix()
    if not cells:
        return Pipeline([])
    source = data_source()
    return sum((_cell_pipeline(c, source) for c in cells), Pipeline([])) + _stacking(cells, source)
