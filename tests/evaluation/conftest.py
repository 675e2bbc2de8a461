"""Fixtures: a real consolidated CQA test slice (the study teacher's rationales) and tiny
random students saved with ``save_pretrained`` (tests/generation/tiny_models.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_distillation.consolidation.study_import import import_study
from tests.consolidation.conftest import study_consolidated, study_raw


@pytest.fixture(scope="session")
def cqa_test_table(shared_data):
    """The study import of the first 16 CQA test rows, consolidated as the pipeline does."""
    return study_consolidated(shared_data, "cqa", "test", 16)


@pytest.fixture(scope="session")
def tiny_students(tmp_path_factory):
    """seed -> student as ``<cell>.student_model`` loads it (a ``StoredModel``): a tiny Llama
    and a tiny T5."""
    pytest.importorskip("torch")
    from tests.generation.tiny_models import build_tiny_llama, build_tiny_t5

    root = tmp_path_factory.mktemp("students")
    llama = build_tiny_llama(root / "llama_seed_0", chat_template=None)
    t5 = build_tiny_t5(root / "t5_seed_0")
    from llm_distillation.generation import StoredModel

    return {"llama": {0: StoredModel(Path(llama))}, "t5": {0: StoredModel(Path(t5))}}


@pytest.fixture(scope="session")
def strategyqa_two_teachers(shared_data):
    """The study's first 8 StrategyQA test questions, consolidated with both teachers' rows
    (``llama`` and ``qwen``: 16 rows), as the study import gives them."""
    import polars as pl

    from llm_distillation.consolidation.merge import consolidate
    from llm_distillation.pipelines.consolidation.params import StudyImportParams

    parts = [
        import_study(study_raw(shared_data, "strategyqa", t, "test", 8), t)
        for t in ("llama", "qwen")
    ]
    study = StudyImportParams()
    table = consolidate(
        pl.concat([long for _, long, _ in parts]).lazy(),
        parts[0][0],
        benchmark="strategyqa",
        split="test",
        checks=study.checks,
        required_tasks=study.required_tasks,
    ).table
    assert table.height == 16 and table["example_id"].n_unique() == 8
    return table


def ingest_test_split(shared_data, benchmark: str, path: str, n: int):
    """The first ``n`` test rows of a benchmark's sample file as ingest normalizes them (no
    teacher columns)."""
    import polars as pl

    from llm_distillation.sources.formats import read_benchmark
    from llm_distillation.sources.normalize import normalize_raw

    examples, _ = normalize_raw(
        read_benchmark(benchmark, "dsbs_jsonl", {"test": path}, root=shared_data)
    )
    return examples.filter(pl.col("split") == "test").head(n)


@pytest.fixture(scope="session")
def esnli_ingest_test(shared_data):
    """12 e-SNLI test rows of the ingest split: what conf/paper evaluates e-SNLI on."""
    return ingest_test_split(shared_data, "esnli", "esnli/esnli_test.json", 12)
