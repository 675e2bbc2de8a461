"""The experiment matrix: benchmarks × students × conditions × seeds, declared once.

``conf/<env>/parameters_student_training.yml`` declares the matrix under
``student_training.matrix``; :func:`expand_matrix` turns it into :class:`Cell` s, one Kedro
namespace each (``cqa_t5_small_mt_cf_revised``); the seeds of a cell train inside that cell.
The ``student_training`` pipeline builds one namespaced pipeline per cell from
:func:`load_matrix` (Kedro's dynamic-pipelines pattern: the registry reads the matrix through
the config loader), and evaluation adds its nodes to the same namespaces.

The registry is built from the running session's configuration (``--env`` and ``--params``,
bound by the project hook; :mod:`llm_distillation.project_config`), so
``kedro run --params student_training.matrix.seeds=[0,1]`` changes the cells of that run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_distillation.distributed import is_main_process

PARAMETERS_KEY = "student_training"


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a student trained on a benchmark under a condition, per seed."""

    benchmark: str
    student: str
    condition: str
    seeds: tuple[int, ...]

    @property
    def namespace(self) -> str:
        """``<benchmark>_<student>_<condition>``: a Kedro namespace and a folder name."""
        return f"{self.benchmark}_{self.student}_{self.condition}"


def expand_matrix(params: Mapping[str, Any]) -> list[Cell]:
    """The cells of ``params["student_training"]`` (validated first: an unknown student,
    condition or benchmark fails here, naming the setting, before any model is loaded).

    Order: benchmark, then student, then condition, as declared.
    """
    from llm_distillation.pipelines.student_training.params import StudentTrainingParams

    if PARAMETERS_KEY not in params:
        raise ValueError(
            f"no '{PARAMETERS_KEY}' parameters (conf/*/parameters_{PARAMETERS_KEY}.yml)"
        )
    return StudentTrainingParams.model_validate(params[PARAMETERS_KEY]).cells()


def load_parameters(env: str | None = None) -> dict[str, Any]:
    """The parameters the matrix is read from: the running session's (``--env``, ``--params``),
    or ``conf/base`` + ``conf/<env>`` (see :mod:`llm_distillation.project_config`)."""
    from llm_distillation.project_config import project_config

    return project_config("parameters", env)


def load_matrix(env: str | None = None) -> list[Cell]:
    """The matrix of the configuration (see :func:`load_parameters`)."""
    return expand_matrix(load_parameters(env))


