"""The ``student_training`` pipeline: one namespaced copy per cell of the experiment matrix.

The registry expands the matrix (``student_training.matrix`` in
``conf/<env>/parameters_student_training.yml``) of the run's configuration and passes its cells
(Kedro's dynamic pipelines; :mod:`~llm_distillation.pipelines.student_training.matrix`); every
cell ``<benchmark>_<student>_<condition>`` gets::

    study_<b>.consolidated_train -> select_training_examples -> train_rows, dev_rows
        -> build_training_views (+ teacher_model: checks the setup) -> train_views, dev_views
        -> train_students (+ dev_rows: greedy dev accuracy; teacher_model, training_checkpoints)
        -> <cell>.student_model, <cell>.training_curves

The seeds of a cell train one after another inside ``train_students``. ``kedro run --pipelines
student_training`` trains the whole matrix, ``--namespaces <cell>`` one cell (a cluster job).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.student_training.nodes import (
    build_training_views,
    select_training_examples,
    train_students,
)
from llm_distillation.pipelines.student_training.params import DataParams

if TYPE_CHECKING:  # (imported at run time, ``python -m …student_training.matrix`` would warn)
    from llm_distillation.pipelines.student_training.matrix import Cell

PARAMS = "params:student_training"
TEACHER_MODEL = "teacher_model"


def cell_pipeline(cell: Cell, table: str) -> Pipeline:
    """The nodes of one cell, namespaced ``cell.namespace``; ``table`` is the consolidated
    train table it reads (shared by all cells of the benchmark)."""
    with warnings.catch_warnings():
        # Every cell reads its benchmark's namespaced table (``study_cqa.…``) on purpose; Kedro
        # warns about the dot whenever a node outside that namespace names it.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        nodes = _cell_nodes(cell, table)
    return Pipeline(
        nodes,
        namespace=cell.namespace,
        inputs={table, TEACHER_MODEL},
        parameters={PARAMS},
        tags=[
            "student_training",
            f"benchmark_{cell.benchmark}",
            f"student_{cell.student}",
            f"condition_{cell.condition}",
        ],
    )


def _cell_nodes(cell: Cell, table: str) -> list[Node]:
    return [
        Node(
            _bind(select_training_examples, cell=cell),
            inputs=[table, PARAMS],
            outputs=["train_rows", "dev_rows"],
            name="select_training_examples",
        ),
        Node(
            _bind(build_training_views, cell=cell),
            inputs=["train_rows", "dev_rows", TEACHER_MODEL, PARAMS],
            outputs=["train_views", "dev_views"],
            name="build_training_views",
        ),
        Node(
            _bind(train_students, cell=cell),
            inputs=[
                "train_views",
                "dev_views",
                "dev_rows",
                TEACHER_MODEL,
                "training_checkpoints",
                PARAMS,
            ],
            outputs=["student_model", "training_curves"],
            name="train_students",
        ),
    ]


def create_pipeline(
    *, cells: Sequence[Cell], parameters: Mapping[str, Any] | None = None
) -> Pipeline:
    """Every cell of the matrix (``cells``: ``matrix.expand_matrix`` of the run's parameters),
    each reading the train table ``student_training.data`` names (``parameters``: the run's
    parameters)."""
    raw = ((parameters or {}).get("student_training") or {}).get("data") or {}
    data = DataParams.model_validate(raw)
    return Pipeline([cell_pipeline(c, data.table(c.benchmark)) for c in cells])
