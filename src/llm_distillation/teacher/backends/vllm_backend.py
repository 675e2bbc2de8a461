"""A teacher run in-process with vLLM's offline ``LLM`` engine (GPU machines, ``conf/paper``).

vLLM is an optional extra; it is imported only when the engine is first needed. The engine
work is split into pure functions that are tested without vLLM or a GPU:

- :func:`render_prompts` renders each request's ``prefix_messages + messages`` with the
  tokenizer's chat template (generation prompt appended), or joins the contents with a blank
  line when the tokenizer has no chat template (base models);
- :func:`build_sampling_kwargs` turns a :class:`DecodingConfig` and stop strings into the
  keyword arguments of ``vllm.SamplingParams`` (greedy = ``temperature=0``);
- :func:`map_outputs` turns vLLM ``RequestOutput`` objects into :class:`GenerationResult`
  rows, in request order.

Prompts are tokenized here and passed to vLLM as token ids, so a chat template that already
writes the BOS token does not get a second one, and a prompt that does not fit the context
window (``max_model_len``) becomes an ``"error"`` row instead of failing the whole batch (it is
never cut: a cut few-shot prompt would silently change the task).
"""

from __future__ import annotations

import gc
import importlib.util
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from llm_distillation.generation.types import (
    DecodingConfig,
    GenerationRequest,
    GenerationResult,
)

logger = logging.getLogger(__name__)

MISSING_VLLM = (
    "the vllm backend needs the optional extra: pip install 'llm-distillation[vllm]' "
    "on a CUDA machine"
)


