"""Option log-likelihood accuracy: what a student knows, whatever its free text looks like.

For every test example and every option, the student's log-likelihood of the ``predict``
target "The answer is {option}" (the target the predict view trains, with its EOS) after the
``[predict] <task>`` prompt (byte for byte the training and generation prompt); the option
with the highest **length-normalised** log-likelihood (divided by the continuation's length in
characters, lm-evaluation-harness' ``acc_norm``) is the student's answer. It never depends on
the answer format, so it scores an untrained student fairly (it cannot know "The answer is"),
and a trained one whose free text does not parse.

All options of a batch of examples are scored together: one forward pass per batch of
``batch_size`` (prompt, option) rows, sorted by length, with the LM head computed only at the
continuation's positions (the training loop's label-only loss module,
:func:`llm_distillation.training.batches.label_loss_module`: the likelihood is the training
loss of that target). The student is loaded as the generation engine loads it
(:meth:`llm_distillation.generation.GenerationEngine.from_pretrained`: device, dtype, the
same weights the generated answers come from).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import polars as pl

from llm_distillation.consolidation.views import PREDICT_PREFIX
from llm_distillation.evaluation.generate import EngineSettings
from llm_distillation.evaluation.plan import prompts_of_view
from llm_distillation.evaluation.predictions import PREDICTION_SCHEMA, CellInfo

logger = logging.getLogger(__name__)

VIEW: Final = "option_loglik"
"""The ``view`` of option log-likelihood rows in prediction and accuracy tables."""


def option_rows(table: pl.DataFrame) -> pl.DataFrame:
    """One row per (example, option): ``example_id``, ``option_index``, ``prompt`` (the
    ``[predict]`` prompt), ``continuation``; ``table`` has one row per example."""
    prompts = prompts_of_view(table, "predict").select("example_id", "prompt")
    options = (
        table.select("example_id", "choices")
        .explode("choices")
        .with_columns(option_index=pl.int_range(pl.len()).over("example_id").cast(pl.Int64))
        .select(
            "example_id",
            "option_index",
            continuation=pl.lit(PREDICT_PREFIX) + pl.col("choices"),
        )
    )
    return options.join(prompts, on="example_id", how="left", maintain_order="left")


def continuation_logprobs(
    model: Any,
    tokenizer: Any,
    rows: pl.DataFrame,
    *,
    decoder_only: bool,
    batch_size: int = 32,
    max_length: int = 512,
    decoder_start_id: int | None = None,
) -> list[float]:
    """Σ log p(continuation token | prompt, earlier tokens) of each row of ``rows``
    (``prompt``, ``continuation``), in row order; batches of ``batch_size`` rows sorted by
    length, no gradient."""
    import torch

    from llm_distillation.training.batches import collate, label_loss_module, to_device
    from llm_distillation.training.examples import tokenize_views

    views = rows.select(
        example_id=pl.int_range(pl.len()).cast(pl.String),
        benchmark=pl.lit(""),
        split=pl.lit(""),
        teacher=pl.lit(None, pl.String),
        view=pl.lit("predict"),
        option_index=pl.lit(None, pl.Int64),
        input="prompt",
        target="continuation",
        answer_only_loss=pl.lit(False),
    )
    examples = tokenize_views(
        views,
        tokenizer,
        decoder_only=decoder_only,
        max_length=max_length,
        decoder_start_id=decoder_start_id,
    )
    if len(examples) != rows.height:
        raise ValueError(
            f"option log-likelihood: {rows.height - len(examples)} (prompt, option) rows do not "
            f"fit max_length {max_length}"
        )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    module = label_loss_module(model, decoder_only, chunk=4096)
    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: examples.examples[i].n_tokens)
    out = np.zeros(len(examples))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = collate(
                    [examples.examples[i] for i in idx], pad_id=pad, decoder_only=decoder_only
                )
                rows_of_tokens = batch["token_rows"].numpy()
                losses = module(to_device(batch, device)).float().cpu().numpy()
                sums = np.bincount(rows_of_tokens, weights=losses, minlength=len(idx))
                out[idx] = -sums
    finally:
        model.train(was_training)
    return out.tolist()


def option_predictions(
    table: pl.DataFrame, rows: pl.DataFrame, logprobs: list[float]
) -> pl.DataFrame:
    """Each example's answer by normalised option log-likelihood: ``example_id``,
    ``predicted_index``, ``prediction``, ``gold``, ``gold_index``, ``correct``,
    ``logprob`` (of the chosen option), ``margin`` (its normalised score minus the runner-up's)."""
    scored = rows.with_columns(
        logprob=pl.Series(logprobs, dtype=pl.Float64),
        score=pl.Series(logprobs, dtype=pl.Float64) / pl.col("continuation").str.len_chars(),
    ).sort(["example_id", "score", "option_index"], descending=[False, True, False])
    best = scored.group_by("example_id", maintain_order=True).agg(
        predicted_index=pl.col("option_index").first(),
        logprob=pl.col("logprob").first(),
        margin=pl.col("score").first() - pl.col("score").slice(1, 1).first(),
    )
    gold = table.select(
        "example_id",
        "choices",
        gold_index="answer_index",
        gold=pl.col("choices").list.get(pl.col("answer_index")),
    )
    return best.join(gold, on="example_id", how="left").with_columns(
        prediction=pl.col("choices").list.get(pl.col("predicted_index")),
        correct=pl.col("predicted_index") == pl.col("gold_index"),
    )


def score_options_cell(
    models: Mapping[int, str],
    table: pl.DataFrame,
    info: CellInfo,
    *,
    split: str = "test",
    settings: EngineSettings | None = None,
) -> pl.DataFrame:
    """Option log-likelihood answers of every seed's student on ``table`` (one row per example)
    as ``PREDICTION_SCHEMA`` rows of view ``option_loglik`` (``raw_text``: the chosen
    continuation)."""
    from llm_distillation.generation import GenerationEngine

    settings = settings or EngineSettings()
    rows = option_rows(table)
    frames = []
    for seed in sorted(models):
        logger.info(
            "%s seed %d: option log-likelihood of %d (example, option) rows",
            info.cell,
            seed,
            rows.height,
        )
        with GenerationEngine.from_pretrained(
            models[seed],
            device=settings.device,
            dtype=settings.dtype,
            batch_size=settings.batch_size,
            max_context=settings.max_context,
            cpu_threads=settings.cpu_threads,
        ) as engine:
            start = getattr(engine.model.config, "decoder_start_token_id", None)
            logprobs = continuation_logprobs(
                engine.model,
                engine.tokenizer,
                rows,
                decoder_only=not engine.is_encoder_decoder,
                batch_size=settings.batch_size,
                max_length=settings.max_context,
                decoder_start_id=start,
            )
        answers = option_predictions(table, rows, logprobs)
        frames.append(
            answers.with_columns(
                **info.columns(),
                seed=pl.lit(seed, pl.Int64),
                split=pl.lit(split),
                view=pl.lit(VIEW),
                primary=pl.lit(False),
                rationale_option=pl.lit(None, pl.Int64),
                raw_text=pl.lit(PREDICT_PREFIX) + pl.col("prediction"),
                prompt_tokens=pl.lit(None, pl.Int64),
                generated_tokens=pl.lit(0, pl.Int64),
                finish_reason=pl.lit(None, pl.String),
            )
            .select(PREDICTION_SCHEMA.names())
            .cast(dict(PREDICTION_SCHEMA))
        )
    if not frames:
        return pl.DataFrame(schema=PREDICTION_SCHEMA)
    return pl.concat(frames)


__all__ = [
    "VIEW",
    "continuation_logprobs",
    "option_predictions",
    "option_rows",
    "score_options_cell",
]
