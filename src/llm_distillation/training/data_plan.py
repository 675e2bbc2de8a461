"""Which examples each optimizer step trains: whole source examples, a pure function of the seed.

The unit of sampling is a **source example**: one (teacher, ``example_id``) of the
consolidated table with *all* the views its condition trains (predict, explain, factual and
each counterfactual), as the study batches them. So every step holds every view of the
condition, and each view's token mean (``losses.weighted_loss``) is taken over the same
examples: the α/β/γ weights hold in every step, not only on average.

- :func:`example_groups` groups the view rows of an :class:`~.examples.ExampleSet` by source
  example and drops the examples that lack a view the condition trains (truncation dropped it,
  or the teacher text was empty), counting them.
- :func:`epoch_steps`: a seeded permutation of the groups, cut into megabatches of
  ``megabatch_factor`` micro-batches sorted by the groups' total length (``length_grouping``:
  whole examples of similar length, little padding), grouped into optimizer steps of
  ``grad_accumulation × processes`` micro-batches of ``batch_size`` groups each (the order of
  steps shuffled again). ``batch_size`` counts source examples, not view rows.
- :class:`DataPlan` maps an optimizer step to its micro-batches of view-row indices; process
  ``r`` trains micro-batches ``k·P + r`` of every step: the processes see disjoint examples.
  Resuming needs only the step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llm_distillation.training.config import TrainingConfig
    from llm_distillation.training.examples import Example


@dataclass(frozen=True)
class Groups:
    """The source examples of a training set: ``members[g]`` are the view-row indices of
    group ``g``; ``lengths[g]`` its non-pad tokens (all its rows)."""

    members: list[list[int]]
    lengths: list[int]
    incomplete: int = 0
    """Source examples left out because a view of the condition was missing."""

    def __len__(self) -> int:
        return len(self.members)


def example_groups(examples: Sequence[Example], views: Sequence[str]) -> Groups:
    """Group view rows by (teacher, ``example_id``), in order of first appearance; keep the
    groups that have every view of ``views``."""
    by_key: dict[tuple[str | None, str], list[int]] = {}
    for i, e in enumerate(examples):
        by_key.setdefault((e.teacher, e.example_id), []).append(i)
    needed = set(views)
    members = [idx for idx in by_key.values() if needed <= {examples[i].view for i in idx}]
    lengths = [sum(examples[i].n_tokens for i in idx) for idx in members]
    return Groups(members, lengths, incomplete=len(by_key) - len(members))


def epoch_steps(
    lengths: Sequence[int],
    *,
    seed: int,
    epoch: int,
    batch_size: int,
    micro_per_step: int,
    length_grouping: bool = True,
    megabatch_factor: int = 32,
) -> list[list[list[int]]]:
    """The optimizer steps of one epoch: ``steps[s][m]`` = the group indices of micro-batch
    ``m`` (``micro_per_step = grad_accumulation × processes`` of them, ``batch_size`` groups
    each). ``lengths`` are the groups' lengths. A pure function of its arguments; the last
    incomplete step of an epoch is dropped."""
    n = len(lengths)
    per_step = batch_size * micro_per_step
    if n < per_step:
        raise ValueError(
            f"training.batch_size × grad_accumulation × processes = {per_step} source examples "
            f"per step, but the training set has only {n}"
        )
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    if length_grouping:
        mega = batch_size * megabatch_factor
        lens = np.asarray(lengths)
        order = np.concatenate(
            [
                chunk[np.argsort(-lens[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, math.ceil(n / mega)))
            ]
        )
    n_steps = n // per_step
    steps = [
        [
            order[
                (s * micro_per_step + m) * batch_size : (s * micro_per_step + m + 1) * batch_size
            ].tolist()
            for m in range(micro_per_step)
        ]
        for s in range(n_steps)
    ]
    if length_grouping:
        steps = [steps[i] for i in rng.permutation(n_steps)]
    return steps


class DataPlan:
    """Optimizer step ``s`` (0-based) -> its micro-batches of view-row indices, epoch after
    epoch (cached per epoch)."""

    def __init__(self, groups: Groups, config: TrainingConfig, processes: int) -> None:
        self.groups = groups
        self.config = config
        self.processes = processes
        self.micro_per_step = config.grad_accumulation * processes
        self.steps_per_epoch = len(groups) // (config.batch_size * self.micro_per_step)
        self._epoch: int | None = None
        self._steps: list[list[list[int]]] = []

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, step within the epoch) of optimizer step ``step``."""
        return divmod(step, max(1, self.steps_per_epoch))

    def step_groups(self, step: int) -> list[list[int]]:
        """The group indices of each micro-batch of ``step``."""
        epoch, index = self.position(step)
        if epoch != self._epoch:
            self._steps = epoch_steps(
                self.groups.lengths,
                seed=self.config.seed,
                epoch=epoch,
                batch_size=self.config.batch_size,
                micro_per_step=self.micro_per_step,
                length_grouping=self.config.length_grouping,
                megabatch_factor=self.config.megabatch_factor,
            )
            self._epoch = epoch
        return self._steps[index]

    def step(self, step: int) -> list[list[int]]:
        """The view-row indices of each micro-batch of ``step`` (all processes)."""
        members = self.groups.members
        return [[i for g in micro for i in members[g]] for micro in self.step_groups(step)]

    def local(self, step: int, rank: int) -> list[list[int]]:
        """The micro-batches process ``rank`` trains at ``step`` (disjoint across ranks)."""
        micro = self.step(step)
        return [micro[k * self.processes + rank] for k in range(self.config.grad_accumulation)]


__all__ = ["DataPlan", "Groups", "epoch_steps", "example_groups"]
