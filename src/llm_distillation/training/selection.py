"""Dev evaluation during training and the choice of the weights a run keeps (``select_by``).

Every ``eval_every`` steps the loop measures, on the dev split only:

- the **teacher-forced losses**: each trained view's token mean and the condition's weighted
  loss (:func:`dev_losses`; cheap, one forward pass);
- with a ``dev_scorer`` (the pipeline passes
  :class:`llm_distillation.evaluation.dev_answers.GreedyDevAccuracy`), the **free-running
  greedy dev accuracy** of the condition's answer: the student generates, and the one answer
  parser reads the option it states - after the ``[predict]`` prompt, or, for a CF-only
  student, after the rationale *it* generates for ``[factual]``. The same measure for every
  condition, and the one the test evaluation uses. (Teacher forcing would feed a CF student the
  gold rationale, which names the gold option in most CQA rationales: that proxy saturates.)

``select_by`` (:func:`selection_key`):

==============  ==========================================================================
``dev_accuracy``  the highest greedy dev accuracy; ties go to the lower dev loss
``dev_loss``      the lowest weighted dev loss; ties go to the higher dev accuracy
``final``         the last step's weights (the study's T5 script keeps the last checkpoint)
==============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from llm_distillation.consolidation.views import VIEWS
from llm_distillation.training.batches import VIEW_INDEX, collate, to_device
from llm_distillation.training.examples import ExampleSet
from llm_distillation.training.losses import view_sums

DevScorer = Callable[[Any, Any], Mapping[str, float]]
"""``scorer(model, tokenizer)`` -> dev metrics of the model as it is now (``accuracy`` and
``unparseable`` shares); it must leave the model's train/eval mode as it found it."""
SELECT_BY: Final = ("dev_accuracy", "dev_loss", "final")


def selection_key(select_by: str, metrics: Mapping[str, float]) -> list[float] | None:
    """The value a dev evaluation is ranked by (higher is better), or None (``final``: no
    selection)."""
    loss = metrics.get("loss", float("inf"))
    accuracy = metrics.get("accuracy", 0.0)
    if select_by == "dev_accuracy":
        if "accuracy" not in metrics:
            raise ValueError("select_by dev_accuracy needs a dev scorer (greedy dev accuracy)")
        return [accuracy, -loss]
    if select_by == "dev_loss":
        return [-loss, accuracy]
    if select_by == "final":
        return None
    raise ValueError(f"training.select_by: unknown {select_by!r}; allowed: {list(SELECT_BY)}")


def dev_losses(  # noqa: PLR0917 (the pieces of one evaluation)
    accelerator: Any,
    module: Any,
    dev: ExampleSet,
    weights: Any,
    views: tuple[str, ...],
    pad_id: int,
    batch_size: int,
) -> dict[str, float]:
    """``loss_<view>`` (token mean of each trained view) and ``loss`` (the condition's
    weighted sum) on ``dev``, sharded over processes and summed."""
    import torch

    plain = accelerator.unwrap_model(module)
    device = accelerator.device
    order = sorted(range(len(dev)), key=lambda i: dev.examples[i].n_tokens)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    k = len(VIEWS)
    totals = torch.zeros(2 * k, dtype=torch.float64, device=device)
    for idx in batches[accelerator.process_index :: accelerator.num_processes]:
        batch = to_device(
            collate([dev.examples[i] for i in idx], pad_id=pad_id, decoder_only=dev.decoder_only),
            device,
        )
        with torch.no_grad(), accelerator.autocast():
            losses = plain(batch)
        tv = batch["token_views"]
        totals[:k] += view_sums(losses.double(), tv, k)
        totals[k:] += torch.bincount(tv, minlength=k).double()
    totals = accelerator.reduce(totals, reduction="sum").cpu()
    means = totals[:k] / totals[k:].clamp(min=1.0)
    metrics = {f"loss_{v}": float(means[VIEW_INDEX[v]]) for v in views}
    metrics["loss"] = float((weights.double() * means).sum())
    return metrics


__all__ = ["SELECT_BY", "DevScorer", "dev_losses", "selection_key"]
