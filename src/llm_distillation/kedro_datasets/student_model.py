"""Kedro datasets of student training: the trained students of a matrix cell, and the cell's
checkpoint folder (for resuming a killed run).

``StudentModelDataset`` (versioned)::

    <filepath>/<version>/<name>/
        cell.json                  # cell, seeds, written last: the version is complete
        seed_0/                    # save_pretrained (safetensors only) + tokenizer
            model.safetensors  config.json  tokenizer.json  …  training_summary.json
        seed_1/ …

A finished student folder is written once, by :func:`write_student_folder`, into the cell's
checkpoint store (``CheckpointStore.save_finished``, called by the training framework as each
seed finishes, so a rerun reuses it and one model is in memory at a time);
``save({seed: folder})`` links those folders into a new version; ``load()`` returns
``{seed: StoredModel}`` (checked, opened in the generation engine only when used: Kedro's
lazy-loading pattern). Pickled weights are refused on save and never loaded. ``filepath``
may be any fsspec URL (``s3://…``, ``gs://…``): a remote version is uploaded on save and
downloaded once into a local cache on load (``cache_dir``), because ``from_pretrained`` reads
local folders.

``TrainingCurvesDataset``: a versioned Parquet table (``PolarsTableDataset``).

In a distributed launch every process runs the node; only rank 0 saves these datasets.

``TrainingCheckpointsDataset`` (unversioned, local or shared file system): ``load()`` returns
a :class:`CheckpointStore` for the cell; saving is not supported (the training loop writes
its checkpoints, and the finished students, through the store).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import polars as pl
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path
from kedro_datasets._typing import TablePreview

from llm_distillation.distributed import is_main_process, process_rank
from llm_distillation.generation.stored import StoredModel
from llm_distillation.kedro_datasets.polars_table import PolarsTableDataset
from llm_distillation.training.checkpoints import CHECKPOINT_PREFIXES

logger = logging.getLogger(__name__)

SUMMARY_FILE = "training_summary.json"
CURVES_FILE = "training_curves.parquet"
CARD_FILE = "README.md"
"""What a finished student folder holds beside the weights and tokenizer
(:func:`write_student_folder`)."""
MANIFEST_FILE = "cell.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight files that may hold pickles: never part of a saved student."""


def seed_folder_name(seed: int) -> str:
    return f"seed_{seed}"


