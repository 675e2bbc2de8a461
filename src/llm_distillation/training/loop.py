"""The one student-training loop (accelerate): correct, resumable, data-parallel, fast.

:func:`train_student` trains a :class:`~llm_distillation.training.students.Student` on an
:class:`~llm_distillation.training.examples.ExampleSet` under a condition's view weights. The
pieces live beside it:

- :mod:`~llm_distillation.training.data_plan`: which **source examples** (all their views of
  the condition) each optimizer step trains, a pure function of (seed, epoch);
- :mod:`~llm_distillation.training.batches`: padding, and the loss only at label positions;
- :mod:`~llm_distillation.training.losses`: the condition's loss, ``Σ_v w_v · L_v``, each
  ``L_v`` the token mean of view ``v`` over the *whole optimizer step* (all micro-batches, all
  processes: the counts are known on the host from the data plan, no communication), so the
  accumulated gradient equals the full batch's;
- :mod:`~llm_distillation.training.selection`: dev evaluation and ``select_by``;
- :mod:`~llm_distillation.training.checkpoints`: :class:`TrainState`, checkpoints, exact resume;
- :mod:`~llm_distillation.training.optim`: AdamW, the schedule, the accelerate state.

accelerate places the model, runs bf16 autocast on GPU (fp32 on CPU: bf16 matmuls are ~100x
slower there), and wraps the loss module for data parallelism (DDP; FSDP/DeepSpeed through an
accelerate config). Losses are summed on the device and read (``.item()``) at log steps only.
Seeds: ``accelerate.utils.set_seed(seed)`` fixes dropout; the data plan derives from the seed;
initialisation from ``build_student(seed=…)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from llm_distillation.consolidation.views import VIEWS
from llm_distillation.training import checkpoints as ckpt
from llm_distillation.training.batches import VIEW_INDEX, collate, label_loss_module, to_device
from llm_distillation.training.conditions import condition_views, view_weights
from llm_distillation.training.config import ConditionSpec, TrainingConfig
from llm_distillation.training.data_plan import DataPlan, example_groups
from llm_distillation.training.examples import Example, ExampleSet
from llm_distillation.training.losses import view_sums, weighted_loss
from llm_distillation.training.optim import adamw, fresh_accelerator_state, lr_lambda
from llm_distillation.training.selection import DevScorer, dev_losses, selection_key

logger = logging.getLogger(__name__)

CURVES_SCHEMA: Final = pl.Schema(
    {"step": pl.Int64, "split": pl.String, "metric": pl.String, "value": pl.Float64}
)
"""Training curves: ``split`` train|dev; metrics ``loss``, ``loss_<view>``, ``lr``,
``tokens_per_s`` (train), ``loss``, ``loss_<view>`` and, with a dev scorer, ``accuracy`` and
``unparseable`` (dev)."""


@dataclass
class TrainingResult:
    """What a training run gives back."""

    model: Any
    """The student with the selected weights (``select_by``)."""
    tokenizer: Any
    curves: pl.DataFrame
    """``CURVES_SCHEMA``."""
    best: dict[str, float]
    """The dev metrics of the selected step (empty without dev evaluation)."""
    best_step: int | None
    steps: int
    resumed_from: int | None = None
    train_tokens: int = 0
    """Non-pad tokens trained on (all processes) in this run (not counting resumed steps)."""
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    """The objects of one run that the step, evaluation and checkpoint functions share."""

    accelerator: Any
    module: Any
    optimizer: Any
    scheduler: Any
    state: ckpt.TrainState
    config: TrainingConfig
    root: Path | None
    best_memory: dict[str, Any] | None = None

    @property
    def model(self) -> Any:
        return self.accelerator.unwrap_model(self.module).model


def train_student(
    student: Any,
    train: ExampleSet,
    dev: ExampleSet | None,
    condition: ConditionSpec,
    config: TrainingConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    run_name: str | None = None,
    dev_scorer: DevScorer | None = None,
    observer: Callable[[int, list[int]], None] | None = None,
    trackers: Sequence[Any] = (),
) -> TrainingResult:
    """Train ``student`` (``students.Student``) on ``train`` under ``condition``; evaluate on
    ``dev`` (never the test split) every ``config.eval_every`` steps and keep the weights
    ``config.select_by`` chooses.

    ``checkpoint_dir``: where checkpoints go; a run resumes from the latest one there.
    ``dev_scorer(model, tokenizer)``: the greedy dev accuracy (``selection``), needed by
    ``select_by: dev_accuracy``. ``observer(step, row_indices)`` is called for every
    micro-batch this process trains (tests and debugging). ``trackers``: extra
    ``accelerate.tracking.GeneralTracker`` instances beside ``config.tracking`` (names of
    accelerate's built-in trackers; the run group is ``config.group_name``, the run name
    ``run_name``). Launch several processes with ``accelerate launch`` for data parallelism;
    every process calls this function with the same arguments.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    views_trained = condition_views(condition)
    _check_inputs(student, train, dev, config, dev_scorer)
    groups = example_groups(train.examples, views_trained)
    if groups.incomplete:
        logger.warning(
            "%d of %d source examples lack a view of %s (truncation or empty teacher text): "
            "left out, so that every step trains every view",
            groups.incomplete,
            groups.incomplete + len(groups),
            list(views_trained),
        )
    torch.set_flush_denormal(True)
    mixed = config.mixed_precision
    if mixed == "auto":
        mixed = "bf16" if torch.cuda.is_available() else "no"
    root = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fresh_accelerator_state(mixed)
    accelerator = Accelerator(
        mixed_precision=mixed,
        cpu=not torch.cuda.is_available(),
        log_with=[*config.tracking, *trackers] or None,
        project_dir=str(root) if root is not None else None,
    )
    set_seed(config.seed)
    weights = torch.zeros(len(VIEWS))
    for v, w in view_weights(condition).items():
        weights[VIEW_INDEX[v]] = w
    pad_id = student.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = student.tokenizer.eos_token_id

    model = student.model
    model.train()
    module = label_loss_module(model, student.decoder_only, config.head_chunk_tokens)
    optimizer = adamw(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    module, optimizer = accelerator.prepare(module, optimizer)
    world, rank = accelerator.num_processes, accelerator.process_index
    plan = DataPlan(groups, config, world)
    run = _Run(accelerator, module, optimizer, scheduler, ckpt.TrainState(len(VIEWS)), config, root)
    resumed_from = None
    if root is not None and (last := ckpt.latest_checkpoint(root)) is not None:
        run.state = ckpt.resume(last, run.model, optimizer, scheduler, accelerator, len(VIEWS))
        resumed_from = run.state.step
        ckpt.prune_best(root, run.state.best_step, accelerator)  # bests newer than the checkpoint
        logger.info("resumed from %s (step %d)", last, resumed_from)
    state = run.state

    tracking = bool(config.tracking or trackers)
    if tracking:
        accelerator.init_trackers(
            config.project_name,
            config={**config.model_dump(mode="json"), **condition.model_dump(mode="json")},
            init_kwargs={
                "wandb": {"group": config.group_name, "name": run_name},
                "mlflow": {"run_name": run_name, "tags": {"group": config.group_name}},
            },
        )

    def evaluate(step: int, dev: ExampleSet) -> None:
        model.eval()
        metrics = dev_losses(
            accelerator, module, dev, weights, views_trained, pad_id, config.eval_batch_size
        )
        if dev_scorer is not None:
            metrics.update(dev_scorer(run.model, student.tokenizer))
        model.train()
        state.curves.extend((step, "dev", name, value) for name, value in metrics.items())
        if tracking:
            accelerator.log({f"dev/{k}": v for k, v in metrics.items()}, step=step)
        logger.info("step %d dev %s", step, {k: round(v, 4) for k, v in metrics.items()})
        key = selection_key(config.select_by, metrics)
        if key is not None and (state.best_value is None or key > state.best_value):
            state.best_value, state.best_step, state.best_metrics = key, step, metrics
            if root is not None:
                ckpt.save_best(root, step, run.model, accelerator)
            else:
                run.best_memory = {
                    k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()
                }
        elif key is None:  # select_by final: the last evaluation describes the kept weights
            state.best_step, state.best_metrics = step, metrics

    device = accelerator.device
    wdev = weights.to(device)
    label_views = np.array([VIEW_INDEX[e.view] for e in train.examples])
    label_counts = np.array([e.n_label_tokens for e in train.examples])
    n_tokens = np.array([e.n_tokens for e in train.examples])
    log_sums = torch.tensor(state.log_sums, dtype=torch.float32, device=device)
    log_counts = torch.tensor(state.log_counts, dtype=torch.long)
    run_tokens = 0
    t_start = t_log = time.perf_counter()
    bar = tqdm(
        total=config.max_steps,
        initial=state.step,
        desc=run_name or "train",
        disable=not (config.progress and accelerator.is_local_main_process),
        dynamic_ncols=True,
    )
    for step in range(state.step, config.max_steps):
        flat = [i for micro in plan.step(step) for i in micro]
        counts = np.bincount(label_views[flat], weights=label_counts[flat], minlength=len(VIEWS))
        counts_t = torch.tensor(counts, dtype=torch.float32)
        local = plan.local(step, rank)
        if observer is not None:
            for idx in local:
                observer(step, list(idx))
        log_sums += backward_step(
            accelerator,
            module,
            [[train.examples[i] for i in idx] for idx in local],
            counts_t,
            wdev,
            pad_id=pad_id,
            decoder_only=student.decoder_only,
        )
        if config.max_grad_norm is not None:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        log_counts += counts_t.long()
        step_tokens = int(n_tokens[flat].sum())
        state.log_tokens += step_tokens
        run_tokens += step_tokens
        state.step = done = step + 1
        bar.update(1)
        if done % config.log_every == 0 or done == config.max_steps:
            total = accelerator.reduce(log_sums.clone(), reduction="sum").cpu()
            now = time.perf_counter()
            per_view = total / log_counts.clamp(min=1).float()
            row = {f"loss_{v}": float(per_view[VIEW_INDEX[v]]) for v in views_trained}
            row["loss"] = float((weights * per_view).sum())
            row["lr"] = float(scheduler.get_last_lr()[0])
            row["tokens_per_s"] = state.log_tokens / max(now - t_log, 1e-9)
            state.curves.extend((done, "train", name, value) for name, value in row.items())
            if tracking:
                accelerator.log({f"train/{k}": v for k, v in row.items()}, step=done)
            bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}")
            log_sums.zero_()
            log_counts.zero_()
            state.log_tokens, t_log = 0, now
        if dev is not None and len(dev) and _at(done, config.eval_every, config):
            evaluate(done, dev)
        if root is not None and _at(done, config.checkpoint_every, config):
            state.log_sums = log_sums.tolist()  # the one host sync of a checkpoint
            state.log_counts = log_counts.tolist()
            epoch, index = plan.position(done)
            ckpt.save_checkpoint(
                root,
                state,
                run.model,
                optimizer,
                scheduler,
                accelerator,
                keep=max(1, config.keep_checkpoints),
                epoch=epoch,
                step_in_epoch=index,
                processes=world,
            )
    bar.close()
    seconds = time.perf_counter() - t_start
    _restore_selected(run)
    unwrapped = run.model
    unwrapped.eval()
    if tracking:
        accelerator.end_training()
    accelerator.free_memory()  # drop accelerate's references (optimizer state) between runs
    summary = {
        "steps": state.step,
        "best_step": state.best_step,
        "best": state.best_metrics,
        "select_by": config.select_by,
        "processes": world,
        "mixed_precision": mixed,
        "train_examples": len(train),
        "train_source_examples": len(groups),
        "incomplete_source_examples": groups.incomplete,
        "train_views": train.view_counts(),
        "truncation": train.truncation.as_dict(),
        "dev_truncation": dev.truncation.as_dict() if dev is not None else None,
        "resumed_from": resumed_from,
        "seconds": seconds,
        "tokens_per_s": run_tokens / max(seconds, 1e-9),
    }
    return TrainingResult(
        model=unwrapped,
        tokenizer=student.tokenizer,
        curves=pl.DataFrame(state.curves, schema=CURVES_SCHEMA, orient="row"),
        best=dict(state.best_metrics),
        best_step=state.best_step,
        steps=state.step,
        resumed_from=resumed_from,
        train_tokens=run_tokens,
        seconds=seconds,
        summary=summary,
    )


