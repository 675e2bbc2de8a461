"""A Kedro dataset over a folder of sharded, resumable teacher outputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from llm_distillation.errors import require_known
from llm_distillation.kedro_datasets.polars_table import preview_frame
from llm_distillation.teacher.records import TASKS
from llm_distillation.teacher.sharding import ShardJob, ShardStore, run_jobs

VIEWS = ("outputs", "stats")


class TeacherShardsDataset(AbstractDataset[Iterable[ShardJob], pl.LazyFrame | pl.DataFrame]):
    """``<path>/<teacher>/<task>/shard-NNNNN.{parquet,manifest.json}`` (see ``sharding.py``).

    - ``save(jobs)`` takes lazy shard jobs (objects with ``teacher``, ``task``, ``shard``,
      ``manifest``, ``size`` and ``compute()``): a shard whose complete manifest equals the job's
      is skipped, every other one is computed and written atomically, and shards of ``tasks``
      that no job asked for (other settings, a teacher no longer configured) are removed.
    - ``load()`` returns a ``polars.LazyFrame`` (``TEACHER_OUTPUT_SCHEMA``) over the complete
      shards of ``tasks`` — empty with that schema when there are none. With ``view: stats`` it
      returns the per-shard accounting table instead (``STATS_SCHEMA``).

    Several catalog entries may point at one folder with different ``tasks`` (one per pipeline
    step), so the lineage shows the order of the tasks. ``writes`` names the tasks a save owns
    (and may prune); it defaults to ``tasks`` (all tasks when ``tasks`` is not given).
    ``credentials`` (e.g. ``{api_key: …}`` from ``conf/local/credentials.yml``) are handed to
    the jobs' backends (an OpenAI-compatible endpoint) and never written anywhere.

    Example (``conf/base/catalog_teacher_generation.yml``)::

        "{benchmark}.teacher_rationales_{split}":
          type: llm_distillation.kedro_datasets.TeacherShardsDataset
          path: ${globals:data_dir}/04_feature/teacher_outputs/{benchmark}/{split}
          tasks: [positive_rationale, negative_rationale, counterfactual_rationale]
    """

    def __init__(
        self,
        *,
        path: str,
        tasks: Sequence[str] | None = None,
        writes: Sequence[str] | None = None,
        view: str = "outputs",
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        require_known([*(tasks or ()), *(writes or ())], TASKS, "teacher tasks", error=DatasetError)
        if view not in VIEWS:
            raise DatasetError(f"unknown view {view!r}; allowed: {list(VIEWS)}")
        self._path = PurePosixPath(path)
        self._tasks = tuple(tasks) if tasks else None
        self._writes = tuple(writes) if writes else (self._tasks or TASKS)
        self._view = view
        self._credentials = dict(credentials or {})
        self.metadata = metadata

    @property
    def _store(self) -> ShardStore:
        return ShardStore(Path(self._path))

    def _load(self) -> pl.LazyFrame | pl.DataFrame:
        if self._view == "stats":
            return self._store.stats(self._tasks)
        return self._store.scan(self._tasks)

    def _save(self, data: Iterable[ShardJob]) -> None:
        if self._view != "outputs":
            raise DatasetError("the stats view of a teacher shard folder is read-only")
        description = getattr(data, "description", f"teacher generation {self._path}")
        jobs = data if isinstance(data, Sized) else list(data)  # ShardJobs: kept for run_jobs
        run_jobs(  # credentials reach the backends only: no job, manifest or log holds them
            self._store,
            jobs,
            tasks=self._writes,
            description=description,
            secrets=self._credentials,
        )

    def _exists(self) -> bool:
        """True only when the last save of this entry's tasks finished every shard it planned
        (so ``kedro run --only-missing-outputs`` redoes a half-finished generation)."""
        return self._store.plan_complete(self._writes)

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "tasks": self._tasks,
            "writes": self._writes,
            "view": self._view,
        }

    def preview(self, nrows: int = 5) -> TablePreview:
        """First rows for kedro-viz (a table preview)."""
        data = self._load()
        frame = data.head(nrows).collect() if isinstance(data, pl.LazyFrame) else data.head(nrows)
        return preview_frame(frame)
