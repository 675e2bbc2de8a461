"""A versioned Parquet table written as one file per teacher.

``type: llm_distillation.kedro_datasets.PerTeacherParquetDataset`` stores a table with a
``teacher`` column as ``<filepath>/<version>/<name>/<teacher>.parquet`` (each file keeps the
``teacher`` column), so ``…/consolidated/cqa/train/<version>/train/llama.parquet`` is the
study's ``cqa-llama-train`` table. ``load()`` returns a ``polars.LazyFrame`` over every
teacher's file (``load_args: {teachers: [llama]}`` keeps some of them).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl
from kedro.io import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets._typing import TablePreview

from llm_distillation.kedro_datasets.polars_table import preview_frame

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


class PerTeacherParquetDataset(AbstractVersionedDataset[pl.DataFrame, pl.LazyFrame]):
    """Versioned folder of ``<teacher>.parquet`` files (local file system)."""

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(Path(filepath).as_posix()),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )
        self._teachers = list((load_args or {}).get("teachers") or [])
        self.metadata = metadata

    def load(self) -> pl.LazyFrame:
        folder = Path(str(self._get_load_path()))
        files = sorted(folder.glob("*.parquet"))
        if self._teachers:
            files = [f for f in files if f.stem in self._teachers]
        if not files:
            raise DatasetError(f"no teacher tables in {folder}")
        return pl.scan_parquet(files)

    def save(self, data: pl.DataFrame | pl.LazyFrame) -> None:
        frame = data.collect() if isinstance(data, pl.LazyFrame) else data
        if "teacher" not in frame.columns:
            raise DatasetError("the table has no 'teacher' column to partition by")
        folder = Path(str(self._get_save_path()))
        folder.mkdir(parents=True, exist_ok=True)
        if frame.is_empty():  # keep the schema readable even with no rows
            frame.write_parquet(folder / "_empty.parquet")
        for (teacher,), part in frame.partition_by("teacher", as_dict=True).items():
            name = str(teacher)
            if not _SAFE.match(name):
                raise DatasetError(f"teacher name {name!r} cannot be a file name")
            part.write_parquet(folder / f"{name}.parquet")
        self._clear_version_cache()

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "teachers": self._teachers, "version": self._version}

    def preview(self, nrows: int = 5) -> TablePreview:
        """First rows for kedro-viz (list columns shown as JSON text)."""
        return preview_frame(self.load().head(nrows).collect())
