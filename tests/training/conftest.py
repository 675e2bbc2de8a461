"""Fixtures of the training tests: a tiny teacher folder built once per session."""

from __future__ import annotations

import pytest

from tests.training.helpers import build_tiny_llama

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def teacher_folder(tmp_path_factory):
    """A 3-layer random Llama + trained BPE tokenizer (the teacher shrunk students come from)."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_teacher"))
