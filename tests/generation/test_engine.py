"""The generation engine on both model families: a tiny random Llama (chats and plain text) and
a tiny random T5 (plain text). Greedy outputs are compared with ``model.generate`` on one
unpadded prompt at a time, the reference for batching, padding and caches alike."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from llm_distillation.generation import DecodingConfig, GenerationRequest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_distillation.generation import GenerationEngine  # noqa: E402
from tests.generation.tiny_models import CHATML, build_tiny_llama, build_tiny_t5  # noqa: E402

PROMPTS = (
    "[predict] Question: Where would you put a plate after washing it?",
    "[explain] Premise: a dog runs. Hypothesis: an animal moves.",
    "[predict] Question: What do people use to cut paper? Choices: (a) river (b) desert",
    "Scissors",
    "[explain] Question: Where is a clean plate kept? The answer is cupboard.",
)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("llama"), chat_template=CHATML))


@pytest.fixture(scope="module")
def t5(tmp_path_factory) -> str:
    return str(build_tiny_t5(tmp_path_factory.mktemp("t5")))


def _engine(folder: str, **options) -> GenerationEngine:
    return GenerationEngine.from_pretrained(folder, device="cpu", dtype="float32", **options)


def _plain(prompts=PROMPTS, stop=()) -> list[GenerationRequest]:
    return [GenerationRequest(key=f"p{i}", prompt=p, stop=stop) for i, p in enumerate(prompts)]


def _reference(engine: GenerationEngine, ids: list[int], max_new: int) -> str:
    """Greedy ``model.generate`` on one unpadded prompt of token ``ids``."""
    model, tokenizer = engine.model, engine.tokenizer
    inputs = torch.tensor([ids])
    out = model.generate(
        input_ids=inputs,
        attention_mask=torch.ones_like(inputs),
        max_new_tokens=max_new,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
    )[0]
    new = out if model.config.is_encoder_decoder else out[inputs.shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True)


@pytest.mark.parametrize("family", ["llama", "t5"])
def test_plain_text_batched_equals_unbatched_generate(family, request):
    """Plain text is tokenised as given (T5: ``</s>`` appended), batched, padded; greedy output
    equals ``model.generate``, results in request order."""
    decoding = DecodingConfig(max_new_tokens=10)
    with _engine(request.getfixturevalue(family), batch_size=2, max_context=128) as engine:
        assert engine.is_encoder_decoder == (family == "t5")
        requests = list(reversed(_plain()))
        results = engine.generate(requests, decoding)
        assert [r.key for r in results] == [r.key for r in requests]
        tokenizer = engine.tokenizer
        for req, res in zip(requests, results, strict=True):
            ids = tokenizer(req.prompt)["input_ids"]
            assert res.prompt_tokens == len(ids) and not res.prompt_truncated
            assert res.text == _reference(engine, ids, 10)
            assert 1 <= res.generated_tokens <= 10 and res.finish_reason in {"stop", "length"}
        if family == "t5":
            assert tokenizer(PROMPTS[0])["input_ids"][-1] == tokenizer.eos_token_id
        assert engine.generate([], decoding) == []


def test_chats_and_plain_text_in_one_call(llama):
    """A chat is rendered with the template, plain text is not; both match the reference."""
    chat = GenerationRequest(key="chat", messages=({"role": "user", "content": PROMPTS[0]},))
    decoding = DecodingConfig(max_new_tokens=8)
    with _engine(llama, batch_size=4) as engine:
        chat_result, plain_result = engine.generate([chat, *_plain(PROMPTS[:1])], decoding)
        tokenizer = engine.tokenizer
        rendered = tokenizer.apply_chat_template(
            [dict(m) for m in chat.messages], add_generation_prompt=True, tokenize=False
        )
        chat_ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        plain_ids = tokenizer(PROMPTS[0])["input_ids"]
        assert chat_result.prompt_tokens == len(chat_ids) > len(plain_ids)
        assert plain_result.prompt_tokens == len(plain_ids)
        assert chat_result.text == _reference(engine, chat_ids, 8)
        assert plain_result.text == _reference(engine, plain_ids, 8)


def _early_stop_string(text: str) -> str | None:
    """Two ASCII letters from the first half of ``text`` (``None`` if there are none)."""
    for i in range(1, len(text) // 2):
        if text[i : i + 2].isascii() and text[i : i + 2].isalpha():
            return text[i : i + 2]
    return None


@pytest.mark.parametrize("family", ["llama", "t5"])
def test_stop_strings_end_one_row_and_the_others_continue(family, request):
    """One row stops at its own stop string and leaves the batch; the others are unchanged."""
    decoding = DecodingConfig(max_new_tokens=14)
    with _engine(request.getfixturevalue(family), batch_size=5, max_context=128) as engine:
        plain = engine.generate(_plain(), decoding)
        row, stop = next(
            (i, _early_stop_string(r.text))
            for i, r in enumerate(plain)
            if r.finish_reason == "length" and _early_stop_string(r.text)
        )
        requests = _plain()
        requests[row] = GenerationRequest(key=f"p{row}", prompt=PROMPTS[row], stop=(stop, "\x00no"))
        results = engine.generate(requests, decoding)
        assert results[row].finish_reason == "stop"
        assert results[row].text == plain[row].text[: plain[row].text.index(stop)]
        assert results[row].generated_tokens < 14
        others = [i for i in range(len(PROMPTS)) if i != row]
        assert [results[i].text for i in others] == [plain[i].text for i in others]
        assert [results[i].generated_tokens for i in others] == [
            plain[i].generated_tokens for i in others
        ]
        assert any(results[i].generated_tokens == 14 for i in others)  # decoded after it left


def test_keep_start_keeps_the_view_tag_and_t5_end_of_sequence(t5):
    long = "[predict] Question: " + "Where would you put a plate after washing it? " * 8
    decoding = DecodingConfig(max_new_tokens=6)
    with _engine(t5, batch_size=2, max_context=24, prompt_overflow="keep_start") as engine:
        tokenizer = engine.tokenizer
        full = tokenizer(long)["input_ids"]
        assert len(full) > 24
        prepared = engine.prepare(GenerationRequest(key="long", prompt=long), 6)
        assert prepared.truncated and len(prepared.ids) == 24  # no room taken by new tokens
        assert prepared.ids == [*full[:23], tokenizer.eos_token_id]
        assert prepared.ids == tokenizer(long, truncation=True, max_length=24)["input_ids"]
        assert tokenizer.decode(prepared.ids).startswith("[predict] Question:")
        result, short = engine.generate(_plain([long, PROMPTS[3]]), decoding)
        assert result.prompt_truncated and result.prompt_tokens == 24 and result.error is None
        assert result.text == _reference(engine, prepared.ids, 6)
        assert not short.prompt_truncated


def test_keep_start_and_truncate_demos_on_a_decoder_only_plain_prompt(llama):
    long = "[predict] Question: " + "Where would you put a plate after washing it? " * 8
    request = GenerationRequest(key="long", prompt=long)
    with _engine(llama, max_context=40, prompt_overflow="keep_start") as engine:
        full = engine.tokenizer(long)["input_ids"]
        kept = engine.prepare(request, 8)  # budget: 40 - 8 new tokens
        assert kept.truncated and kept.ids == full[:32]
        result = engine.generate([request], DecodingConfig(max_new_tokens=8))[0]
        assert result.text == _reference(engine, full[:32], 8)
    with _engine(llama, max_context=40, prompt_overflow="truncate_demos") as engine:
        assert engine.prepare(request, 8).ids == full[-32:]  # the end is kept


@pytest.mark.parametrize("family", ["llama", "t5"])
def test_reject_marks_only_the_long_rows(family, request):
    long = "[predict] " + "Where would you put a plate after washing it? " * 8
    context = 48 if family == "llama" else 40
    with _engine(request.getfixturevalue(family), max_context=context) as engine:
        assert engine.prompt_overflow == "reject"  # the default
        bad, good = engine.generate(_plain([long, PROMPTS[3]]), DecodingConfig(max_new_tokens=8))
    assert bad.finish_reason == "error" and bad.text == "" and bad.generated_tokens == 0
    budget = "40 (40)" if family == "t5" else "40 (48 minus max_new_tokens 8)"
    assert bad.error == f"prompt of {bad.prompt_tokens} tokens exceeds context {budget}"
    assert good.error is None and good.finish_reason in {"stop", "length"}


@pytest.mark.parametrize("family", ["llama", "t5"])
def test_seeded_sampling_is_reproducible_and_batch_independent(family, request):
    folder = request.getfixturevalue(family)
    sample = DecodingConfig(max_new_tokens=10, do_sample=True, top_p=0.95, seed=7)
    with _engine(folder, batch_size=5, max_context=128) as batched:
        first = [r.text for r in batched.generate(_plain(), sample)]
        assert [r.text for r in batched.generate(_plain(), sample)] == first
        other = DecodingConfig(max_new_tokens=10, do_sample=True, top_p=0.95, seed=8)
        assert [r.text for r in batched.generate(_plain(), other)] != first
        greedy = [r.text for r in batched.generate(_plain(), DecodingConfig(max_new_tokens=10))]
        assert greedy != first
    with _engine(folder, batch_size=1, max_context=128) as one_by_one:
        assert [r.text for r in one_by_one.generate(_plain(), sample)] == first


def test_from_model_leaves_the_callers_model_alone(t5):
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    model = T5ForConditionalGeneration.from_pretrained(t5)
    tokenizer = AutoTokenizer.from_pretrained(t5)
    model.train()  # e.g. just trained
    decoding = DecodingConfig(max_new_tokens=6)
    with GenerationEngine.from_model(model, tokenizer, max_context=64) as engine:
        assert not model.training  # decoding runs in eval mode
        texts = [r.text for r in engine.generate(_plain(PROMPTS[:2]), decoding)]
        assert texts[0] == _reference(engine, tokenizer(PROMPTS[0])["input_ids"], 6)
    assert engine.closed and model.training  # mode restored, model still the caller's
    with pytest.raises(RuntimeError, match="closed"):
        engine.generate(_plain(PROMPTS[:1]), decoding)
    with GenerationEngine.from_model(model, tokenizer, max_context=64) as again:
        assert [r.text for r in again.generate(_plain(PROMPTS[:2]), decoding)] == texts


def test_closing_frees_a_loaded_model_and_restores_threads(llama):
    before = torch.get_num_threads()
    threads = 1 if before != 1 else 2
    with _engine(llama, cpu_threads=threads) as engine:
        assert torch.get_num_threads() == threads
        model = weakref.ref(engine.model)
        engine.generate(_plain(PROMPTS[:1]), DecodingConfig(max_new_tokens=2))
    gc.collect()
    assert model() is None  # released: nothing of the engine holds it
    assert torch.get_num_threads() == before
    engine.close()  # closing twice is harmless
    assert torch.get_num_threads() == before


def test_bad_requests_and_settings_are_refused(llama):
    with pytest.raises(ValueError, match="exactly one of messages"):
        GenerationRequest(key="both", messages=({"role": "user", "content": "x"},), prompt="x")
    with pytest.raises(ValueError, match="exactly one of messages"):
        GenerationRequest(key="neither")
    with pytest.raises(ValueError, match="prefix_messages"):
        GenerationRequest(key="p", prompt="x", prefix_messages=({"role": "user", "content": "y"},))
    with pytest.raises(ValueError, match="prompt_overflow"):
        _engine(llama, prompt_overflow="drop")
    with pytest.raises(ValueError, match="batch_size"):
        _engine(llama, batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        GenerationEngine.from_pretrained(llama, device="cpu", dtype="int8")


def test_importing_the_package_imports_no_torch():
    code = (
        "import sys, llm_distillation.generation as g; "
        "g.GenerationRequest(key='k', prompt='x'); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_preallocated_cache_keeps_the_selected_rows_in_place():
    """Finished rows leave the batch: the kept rows move down, later writes append to them."""
    from llm_distillation.generation.cache import preallocated_layer_class

    layer = preallocated_layer_class()(capacity=8)
    keys, values = torch.randn(4, 2, 5, 3), torch.randn(4, 2, 5, 3)
    layer.update(keys, values)
    buffer = layer._key_buffer
    layer.batch_select_indices(torch.tensor([1, 3]))
    assert layer._key_buffer.data_ptr() == buffer.data_ptr()  # no new buffer
    assert torch.equal(layer.keys, keys[[1, 3]])
    assert torch.equal(layer.values, values[[1, 3]])
    more_k, more_v = torch.randn(2, 2, 1, 3), torch.randn(2, 2, 1, 3)
    out_k, out_v = layer.update(more_k, more_v)
    assert layer.get_seq_length() == 6
    assert torch.equal(out_k, torch.cat([keys[[1, 3]], more_k], dim=2))
    assert torch.equal(out_v, torch.cat([values[[1, 3]], more_v], dim=2))
    layer.batch_select_indices(torch.tensor([1]))
    assert torch.equal(layer.keys, torch.cat([keys[[3]], more_k[[1]]], dim=2))