def main(argv: list[str] | None = None) -> int:
    """``python -m llm_distillation.pipelines.experiment [--env paper]``: the matrix's
    namespaces, one a line (e.g. to index a SLURM job array)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--env", default=None, help="Kedro environment (default: $KEDRO_ENV)")
    parser.add_argument("--seeds", action="store_true", help="also print each cell's seeds")
    args = parser.parse_args(argv)
    for cell in load_matrix(args.env):
        seeds = " " + ",".join(map(str, cell.seeds)) if args.seeds else ""
        print(f"{cell.namespace}{seeds}")
    return 0


# --- training one cell (called by the student_training pipeline's train_students node) -------

CURVES_FILE = "training_curves.parquet"
CELL_COLUMNS = ("cell", "benchmark", "student", "condition", "seed")
NOT_FINGERPRINTED = frozenset({"progress", "tracking", "project_name", "group_name"})
"""Training settings that do not change what is trained (a rerun with new ones reuses a
finished student)."""


def teacher_source(student: Any, teacher_folder: str | None) -> str | None:
    """The ``teacher_model`` folder when the student spec names no folder or tokenizer of its
    own (a shrunk student's weights, a config-built T5's tokenizer); None for Hub students."""
    own = getattr(student, "folder", None) or getattr(student, "tokenizer", None)
    if own or getattr(student, "kind", None) == "hub":
        return None
    return teacher_folder


def run_fingerprint(
    cell: Cell,
    seed: int,
    settings: Mapping[str, Any],
    *,
    train_views: Any,
    dev_views: Any,
    source: str | None,
) -> str:
    """sha256 of everything a seed's run depends on: the settings, the views' text and the
    initial weights' provenance (the teacher folder's conversion marker). A checkpoint is
    resumed only by a run with the same fingerprint."""
    import hashlib
    import json

    from llm_distillation.teacher.model_artifacts import read_conversion_marker

    digest = hashlib.sha256()
    marker = read_conversion_marker(Path(source)) if source else None
    head = {"cell": cell.namespace, "seed": seed, "settings": settings, "source": marker}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    cols = ["example_id", "view", "option_index", "input", "target", "answer_only_loss"]
    for views in (train_views, dev_views):
        for row in views.select(cols).iter_rows():
            digest.update(json.dumps(row, default=str).encode())
        digest.update(b"|")
    return digest.hexdigest()[:16]


def train_cell(
    cell: Cell,
    cfg: Any,
    *,
    train_views: Any,
    dev_views: Any,
    dev_rows: Any = None,
    teacher_folder: str | None,
    store: Any,
) -> tuple[dict[int, str], Any]:
    """Train ``cell``'s student on its views once per seed -> ({seed: finished folder},
    curves with ``CELL_COLUMNS``).

    ``cfg`` is the validated ``StudentTrainingParams``; ``store`` the cell's
    :class:`~llm_distillation.kedro_datasets.student_model.CheckpointStore`. A seed whose
    finished student is in the store (same fingerprint) is not trained again; an interrupted
    one resumes from its latest checkpoint. ``dev_rows`` (the dev examples' consolidated rows)
    give the greedy dev accuracy (:class:`~llm_distillation.evaluation.dev_answers.
    GreedyDevAccuracy`) that ``select_by: dev_accuracy`` needs. Each finished student (the
    selected weights) is saved
    into the store at once (its checkpoints are then dropped), so no more than one model is in
    memory.
    """
    import polars as pl

    from llm_distillation.evaluation.dev_answers import GreedyDevAccuracy
    from llm_distillation.training.conditions import accuracy_view, condition_views
    from llm_distillation.training.examples import tokenize_views
    from llm_distillation.training.loop import CURVES_SCHEMA, train_student
    from llm_distillation.training.students import build_student

    student_spec = cfg.students[cell.student]
    condition = cfg.condition_for(cell)  # the study's targets of the cell's benchmark
    source = teacher_source(student_spec, teacher_folder)
    folders: dict[int, str] = {}
    curves: list[pl.DataFrame] = []
    for seed in cfg.matrix.seeds:  # the run's seeds (``--params`` may change them)
        training = cfg.training_for(cell.student).model_copy(update={"seed": seed})
        settings = {
            "student": student_spec.model_dump(mode="json"),
            "condition": condition.model_dump(mode="json"),
            "training": training.model_dump(mode="json", exclude=NOT_FINGERPRINTED),
        }
        fingerprint = run_fingerprint(
            cell, seed, settings, train_views=train_views, dev_views=dev_views, source=source
        )
        finished = store.finished(seed, fingerprint)
        if finished is None and not condition_views(condition):  # untrained: the student as built
            student = build_student(student_spec, source=source, seed=seed)
            finished = _save_finished(
                store.final_dir(seed, fingerprint),
                cell,
                seed,
                _untrained_result(student),
                settings=settings,
                fingerprint=fingerprint,
                save_dtype=training.save_dtype,
            )
            del student
        if finished is None:
            student = build_student(student_spec, source=source, seed=seed)
            tokenize = {
                "decoder_only": student.decoder_only,
                "max_length": training.max_length,
                "decoder_start_id": student.decoder_start_id,
            }
            train = tokenize_views(train_views, student.tokenizer, **tokenize)
            dev = tokenize_views(dev_views, student.tokenizer, **tokenize)
            view = accuracy_view(condition)
            scorer = (
                None
                if dev_rows is None or dev_rows.is_empty()
                else GreedyDevAccuracy(
                    dev_rows,
                    view,
                    max_new_tokens=training.dev_max_new_tokens[view],
                    batch_size=training.eval_batch_size,
                )
            )
            result = train_student(
                student,
                train,
                dev,
                condition,
                training,
                checkpoint_dir=store.checkpoint_dir(seed, fingerprint),
                run_name=f"{cell.namespace}-seed{seed}",
                dev_scorer=scorer,
            )
            finished = _save_finished(
                store.final_dir(seed, fingerprint),
                cell,
                seed,
                result,
                settings=settings,
                fingerprint=fingerprint,
                save_dtype=training.save_dtype,
            )
            del student, result
            if not training.keep_checkpoints:  # the finished student replaces them
                store.drop_checkpoints(seed, fingerprint)
        folders[seed] = str(finished)
        seed_curves = pl.read_parquet(finished / CURVES_FILE).cast(dict(CURVES_SCHEMA))
        curves.append(
            seed_curves.select(
                pl.lit(cell.namespace).alias("cell"),
                pl.lit(cell.benchmark).alias("benchmark"),
                pl.lit(cell.student).alias("student"),
                pl.lit(cell.condition).alias("condition"),
                pl.lit(seed, dtype=pl.Int64).alias("seed"),
                *CURVES_SCHEMA.names(),
            )
        )
    return folders, pl.concat(curves, how="vertical")


def _model_card(summary: Mapping[str, Any]) -> str:
    """A short model card of a finished student (what it is, how it was trained, its dtype)."""
    condition = summary["settings"]["condition"]
    best = summary.get("best_dev") or {}
    dev = ", ".join(f"{k} {v:.4f}" for k, v in sorted(best.items())) or "none"
    return (
        f"# {summary['cell']} (seed {summary['seed']})\n\n"
        f"- benchmark: {summary['benchmark']}; student: {summary['student']} "
        f"({summary['architecture']}, {summary['parameters']:,} parameters)\n"
        f"- condition: {summary['condition']} ({condition.get('label') or condition['mode']})\n"
        f"- stored dtype: {summary['dtype']}\n"
        f"- optimizer steps: {summary['steps']}; kept step: {summary.get('best_step')} "
        f"(select_by {summary.get('select_by')}); dev metrics there: {dev}\n"
        f"- run fingerprint: {summary['fingerprint']} (training_summary.json has every "
        "setting)\n"
    )


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


def _save_finished(
    folder: Path,
    cell: Cell,
    seed: int,
    result: Any,
    *,
    settings: Mapping[str, Any],
    fingerprint: str,
    save_dtype: str | None = None,
) -> Path:
    """The trained student (``save_pretrained``, safetensors; in ``save_dtype`` when given) +
    tokenizer + summary + curves + a model card (``README.md``), written into ``folder``
    atomically (a ``.partial`` sibling renamed into place) by the main process; the other
    processes of a distributed run only return the path."""
    import json
    import shutil

    from accelerate import PartialState

    from llm_distillation.kedro_datasets.student_model import SUMMARY_FILE

    state = PartialState()  # the process group that wait_for_everyone below joins
    if is_main_process():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        model = result.model
        if save_dtype is not None:
            import torch

            model = model.to(getattr(torch, save_dtype))
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        model.save_pretrained(str(partial))
        result.tokenizer.save_pretrained(str(partial))
        result.curves.write_parquet(partial / CURVES_FILE)
        summary = {
            "cell": cell.namespace,
            "benchmark": cell.benchmark,
            "student": cell.student,
            "condition": cell.condition,
            "seed": seed,
            "fingerprint": fingerprint,
            "architecture": type(result.model).__name__,
            "dtype": dtype,
            "parameters": int(sum(p.numel() for p in result.model.parameters())),
            "steps": result.steps,
            "best_step": result.best_step,
            "best_dev": result.best,
            "settings": settings,
            **{k: v for k, v in result.summary.items() if k not in {"best", "steps"}},
        }
        (partial / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str))
        (partial / "README.md").write_text(_model_card(summary))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    state.wait_for_everyone()
    return folder


if __name__ == "__main__":
    raise SystemExit(main())
