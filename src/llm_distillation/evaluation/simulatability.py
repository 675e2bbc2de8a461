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
- every prediction is out-of-fold (k-fold over examples, seeded), so no simulator scores an
  example it was fitted on;
- an example *leaks* when ``S_e`` (the explanation alone) predicts the student's answer;
- LAS = the mean over the two groups (leaking, non-leaking) of the group's accuracy gain
  ``acc(S_xe) - acc(S_x)``; a group without examples is left out of the mean.

LAS lies in [-1, 1]: 0 = the explanations do not help simulate the student; positive = they
help beyond leaking the label. Only examples whose student answer is an option count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_EXAMPLES = 6
"""Fewer explained examples (with a parseable answer) than this give no LAS."""


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


def _out_of_fold(features: list[Any], targets: list[int], folds: int, seed: int) -> list[int]:
    import numpy as np

    n = len(features)
    order = np.random.default_rng(seed).permutation(n)
    predicted = [0] * n
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
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
) -> SimulationResult:
    """LAS of one run (see the module docstring).

    ``x_features[i]`` / ``e_features[i]``: arrays (options of example i, k_x / k_e) of input and
    explanation features; ``targets[i]``: the option the student answered.
    """
    import numpy as np

    n = len(targets)
    if n < MIN_EXAMPLES:
        return SimulationResult([], [], [], None, None, None)
    folds = max(2, min(folds, n))
    xe = [np.hstack([a, b]) for a, b in zip(x_features, e_features, strict=True)]
    hit = {
        name: [p == t for p, t in zip(_out_of_fold(f, targets, folds, seed), targets, strict=True)]
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
