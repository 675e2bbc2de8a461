"""Free-running greedy dev accuracy: the model selection measure of every condition.

:class:`GreedyDevAccuracy` is the ``dev_scorer`` the training loop calls at each dev
evaluation (:mod:`llm_distillation.training.selection`): the student, as it is at that step,
answers each dev example greedily through the generation engine (the one that evaluates the
test split), and the one answer parser reads the option it states:

- a student that trains ``predict`` answers the ``[predict]`` prompt;
- a CF-only student answers ``[factual]``: it writes its own rationale, and the option after
  its final "So the answer is" is its answer (as on the test split).

The prompts are the evaluation's (:mod:`llm_distillation.evaluation.plan`), byte for byte the
training inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import polars as pl

from llm_distillation.evaluation.plan import prompts_of_view
from llm_distillation.evaluation.predictions import parse_answers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GreedyDevAccuracy:
    """``scorer(model, tokenizer)`` -> ``{"accuracy", "unparseable"}`` on ``rows``."""

    rows: pl.DataFrame
    """Dev rows of the consolidated table (``example_id``, ``benchmark``, ``question``,
    ``choices``, ``answer_index``…); several teachers' rows of one example count once."""
    view: str
    """``predict`` or ``factual`` (the condition's ``accuracy_view``)."""
    max_new_tokens: int
    batch_size: int = 16
    max_context: int = 512

    def __post_init__(self) -> None:
        if self.view not in {"predict", "factual"}:
            raise ValueError(f"dev accuracy: view {self.view!r}; allowed: predict, factual")
        if self.rows.is_empty():
            raise ValueError("dev accuracy: no dev rows")

    def __call__(self, model: Any, tokenizer: Any) -> dict[str, float]:
        from llm_distillation.generation import DecodingConfig, GenerationEngine, GenerationRequest

        examples = self.rows.unique("example_id", keep="first", maintain_order=True)
        prompts = prompts_of_view(examples, self.view)
        from llm_distillation.generation.tokenize import student_prompt

        decoder_only = not getattr(model.config, "is_encoder_decoder", False)
        requests = [
            GenerationRequest.for_prompt(k, student_prompt(tokenizer, p, decoder_only=decoder_only))
            for k, p in prompts.select("key", "prompt").iter_rows()
        ]
        with GenerationEngine.from_model(
            model,
            tokenizer,
            batch_size=self.batch_size,
            prompt_overflow="keep_start",
            max_context=self.max_context,
        ) as engine:
            results = engine.generate(
                requests,
                DecodingConfig(max_new_tokens=self.max_new_tokens),
            )
        outputs = prompts.with_columns(text=pl.Series([r.text for r in results], dtype=pl.String))
        parsed = parse_answers(outputs, examples)
        n = parsed.height
        return {
            "accuracy": parsed["correct"].sum() / n,
            "unparseable": parsed["predicted_index"].null_count() / n,
        }


__all__ = ["GreedyDevAccuracy"]
