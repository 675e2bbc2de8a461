"""A teacher run in-process with Hugging Face ``transformers``: the chat requests of teacher
generation handed to the shared :class:`~llm_distillation.generation.GenerationEngine`
(batching, the shared few-shot prefix prefilled once, stop strings, seeded sampling; see
``docs/generation.md``). The model is loaded on the first ``generate`` and freed by ``close``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_distillation.generation.engine import check_settings, resolve_device, resolve_dtype
from llm_distillation.generation.types import (
    DecodingConfig,
    GenerationRequest,
    GenerationResult,
    PromptOverflow,
)
from llm_distillation.teacher.model_artifacts import read_conversion_marker

if TYPE_CHECKING:
    from llm_distillation.generation.engine import GenerationEngine


class TransformersBackend:
    """Teacher backend over the generation engine (see the module docstring).

    Args:
        model: Hub id or local folder of the model (e.g. the converted default teacher folder).
        gguf_file: GGUF file name inside ``model`` to load (dequantised) instead of safetensors.
        revision: Hub revision (branch, tag or commit) when ``model`` is a Hub id.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
        dtype: ``"auto"`` (float32 on CPU, bfloat16 on CUDA), ``"float32"``, ``"bfloat16"``…
        batch_size: rows decoded together.
        max_context: context window in tokens (default: the config's ``max_position_embeddings``).
        prompt_overflow: ``"truncate_demos"``, ``"keep_start"`` or ``"reject"`` for prompts over
            ``max_context - max_new_tokens``.
        prefix_cache: reuse the keys/values of each shared few-shot prefix.
        compile: ``torch.compile`` the model's forward for the one-token decode steps.
        name: backend name recorded in manifests.
    """

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        max_context: int | None = None,
        prompt_overflow: PromptOverflow = "truncate_demos",
        prefix_cache: bool = True,
        compile: bool = False,
        name: str = "transformers",
    ) -> None:
        check_settings(batch_size, prompt_overflow, max_context)
        self.name = name
        self.model_id = str(model)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self._options: dict[str, Any] = {
            "gguf_file": gguf_file,
            "revision": revision,
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": batch_size,
            "max_context": max_context,
            "prompt_overflow": prompt_overflow,
            "prefix_cache": prefix_cache,
            "compile": compile,
        }
        self._engine: GenerationEngine | None = None

    @property
    def engine(self) -> GenerationEngine:
        """The engine, loading the model on first use (``create_backend`` stays cheap)."""
        if self._engine is None:
            from llm_distillation.generation.engine import GenerationEngine

            self._engine = GenerationEngine.from_pretrained(self.model_id, **self._options)
        return self._engine

    def generate(
        self, requests: Sequence[GenerationRequest], decoding: DecodingConfig
    ) -> list[GenerationResult]:
        """Complete ``requests`` (chats); results come back in the order of ``requests``."""
        if not requests:
            return []
        return self.engine.generate(requests, decoding)

    def describe(self) -> dict[str, Any]:
        """Model id, revision or GGUF file, conversion source, settings and library versions."""
        import torch
        import transformers

        description: dict[str, Any] = {
            "backend": "transformers",
            "name": self.name,
            "model": self.model_id,
            **self._options,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
        }
        if self._engine is not None and not self._engine.closed:
            description.update(self._engine.describe())
        marker = read_conversion_marker(Path(self.model_id))
        if marker is not None:
            description["converted_from"] = marker.get("source")
        return description

    def close(self) -> None:
        """Free the model (and the GPU memory it held); a later ``generate`` loads it again."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
