"""The ``student_training`` pipeline: one namespaced copy per cell of the experiment matrix.

The matrix (``student_training.matrix`` in ``conf/<env>/parameters_student_training.yml``) is
read through the config loader when the registry is built (Kedro's dynamic pipelines); every
cell ``<benchmark>_<student>_<condition>``
(:class:`~llm_distillation.pipelines.experiment.Cell`) gets::

    study_<b>.consolidated_train -> select_training_examples -> train_rows, dev_rows
        -> build_training_views (+ teacher_model: checks the setup) -> train_views, dev_views
        -> train_students (+ dev_rows: greedy dev accuracy; teacher_model, training_checkpoints)
        -> <cell>.student_model, <cell>.training_curves

The seeds of a cell train one after another inside ``train_students``. ``kedro run --pipelines
student_training`` trains the whole matrix, ``--namespaces <cell>`` one cell (a cluster job).
"""

from __future__ import annotations

import warnings
from typing import Any

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.experiment import Cell, load_parameters
from llm_distillation.pipelines.student_training.nodes import (
    build_training_views,
    select_training_examples,
    train_students,
)
from llm_distillation.pipelines.student_training.params import StudentTrainingParams

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


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Every cell of the configured matrix (base + the run environment)."""
    params = load_parameters()
    if "student_training" not in params:
        return Pipeline([])
    cfg = StudentTrainingParams.model_validate(params["student_training"])
    return Pipeline([cell_pipeline(c, cfg.data.table(c.benchmark)) for c in cfg.cells()])