def check_student_folder(folder: Path) -> dict[str, Any]:
    """The training summary of a finished student folder; raise naming what is wrong."""
    if not folder.is_dir():
        raise DatasetError(f"student folder {folder} does not exist")
    pickles = sorted(p.name for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise DatasetError(f"{folder}: pickled weight files {pickles}; only safetensors allowed")
    if not any(folder.glob("*.safetensors")):
        raise DatasetError(f"{folder}: no *.safetensors weights (save_pretrained missing?)")
    summary = folder / SUMMARY_FILE
    if not summary.is_file():
        raise DatasetError(f"{folder}: no {SUMMARY_FILE}")
    return json.loads(summary.read_text())


def config_summary(settings: Mapping[str, Any]) -> str:
    """One line of a run's settings: student, condition, training (for previews)."""
    student = {k: v for k, v in (settings.get("student") or {}).items() if v is not None}
    condition = settings.get("condition") or {}
    training = settings.get("training") or {}
    parts = [
        " ".join(f"{k}={v}" for k, v in student.items()),
        " ".join(
            f"{k}={condition[k]}"
            for k in ("mode", "rationale", "alpha", "beta", "gamma")
            if k in condition
        ),
        " ".join(
            f"{k}={training[k]}"
            for k in ("max_steps", "learning_rate", "batch_size", "grad_accumulation", "max_length")
            if k in training
        ),
    ]
    return "; ".join(p for p in parts if p)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class _MainProcessWrites:
    """Mixin of a versioned dataset that only rank 0 of a distributed launch writes: on the
    other ranks ``save`` does nothing, and Kedro's check after a save (that the new version
    can be loaded) is told the version it just "saved"."""

    def resolve_load_version(self) -> str | None:
        if not is_main_process():
            return self.resolve_save_version()  # type: ignore[attr-defined]
        return super().resolve_load_version()  # type: ignore[misc]


class StudentModelDataset(
    _MainProcessWrites, AbstractVersionedDataset[Mapping[int, Any], dict[int, str]]
):
    """The trained students of one cell, one ``seed_<k>/`` folder per seed (see module doc).

    Example (``conf/base/catalog_student_training.yml``)::

        "{cell}.student_model":
          type: llm_distillation.kedro_datasets.StudentModelDataset
          filepath: ${_data}/06_models/students/{cell}
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        cache_dir: str | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    @property
    def _local(self) -> bool:
        return self._protocol == "file"

    def _remote(self, path: PurePosixPath) -> str:
        return get_filepath_str(path, self._protocol)

    def _local_folder(self) -> Path:
        """The load version as a local folder (downloaded once for a remote file system)."""
        path = self._get_load_path()
        if self._local:
            return Path(str(path))
        key = hashlib.sha256(self._remote(path).encode()).hexdigest()[:16]
        root = self._cache_dir or Path(tempfile.gettempdir()) / "llm_distillation_students"
        local = root / key / path.name
        if not (local / MANIFEST_FILE).is_file():
            partial = local.with_name(local.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.parent.mkdir(parents=True, exist_ok=True)
            self._fs.get(self._remote(path), str(partial), recursive=True)
            partial.rename(local)
        return local

    def load(self) -> dict[int, StoredModel]:
        """Every seed's student, checked (safetensors only, its summary) and opened only when
        used: ``with student.open(device=…) as engine`` (:class:`StoredModel`)."""
        folder = self._local_folder()
        manifest = folder / MANIFEST_FILE
        if not manifest.is_file():
            raise DatasetError(f"{folder} is not a complete set of students (no {MANIFEST_FILE})")
        seeds = [int(s) for s in json.loads(manifest.read_text())["seeds"]]
        students = {s: folder / seed_folder_name(s) for s in seeds}
        return {s: StoredModel(path, check_student_folder(path)) for s, path in students.items()}

    def save(self, data: Mapping[int, Any]) -> None:
        """``data``: seed -> a finished student folder (path, or an object with ``.folder``)."""
        if not is_main_process():
            logger.debug("rank %s: the main process saves %s", process_rank(), self)
            return
        if not data:
            raise DatasetError("no trained students to save (an empty seed mapping)")
        folders = {int(seed): Path(str(getattr(f, "folder", f))) for seed, f in data.items()}
        summaries = {seed: check_student_folder(f) for seed, f in folders.items()}
        first = summaries[min(summaries)]
        manifest = {
            "seeds": sorted(folders),
            "cell": first.get("cell"),
            "benchmark": first.get("benchmark"),
            "student": first.get("student"),
            "condition": first.get("condition"),
        }
        target = self._get_save_path()
        if self._local:
            # staged beside the target, the finished students' files hard-linked (no second
            # copy on disk; a file system without links gets copies), then renamed into place
            final = Path(str(target))
            staged = final.with_name(f".partial-{final.name}")
            shutil.rmtree(staged, ignore_errors=True)
            self._stage(folders, manifest, staged, copy_function=link_or_copy)
            final.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(final)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                staged = Path(tmp) / "students"
                self._stage(folders, manifest, staged, copy_function=shutil.copy2)
                # the manifest goes last: a version without it is incomplete
                for child in sorted(staged.iterdir(), key=lambda p: p.name == MANIFEST_FILE):
                    remote = f"{self._remote(target)}/{child.name}"
                    self._fs.put(str(child), remote, recursive=child.is_dir())
        self._invalidate_cache()

    @staticmethod
    def _stage(
        folders: Mapping[int, Path],
        manifest: Mapping[str, Any],
        staged: Path,
        *,
        copy_function: Any,
    ) -> None:
        for seed, folder in sorted(folders.items()):
            shutil.copytree(folder, staged / seed_folder_name(seed), copy_function=copy_function)
        (staged / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(self._remote(self._filepath))
        self._clear_version_cache()

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return bool(self._fs.exists(f"{self._remote(path)}/{MANIFEST_FILE}"))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def preview(self) -> TablePreview:
        """One row per seed for kedro-viz: size, student and condition, best dev score."""
        rows = []
        for seed, path in self.load().items():
            folder = Path(path)
            s = json.loads((folder / SUMMARY_FILE).read_text())
            best = s.get("best_dev") or {}
            rows.append(
                [
                    seed,
                    round(folder_size(folder) / 2**20, 1),
                    s.get("parameters"),
                    s.get("architecture"),
                    s.get("student"),
                    s.get("condition"),
                    s.get("steps"),
                    s.get("best_step"),
                    best.get("accuracy"),
                    best.get("loss"),
                    config_summary(s.get("settings") or {}),
                ]
            )
        columns = [
            "seed",
            "size_mb",
            "parameters",
            "architecture",
            "student",
            "condition",
            "steps",
            "best_step",
            "best_dev_accuracy",
            "best_dev_loss",
            "config",
        ]
        return TablePreview({"index": list(range(len(rows))), "columns": columns, "data": rows})


class TrainingCurvesDataset(_MainProcessWrites, PolarsTableDataset):
    """A versioned Parquet table of training curves (``PolarsTableDataset``) that only the
    main process of a distributed launch writes."""

    def save(self, data: pl.DataFrame) -> None:
        if is_main_process():
            super().save(data)


class CheckpointStore:
    """The checkpoint folder of one cell: ``<root>/seed_<k>/<fingerprint>/``.

    ``fingerprint`` identifies everything a run depends on (settings, data, initial weights):
    a run resumes only from checkpoints of the same fingerprint, and a new fingerprint removes
    the seed's stale ones. Inside a run folder, ``checkpoints/`` belongs to the training loop
    and ``final/`` holds the finished student (kept, so a rerun does not train it again; the
    checkpoints of a finished run are dropped).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.root)!r})"

    def run_dir(self, seed: int, fingerprint: str) -> Path:
        """The run folder of ``(seed, fingerprint)``; other fingerprints of the seed are removed."""
        seed_dir = self.root / seed_folder_name(seed)
        run = seed_dir / fingerprint
        if seed_dir.is_dir():
            for stale in seed_dir.iterdir():
                if stale != run:
                    logger.info("Removing stale checkpoints %s (settings changed)", stale)
                    shutil.rmtree(stale, ignore_errors=True)
        run.mkdir(parents=True, exist_ok=True)
        return run

    def checkpoint_dir(self, seed: int, fingerprint: str) -> Path:
        return self.run_dir(seed, fingerprint) / "checkpoints"

    def final_dir(self, seed: int, fingerprint: str) -> Path:
        return self.run_dir(seed, fingerprint) / "final"

    def drop_checkpoints(self, seed: int, fingerprint: str) -> None:
        """Remove a finished run's checkpoints and best-weight copies (its ``final/`` student
        stays, and so do other files of the folder, e.g. TensorBoard logs); main process."""
        folder = self.root / seed_folder_name(seed) / fingerprint / "checkpoints"
        if not is_main_process() or not folder.is_dir():
            return
        for child in folder.iterdir():
            if child.name.startswith(CHECKPOINT_PREFIXES):
                shutil.rmtree(child, ignore_errors=True)

    def finished(self, seed: int, fingerprint: str) -> Path | None:
        """The finished student folder of ``(seed, fingerprint)``, if a run completed it."""
        final = self.root / seed_folder_name(seed) / fingerprint / "final"
        return final if (final / SUMMARY_FILE).is_file() else None

    def save_finished(
        self, seed: int, fingerprint: str, model: Any, tokenizer: Any, **contents: Any
    ) -> Path:
        """Write the finished student of ``(seed, fingerprint)`` into its ``final/`` folder
        (:func:`write_student_folder`, whose keyword arguments ``contents`` are: ``summary``,
        ``curves``, ``save_dtype``) and return that folder; a rerun with the same fingerprint
        finds it (:meth:`finished`) and trains nothing."""
        return write_student_folder(self.final_dir(seed, fingerprint), model, tokenizer, **contents)

    def finished_curves(self, seed: int, fingerprint: str) -> pl.DataFrame:
        """The training curves of the finished student of ``(seed, fingerprint)``."""
        final = self.finished(seed, fingerprint)
        if final is None:
            raise DatasetError(
                f"{self.root}: no finished student for seed {seed} (run {fingerprint})"
            )
        return pl.read_parquet(final / CURVES_FILE)


