"""Explanation metrics pinned on hand-made cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from llm_distillation.evaluation.metrics import (
    counterfactual_faithfulness,
    distractor_mentions,
    option_consistency,
    probe_consistency,
    rouge_l,
    word_lengths,
)
from llm_distillation.evaluation.predictions import accuracy_table, bootstrap_ci
from llm_distillation.evaluation.simulatability import leakage_adjusted_simulatability

CHOICES = ["river", "desert", "kitchen", "ocean floor", "garden"]
RUN = {"cell": "c", "benchmark": "cqa", "student": "s", "condition": "mt", "seed": 0}


def test_word_lengths():
    assert word_lengths(["Fish live in a river.", "", None, "  two\nwords "]) == [5, 0, 0, 2]


def test_distractor_mentions_count_distinct_wrong_options_as_whole_words():
    texts = [
        "Fish live in a river, not in a desert or a kitchen.",  # gold river: 2 distractors
        "Not the DESERT, not the desert again.",  # case, counted once
        "Deserted gardens",  # not whole words
        "The ocean floor is deep.",  # a multi-word option
        "A river.",  # only the gold option
    ]
    assert distractor_mentions(texts, [CHOICES] * 5, [0] * 5) == [2, 1, 0, 1, 0]


def test_rouge_l_identical_disjoint_and_partial():
    scores = rouge_l(
        ["Fish live in rivers.", "completely unrelated words", "fish live here", "x", None],
        ["Fish live in rivers.", "Fish live in rivers.", "Fish live in rivers.", "", "y"],
    )
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == 0.0
    assert 0.0 < scores[2] < 1.0
    assert scores[3] == 0.0 and scores[4] is None


def test_option_consistency_argmax_of_similarities():
    sims = [np.array([0.1, 0.9, 0.2]), np.array([0.8, 0.1, 0.0]), np.zeros(3), np.ones(3)]
    assert option_consistency(sims, [1, 2, 0, None]) == [1.0, 0.0, None, None]


def _predictions(rows):
    base = {**RUN, "split": "test", "gold_index": 0, "rationale_option": None}
    return pl.DataFrame([base | r for r in rows])


def test_probe_consistency_and_counterfactual_faithfulness():
    preds = _predictions(
        [
            {"example_id": "a", "view": "predict", "predicted_index": 1},
            {"example_id": "a", "view": "consistency", "predicted_index": 1},  # consistent
            {"example_id": "b", "view": "predict", "predicted_index": 2},
            {"example_id": "b", "view": "consistency", "predicted_index": None},  # answers nothing
            {"example_id": "c", "view": "predict", "predicted_index": None},  # own answer unknown
            {"example_id": "c", "view": "consistency", "predicted_index": 0},
            # a: follows 2 of its 4 wrong-option rationales
            *(
                {
                    "example_id": "a",
                    "view": "counterfactual",
                    "rationale_option": o,
                    "predicted_index": p,
                }
                for o, p in ((1, 1), (2, 2), (3, 0), (4, None))
            ),
        ]
    )
    consistency = probe_consistency(preds, "predict").sort("example_id")
    assert consistency.select("example_id", "value").rows() == [("a", 1.0), ("b", 0.0)]
    faithful = counterfactual_faithfulness(preds)
    assert faithful.select("example_id", "value").rows() == [("a", 0.5)]


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = [True] * 30 + [False] * 10
    low, high = bootstrap_ci(values, 2000, seed=0)
    assert low < 0.75 < high and low > 0.55 and high < 0.9
    assert bootstrap_ci(values, 2000, seed=0) == (low, high)
    assert bootstrap_ci([True] * 5, 100, seed=0) == (1.0, 1.0)
    assert bootstrap_ci([], 100, seed=0) == (None, None)


def test_accuracy_per_run_and_view_counts_unparseable_as_wrong():
    rows = [
        {"example_id": f"e{i}", "view": "predict", "predicted_index": p, "correct": p == 0}
        for i, p in enumerate([0, 0, 1, None])
    ] + [{"example_id": "e0", "view": "factual", "predicted_index": 0, "correct": True}]
    table = accuracy_table(_predictions(rows), "predict", resamples=200)
    predict = table.filter(pl.col("view") == "predict").row(0, named=True)
    assert predict["accuracy"] == 0.5 and predict["n"] == 4 and predict["primary"]
    assert predict["unparseable"] == 0.25
    assert predict["ci_low"] <= 0.5 <= predict["ci_high"]
    assert not table.filter(pl.col("view") == "factual")["primary"].item()


def _features(targets, leak: bool, rng):
    """Options × features: x = noise; e = a 'states the option' indicator on the target when
    ``leak`` (else noise)."""
    xs, es = [], []
    for t in targets:
        xs.append(rng.normal(size=(5, 2)))
        e = rng.normal(size=(5, 1)) * 0.01
        es.append(np.hstack([e, (np.arange(5) == t).reshape(-1, 1).astype(float) if leak else e]))
    return xs, es


def test_an_explanation_that_states_the_answer_leaks():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 5, size=40).tolist()
    xs, es = _features(targets, leak=True, rng=rng)
    result = leakage_adjusted_simulatability(xs, es, targets, folds=4, seed=0)
    assert all(result.leaking)
    assert all(result.sim_xe)  # with the explanation the answer is simulated
    assert result.accuracy_x < 0.5  # the input alone does not tell it
    # LAS = the mean gain of the groups present (here only the leaking one)
    assert result.las == pytest.approx(result.accuracy_xe - result.accuracy_x)


def test_uninformative_explanations_neither_leak_nor_help():
    rng = np.random.default_rng(1)
    targets = [0] * 40  # the student always answers the first option: the input tells it
    xs = [np.hstack([np.eye(5)[:, :1], rng.normal(size=(5, 1))]) for _ in targets]
    es = [rng.normal(size=(5, 2)) for _ in targets]
    result = leakage_adjusted_simulatability(xs, es, targets, folds=4, seed=0)
    assert result.accuracy_x == 1.0 and result.accuracy_xe == 1.0
    assert result.las == pytest.approx(0.0)
    few = leakage_adjusted_simulatability(xs[:3], es[:3], targets[:3])
    assert few.las is None