class _Tokenizer(Protocol):
    chat_template: Any

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def encode(self, text: str, **kwargs: Any) -> list[int]: ...


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompts(requests: Sequence[GenerationRequest], tokenizer: _Tokenizer) -> list[str]:
    """The prompt text of each request: the chat template applied to
    ``prefix_messages + messages`` with the generation prompt, or the message contents one
    blank line apart when the tokenizer has no chat template."""
    templated = has_chat_template(tokenizer)
    prompts = []
    for request in requests:
        messages = [
            {"role": m["role"], "content": m["content"]}
            for m in (*request.prefix_messages, *request.messages)
        ]
        if templated:
            prompts.append(
                tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        else:
            prompts.append("\n\n".join(m["content"] for m in messages))
    return prompts


def build_sampling_kwargs(decoding: DecodingConfig, stop: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one request."""
    sampling = decoding.do_sample
    return {
        "n": 1,
        "max_tokens": decoding.max_new_tokens,
        "temperature": decoding.temperature if sampling else 0.0,
        "top_p": decoding.top_p if sampling else 1.0,
        "seed": decoding.seed,
        "stop": list(stop),
        "skip_special_tokens": True,
    }


def map_outputs(
    requests: Sequence[GenerationRequest], outputs: Sequence[Any]
) -> list[GenerationResult]:
    """One result per request from vLLM ``RequestOutput``-shaped objects in the same order.

    Uses ``outputs[0].text``, ``outputs[0].token_ids`` (the generated token count),
    ``outputs[0].finish_reason`` and ``prompt_token_ids`` (the prompt token count, ``-1`` when
    vLLM did not report it). ``"stop"`` and ``"length"`` are kept; any other finish reason
    (``"abort"``) becomes an ``"error"`` row that keeps the text produced so far.
    """
    if len(outputs) != len(requests):
        raise ValueError(f"vLLM returned {len(outputs)} outputs for {len(requests)} requests")
    results = []
    for request, output in zip(requests, outputs, strict=True):
        completion = output.outputs[0]
        finish = completion.finish_reason or "stop"
        error = None
        if finish not in ("stop", "length"):
            error = f"vLLM finished the request with reason {finish!r}"
            finish = "error"
        prompt_ids = output.prompt_token_ids
        results.append(
            GenerationResult(
                key=request.key,
                text=completion.text,
                prompt_tokens=len(prompt_ids) if prompt_ids is not None else -1,
                generated_tokens=len(completion.token_ids),
                finish_reason=finish,
                error=error,
            )
        )
    return results


def _require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise ImportError(MISSING_VLLM)


class VLLMBackend:
    """Teacher backend on vLLM's offline engine (one engine per backend, loaded lazily)."""

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        dtype: str = "bfloat16",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        enable_prefix_caching: bool = True,
        revision: str | None = None,
        name: str = "vllm",
        **engine_kwargs: Any,
    ) -> None:
        _require_vllm()
        self.name = name
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization
        self.enable_prefix_caching = enable_prefix_caching
        self.revision = revision
        self.engine_kwargs: Mapping[str, Any] = dict(engine_kwargs)
        self._llm: Any = None
        self._vllm_version: str | None = None

    def _engine(self) -> Any:
        if self._llm is None:
            try:
                import vllm
            except ImportError as err:
                raise ImportError(MISSING_VLLM) from err
            logger.info(
                "Loading %s (revision %s) in vLLM %s, tp=%d, dtype %s",
                self.model,
                self.revision,
                vllm.__version__,
                self.tensor_parallel_size,
                self.dtype,
            )
            self._llm = vllm.LLM(
                model=self.model,
                revision=self.revision,
                tensor_parallel_size=self.tensor_parallel_size,
                dtype=self.dtype,
                max_model_len=self.max_model_len,
                gpu_memory_utilization=self.gpu_memory_utilization,
                enable_prefix_caching=self.enable_prefix_caching,
                **self.engine_kwargs,
            )
            self._vllm_version = vllm.__version__
        return self._llm

    def _context_window(self, llm: Any) -> int | None:
        if self.max_model_len is not None:
            return self.max_model_len
        config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
        return getattr(config, "max_model_len", None)

    def generate(
        self, requests: Sequence[GenerationRequest], decoding: DecodingConfig
    ) -> list[GenerationResult]:
        """Complete ``requests`` in one vLLM call; results in request order."""
        if not requests:
            return []
        llm = self._engine()
        import vllm

        tokenizer = llm.get_tokenizer()
        texts = render_prompts(requests, tokenizer)
        add_special = not has_chat_template(tokenizer)
        window = self._context_window(llm)
        results: dict[int, GenerationResult] = {}
        runnable: list[int] = []
        prompts: list[dict[str, list[int]]] = []
        for i, text in enumerate(texts):
            ids = tokenizer.encode(text, add_special_tokens=add_special)
            if window is not None and len(ids) >= window:
                results[i] = GenerationResult(
                    key=requests[i].key,
                    text="",
                    prompt_tokens=len(ids),
                    generated_tokens=0,
                    finish_reason="error",
                    error=f"prompt of {len(ids)} tokens does not fit max_model_len {window}",
                )
                continue
            runnable.append(i)
            prompts.append({"prompt_token_ids": ids})
        if runnable:
            params = [
                vllm.SamplingParams(**build_sampling_kwargs(decoding, requests[i].stop))
                for i in runnable
            ]
            outputs = llm.generate(prompts, params, use_tqdm=False)
            mapped = map_outputs([requests[i] for i in runnable], outputs)
            results.update(zip(runnable, mapped, strict=True))
        logger.info(
            "%s: %d requests, %d too long for the context window",
            self.name,
            len(requests),
            len(requests) - len(runnable),
        )
        return [results[i] for i in range(len(requests))]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model,
            "revision": self.revision,
            "tensor_parallel_size": self.tensor_parallel_size,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "enable_prefix_caching": self.enable_prefix_caching,
            "engine_kwargs": dict(self.engine_kwargs),
            "vllm_version": self._vllm_version,
        }

    def close(self) -> None:
        """Drop the engine so its GPU memory can be freed."""
        self._llm = None
        gc.collect()
