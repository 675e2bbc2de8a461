"""The opening box: names, chance, the smallest detectable difference, per-cell facts."""

from __future__ import annotations

import polars as pl
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from llm_distillation.reporting.scope import (
    answer_options,
    cell_statements,
    cell_table,
    condition_labels,
    condition_order,
    detectable_difference,
    label_runs,
    scope_statements,
    skipped_summary,
)


@pytest.mark.parametrize(("accuracy", "n"), [(0.23, 100), (0.0, 100), (0.5, 24), (0.97, 200)])
def test_detectable_difference_has_80_percent_power(accuracy: float, n: int) -> None:
    diff = detectable_difference(accuracy, n)
    assert diff is not None and diff > 0
    other = accuracy + diff if accuracy + diff <= 1 else accuracy - diff
    h = proportion_effectsize(other, accuracy)
    power = NormalIndPower().power(abs(h), nobs1=n, alpha=0.05, ratio=1.0)
    assert power == pytest.approx(0.8, abs=1e-4)  # solve_power's tolerance
    # a smaller difference has less power: it is the smallest
    smaller = proportion_effectsize(accuracy + 0.9 * (other - accuracy), accuracy)
    assert NormalIndPower().power(abs(smaller), nobs1=n, alpha=0.05) < 0.8


def test_detectable_difference_numbers() -> None:
    # 100 examples per cell at 23%: h = 0.3962 (statsmodels), p2 = sin(asin(sqrt(.23)) + h/2)^2
    assert detectable_difference(0.23, 100) == pytest.approx(0.18333, abs=1e-4)
    assert detectable_difference(0.5, 1) is None
    assert detectable_difference(0.5, 100, alpha=0.01) > detectable_difference(0.5, 100)


def test_condition_labels_and_order() -> None:
    declared = {"conditions": {"mt_cf_g07": {"name": "mt_cf_revised", "gamma": 0.7}}}
    labels = condition_labels(["mt_cf_revised", "standard", "other", "mt_cf_g07"], declared)
    assert labels == {
        "mt_cf_revised": "MT+CF:Revised",
        "standard": "Standard",
        "other": "other",  # no such condition: keeps its key
        "mt_cf_g07": "mt_cf_g07",  # would share MT+CF:Revised: keeps its key
    }
    assert condition_order(labels) == ["Standard", "MT+CF:Revised", "mt_cf_g07", "other"]
    assert condition_order(labels, ["other"])[0] == "other"
    # names given already as labels sort the same
    assert condition_order({"MT:Unrevised": "MT:Unrevised", "Standard": "Standard"}) == [
        "Standard",
        "MT:Unrevised",
    ]


def test_label_runs_filters_and_renames() -> None:
    table = pl.DataFrame(
        {"student": ["a", "b", "a"], "condition": ["standard", "standard", "mt_unrevised"]}
    )
    labels = condition_labels(table["condition"].to_list())
    out = label_runs(table, labels, {"a": "135M"}, ["mt_unrevised"])
    assert out.to_dicts() == [{"student": "135M", "condition": "MT:Unrevised"}]


def test_answer_options_from_the_data() -> None:
    preds = pl.DataFrame(
        {
            "benchmark": ["cqa", "esnli", "new", "new"],
            "gold_index": [0, 2, 3, 0],
            "predicted_index": [None, 1, None, 5],
        }
    )
    # cqa: the sample shows one option, the schema knows five; "new": indices up to 5
    assert answer_options(preds) == {"cqa": 5, "esnli": 3, "new": 6}
    assert answer_options(preds.select("benchmark"), ["cqa", "unknown"]) == {
        "cqa": 5,
        "unknown": None,
    }


def _accuracy(seeds: int = 1, unparseable: float = 0.05) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"benchmark": "cqa", "student": "S", "condition": c, "seed": s, "n": 100,
             "accuracy": acc + 0.01 * s, "ci_low": acc - 0.08, "ci_high": acc + 0.08,
             "unparseable": unparseable}
            for c, acc in (("Standard", 0.23), ("MT:Unrevised", 0.31))
            for s in range(seeds)
        ]
    )  # fmt: skip


def test_cell_table_and_box() -> None:
    cells = cell_table(_accuracy(), None, {"cqa": 5})
    assert cells["seeds"].to_list() == [1, 1]
    assert cells["examples"].to_list() == [100, 100]
    assert cells["parseable"].to_list() == pytest.approx([0.95, 0.95])
    assert cells["chance"].to_list() == [0.2, 0.2]
    box = scope_statements(cells, 0.05, conditions=["Standard", "MT:Unrevised"])
    text = "\n".join(box)
    assert "1 benchmark (cqa), 1 student (S) and 2 conditions (Standard, MT:Unrevised)" in text
    assert "Each cell: 1 seed and 100 test examples per seed." in text
    assert "Parseable answers (stating one option): 95.0% of all answers" in text
    assert "Chance level (guessing one option): cqa 20.0% (1 of 5 options)." in text
    expected = detectable_difference(0.27, 100)
    assert f"Smallest detectable difference on cqa: about {100 * expected:.1f} points" in text
    assert "conf/cpu_study" in text and "docs/results_cpu.md" in text and "conf/paper" in text
    (standard, _mt) = cell_statements(cells, ["Standard", "MT:Unrevised"])
    assert standard == (
        "cqa/S/Standard: 23.0% correct (95% CI 15.0% to 31.0%, one seed, 100 test examples; "
        "chance 20.0%; 95.0% parseable)."
    )


def test_cell_table_several_seeds_and_predictions_fallback() -> None:
    acc = _accuracy(seeds=3).drop("n", "unparseable", "ci_low", "ci_high")
    preds = pl.DataFrame(
        [
            {"benchmark": "cqa", "student": "S", "condition": c, "seed": s,
             "example_id": f"e{i}", "predicted_index": None if i < 2 else 1}
            for c in ("Standard", "MT:Unrevised")
            for s in range(3)
            for i in range(10)
        ]
    )  # fmt: skip
    cells = cell_table(acc, preds, answer_options(preds))
    row = cells.row(0, named=True)
    assert (row["seeds"], row["examples"], row["ci_low"]) == (3, 10, None)
    assert row["parseable"] == pytest.approx(0.8)
    assert row["accuracy_min"] == pytest.approx(0.23) and row["accuracy_max"] == pytest.approx(0.25)
    assert "mean of 3 seeds, from 23.0% to 25.0%" in cell_statements(cells)[1]


def test_skipped_summary_one_row_per_metric_and_reason() -> None:
    skipped = pl.DataFrame(
        {
            "benchmark": ["esnli"] * 3,
            "student": ["S"] * 3,
            "condition": ["Standard", "MT", "Standard"],
            "metric": ["las", "las", "cf_faithfulness"],
            "reason": ["no rationales", "no rationales", "no counterfactuals"],
        }
    )
    assert skipped_summary(skipped).to_dicts() == [
        {"metric": "las", "reason": "no rationales", "cells": "esnli/S/Standard, esnli/S/MT"},
        {"metric": "cf_faithfulness", "reason": "no counterfactuals", "cells": "esnli/S/Standard"},
    ]
