"""The one small interface every teacher backend implements: a batch of prompts in, texts and
token counts out. The request, result and decoding types are those of the generation engine
(``llm_distillation.generation.types``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from llm_distillation.generation.types import (
        DecodingConfig,
        GenerationRequest,
        GenerationResult,
    )


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
    "replay": "llm_distillation.teacher.backends.replay_backend:ReplayBackend",
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
