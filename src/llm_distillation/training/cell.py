"""Training one cell of an experiment: one student, one condition, one benchmark, every seed.

A :class:`CellSpec` says what to train (the names that label its outputs, the student and
condition specs, the training settings, the seeds); :func:`train_cell` trains it once per
seed through :func:`~llm_distillation.training.loop.train_student`. Everything a seed's run
depends on is fingerprinted (:func:`run_fingerprint`): a seed whose finished student is already
in the checkpoint store with the same fingerprint is not trained again, and an interrupted one
resumes exactly from its latest checkpoint.

The checkpoint store is the cell's ``<cell>.training_checkpoints`` catalog dataset
(:class:`~llm_distillation.kedro_datasets.student_model.CheckpointStore`): the training loop
checkpoints into it, and each finished student is handed to it (``store.save_finished``), which
writes the student folder; no model folder is written here. One model is in memory at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_distillation.training.config import ConditionSpec, StudentSpec, TrainingConfig

CELL_LABELS = ("cell", "benchmark", "student", "condition")
"""The columns (and summary keys) that say which cell a student or curve row belongs to."""
NOT_FINGERPRINTED = frozenset({"progress", "tracking", "project_name", "group_name"})
"""Training settings that do not change what is trained (a rerun with new ones reuses a
finished student)."""


@dataclass(frozen=True)
class CellSpec:
    """What to train for one cell: ``name`` (its Kedro namespace) with the benchmark, student
    and condition names that label its outputs, the specs they resolve to and the seeds."""

    name: str
    benchmark: str
    student: str
    condition: str
    student_spec: StudentSpec
    condition_spec: ConditionSpec
    """The condition as trained on ``benchmark`` (its factual rationale resolved)."""
    training: TrainingConfig
    """The settings of ``student`` (its overrides applied); ``seed`` is set per seed."""
    seeds: tuple[int, ...]

    @property
    def labels(self) -> dict[str, str]:
        """``CELL_LABELS`` -> this cell's names."""
        names = (self.name, self.benchmark, self.student, self.condition)
        return dict(zip(CELL_LABELS, names, strict=True))


def teacher_source(student: Any, teacher_folder: str | None) -> str | None:
    """The ``teacher_model`` folder when the student spec names no folder or tokenizer of its
    own (a shrunk student's weights, a config-built T5's tokenizer); None for Hub students."""
    own = getattr(student, "folder", None) or getattr(student, "tokenizer", None)
    if own or getattr(student, "kind", None) == "hub":
        return None
    return teacher_folder


def run_fingerprint(
    name: str,
    seed: int,
    settings: Mapping[str, Any],
    *,
    train_views: Any,
    dev_views: Any,
    source: str | None,
) -> str:
    """sha256 of everything the run of cell ``name``'s ``seed`` depends on: the settings, the
    views' text and the initial weights' provenance (the teacher folder's conversion marker).
    A checkpoint is resumed only by a run with the same fingerprint."""
    from llm_distillation.teacher.model_artifacts import read_conversion_marker

    digest = hashlib.sha256()
    marker = read_conversion_marker(Path(source)) if source else None
    head = {"cell": name, "seed": seed, "settings": settings, "source": marker}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    cols = ["example_id", "view", "option_index", "input", "target", "answer_only_loss"]
    for views in (train_views, dev_views):
        for row in views.select(cols).iter_rows():
            digest.update(json.dumps(row, default=str).encode())
        digest.update(b"|")
    return digest.hexdigest()[:16]


