"""The study's StrategyQA outputs replayed onto our examples, re-keyed by question text."""

from __future__ import annotations

import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.sources.formats import read_benchmark
from llm_distillation.sources.normalize import normalize_raw
from llm_distillation.teacher.backends import create_backend
from llm_distillation.teacher.generate import backend_spec, request_key


@pytest.fixture(scope="module")
def strategyqa(shared_data):
    examples, _ = normalize_raw(
        read_benchmark(
            "strategyqa", "strategyqa_json", {"train": "strategyqa/train.json"}, root=shared_data
        )
    )
    return examples.head(20)


def _replay(spec, examples):
    backend = create_backend(spec.name, **{**spec.options, **spec.objects})
    requests = [
        GenerationRequest(key=request_key(e, "positive_rationale", i), messages=())
        for e, i in examples.select("example_id", "answer_index").rows()
    ]
    return backend.generate(requests, DecodingConfig())


def test_align_by_text_finds_every_local_question(strategyqa, shared_data):
    options = {
        "source": "study_consolidated",
        "teacher": "llama",
        "root": str(shared_data),
        "align_by_text": ["strategyqa"],
    }
    spec = backend_spec(
        "study", "replay", options, benchmark="strategyqa", teacher_model=None, examples=strategyqa
    )
    assert "align_by_text" not in spec.options
    assert spec.objects["align_to"] is strategyqa
    assert spec.fingerprint["align_to"]  # part of the manifest: other examples redo the shards
    results = _replay(spec, strategyqa)
    assert [r.finish_reason for r in results] == ["replay"] * 20
    assert all(r.text.strip() for r in results)

    plain = backend_spec(
        "study",
        "replay",
        {**options, "align_by_text": []},
        benchmark="strategyqa",
        teacher_model=None,
        examples=strategyqa,
    )
    assert not plain.objects and plain.key != spec.key
    assert {r.finish_reason for r in _replay(plain, strategyqa)} == {"error"}
