"""Sharded, resumable teacher output on disk.

Layout of one output folder (one per benchmark and split)::

    <root>/<teacher>/<task>/shard-00003.parquet         rows of TEACHER_OUTPUT_SCHEMA
    <root>/<teacher>/<task>/shard-00003.manifest.json   what produced them (+ run statistics)

A shard is a fixed, ordered set of example ids: the examples sorted by ``example_id``, cut into
chunks of ``shard_size``. Its *job* carries a manifest (teacher, task, backend settings,
decoding, prompt-template hash, example ids, input fingerprints, schema version). A shard is
complete when both files exist, the manifest describes the parquet file beside it (name, rows,
bytes), and — when resuming — its manifest equals the job's. Writing is atomic: temporary files
in the same folder, fsync, ``os.replace``; the parquet file first, the manifest last. Before a
shard is recomputed its old manifest is removed, so a crash never leaves a stale shard that
looks complete. A crash therefore loses at most the shard in progress.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import polars as pl

from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA

logger = logging.getLogger(__name__)

SHARD_FORMAT_VERSION: Final = 1
"""Version of the shard layout and schema; part of every manifest."""

STATS_SCHEMA: Final = pl.Schema(
    {
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,
        "task": pl.String,
        "shard": pl.Int64,
        "examples": pl.Int64,
        "rows": pl.Int64,
        "prompt_tokens": pl.Int64,
        "generated_tokens": pl.Int64,
        "empty_outputs": pl.Int64,
        "length_truncations": pl.Int64,
        "prompt_truncations": pl.Int64,
        "errors": pl.Int64,
        "prompt_rejections": pl.Int64,
        "missing_inputs": pl.Int64,
        "seconds": pl.Float64,
        "written_at": pl.String,
    }
)
"""Per-shard accounting stored in each manifest file (``run`` part) and loaded as a table."""

ProgressCallback = Callable[[int, int], None]
"""``progress(requests_done, generated_tokens)`` — called by a job while it computes."""


@runtime_checkable
class ShardJob(Protocol):
    """One (teacher, task, shard) to produce; nothing is computed until :meth:`compute`."""

    teacher: str
    task: str
    shard: int
    manifest: dict[str, Any]
    size: int  # number of generation requests (for the progress bar)

    def compute(self, progress: ProgressCallback | None = None) -> pl.DataFrame: ...


def shard_chunks(
    example_ids: Iterable[str], *, shard_size: int | None = None, num_shards: int | None = None
) -> list[list[str]]:
    """Sorted ids cut into consecutive chunks: of ``shard_size``, or into ``num_shards``."""
    ids = sorted(set(example_ids))
    if (shard_size is None) == (num_shards is None):
        raise ValueError("give exactly one of shard_size and num_shards")
    if not ids:
        return []
    if num_shards is not None:
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        shard_size = math.ceil(len(ids) / num_shards)
    assert shard_size is not None
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    return [ids[i : i + shard_size] for i in range(0, len(ids), shard_size)]


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, fsync it and rename it over ``path``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def shard_stats(df: pl.DataFrame, *, examples: int, seconds: float) -> dict[str, Any]:
    """Accounting of one computed shard (token counts, empty/truncated/error rows, time)."""

    def count(expr: pl.Expr) -> int:
        return int(df.select(expr.sum()).item() or 0) if df.height else 0

    return {
        "examples": examples,
        "rows": df.height,
        "prompt_tokens": count(pl.col("prompt_tokens").clip(lower_bound=0)),
        "generated_tokens": count(pl.col("generated_tokens").clip(lower_bound=0)),
        "empty_outputs": count(pl.col("is_empty").cast(pl.Int64)),
        "length_truncations": count((pl.col("finish_reason") == "length").cast(pl.Int64)),
        "prompt_truncations": count(pl.col("prompt_truncated").cast(pl.Int64)),
        "errors": count((pl.col("finish_reason") == "error").cast(pl.Int64)),
        "seconds": round(seconds, 3),
    }


class ShardStore:
    """The shard folder of one (benchmark, split): reading, atomic writing, completeness."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def paths(self, teacher: str, task: str, shard: int) -> tuple[Path, Path]:
        folder = self.root / teacher / task
        name = shard_name(shard)
        return folder / f"{name}.parquet", folder / f"{name}.manifest.json"

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def read_record(self, teacher: str, task: str, shard: int) -> dict[str, Any] | None:
        """The manifest file of a *complete* shard (``None`` when missing or inconsistent)."""
        parquet, manifest = self.paths(teacher, task, shard)
        record = self._read_json(manifest)
        if record is None or not parquet.is_file():
            return None
        files = record.get("files", {})
        if files.get("parquet") != parquet.name or files.get("bytes") != parquet.stat().st_size:
            return None
        return record

    def is_current(self, job: ShardJob) -> bool:
        """Whether the job's shard is complete and was produced by exactly this manifest."""
        record = self.read_record(job.teacher, job.task, job.shard)
        return record is not None and record.get("manifest") == _jsonable(job.manifest)

    def invalidate(self, teacher: str, task: str, shard: int) -> None:
        """Make a shard incomplete (its manifest goes first) before it is recomputed."""
        parquet, manifest = self.paths(teacher, task, shard)
        manifest.unlink(missing_ok=True)
        if manifest.parent.is_dir():
            _fsync_dir(manifest.parent)
        parquet.unlink(missing_ok=True)

    def write(
        self,
        job: ShardJob,
        df: pl.DataFrame,
        *,
        run: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write a computed shard: parquet, then its manifest (each atomically)."""
        parquet, manifest = self.paths(job.teacher, job.task, job.shard)
        parquet.parent.mkdir(parents=True, exist_ok=True)
        table = df.select(list(TEACHER_OUTPUT_SCHEMA)).cast(dict(TEACHER_OUTPUT_SCHEMA))
        _atomic_write(parquet, table.write_parquet)
        record = {
            "manifest": _jsonable(job.manifest),
            "files": {
                "parquet": parquet.name,
                "rows": table.height,
                "bytes": parquet.stat().st_size,
            },
            "run": run or {},
        }
        text = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False)
        _atomic_write(manifest, lambda p: p.write_text(text, encoding="utf-8"))
        return record

    def complete_shards(
        self, tasks: Sequence[str] | None = None
    ) -> list[tuple[str, str, int, Path, dict[str, Any]]]:
        """``(teacher, task, shard, parquet path, record)`` of every complete shard, sorted."""
        found = []
        if not self.root.is_dir():
            return found
        for manifest in sorted(self.root.glob("*/*/shard-*.manifest.json")):
            task = manifest.parent.name
            teacher = manifest.parent.parent.name
            if tasks is not None and task not in tasks:
                continue
            try:
                shard = int(manifest.name.split(".")[0].removeprefix("shard-"))
            except ValueError:
                continue
            record = self.read_record(teacher, task, shard)
            if record is not None:
                found.append((teacher, task, shard, self.paths(teacher, task, shard)[0], record))
        return found

    def prune(self, keep: set[tuple[str, str, int]], tasks: Sequence[str]) -> list[Path]:
        """Remove shards of ``tasks`` not in ``keep`` (other settings, fewer shards, a teacher
        no longer configured) and stray temporary files. Returns the removed paths."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for folder in sorted(p for p in self.root.glob("*/*") if p.is_dir()):
            teacher, task = folder.parent.name, folder.name
            if task not in tasks:
                continue
            for path in sorted(folder.iterdir()):
                name = path.name
                if name.startswith(".") and name.endswith(".tmp"):
                    path.unlink(missing_ok=True)
                    removed.append(path)
                    continue
                if not name.startswith("shard-"):
                    continue
                try:
                    shard = int(name.split(".")[0].removeprefix("shard-"))
                except ValueError:
                    continue
                if (teacher, task, shard) not in keep:
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    def scan(self, tasks: Sequence[str] | None = None) -> pl.LazyFrame:
        """A LazyFrame over every complete shard of ``tasks`` (all when ``None``)."""
        paths = [str(p) for *_, p, _ in self.complete_shards(tasks)]
        if not paths:
            return pl.LazyFrame(schema=TEACHER_OUTPUT_SCHEMA)
        return pl.scan_parquet(paths, schema=TEACHER_OUTPUT_SCHEMA)

    def stats(self, tasks: Sequence[str] | None = None) -> pl.DataFrame:
        """Per-shard accounting of every complete shard (:data:`STATS_SCHEMA`)."""
        rows = []
        for teacher, task, shard, _, record in self.complete_shards(tasks):
            run = record.get("run", {})
            manifest = record.get("manifest", {})
            fixed = {
                "benchmark": manifest.get("benchmark"),
                "split": manifest.get("split"),
                "teacher": teacher,
                "task": task,
                "shard": shard,
            }
            rows.append({**{k: run.get(k) for k in STATS_SCHEMA}, **fixed})
        return (
            pl.DataFrame(rows, schema=STATS_SCHEMA) if rows else pl.DataFrame(schema=STATS_SCHEMA)
        )


def _jsonable(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples -> lists), for manifest comparison."""
    return json.loads(json.dumps(obj, sort_keys=True, ensure_ascii=False))


class _Progress:
    """tqdm bar over requests (ETA from their rate) with examples done and generated tokens/s."""

    def __init__(self, total: int, examples: int, description: str):
        from tqdm.auto import tqdm

        self.started = time.perf_counter()
        self.tokens = 0
        self.examples = 0
        self.total_examples = examples
        self.bar = tqdm(total=total, desc=description, unit="req", dynamic_ncols=True)

    def _postfix(self) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix(
            examples=f"{self.examples}/{self.total_examples}",
            tok_s=f"{self.tokens / elapsed:.1f}",
            tokens=self.tokens,
        )

    def __call__(self, requests: int, tokens: int) -> None:
        self.tokens += tokens
        self._postfix()
        self.bar.update(requests)

    def shard_done(self, examples: int) -> None:
        self.examples += examples
        self._postfix()

    def close(self) -> None:
        self.bar.close()


def _job_run_info(job: ShardJob) -> dict[str, Any]:
    """A job's own extra accounting (``job.run_info()``), when it has any."""
    info = getattr(job, "run_info", None)
    return dict(info()) if callable(info) else {}


def run_jobs(
    store: ShardStore,
    jobs: Iterable[ShardJob],
    *,
    tasks: Sequence[str],
    description: str = "teacher generation",
    run_info: Callable[[ShardJob], dict[str, Any]] | None = None,
) -> dict[str, int]:
    """Produce every job's shard unless it is current; prune shards no job asked for.

    When ``jobs`` is a context manager (``ShardJobs``: the backends its jobs share), the jobs
    are computed inside it, so what it holds (a loaded model) is released when this returns.
    Returns counts ``{"computed": …, "skipped": …, "pruned": …}``.
    """
    scope = (
        jobs if isinstance(jobs, contextlib.AbstractContextManager) else contextlib.nullcontext()
    )
    jobs = list(jobs)
    bad = sorted({j.task for j in jobs} - set(tasks))
    if bad:
        raise ValueError(f"jobs for tasks {bad} given to a shard dataset that holds {list(tasks)}")
    keys = [(j.teacher, j.task, j.shard) for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("two jobs for the same (teacher, task, shard)")
    pending = [j for j in jobs if not store.is_current(j)]
    pruned = store.prune(set(keys), tasks)
    for path in pruned:
        logger.info("Removed stale shard file %s", path)
    logger.info(
        "%s: %d shard(s) complete and skipped, %d to compute",
        description,
        len(jobs) - len(pending),
        len(pending),
    )
    if pending:
        progress = _Progress(
            sum(j.size for j in pending),
            sum(len(j.manifest.get("example_ids", [])) for j in pending),
            description,
        )
        with scope, contextlib.closing(progress):
            for job in pending:
                store.invalidate(job.teacher, job.task, job.shard)
                started = time.perf_counter()
                df = job.compute(progress)
                seconds = time.perf_counter() - started
                run = {
                    **shard_stats(df, examples=len(job.manifest.get("example_ids", [])),
                                  seconds=seconds),
                    "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    **(run_info or _job_run_info)(job),
                }  # fmt: skip
                store.write(job, df, run=run)
                progress.shard_done(run["examples"])
                logger.info(
                    "%s/%s %s: %d rows in %.1f s",
                    job.teacher,
                    job.task,
                    shard_name(job.shard),
                    df.height,
                    seconds,
                )
    return {"computed": len(pending), "skipped": len(jobs) - len(pending), "pruned": len(pruned)}
