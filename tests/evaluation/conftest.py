"""Fixtures: a real consolidated CQA test slice (the study teacher's rationales) and tiny
random students saved with ``save_pretrained`` (tests/generation/tiny_models.py)."""

from __future__ import annotations

import pytest

from llm_distillation.consolidation.study_import import import_study
from tests.consolidation.conftest import study_raw


@pytest.fixture(scope="session")
def cqa_test_table(shared_data):
    """The study import of the first 16 CQA test rows, consolidated as the pipeline does."""
    from llm_distillation.consolidation.merge import consolidate
    from llm_distillation.pipelines.consolidation.params import StudyImportParams

    examples, long, _ = import_study(study_raw(shared_data, "cqa", "llama", "test", 16), "llama")
    study = StudyImportParams()
    return consolidate(
        long.lazy(),
        examples,
        benchmark="cqa",
        split="test",
        checks=study.checks,
        required_tasks=study.required_tasks,
    ).table


@pytest.fixture(scope="session")
def tiny_students(tmp_path_factory):
    """seed -> folder: two tiny Llamas (different weights per seed) and a tiny T5."""
    pytest.importorskip("torch")
    from tests.generation.tiny_models import build_tiny_llama, build_tiny_t5

    root = tmp_path_factory.mktemp("students")
    llama = build_tiny_llama(root / "llama_seed_0", chat_template=None)
    t5 = build_tiny_t5(root / "t5_seed_0")
    return {"llama": {0: str(llama)}, "t5": {0: str(t5)}}
