"""Teacher backends live for one save: created on first need, closed (model freed, threads
restored) when the ``BackendCache`` closes."""

from __future__ import annotations

import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.teacher.backend_cache import BackendCache, BackendSpec

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.generation.tiny_models import CHATML, build_tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny"), chat_template=CHATML))


def test_backends_are_lent_inside_the_scope_and_closed_with_it(tiny_model):
    before = torch.get_num_threads()
    threads = 1 if before != 1 else 2
    spec = BackendSpec("transformers", {"model": tiny_model, "device": "cpu"}, cpu_threads=threads)
    cache = BackendCache()
    with pytest.raises(RuntimeError, match="only inside"):
        cache.get(spec)
    request = GenerationRequest(key="k", messages=({"role": "user", "content": "Question: x"},))
    with cache:
        backend = cache.get(spec)
        assert cache.get(spec) is backend and cache.created == 1  # one per spec
        assert torch.get_num_threads() == threads
        backend.generate([request], DecodingConfig(max_new_tokens=2))
        assert backend._engine is not None
    assert backend._engine is None  # the model was freed when the scope ended
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="only inside"):
        cache.get(spec)
    with cache:  # a later save opens it again: a fresh backend
        assert cache.get(spec) is not backend and cache.created == 2
    assert torch.get_num_threads() == before
