"""The opening box: names, chance, the smallest detectable difference, per-cell facts."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.reporting.paired import mcnemar_detectable
from llm_distillation.reporting.scope import (
    answer_options,
    cell_statements,
    cell_table,
    condition_labels,
    condition_order,
    detectable_statements,
    label_runs,
    scope_statements,
    skipped_summary,
)
from llm_distillation.reporting.tidy import result_table


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
    paired = result_table(
        [
            {"test": "mcnemar", "subset": "benchmark=cqa, student=S, pair_on=example",
             "groups": "MT:Unrevised vs Standard", "group1": "Standard",
             "group2": "MT:Unrevised", "n": 100, "p": 0.2, "estimate": 0.08,
             "detectable": mcnemar_detectable(0.3, 100)},
        ]
    )  # fmt: skip
    box = scope_statements(
        cells, 0.05, conditions=["Standard", "MT:Unrevised"], paired={"generated": paired}
    )
    text = "\n".join(box)
    assert "1 benchmark (cqa), 1 student (S) and 2 conditions (Standard, MT:Unrevised)" in text
    assert "Each cell: 1 seed and 100 test examples per seed." in text
    assert "Parseable answers (stating one option): 95.0% of all answers" in text
    assert "Chance level (guessing one option): cqa 20.0% (1 of 5 options)." in text
    expected = mcnemar_detectable(0.3, 100)
    assert (
        f"Smallest detectable difference on cqa: {100 * expected:.1f} points "
        "(MT:Unrevised vs Standard, generated). McNemar's test on the same 100 test examples"
    ) in text
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


def test_detectable_statements_span_the_pairs_and_say_when_none_can() -> None:
    def row(groups: str, detectable: float | None, benchmark: str = "esnli") -> dict:
        return {"test": "mcnemar", "subset": f"benchmark={benchmark}, student=S, pair_on=example",
                "groups": groups, "n": 1000, "detectable": detectable}  # fmt: skip

    generated = result_table([row("B vs A", 0.041), row("C vs A", None), row("x", 0.5, "cqa")])
    options = result_table([row("B vs A", 0.063), {"test": "cochran_q", "n": 1000}])
    (esnli, cqa, strategyqa) = detectable_statements(
        {"generated answers": generated, "option log-likelihood": options},
        ["esnli", "cqa", "strategyqa"],
    )
    assert esnli.startswith(
        "Smallest detectable difference on esnli: from 4.1 points (B vs A, generated answers) "
        "to 6.3 points (B vs A, option log-likelihood) over 2 comparisons. McNemar's test on "
        "the same 1000 test examples finds a difference of that size with 80% power at α = 0.05"
    )
    assert cqa.startswith("Smallest detectable difference on cqa: 50.0 points (x, generated")
    assert strategyqa.startswith("On strategyqa, no pair of conditions has a paired test")


def test_a_cell_with_few_parseable_answers_is_no_fair_score() -> None:
    rows = [
        {"benchmark": "esnli", "student": "S", "condition": c, "seed": 0, "n": 300,
         "accuracy": acc, "ci_low": acc - 0.05, "ci_high": acc + 0.05, "unparseable": u}
        for c, acc, u in (("Untrained", 0.02, 0.97), ("Standard", 0.5, 0.0))
    ]  # fmt: skip
    untrained, standard = cell_statements(
        cell_table(pl.DataFrame(rows), None, {"esnli": 3}), ["Untrained", "Standard"]
    )
    assert "3.0% parseable). 97.0% of its answers state no option" in untrained
    assert "its accuracy by option log-likelihood is" in untrained
    assert standard.endswith("100.0% parseable).")
