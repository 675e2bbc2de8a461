"""Nodes of the ``evaluation`` pipeline: the students come from the catalog
(``<cell>.student_model``, ``StudentModelDataset``: one :class:`StoredModel` per seed, opened
in the generation engine by the node that asks it).

Per matrix cell (namespace ``<cell>``): pick the examples, generate every output of every
seed's student through the engine, parse answers, accuracy, explanations, metrics. Outside
the namespaces: the teacher's stated-answer accuracy, the stacked tables of all cells, the
rating sheet.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import polars as pl

from llm_distillation.consolidation.views import RATIONALE_COLUMNS
from llm_distillation.evaluation.explanations import EXPLANATION_SCHEMA, explanation_table
from llm_distillation.evaluation.metrics import (
    EMBEDDING_METRICS,
    METRIC_SCHEMA,
    SUMMARY_SCHEMA,
    explanation_metrics,
)
from llm_distillation.evaluation.option_loglik import VIEW as OPTION_VIEW
from llm_distillation.evaluation.option_loglik import score_options_cell
from llm_distillation.evaluation.plan import CellPlan, plan_for
from llm_distillation.evaluation.predictions import (
    ACCURACY_SCHEMA,
    PREDICTION_SCHEMA,
    TEACHER_ACCURACY_SCHEMA,
    CellInfo,
    accuracy_table,
    generate_cell,
    score_generations,
    teacher_accuracy,
)
from llm_distillation.evaluation.ratings import export_rating_sheet
from llm_distillation.evaluation.references import (
    SKIPPED_SCHEMA,
    missing_references,
    skipped_table,
)
from llm_distillation.evaluation.rows import one_row_per_example
from llm_distillation.generation.stored import StoredModel
from llm_distillation.pipelines.evaluation.params import EvaluationParams
from llm_distillation.pipelines.student_training.params import StudentTrainingParams
from llm_distillation.sampling import take_seeded

logger = logging.getLogger(__name__)


def _frame(data: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return data.collect() if isinstance(data, pl.LazyFrame) else data


def _plan(student_training: dict[str, Any], condition: str) -> CellPlan:
    """The plan of ``condition`` as ``params:student_training`` declares it (the one parse of
    those parameters: :class:`StudentTrainingParams`, the study's named conditions included)."""
    return plan_for(StudentTrainingParams.model_validate(student_training).conditions[condition])


def select_examples(
    table: pl.DataFrame | pl.LazyFrame,
    params: dict[str, Any],
    student_training: dict[str, Any],
    *,
    table_name: str = "the test table",
) -> tuple[pl.DataFrame, list[str]]:
    """The test rows a cell is evaluated on, one per example (the row of a teacher the cell
    trained on: :func:`llm_distillation.evaluation.rows.one_row_per_example`), seeded
    ``test_examples`` of them (the same for every cell), and the ids of those that get
    explanations (``explain_examples``, a subset: the same seed keeps the same ids)."""
    cfg = EvaluationParams.model_validate(params)
    data = StudentTrainingParams.model_validate(student_training).data
    rows = one_row_per_example(_frame(table), data.teachers, table_name=table_name)
    sample, _ = take_seeded(rows, n=cfg.test_examples, seed=cfg.seed)
    explained, _ = take_seeded(sample, n=cfg.explain_examples, seed=cfg.seed)
    logger.info("Evaluating on %d test rows, %d with explanations", sample.height, explained.height)
    return sample, explained["example_id"].to_list()


def generate_outputs(
    student_model: dict[int, StoredModel],
    examples: pl.DataFrame,
    explained_ids: list[str],
    params: dict[str, Any],
    student_training: dict[str, Any],
    *,
    cell: str,
    benchmark: str,
    student: str,
    condition: str,
) -> pl.DataFrame:
    """Every output the cell's plan asks of every seed's student (``GENERATION_SCHEMA``)."""
    cfg = EvaluationParams.model_validate(params)
    return generate_cell(
        student_model,
        examples,
        explained_ids,
        _plan(student_training, condition),
        CellInfo(cell=cell, benchmark=benchmark, student=student, condition=condition),
        lengths=cfg.max_new_tokens.lengths(),
        settings=cfg.engine.settings(),
    )


def score_predictions(
    generations: pl.DataFrame,
    examples: pl.DataFrame,
    student_training: dict[str, Any],
    *,
    condition: str,
) -> pl.DataFrame:
    """Parsed answers of every output (``<ns>.predictions``)."""
    return score_generations(generations, examples, _plan(student_training, condition).primary_view)


def score_options(
    student_model: dict[int, StoredModel],
    examples: pl.DataFrame,
    params: dict[str, Any],
    *,
    cell: str,
    benchmark: str,
    student: str,
    condition: str,
) -> pl.DataFrame:
    """Every seed's answer to every test example by option log-likelihood
    (``<ns>.option_predictions``, view ``option_loglik``; empty when
    ``evaluation.option_loglik`` is off)."""
    cfg = EvaluationParams.model_validate(params)
    if not cfg.option_loglik:
        return pl.DataFrame(schema=PREDICTION_SCHEMA)
    return score_options_cell(
        student_model,
        examples,
        CellInfo(cell=cell, benchmark=benchmark, student=student, condition=condition),
        settings=cfg.engine.settings(),
    )


def compute_accuracy(
    predictions: pl.DataFrame,
    option_predictions: pl.DataFrame,
    params: dict[str, Any],
    student_training: dict[str, Any],
    *,
    condition: str,
) -> pl.DataFrame:
    """Accuracy per run and answer view with a bootstrap 95% CI (``<ns>.accuracy``): the
    generated answers' views and ``option_loglik``."""
    cfg = EvaluationParams.model_validate(params)
    return accuracy_table(
        pl.concat([predictions, option_predictions], how="vertical"),
        _plan(student_training, condition).primary_view,
        resamples=cfg.bootstrap_resamples,
        seed=cfg.seed,
    )


def collect_explanations(
    generations: pl.DataFrame,
    predictions: pl.DataFrame,
    examples: pl.DataFrame,
    explained_ids: list[str],
    student_training: dict[str, Any],
    *,
    condition: str,
) -> pl.DataFrame:
    """The explanations with the answers of the same examples (``<ns>.explanations``)."""
    return explanation_table(
        generations, predictions, examples, explained_ids, _plan(student_training, condition)
    )


def record_skipped_metrics(
    examples: pl.DataFrame,
    params: dict[str, Any],
    student_training: dict[str, Any],
    *,
    cell: str,
    benchmark: str,
    student: str,
    condition: str,
) -> pl.DataFrame:
    """The enabled metrics the cell's test rows give no teacher reference for, each with its
    reason (``<ns>.skipped_metrics``, :mod:`llm_distillation.evaluation.references`)."""
    cfg = EvaluationParams.model_validate(params)
    skipped = missing_references(examples, _plan(student_training, condition), cfg.metrics.enabled)
    for metric, reason in skipped.items():
        logger.warning("%s: metric %s skipped: %s", cell, metric, reason)
    names = {"cell": cell, "benchmark": benchmark, "student": student, "condition": condition}
    return skipped_table(skipped, names)


def score_explanations(
    explanations: pl.DataFrame,
    predictions: pl.DataFrame,
    params: dict[str, Any],
    student_training: dict[str, Any],
    skipped: pl.DataFrame | None = None,
    *,
    condition: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-example explanation metrics and their per-run summary (the enabled metrics but
    those in ``skipped``, ``<ns>.skipped_metrics``)."""
    cfg = EvaluationParams.model_validate(params)
    plan = _plan(student_training, condition)
    left_out = set() if skipped is None else set(skipped["metric"])
    enabled = tuple(m for m in cfg.metrics.enabled if m not in left_out)
    if explanations.is_empty():
        return pl.DataFrame(schema=METRIC_SCHEMA), pl.DataFrame(schema=SUMMARY_SCHEMA)
    embed = None
    if EMBEDDING_METRICS & set(enabled):
        from llm_distillation.evaluation.embeddings import load_embedder

        embed = load_embedder(cfg.metrics.embedding_model)
    return explanation_metrics(
        explanations,
        predictions,
        primary_view=plan.primary_view,
        metrics=enabled,
        embed=embed,
        folds=cfg.metrics.simulator_folds,
        seed=cfg.seed,
        resamples=cfg.bootstrap_resamples,
    )


def teacher_answer_accuracy(
    params: dict[str, Any], *tables: pl.DataFrame | pl.LazyFrame
) -> pl.DataFrame:
    """How often the teacher's rationales of the test split state the gold option (see
    :func:`llm_distillation.evaluation.predictions.teacher_accuracy`)."""
    cfg = EvaluationParams.model_validate(params)
    parts = [pl.DataFrame(schema=TEACHER_ACCURACY_SCHEMA)]
    for table in tables:
        parts.append(
            teacher_accuracy(
                _frame(table), RATIONALE_COLUMNS, resamples=cfg.bootstrap_resamples, seed=cfg.seed
            )
        )
    return pl.concat(parts)


def _stack(parts: tuple[pl.DataFrame, ...], schema: pl.Schema) -> pl.DataFrame:
    return pl.concat([pl.DataFrame(schema=schema), *(p.cast(dict(schema)) for p in parts)])


REPORT_KEYS: Final = ("benchmark", "student", "condition", "seed")


def stack_predictions(*predictions: pl.DataFrame) -> pl.DataFrame:
    """Every cell's answers in its primary view, for the paired tests of reporting:
    ``example_id, benchmark, student, condition, seed, correct`` (+ cell, split, view,
    predicted_index, gold_index)."""
    rows = _stack(predictions, PREDICTION_SCHEMA).filter(pl.col("primary"))
    return rows.select(
        "example_id",
        *REPORT_KEYS,
        "correct",
        "cell",
        "split",
        "view",
        "predicted_index",
        "gold_index",
    )


def stack_accuracy(*accuracies: pl.DataFrame) -> pl.DataFrame:
    """Every run's accuracy in its primary view: ``benchmark, student, condition, seed,
    accuracy, ci_low, ci_high`` (+ cell, split, view, n, unparseable)."""
    rows = _stack(accuracies, ACCURACY_SCHEMA).filter(pl.col("primary"))
    return rows.select(
        *REPORT_KEYS, "accuracy", "ci_low", "ci_high", "cell", "split", "view", "n", "unparseable"
    )


def stack_option_answers(*parts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every cell's option log-likelihood answers and accuracy rows, for reporting both
    accuracies side by side (``evaluation.option_predictions_all``,
    ``evaluation.option_accuracy_all``). ``parts``: ``option_predictions_1, accuracy_1, …``."""
    answers = _stack(parts[0::2], PREDICTION_SCHEMA)
    accuracy = _stack(parts[1::2], ACCURACY_SCHEMA).filter(pl.col("view") == OPTION_VIEW)
    return (
        answers.select(
            "example_id", *REPORT_KEYS, "correct", "cell", "split", "view", "predicted_index",
            "gold_index",
        ),
        accuracy.select(
            *REPORT_KEYS, "accuracy", "ci_low", "ci_high", "cell", "split", "view", "n"
        ),
    )  # fmt: skip


def stack_metrics(*parts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-example metrics of every cell (``example_id, benchmark, student, condition, seed,
    metric, value`` + cell, split) and every run's summaries. ``parts`` are
    ``metrics_1, summary_1, metrics_2, …``."""
    metrics = _stack(parts[0::2], METRIC_SCHEMA).select(
        "example_id", *REPORT_KEYS, "metric", "value", "cell", "split"
    )
    summary = _stack(parts[1::2], SUMMARY_SCHEMA)
    return metrics, summary


def stack_skipped_metrics(*parts: pl.DataFrame) -> pl.DataFrame:
    """Every cell's skipped metrics with their reasons (``evaluation.skipped_metrics_all``:
    cell, benchmark, student, condition, split, metric, reason), for the report."""
    return _stack(parts, SKIPPED_SCHEMA)


def export_ratings(
    params: dict[str, Any], student_training: dict[str, Any], *explanations: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The blinded, shuffled rating sheet of every cell's explanations, and its key."""
    cfg = EvaluationParams.model_validate(params)
    rows = _stack(explanations, EXPLANATION_SCHEMA)
    labels = {}
    for condition in rows["condition"].unique().to_list():
        label = _plan(student_training, condition).label
        if label:
            labels[condition] = label
    return export_rating_sheet(
        rows, seed=cfg.ratings.seed, per_run=cfg.ratings.per_run, labels=labels
    )
