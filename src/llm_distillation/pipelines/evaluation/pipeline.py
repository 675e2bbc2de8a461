"""The ``evaluation`` pipeline: one namespaced copy per matrix cell, then the stacked tables.

Per cell (namespace ``<cell>`` = ``Cell.namespace``, the namespace student training uses, so
``kedro run --namespaces <cell>`` trains and evaluates a cell)::

    <test table> -> select_examples -> test_sample (one row per example), explained_ids
    test_sample -> record_skipped_metrics -> <cell>.skipped_metrics
    student_model + test_sample -> generate_outputs -> <cell>.generations
        -> score_predictions    -> <cell>.predictions -> compute_accuracy -> <cell>.accuracy
    student_model + test_sample -> score_options -> <cell>.option_predictions (option
        log-likelihood answers; compute_accuracy adds their view, ``option_loglik``)
        -> collect_explanations -> <cell>.explanations
        -> score_explanations   -> <cell>.explanation_metrics, <cell>.metric_summary

Outside the namespaces: ``evaluation.teacher_accuracy`` (the teacher's rationales of each
benchmark's test split), ``evaluation.predictions_all`` / ``accuracy_all`` /
``option_predictions_all`` / ``option_accuracy_all`` / ``metrics_all`` /
``metric_summary_all`` / ``skipped_metrics_all`` (every cell stacked: reporting's inputs) and
the blinded ``evaluation.rating_sheet`` with its ``evaluation.rating_key``. ``<test table>`` is
``<source><b>.consolidated_test`` (``<source>``: ``study_`` when
``student_training.data.source`` is ``study``, the default, else empty), or the ingest split
``<b>.test_examples`` for a benchmark ``evaluation.test_tables`` maps to ``ingest``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.evaluation.nodes import (
    collect_explanations,
    compute_accuracy,
    export_ratings,
    generate_outputs,
    record_skipped_metrics,
    score_explanations,
    score_options,
    score_predictions,
    select_examples,
    stack_accuracy,
    stack_metrics,
    stack_option_answers,
    stack_predictions,
    stack_skipped_metrics,
    teacher_answer_accuracy,
)
from llm_distillation.pipelines.evaluation.params import EvaluationParams
from llm_distillation.pipelines.student_training.matrix import Cell
from llm_distillation.pipelines.student_training.params import DataParams
from llm_distillation.pipelines.student_training.pipeline import PARAMS as TRAINING

PARAMS = "params:evaluation"


def test_table(benchmark: str, source: str, params: dict[str, Any] | None = None) -> str:
    """The catalog name of the test table the students of ``benchmark`` are evaluated on
    (``evaluation.test_tables``: the consolidated test table of ``source`` by default)."""
    return EvaluationParams.model_validate(params or {}).test_table(benchmark, source)


def _cell_pipeline(cell: Any, source: str, params: dict[str, Any]) -> Pipeline:
    names = {
        "cell": cell.namespace,
        "benchmark": cell.benchmark,
        "student": cell.student,
        "condition": cell.condition,
    }
    cond = {"condition": cell.condition}
    table = test_table(cell.benchmark, source, params)
    with warnings.catch_warnings():
        # The consolidated table's name has a dot (its benchmark namespace) on purpose.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        return _cell_nodes(cell, names, cond, table)


def _cell_nodes(cell: Any, names: dict[str, str], cond: dict[str, str], table: str) -> Pipeline:
    nodes = [
        Node(
            _bind(select_examples, table_name=table),
            inputs=[table, PARAMS, TRAINING],
            outputs=["test_sample", "explained_ids"],
            name="select_examples",
        ),
        Node(
            _bind(record_skipped_metrics, **names),
            inputs=["test_sample", PARAMS, TRAINING],
            outputs="skipped_metrics",
            name="record_skipped_metrics",
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
            _bind(score_options, **names),
            inputs=["student_model", "test_sample", PARAMS],
            outputs="option_predictions",
            name="score_options",
        ),
        Node(
            _bind(compute_accuracy, **cond),
            inputs=["predictions", "option_predictions", PARAMS, TRAINING],
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
            inputs=["explanations", "predictions", PARAMS, TRAINING, "skipped_metrics"],
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


def _stacking(cells: list[Any], source: str, params: dict[str, Any]) -> Pipeline:
    ns = [c.namespace for c in cells]
    tables = sorted({test_table(c.benchmark, source, params) for c in cells})
    consolidated = [t for t in tables if t.endswith(".consolidated_test")]
    with warnings.catch_warnings():
        # These nodes read every cell's namespaced datasets on purpose; Kedro warns about the
        # dots in their names whenever a node outside a namespace names them.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        return Pipeline(
            [
                Node(
                    teacher_answer_accuracy,
                    inputs=[PARAMS, *consolidated],
                    outputs="evaluation.teacher_accuracy",
                    name="evaluation_teacher_accuracy",
                ),
                *(
                    Node(
                        stack,
                        inputs=[f"{n}.{dataset}" for n in ns for dataset in per_cell],
                        outputs=outputs,
                        name=f"evaluation_{stack.__name__}",
                    )
                    for stack, per_cell, outputs in _STACKS
                ),
                Node(
                    export_ratings,
                    inputs=[PARAMS, TRAINING, *(f"{n}.explanations" for n in ns)],
                    outputs=["evaluation.rating_sheet", "evaluation.rating_key"],
                    name="evaluation_export_ratings",
                ),
            ]
        )


_STACKS: tuple[tuple[Callable[..., Any], tuple[str, ...], str | list[str]], ...] = (
    (stack_predictions, ("predictions",), "evaluation.predictions_all"),
    (stack_accuracy, ("accuracy",), "evaluation.accuracy_all"),
    (
        stack_option_answers,
        ("option_predictions", "accuracy"),
        ["evaluation.option_predictions_all", "evaluation.option_accuracy_all"],
    ),
    (
        stack_metrics,
        ("explanation_metrics", "metric_summary"),
        ["evaluation.metrics_all", "evaluation.metric_summary_all"],
    ),
    (stack_skipped_metrics, ("skipped_metrics",), "evaluation.skipped_metrics_all"),
)
"""The nodes that stack every cell's tables: (node function, each cell's inputs, outputs);
node ``evaluation_<function name>``."""


def data_source(parameters: Mapping[str, Any]) -> str:
    """``student_training.data.source`` of the run's parameters (its default when unset:
    :class:`~llm_distillation.pipelines.student_training.params.DataParams`)."""
    training = parameters.get("student_training") or {}
    return DataParams.model_validate(training.get("data") or {}).source


def create_pipeline(
    *, cells: Sequence[Cell], parameters: Mapping[str, Any] | None = None
) -> Pipeline:
    """One namespaced evaluation pipeline per cell of the experiment matrix (``cells``, as
    :mod:`~llm_distillation.pipelines.student_training.matrix` expands it), and the stacking
    nodes; ``parameters``: the run's parameters (the data source, ``evaluation.test_tables``)."""
    if not cells:
        return Pipeline([])
    parameters = parameters or {}
    source = data_source(parameters)
    params = parameters.get("evaluation") or {}
    cell_parts = sum((_cell_pipeline(c, source, params) for c in cells), Pipeline([]))
    return cell_parts + _stacking(list(cells), source, params)
