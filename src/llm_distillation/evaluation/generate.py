"""The one seam between evaluation and the generation engine.

Evaluation never decodes by itself: every student output comes from
:class:`llm_distillation.generation.GenerationEngine` (the engine the teachers use), opened on
one student folder, greedy, on student prompts (``tokenize.student_prompt``: the chat turn or
the plain text the student was trained on) whose overlong tails are cut
(``prompt_overflow="keep_start"``: the view tag at the start survives), and closed - which
frees the model - before the next student is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm_distillation.generation.stored import StoredModel

if TYPE_CHECKING:
    from llm_distillation.generation.engine import GenerationEngine

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


def open_engine(
    student: StoredModel, settings: EngineSettings | None = None, **options: Any
) -> GenerationEngine:
    """``student`` opened in the generation engine with ``settings`` (a context manager);
    ``options`` add to them (e.g. ``prompt_overflow``)."""
    settings = settings or EngineSettings()
    return student.open(
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size,
        max_context=settings.max_context,
        cpu_threads=settings.cpu_threads,
        **options,
    )


@contextlib.contextmanager
def open_student(
    student: StoredModel, settings: EngineSettings | None = None
) -> Iterator[Generate]:
    """``student`` (from ``<cell>.student_model``: causal or seq2seq) loaded into the
    generation engine for as long as the ``with`` block lasts; yields a greedy
    :data:`Generate` function."""
    from llm_distillation.generation import DecodingConfig, GenerationRequest
    from llm_distillation.generation.tokenize import student_prompt

    settings = settings or EngineSettings()
    with open_engine(
        student, settings, prompt_overflow="keep_start", progress=settings.progress
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
    student: StoredModel,
    prompts: Sequence[tuple[str, str]],
    max_new_tokens: int,
    settings: EngineSettings | None = None,
) -> list[Any]:
    """One batch of greedy completions of ``prompts`` by ``student`` (opened and released
    around the call)."""
    with open_student(student, settings) as generate:
        return generate(prompts, max_new_tokens)
