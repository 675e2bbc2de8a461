"""Fixtures: small slices of the study's real consolidated shards, imported once."""

from __future__ import annotations

import pytest

from llm_distillation.consolidation.study_import import import_study
from llm_distillation.sources.formats import RawBenchmark, RawSplit, read_split

STUDY = "llm_outputs/consolidated"


def study_raw(shared_data, benchmark: str, teacher: str, split: str, n: int) -> RawBenchmark:
    """The first ``n`` records of the study's ``<benchmark>-<teacher>-<split>`` folder."""
    part = read_split(
        benchmark, "hf_disk", f"{benchmark}-{teacher}-{split}", root=shared_data / STUDY
    )
    raw = RawBenchmark(benchmark=benchmark, format="hf_disk", dialect="hf")
    raw.splits[split] = RawSplit(source=part.source, rows=part.rows[:n])
    return raw


def study_consolidated(shared_data, benchmark: str, split: str, n: int, teacher: str = "llama"):
    """The study import of the first ``n`` rows of one split, consolidated as the pipeline
    does (the study-import checks and required tasks)."""
    from llm_distillation.consolidation.merge import consolidate
    from llm_distillation.consolidation.study_import import import_study
    from llm_distillation.pipelines.consolidation.params import StudyImportParams

    examples, long, _ = import_study(study_raw(shared_data, benchmark, teacher, split, n), teacher)
    study = StudyImportParams()
    return consolidate(
        long.lazy(),
        examples,
        benchmark=benchmark,
        split=split,
        checks=study.checks,
        required_tasks=study.required_tasks,
    ).table


@pytest.fixture(scope="session")
def study_slices(shared_data):
    """(benchmark, teacher, split) -> (examples, long outputs) of 40 real study rows."""
    out = {}
    for benchmark, teacher, split in (
        ("cqa", "llama", "test"),
        ("esnli", "llama", "train"),
        ("strategyqa", "llama", "test"),
        ("strategyqa", "qwen", "test"),
    ):
        examples, long, _ = import_study(
            study_raw(shared_data, benchmark, teacher, split, 40), teacher
        )
        out[benchmark, teacher, split] = (examples, long)
    return out
