"""The one generation engine shared by teachers (chat prompts) and students (plain-text
prompts): tokenisation, batch planning, KV caches and decoding for decoder-only and
encoder-decoder models (see ``docs/generation.md``).

Importing this package imports neither torch nor transformers: :class:`GenerationEngine` is
imported on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_distillation.generation.stored import StoredModel
from llm_distillation.generation.types import (
    PROMPT_OVERFLOW_MODES,
    DecodingConfig,
    GenerationRequest,
    GenerationResult,
    PromptOverflow,
)

if TYPE_CHECKING:
    from llm_distillation.generation.engine import GenerationEngine

__all__ = [
    "PROMPT_OVERFLOW_MODES",
    "DecodingConfig",
    "GenerationEngine",
    "GenerationRequest",
    "GenerationResult",
    "PromptOverflow",
    "StoredModel",
]


def __getattr__(name: str) -> Any:
    if name == "GenerationEngine":
        from llm_distillation.generation.engine import GenerationEngine

        return GenerationEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
