"""The lazy shard jobs of the teacher tasks, built for one node's save.

:func:`build_jobs` turns the examples, the teacher configuration and the prompts into one
:class:`~llm_distillation.teacher.shard_job.GenerationJob` per (teacher, task, shard). The jobs
of one node share a :class:`~llm_distillation.teacher.backend_cache.BackendCache`: a backend is
created by the first shard that needs it (never when every shard is complete) and closed when
the save of those jobs ends (``run_jobs`` computes them inside their :class:`ShardJobs`
context).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from llm_distillation.cleaning import CleaningRules
from llm_distillation.teacher.backend_cache import BackendCache, backend_spec
from llm_distillation.teacher.prompts import PromptBuilder
from llm_distillation.teacher.shard_job import GenerationJob
from llm_distillation.teacher.sharding import shard_chunks


@dataclass
class ShardJobs:
    """The lazy jobs one node hands to a ``TeacherShardsDataset``, and the context their
    backends live in: ``with jobs:`` lends them (:class:`BackendCache`), leaving closes them."""

    jobs: list[GenerationJob]
    description: str = "teacher generation"
    backends: BackendCache = field(default_factory=BackendCache, repr=False)

    def open(self, secrets: Mapping[str, Any] | None = None) -> ShardJobs:
        """Lend the jobs' backends (with ``secrets``) until the ``with`` block ends."""
        self.backends.open(secrets)
        return self

    def __enter__(self) -> ShardJobs:
        self.backends.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.backends.close()

    def __iter__(self):
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


def select_examples(examples: pl.DataFrame, n: int | None, *, seed: int) -> list[dict[str, Any]]:
    """The examples a teacher covers: a seeded subsample of ``n`` (all when ``None``),
    ordered by ``example_id``."""
    from llm_distillation.sampling import take_seeded

    kept, _ = take_seeded(examples, n=n, seed=seed) if n is not None else (examples, None)
    if n == 0:
        kept = examples.clear()
    return kept.sort("example_id").to_dicts()


def texts_by_example(
    outputs: pl.LazyFrame | pl.DataFrame | None, teacher: str, task: str
) -> dict[str, str]:
    """``example_id -> text`` of one teacher's ``task`` rows (gold option rows only)."""
    if outputs is None:
        return {}
    frame = outputs.lazy() if isinstance(outputs, pl.DataFrame) else outputs
    rows = (
        frame.filter((pl.col("teacher") == teacher) & (pl.col("task") == task))
        .select("example_id", "text")
        .collect()
    )
    return dict(zip(rows["example_id"].to_list(), rows["text"].to_list(), strict=True))


def build_jobs(
    examples: pl.DataFrame,
    params: Any,
    prompts: Any,
    *,
    tasks: Sequence[str],
    teacher_model: str | None = None,
    rationales: pl.LazyFrame | None = None,
    critiques: pl.LazyFrame | None = None,
    cleaning: CleaningRules | None = None,
) -> ShardJobs:
    """Lazy jobs of ``tasks`` for every configured teacher and shard of ``examples``.

    ``params`` is a validated ``TeacherGenerationParams``, ``prompts`` a ``PromptConfig``,
    ``cleaning`` the one cleaning of teacher text (default rules when ``None``),
    ``teacher_model`` the converted model folder (``None`` when it was not made).
    Critique jobs read the positive rationales from ``rationales``; revision jobs read them and
    the critiques.
    """
    if examples.is_empty():
        return ShardJobs([], "teacher generation (no examples)")
    benchmark = examples["benchmark"][0]
    split = examples["split"][0]
    jobs: list[GenerationJob] = []
    backends = BackendCache()
    for name, teacher in params.teachers.items():
        wanted = [t for t in tasks if t in teacher.tasks_for(benchmark)]
        if benchmark not in teacher.benchmarks or not wanted:
            continue
        selected = select_examples(examples, teacher.examples.get(split), seed=params.seed)
        if not selected:
            continue
        by_id = {r["example_id"]: r for r in selected}
        sharding = teacher.sharding or params.sharding
        chunks = shard_chunks(by_id, shard_size=sharding.shard_size, num_shards=sharding.num_shards)
        model_dir = None
        if teacher.use_teacher_model:
            model_dir = _model_folder(teacher_model)
        spec = backend_spec(
            teacher.backend,
            teacher.options,
            teacher_model=model_dir,
            cpu_threads=teacher.cpu_threads,
        )
        builder = PromptBuilder(prompts, benchmark, seed=params.seed)
        positive = texts_by_example(rationales, name, "positive_rationale")
        critique = texts_by_example(critiques, name, "critique")
        for task in wanted:
            for index, ids in enumerate(chunks):
                jobs.append(
                    GenerationJob(
                        teacher=name,
                        task=task,
                        shard=index,
                        benchmark=benchmark,
                        split=split,
                        examples=[by_id[i] for i in ids],
                        builder=builder,
                        backend=spec,
                        decoding=teacher.decoding.to_config(),
                        chunk_size=teacher.chunk_size,
                        rationales={i: positive[i] for i in ids if i in positive},
                        critiques={i: critique[i] for i in ids if i in critique},
                        cleaning=cleaning or CleaningRules(),
                        backends=backends,
                    )
                )
    return ShardJobs(jobs, f"{benchmark}/{split} {'+'.join(tasks)}", backends)


def _model_folder(teacher_model: str | None) -> str:
    """The folder path the ``teacher_model`` catalog artefact loads as (``None``: not made)."""
    if teacher_model is None:
        raise ValueError("a teacher with use_teacher_model needs the teacher_model artefact")
    return str(teacher_model)