def write_student_folder(
    folder: Path,
    model: Any,
    tokenizer: Any,
    *,
    summary: Mapping[str, Any],
    curves: pl.DataFrame,
    save_dtype: str | None = None,
) -> Path:
    """A finished student folder: the model (``save_pretrained``, safetensors; in
    ``save_dtype`` when given) + tokenizer + ``CURVES_FILE`` + ``SUMMARY_FILE`` (``summary``
    with the model's architecture, stored dtype and parameter count) + a model card
    (``CARD_FILE``), written atomically (a ``.partial`` sibling renamed into place) by the
    main process; the other processes of a distributed run wait and get the path."""
    from accelerate import PartialState

    if is_main_process():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        parameters = int(sum(p.numel() for p in model.parameters()))
        architecture = type(model).__name__
        if save_dtype is not None:
            import torch

            model = model.to(getattr(torch, save_dtype))
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        model.save_pretrained(str(partial))
        tokenizer.save_pretrained(str(partial))
        curves.write_parquet(partial / CURVES_FILE)
        facts = {"architecture": architecture, "dtype": dtype, "parameters": parameters}
        full = {**summary, **facts}
        (partial / SUMMARY_FILE).write_text(json.dumps(full, indent=2, default=str))
        (partial / CARD_FILE).write_text(model_card(full))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    PartialState().wait_for_everyone()
    return folder


def model_card(summary: Mapping[str, Any]) -> str:
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
        f"- run fingerprint: {summary['fingerprint']} ({SUMMARY_FILE} has every setting)\n"
    )


def link_or_copy(src: str, dst: str) -> str:
    """Hard-link ``src`` to ``dst`` (the finished student's files are never written again),
    or copy it where links are not possible (another file system)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


class TrainingCheckpointsDataset(AbstractDataset[Any, CheckpointStore]):
    """A cell's checkpoint folder; ``load()`` returns its :class:`CheckpointStore`.

    Unversioned on purpose: a killed ``kedro run`` finds the checkpoints of the previous one.
    Example::

        "{cell}.training_checkpoints":
          type: llm_distillation.kedro_datasets.TrainingCheckpointsDataset
          path: ${_data}/06_models/checkpoints/{cell}
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        protocol, local = get_protocol_and_path(path)
        if protocol != "file":
            raise DatasetError(
                f"checkpoints need a local or shared file system, got {path!r} (the training "
                "loop writes and reads them at every checkpoint)"
            )
        self._path = Path(local)
        self.metadata = metadata

    def load(self) -> CheckpointStore:
        return CheckpointStore(self._path)

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{self._path}: checkpoints are written by the training loop through load()"
        )

    def _exists(self) -> bool:
        return True  # an empty store is a valid one: the cell starts from scratch

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
