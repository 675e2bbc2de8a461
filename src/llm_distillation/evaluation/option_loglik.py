"""Option log-likelihood accuracy: what a student knows, whatever its free text looks like.

For every test example and every option, the student's log-likelihood of the ``predict``
target "The answer is {option}" (the target the predict view trains, with its EOS) after the
``[predict] <task>`` prompt (byte for byte the training and generation prompt); the option
with the highest **length-normalised** log-likelihood (divided by the continuation's length in
characters, lm-evaluation-harness' ``acc_norm``) is the student's answer. It never depends on
the answer format, so it scores an untrained student fairly (it cannot know "The answer is"),
and a trained one whose free text does not parse.

Each prompt is computed once and all its options are scored from it: examples (rows with the
same prompt ids) with the same number of options are batched, ``batch_size // options``
examples a batch. Decoder-only: the left-padded prompts are prefilled into a ``DynamicCache``
(position ids from the mask's cumulative sum, as generation does), whose last state scores each
option's first token; the cache is repeated once per option and the options' remaining tokens,
right-padded, run after it (attention mask: the prompt's, then the option's; positions
continuing from the prompt's length); the LM head runs only at scored positions.
Encoder-decoder: the encoder runs once per prompt and its states are repeated for the options'
decoder rows. The prompt is ~90% of a CQA row, so this is ~3x faster on CPU than scoring each
(prompt, option) row on its own (``shared_prompts=False``: one forward per ``batch_size`` rows
sorted by length, LM head only at the continuation's positions, the training loop's label-only
loss module :func:`llm_distillation.training.batches.label_loss_module`, i.e. the training loss
of that target). Both paths tokenise as training does (``training.examples.tokenize_views`` of
a ``predict`` view: prompt ids, then the target's ids with its EOS). The student is loaded as
the generation engine loads it
(:meth:`llm_distillation.generation.GenerationEngine.from_pretrained`: device, dtype, the same
weights the generated answers come from).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import polars as pl

from llm_distillation.consolidation.views import PREDICT_PREFIX
from llm_distillation.evaluation.generate import EngineSettings, open_engine
from llm_distillation.evaluation.plan import prompts_of_view
from llm_distillation.evaluation.predictions import PREDICTION_SCHEMA, CellInfo
from llm_distillation.generation.stored import StoredModel

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
    shared_prompts: bool = True,
) -> list[float]:
    """Σ log p(continuation token | prompt, earlier tokens) of each row of ``rows``
    (``prompt``, ``continuation``), in row order, no gradient.

    ``shared_prompts``: each distinct prompt runs once for all its rows (batches of
    ``batch_size // rows per prompt`` prompts); otherwise every (prompt, continuation) row runs
    on its own (batches of ``batch_size`` rows sorted by length). Both give the same scores.
    """
    import torch

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
    score = _shared_prompt_logprobs if shared_prompts else _row_logprobs
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = score(
                model, examples.examples, pad=pad, decoder_only=decoder_only, batch_size=batch_size
            )
    finally:
        model.train(was_training)
    return out.tolist()


def _row_logprobs(
    model: Any, examples: list[Any], *, pad: int, decoder_only: bool, batch_size: int
) -> np.ndarray:
    """Σ log p of each example's labels, every example a row of its own (label-only loss)."""
    from llm_distillation.training.batches import collate, label_loss_module, to_device

    module = label_loss_module(model, decoder_only, chunk=4096)
    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: examples[i].n_tokens)
    out = np.zeros(len(examples))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = collate([examples[i] for i in idx], pad_id=pad, decoder_only=decoder_only)
        rows_of_tokens = batch["token_rows"].numpy()
        losses = module(to_device(batch, device)).float().cpu().numpy()
        out[idx] = -np.bincount(rows_of_tokens, weights=losses, minlength=len(idx))
    return out