def backward_step(
    accelerator: Any,
    module: Any,
    micro_batches: Sequence[Sequence[Example]],
    counts: Any,
    weights: Any,
    *,
    pad_id: int,
    decoder_only: bool,
) -> Any:
    """Forward and backward of one optimizer step's micro-batches on this process: the
    gradients of ``Σ_v w_v · (sum of view v's token losses) / counts_v``, where ``counts``
    ``[K]`` are the label tokens of each view in the *whole* step (all micro-batches, all
    processes), so the accumulated gradient is that of the condition's loss over the step's
    examples. Returns the per-view loss sums ``[K]`` (device, detached)."""
    import torch

    device = accelerator.device
    world = accelerator.num_processes
    counts_dev = counts.to(device, non_blocking=True)
    sums_total = torch.zeros(len(VIEWS), device=device)
    for k, examples in enumerate(micro_batches):
        batch = to_device(collate(examples, pad_id=pad_id, decoder_only=decoder_only), device)
        last = k == len(micro_batches) - 1
        with accelerator.no_sync(module) if not last and world > 1 else nullcontext():
            sums = view_sums(module(batch), batch["token_views"], len(VIEWS))
            # × world: DDP averages the processes' gradients, the step needs their sum
            accelerator.backward(weighted_loss(sums, counts_dev, weights) * world)
        sums_total += sums.detach()
    return sums_total