def train_cell(
    spec: CellSpec,
    *,
    train_views: Any,
    dev_views: Any,
    teacher_folder: str | None,
    store: Any,
    dev_scorer: Any = None,
) -> tuple[dict[int, str], Any]:
    """Train ``spec``'s student on its views once per seed -> ({seed: finished student
    folder in ``store``}, curves with ``CELL_LABELS`` + ``seed`` + ``CURVES_SCHEMA``).

    ``store``: the cell's ``CheckpointStore``. ``dev_scorer`` (``scorer(model, tokenizer)``
    -> dev metrics, e.g. the greedy dev accuracy ``select_by: dev_accuracy`` needs) is passed
    to the loop. A seed whose finished student is in the store (same fingerprint) is not
    trained again; an interrupted one resumes from its latest checkpoint. Each finished student
    (the selected weights) goes to the store at once (its checkpoints are then dropped unless
    ``keep_checkpoints``), so no more than one model is in memory.
    """
    import polars as pl

    from llm_distillation.training.conditions import condition_views
    from llm_distillation.training.examples import tokenize_views
    from llm_distillation.training.loop import CURVES_SCHEMA, train_student
    from llm_distillation.training.students import build_student

    source = teacher_source(spec.student_spec, teacher_folder)
    folders: dict[int, str] = {}
    curves: list[pl.DataFrame] = []
    for seed in spec.seeds:
        training = spec.training.model_copy(update={"seed": seed})
        settings = {
            "student": spec.student_spec.model_dump(mode="json"),
            "condition": spec.condition_spec.model_dump(mode="json"),
            "training": training.model_dump(mode="json", exclude=NOT_FINGERPRINTED),
        }
        fingerprint = run_fingerprint(
            spec.name, seed, settings, train_views=train_views, dev_views=dev_views, source=source
        )
        summary = {**spec.labels, "seed": seed, "fingerprint": fingerprint, "settings": settings}
        finished = store.finished(seed, fingerprint)
        if finished is None:
            student = build_student(spec.student_spec, source=source, seed=seed)
            if condition_views(spec.condition_spec):
                tokenize = {
                    "decoder_only": student.decoder_only,
                    "max_length": training.max_length,
                    "decoder_start_id": student.decoder_start_id,
                }
                result = train_student(
                    student,
                    tokenize_views(train_views, student.tokenizer, **tokenize),
                    tokenize_views(dev_views, student.tokenizer, **tokenize),
                    spec.condition_spec,
                    training,
                    checkpoint_dir=store.checkpoint_dir(seed, fingerprint),
                    run_name=f"{spec.name}-seed{seed}",
                    dev_scorer=dev_scorer,
                )
            else:  # untrained: the student as built
                result = _untrained_result(student)
            finished = store.save_finished(
                seed,
                fingerprint,
                result.model,
                result.tokenizer,
                summary={**summary, **_result_summary(result)},
                curves=result.curves,
                save_dtype=training.save_dtype,
            )
            del student, result
            if not training.keep_checkpoints:  # the finished student replaces them
                store.drop_checkpoints(seed, fingerprint)
        folders[seed] = str(finished)
        seed_curves = store.finished_curves(seed, fingerprint).cast(dict(CURVES_SCHEMA))
        curves.append(
            seed_curves.select(
                *(pl.lit(value).alias(key) for key, value in spec.labels.items()),
                pl.lit(seed, dtype=pl.Int64).alias("seed"),
                *CURVES_SCHEMA.names(),
            )
        )
    return folders, pl.concat(curves, how="vertical")


def _result_summary(result: Any) -> dict[str, Any]:
    """The facts of a training run a finished student's summary records."""
    return {
        "steps": result.steps,
        "best_step": result.best_step,
        "best_dev": result.best,
        **{k: v for k, v in result.summary.items() if k not in {"best", "steps"}},
    }


def _untrained_result(student: Any) -> Any:
    """The ``TrainingResult`` of a student that is not trained (the ``untrained`` baseline)."""
    import polars as pl

    from llm_distillation.training.loop import CURVES_SCHEMA, TrainingResult

    return TrainingResult(
        model=student.model,
        tokenizer=student.tokenizer,
        curves=pl.DataFrame(schema=CURVES_SCHEMA),
        best={},
        best_step=None,
        steps=0,
        summary={"select_by": None, "untrained": True},
    )
