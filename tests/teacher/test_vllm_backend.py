"""The vLLM backend's pure parts (prompt rendering, sampling settings, output mapping) and its
message when vLLM is not installed. Output objects are plain dataclasses with the fields of
vLLM's ``RequestOutput``/``CompletionOutput``: this tests the mapping, not a fake engine."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.teacher.backends import create_backend
from llm_distillation.teacher.backends.vllm_backend import (
    MISSING_VLLM,
    VLLMBackend,
    build_sampling_kwargs,
    map_outputs,
    render_prompts,
)

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass
class CompletionOutput:
    text: str
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int] | None
    outputs: list[CompletionOutput]


def tokenizer(chat_template: str | None):  # type: ignore[no-untyped-def]
    """A real (tiny, word-level) transformers tokenizer, optionally with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tok.chat_template = chat_template
    return tok


REQUESTS = [
    GenerationRequest(
        key="q1/positive_rationale/2",
        messages=({"role": "user", "content": "Why is the sky blue?"},),
        prefix_messages=({"role": "system", "content": "Explain."},),
        stop=("\n",),
    ),
    GenerationRequest(
        key="q1/counterfactual_rationale/0",
        messages=({"role": "user", "content": "Why red?"},),
    ),
]


def test_render_prompts_applies_the_chat_template_with_a_generation_prompt() -> None:
    prompts = render_prompts(REQUESTS, tokenizer(CHAT_TEMPLATE))
    assert prompts == [
        "<s><|system|>Explain.<|end|><|user|>Why is the sky blue?<|end|><|assistant|>",
        "<s><|user|>Why red?<|end|><|assistant|>",
    ]


def test_render_prompts_without_a_template_joins_the_contents() -> None:
    prompts = render_prompts(REQUESTS, tokenizer(None))
    assert prompts == ["Explain.\n\nWhy is the sky blue?", "Why red?"]


def test_build_sampling_kwargs_greedy_and_sampling() -> None:
    greedy = build_sampling_kwargs(DecodingConfig(max_new_tokens=360, seed=7), ("\n", "Q:"))
    assert greedy == {
        "n": 1,
        "max_tokens": 360,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 7,
        "stop": ["\n", "Q:"],
        "skip_special_tokens": True,
    }
    sampled = build_sampling_kwargs(DecodingConfig(do_sample=True, temperature=0.8, top_p=0.95), ())
    assert (sampled["temperature"], sampled["top_p"], sampled["stop"]) == (0.8, 0.95, [])


def test_map_outputs_in_order() -> None:
    outputs = [
        RequestOutput([5, 6, 7], [CompletionOutput("Because of scattering.", [1, 2, 3], "stop")]),
        RequestOutput([5, 6], [CompletionOutput("Red is", [9, 9], "length")]),
    ]
    first, second = map_outputs(REQUESTS, outputs)
    assert first.key == "q1/positive_rationale/2" and first.text == "Because of scattering."
    assert (first.prompt_tokens, first.generated_tokens, first.finish_reason) == (3, 3, "stop")
    assert first.error is None
    assert second.key == "q1/counterfactual_rationale/0"
    assert (second.prompt_tokens, second.generated_tokens, second.finish_reason) == (
        2,
        2,
        "length",
    )


def test_map_outputs_abort_and_unknown_prompt_length() -> None:
    outputs = [
        RequestOutput(None, [CompletionOutput("", [], None)]),
        RequestOutput([1], [CompletionOutput("partial", [4], "abort")]),
    ]
    done, aborted = map_outputs(REQUESTS, outputs)
    assert done.prompt_tokens == -1 and done.finish_reason == "stop"
    assert aborted.finish_reason == "error" and "abort" in (aborted.error or "")
    assert aborted.text == "partial"


def test_map_outputs_rejects_a_count_mismatch() -> None:
    with pytest.raises(ValueError, match="1 outputs for 2 requests"):
        map_outputs(REQUESTS, [RequestOutput([1], [CompletionOutput("x", [1], "stop")])])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_without_vllm_the_backend_names_the_extra() -> None:
    with pytest.raises(ImportError) as err:
        VLLMBackend("Qwen/Qwen3-30B-A3B-Instruct-2507")
    assert str(err.value) == MISSING_VLLM
    assert "pip install 'llm-distillation[vllm]'" in str(err.value)
    with pytest.raises(ImportError, match="optional extra"):
        create_backend("vllm", model="meta-llama/Llama-2-13b-hf", tensor_parallel_size=2)
