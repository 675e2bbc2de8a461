"""Leakage-adjusted simulatability (LAS; Hase, Zhang, Xie and Bansal, EMNLP Findings 2020).

How much an explanation helps an observer predict the student's answer, beyond what the input
alone gives, controlled for explanations that simply *leak* the answer. Hase et al. train a
T5 simulator; here the simulator is small and trained in the pipeline, per run, on the run's
explained examples:

- every (example, option) pair gets features: input-only ``x`` (the option's position, the
  cosine similarity of question and option) and explanation ``e`` (cosine similarity of
  explanation and option; the explanation names the option; the explanation states the
  option as its answer);
- three simulators, binary logistic regressions (scikit-learn, L2, C=1) over option rows
  with label "this option is the student's answer", predict the option with the highest
  score: ``S_x`` (x features), ``S_xe`` (x and e), ``S_e`` (e only);
- every prediction is out-of-fold (k-fold over example ids, seeded:
  :func:`fold_assignment`), so no simulator scores an example it was fitted on, even when an
  example has several rows;
- an example *leaks* when ``S_e`` (the explanation alone) predicts the student's answer;
- LAS = the mean over the two groups (leaking, non-leaking) of the group's accuracy gain
  ``acc(S_xe) - acc(S_x)``; a group without examples is left out of the mean.

LAS lies in [-1, 1]: 0 = the explanations do not help simulate the student; positive = they
help beyond leaking the label. Only examples whose student answer is an option count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_EXAMPLES = 6
"""Fewer distinct explained examples (with a parseable answer) than this give no LAS."""


@dataclass(frozen=True)
class SimulationResult:
    """Per example (in input order): the three simulators' hits, and the aggregate."""

    sim_x: list[bool]
    sim_xe: list[bool]
    leaking: list[bool]
    las: float | None
    accuracy_x: float | None
    accuracy_xe: float | None


def _fit_predict(
    features: list[Any], targets: list[int], train: Any, test: Any, seed: int
) -> list[int]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([features[i] for i in train])
    y = np.concatenate([np.arange(len(features[i])) == targets[i] for i in train]).astype(int)
    if y.min() == y.max():
        return [0 for _ in test]
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)
    return [int(np.argmax(model.decision_function(features[i]))) for i in test]


def fold_assignment(groups: Sequence[str], folds: int, seed: int) -> list[int]:
    """The cross-fitting fold of every row: the distinct ``groups`` (example ids) in a seeded
    random order, dealt to folds ``0 … folds-1`` in turn, so all rows of an example share one
    fold and no example is on both the fitting and the scoring side."""
    import numpy as np

    distinct = list(dict.fromkeys(groups))
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold = {distinct[int(j)]: k % folds for k, j in enumerate(order)}
    return [fold[g] for g in groups]


def _out_of_fold(
    features: list[Any], targets: list[int], fold_of: list[int], folds: int, seed: int
) -> list[int]:
    import numpy as np

    index = np.arange(len(features))
    assigned = np.asarray(fold_of)
    predicted = [0] * len(features)
    for k in range(folds):
        test, train = index[assigned == k], index[assigned != k]
        for i, p in zip(test, _fit_predict(features, targets, train, test, seed), strict=True):
            predicted[int(i)] = p
    return predicted


def leakage_adjusted_simulatability(
    x_features: list[Any],
    e_features: list[Any],
    targets: list[int],
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> SimulationResult:
    """LAS of one run (see the module docstring).

    ``x_features[i]`` / ``e_features[i]``: arrays (options of row i, k_x / k_e) of input and
    explanation features; ``targets[i]``: the option the student answered; ``groups[i]``: the
    row's example id (the folds split by it; default: every row its own example).
    """
    import numpy as np

    n = len(targets)
    groups = [str(i) for i in range(n)] if groups is None else list(groups)
    if len(groups) != n:
        raise ValueError(f"groups: {len(groups)} ids for {n} rows")
    distinct = len(set(groups))
    if distinct < MIN_EXAMPLES:
        return SimulationResult([], [], [], None, None, None)
    folds = max(2, min(folds, distinct))
    fold_of = fold_assignment(groups, folds, seed)
    xe = [np.hstack([a, b]) for a, b in zip(x_features, e_features, strict=True)]
    hit = {
        name: [
            p == t
            for p, t in zip(_out_of_fold(f, targets, fold_of, folds, seed), targets, strict=True)
        ]
        for name, f in (("x", x_features), ("xe", xe), ("e", e_features))
    }
    gains = []
    for leaked in (True, False):
        group = [i for i in range(n) if hit["e"][i] == leaked]
        if group:
            gains.append(float(np.mean([hit["xe"][i] - hit["x"][i] for i in group])))
    return SimulationResult(
        sim_x=hit["x"],
        sim_xe=hit["xe"],
        leaking=hit["e"],
        las=float(np.mean(gains)),
        accuracy_x=float(np.mean(hit["x"])),
        accuracy_xe=float(np.mean(hit["xe"])),
    )