def _shared_prompt_logprobs(
    model: Any, examples: list[Any], *, pad: int, decoder_only: bool, batch_size: int
) -> np.ndarray:
    """Σ log p of each example's labels, each distinct prompt computed once for all its
    examples (see the module docstring)."""
    from llm_distillation.training.losses import IGNORE_INDEX

    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(examples):
        n_prompt = len(e.input_ids) if not decoder_only else e.labels.count(IGNORE_INDEX)
        by_prompt.setdefault(tuple(e.input_ids[:n_prompt]), []).append(i)
    by_size: dict[int, list[tuple[tuple[int, ...], list[int]]]] = {}
    for prompt, members in by_prompt.items():
        by_size.setdefault(len(members), []).append((prompt, members))
    score = _decoder_only_batch if decoder_only else _encoder_decoder_batch
    out = np.zeros(len(examples))
    for k, groups in sorted(by_size.items()):
        groups.sort(key=lambda g: len(g[0]))
        per_batch = max(1, batch_size // k)
        for start in range(0, len(groups), per_batch):
            chunk = groups[start : start + per_batch]
            idx = [i for _, members in chunk for i in members]
            out[idx] = score(model, [p for p, _ in chunk], [examples[i] for i in idx], k, pad)
    return out


def _padded(seqs: list[Any], pad: int, *, left: bool = False) -> tuple[Any, Any]:
    """``(ids, mask)`` ``(len(seqs), longest)`` long tensors of ``seqs``, padded right (or
    left) with ``pad``."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        cols = slice(width - len(s), width) if left else slice(0, len(s))
        ids[i, cols] = torch.tensor(s, dtype=torch.long)
        mask[i, cols] = 1
    return ids, mask


def _target_logprobs(logits: Any, targets: Any, mask: Any) -> Any:
    """Σ over positions of log-softmax(``logits``) at ``targets`` where ``mask``: ``(rows,)``."""
    logits = logits.float()
    picked = logits.gather(-1, targets[..., None])[..., 0] - logits.logsumexp(-1)
    return (picked * mask).sum(-1)


def _decoder_only_batch(model: Any, prompts: list[Any], examples: list[Any], k: int, pad: int):
    """Σ log p of the continuations of ``examples`` (``k`` per prompt, in prompt order): the
    left-padded prompts prefilled once, their cache repeated ``k`` times, the continuations
    (less their last token, whose successor is not scored) right-padded after it; the LM head
    only at the prompts' last and the continuations' real positions
    (:func:`llm_distillation.training.losses.token_losses`, as the row-by-row path)."""
    import torch
    from transformers import DynamicCache

    from llm_distillation.training.losses import token_losses

    device = next(model.parameters()).device
    base = getattr(model, model.base_model_prefix)
    ids, mask = _padded(prompts, pad, left=True)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, positions = (t.to(device) for t in (ids, mask, positions))
    cache = DynamicCache(config=model.config)
    last = base(
        input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True
    ).last_hidden_state[:, -1]
    conts = [e.input_ids[len(e.input_ids) - e.n_label_tokens :] for e in examples]
    hidden = [last.repeat_interleave(k, dim=0)]
    targets = [torch.tensor([c[0] for c in conts], device=device)]
    rows = [torch.arange(len(conts), device=device)]
    if max(len(c) for c in conts) > 1:
        cache.batch_repeat_interleave(k)
        cont, cmask = _padded([c[:-1] for c in conts], pad)
        nexts, _ = _padded([c[1:] for c in conts], 0)
        cont, cmask, nexts = (t.to(device) for t in (cont, cmask, nexts))
        lengths = mask.sum(-1).repeat_interleave(k)[:, None]
        states = base(
            input_ids=cont,
            attention_mask=torch.cat([mask.repeat_interleave(k, dim=0), cmask], dim=-1),
            position_ids=lengths + torch.arange(cont.shape[1], device=device),
            cache=cache,
            use_cache=True,
        ).last_hidden_state
        real = cmask.bool()
        hidden.append(states[real])
        targets.append(nexts[real])
        rows.append(real.nonzero()[:, 0])
    losses = token_losses(torch.cat(hidden), torch.cat(targets), model.get_output_embeddings())
    sums = losses.new_zeros(len(conts)).index_add(0, torch.cat(rows), losses)
    return (-sums).cpu().numpy()


def _encoder_decoder_batch(model: Any, prompts: list[Any], examples: list[Any], k: int, pad: int):
    """Σ log p of the targets of ``examples`` (``k`` per prompt, in prompt order): the encoder
    run once on the prompts, its states repeated ``k`` times for the right-padded decoder rows."""
    from transformers.modeling_outputs import BaseModelOutput

    device = next(model.parameters()).device
    ids, mask = _padded(prompts, pad)
    ids, mask = ids.to(device), mask.to(device)
    states = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    dec, dmask = _padded([e.decoder_input_ids for e in examples], pad)
    targets, _ = _padded([e.labels for e in examples], 0)
    dec, dmask, targets = dec.to(device), dmask.to(device), targets.to(device)
    logits = model(
        encoder_outputs=BaseModelOutput(last_hidden_state=states.repeat_interleave(k, dim=0)),
        attention_mask=mask.repeat_interleave(k, dim=0),
        decoder_input_ids=dec,
        decoder_attention_mask=dmask,
        use_cache=False,
    ).logits
    return _target_logprobs(logits, targets, dmask).cpu().numpy()


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
    models: Mapping[int, StoredModel],
    table: pl.DataFrame,
    info: CellInfo,
    *,
    split: str = "test",
    settings: EngineSettings | None = None,
) -> pl.DataFrame:
    """Option log-likelihood answers of every seed's student on ``table`` (one row per example)
    as ``PREDICTION_SCHEMA`` rows of view ``option_loglik`` (``raw_text``: the chosen
    continuation)."""
    settings = settings or EngineSettings()
    rows = option_rows(table)
    frames = []
    for seed in sorted(models):
        logger.info("%s seed %d: log-likelihood of %d options", info.cell, seed, rows.height)
        with open_engine(models[seed], settings) as engine:
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
