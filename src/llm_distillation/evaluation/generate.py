"""The one seam between evaluation and the generation engine.

Evaluation never decodes by itself: every student output comes from
:class:`llm_distillation.generation.GenerationEngine` (the engine the teachers use), opened on
one student folder, greedy, plain-text prompts whose overlong tails are cut
(``prompt_overflow="keep_start"``: the view tag at the start survives), and closed - which
frees the model - before the next student is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Generate = Callable[[Sequence[tuple[str, str]], int], list[Any]]
"""``generate([(key, prompt), …], max_new_tokens)`` -> the engine's ``GenerationResult`` s
(``key``, ``text``, ``prompt_tokens``, ``generated_tokens``, ``finish_reason``), in order."""


@dataclass(frozen=True)
class EngineSettings:
    """How a student folder is opened (``evaluation.engine`` in the parameters)."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 16
    max_context: int = 512
    cpu_threads: int | None = None
    progress: bool = False


@contextlib.contextmanager
def open_student(model_dir: str, settings: EngineSettings | None = None) -> Iterator[Generate]:
    """The student in ``model_dir`` (a ``save_pretrained`` folder, causal or seq2seq) loaded
    into the generation engine for as long as the ``with`` block lasts; yields a greedy
    :data:`Generate` function."""
    from llm_distillation.generation import DecodingConfig, GenerationEngine, GenerationRequest
    from llm_distillation.generation.tokenize import student_prompt

    settings = settings or EngineSettings()
    with GenerationEngine.from_pretrained(
        model_dir,
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size,
        prompt_overflow="keep_start",
        max_context=settings.max_context,
        cpu_threads=settings.cpu_threads,
        progress=settings.progress,
    ) as engine:
        decoder_only = not engine.is_encoder_decoder

        def generate(prompts: Sequence[tuple[str, str]], max_new_tokens: int) -> list[Any]:
            requests = [
                GenerationRequest.for_prompt(
                    key, student_prompt(engine.tokenizer, text, decoder_only=decoder_only)
                )
                for key, text in prompts
            ]
            return engine.generate(requests, DecodingConfig(max_new_tokens=max_new_tokens))

        yield generate


def generate_texts(
    model_dir: str,
    prompts: Sequence[tuple[str, str]],
    max_new_tokens: int,
    settings: EngineSettings | None = None,
) -> list[Any]:
    """One batch of greedy completions of ``prompts`` by the student in ``model_dir`` (opened
    and released around the call)."""
    with open_student(model_dir, settings) as generate:
        return generate(prompts, max_new_tokens)