def _check_inputs(
    student: Any,
    train: ExampleSet,
    dev: ExampleSet | None,
    config: TrainingConfig,
    dev_scorer: DevScorer | None,
) -> None:
    if len(train) == 0:
        raise ValueError("training set: no examples (after truncation)")
    if train.decoder_only != student.decoder_only:
        raise ValueError(
            f"training set tokenised for decoder_only={train.decoder_only}, student is "
            f"decoder_only={student.decoder_only}"
        )
    evaluates = dev is not None and len(dev) > 0 and config.eval_every > 0
    if evaluates and config.select_by == "dev_accuracy" and dev_scorer is None:
        raise ValueError(
            "training.select_by: dev_accuracy needs the greedy dev scorer "
            "(train_student(dev_scorer=…)); use dev_loss or final without one"
        )


def _restore_selected(run: _Run) -> None:
    """Load the selected (best dev) weights into the model; ``final`` keeps the last ones."""
    state, root = run.state, run.root
    if run.config.select_by == "final" or state.best_value is None:
        return
    if root is not None:
        ckpt.prune_best(root, state.best_step, run.accelerator)
        ckpt.load_weights(run.model, ckpt.best_dir(root, state.best_step) / "model.safetensors")  # type: ignore[arg-type]
    elif run.best_memory is not None:
        run.model.load_state_dict(run.best_memory)


def _at(step: int, every: int, config: TrainingConfig) -> bool:
    return every > 0 and (step % every == 0 or step == config.max_steps)


__all__ = ["CURVES_SCHEMA", "TrainingResult", "backward_step", "train_student"]
