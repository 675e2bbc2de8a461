"""The one small interface every teacher backend implements: a batch of prompts in, texts and
token counts out."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to complete.

    ``messages`` is a chat (list of ``{"role", "content"}``); backends with a chat template
    render it, others concatenate the contents. ``prefix`` optionally names the part of the
    rendered prompt shared by many requests (the few-shot demos) so a backend may cache it.
    ``key`` identifies the request in results (e.g. ``"<example_id>/<task>/<option>"``).
    """

    key: str
    messages: tuple[Mapping[str, str], ...]
    prefix_messages: tuple[Mapping[str, str], ...] = ()
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationResult:
    """What a backend returned for one request."""

    key: str
    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string), "length" (max_new_tokens), "error"
    prompt_truncated: bool = False
    error: str | None = None


@dataclass(frozen=True)
class DecodingConfig:
    """Decoding settings shared by all backends (recorded in every shard manifest)."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TeacherBackend(Protocol):
    """A teacher: ``generate`` completes a batch of requests, in order."""

    name: str

    def generate(
        self, requests: Sequence[GenerationRequest], decoding: DecodingConfig
    ) -> list[GenerationResult]: ...

    def describe(self) -> dict[str, Any]:
        """Model id/revision and backend settings, for the shard manifest."""
        ...

    def close(self) -> None: ...


_IMPLEMENTATIONS: Mapping[str, str] = {
    "transformers": "llm_distillation.teacher.backends.transformers_backend:TransformersBackend",
    "vllm": "llm_distillation.teacher.backends.vllm_backend:VLLMBackend",
    "openai_compatible": "llm_distillation.teacher.backends.openai_backend:OpenAICompatibleBackend",
}
BACKEND_NAMES = tuple(_IMPLEMENTATIONS)


def check_backend_name(name: str) -> None:
    """Fail before anything is loaded when ``name`` is not a backend."""
    if name not in _IMPLEMENTATIONS:
        raise ValueError(f"unknown teacher backend {name!r}; allowed: {list(BACKEND_NAMES)}")


def create_backend(name: str, **options: Any) -> TeacherBackend:
    """Instantiate backend ``name`` with its options (imports its module only now)."""
    check_backend_name(name)
    module_name, _, cls_name = _IMPLEMENTATIONS[name].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(**options)
