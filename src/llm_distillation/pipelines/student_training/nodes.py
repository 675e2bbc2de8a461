"""Nodes of the ``student_training`` pipeline (one namespaced copy per matrix cell).

The catalog does the I/O. ``train_students`` hands the cell's spec and its
:class:`~llm_distillation.kedro_datasets.student_model.CheckpointStore` (a catalog dataset) to
the training framework (:func:`llm_distillation.training.cell.train_cell`), which checkpoints
through the store so that a killed run resumes, and hands it each finished student.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import polars as pl

from llm_distillation.pipelines.student_training.params import StudentTrainingParams
from llm_distillation.sampling import take_seeded

if TYPE_CHECKING:  # (imported at run time, ``python -m …student_training.matrix`` would warn)
    from llm_distillation.pipelines.student_training.matrix import Cell
else:  # Kedro resolves every node's type hints: the name must exist at run time
    Cell = Any

logger = logging.getLogger(__name__)


def _rows_of(frame: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("example_id").is_in(ids["example_id"].implode()))


def select_training_examples(
    table: pl.DataFrame | pl.LazyFrame, params: dict[str, Any], *, cell: Cell
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The consolidated train table of the cell's benchmark -> (train rows, dev rows).

    Dev: ``data.dev`` (n or fraction) examples chosen by seeded hash (seed ``data.seed + 1``);
    train: ``data.train`` of the others (seed ``data.seed``). Both are the same for every
    cell of the benchmark, and all rows of an example (one per teacher) stay on one side.
    """
    cfg = StudentTrainingParams.model_validate(params)
    data = cfg.data
    name = data.table(cell.benchmark)
    frame = table.lazy().collect()
    if data.teachers:
        frame = frame.filter(pl.col("teacher").is_in(list(data.teachers)))
    if frame.is_empty():
        which = f" of teachers {list(data.teachers)}" if data.teachers else ""
        raise ValueError(
            f"student_training.data: {name} has no rows{which} to train {cell.namespace} on"
        )
    ids = frame.select("example_id").unique(maintain_order=True)
    dev_ids, rest = take_seeded(ids, **data.dev.model_dump(), seed=data.seed + 1)
    train_ids, _ = take_seeded(rest, **data.train.model_dump(), seed=data.seed)
    if dev_ids.is_empty() or train_ids.is_empty():
        raise ValueError(
            f"student_training.data: {name} has {ids.height} examples: {dev_ids.height} dev "
            f"and {train_ids.height} train examples; both must be non-empty"
        )
    train, dev = _rows_of(frame, train_ids), _rows_of(frame, dev_ids)
    logger.info(
        "%s: %d train and %d dev rows of %s", cell.namespace, train.height, dev.height, name
    )
    return train, dev


def build_training_views(
    train_rows: pl.DataFrame,
    dev_rows: pl.DataFrame,
    teacher_model: str | None,
    params: dict[str, Any],
    *,
    cell: Cell,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train and dev rows -> the views the cell's condition trains (``VIEW_SCHEMA``), with the
    study's targets of the cell's benchmark (``StudentTrainingParams.condition_for``).

    First checks the setup without loading a model (``training.validate``): the student's
    folder or tokenizer exists, the table has the rationale columns the condition needs on
    this benchmark, the tokenizer encodes the targets. Fails, naming the condition, the
    benchmark and the column, when a view the condition needs cannot be built (e.g.
    ``mt_cf_revised`` on a table without revised rationales).
    """
    from llm_distillation.training.cell import teacher_source
    from llm_distillation.training.conditions import condition_views
    from llm_distillation.training.examples import condition_view_table
    from llm_distillation.training.students import load_tokenizer, student_source
    from llm_distillation.training.validate import validate_training_setup

    cfg = StudentTrainingParams.model_validate(params)
    condition = cfg.condition_for(cell.condition, cell.benchmark)
    student = cfg.students[cell.student]
    source = teacher_source(student, teacher_model)
    local = student_source(student, source)
    validate_training_setup(
        train_table=train_rows,
        condition=condition,
        student=student,
        training=cfg.training_for(cell.student),
        source=source,
        tokenizer=load_tokenizer(local) if local is not None else None,
        setting=f"student_training ({cell.namespace})",
        benchmark=cell.benchmark,
        condition_key=cell.condition,
    )
    seed = cfg.data.seed
    out = []
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        views = condition_view_table(rows, condition, seed=seed)
        counts = dict(views.group_by("view").len().iter_rows())
        missing = [v for v in condition_views(condition) if not counts.get(v)]
        if missing:
            raise ValueError(
                f"student_training.conditions.{cell.condition}: the {split} rows of "
                f"{cfg.data.table(cell.benchmark)} give no {missing} views (their rationale "
                f"columns are missing or empty); {cell.namespace} cannot be trained"
            )
        logger.info("%s: %s views %s", cell.namespace, split, counts)
        out.append(views)
    return out[0], out[1]


def train_students(  # noqa: PLR0917 (the node's inputs)
    train_views: pl.DataFrame,
    dev_views: pl.DataFrame,
    dev_rows: pl.DataFrame,
    teacher_model: str | None,
    checkpoints: Any,
    params: dict[str, Any],
    *,
    cell: Cell,
) -> tuple[dict[int, Any], pl.DataFrame]:
    """Train the cell's student once per seed -> ({seed: finished student folder}, curves).

    A seed whose finished student is already in the checkpoint store (same settings, data and
    teacher weights) is not trained again; an interrupted one resumes from its last
    checkpoint. ``dev_rows`` give the greedy dev accuracy that selects the weights
    (``training.select_by``).
    """
    from llm_distillation.evaluation.dev_answers import GreedyDevAccuracy
    from llm_distillation.training.cell import CellSpec, train_cell
    from llm_distillation.training.conditions import accuracy_view

    cfg = StudentTrainingParams.model_validate(params)
    spec = CellSpec(
        name=cell.namespace,
        benchmark=cell.benchmark,
        student=cell.student,
        condition=cell.condition,
        student_spec=cfg.students[cell.student],
        condition_spec=cfg.condition_for(cell.condition, cell.benchmark),
        training=cfg.training_for(cell.student),
        seeds=cfg.matrix.seeds,  # the run's seeds (``--params`` may change them)
    )
    view = accuracy_view(spec.condition_spec)
    scorer = (
        None
        if dev_rows is None or dev_rows.is_empty()
        else GreedyDevAccuracy(
            dev_rows,
            view,
            max_new_tokens=spec.training.dev_max_new_tokens[view],
            batch_size=spec.training.eval_batch_size,
        )
    )
    return train_cell(
        spec,
        train_views=train_views,
        dev_views=dev_views,
        teacher_folder=teacher_model,
        store=checkpoints,
        dev_scorer=scorer,
    )
