"""Quality statistics: lengths, distractor mentions, counterfactual stance, the report."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.merge import consolidate
from llm_distillation.consolidation.quality import (
    counterfactual_stance,
    distractor_counts,
    quality_figure,
    quality_report,
    rationales_long,
)

STUDY_TASKS = ("positive_rationale", "counterfactual_rationale", "revision")


def long_rows(texts, choices=("bus depot", "beach", "bridge", "bridge"), answer_index=2):
    return pl.DataFrame(
        {
            "benchmark": "cqa",
            "split": "test",
            "teacher": "t",
            "example_id": [f"e{i}" for i in range(len(texts))],
            "choices": [list(choices)] * len(texts),
            "answer_index": answer_index,
            "kind": "revision",
            "option_index": answer_index,
            "text": texts,
        }
    )


def test_distractors_are_distinct_wrong_options_named_as_whole_words():
    counts = distractor_counts(
        long_rows(
            [
                "Unlike a bus depot or the beach, a bridge gives shelter.",  # 2
                "Beaches and bus depots are public.",  # plural forms are not the option: 0
                "Bridge, bridge, bridge.",  # the gold text (twice in the choices): 0
                "The Beach is windy; the beach is cold.",  # counted once: 1
            ]
        )
    )
    assert counts.sort("rid")["distractors"].to_list() == [2, 0, 0, 1]


def test_counterfactual_stance_shares():
    frame = long_rows(
        ["So the answer is beach.", "The answer is bridge.", "Sand is nice."], answer_index=2
    ).with_columns(kind=pl.lit("counterfactual"), option_index=pl.lit(1, pl.Int64))
    stance = counterfactual_stance(frame)
    row = stance.row(0, named=True)
    assert row["target"] == "wrong option" and row["n"] == 3
    assert row["argues_for_its_option"] == pytest.approx(1 / 3)
    assert row["argues_for_another_option"] == pytest.approx(1 / 3)
    assert row["states_no_option"] == pytest.approx(1 / 3)


def test_report_on_study_data_shows_revisions_name_more_distractors(study_slices):
    examples, long = study_slices["cqa", "llama", "test"]
    result = consolidate(
        long.lazy(), examples, benchmark="cqa", split="test", required_tasks=STUDY_TASKS
    )
    report = quality_report([result.table], [result.summary], [result.rejects])
    mentions = {r["kind"]: r["distractors_per_rationale"] for r in report["distractor_mentions"]}
    # the study: 1.66 (revised) vs 0.12 (unrevised) per rationale on all 1,221
    assert mentions["revision"] > 3 * mentions["positive"]
    lengths = {r["kind"]: r["mean_words"] for r in report["lengths_words"]}
    assert lengths["revision"] > 1.5 * lengths["positive"]
    assert {r["check"] for r in report["checks"]} >= {"empty_text", "answer_mismatch"}
    assert {r["target"] for r in report["counterfactual_stance"]} == {"gold option", "wrong option"}
    kinds = set(rationales_long(result.table)["kind"])
    assert kinds == {"positive", "negative", "counterfactual", "revision"}
    figure = quality_figure(report)
    assert len(figure.axes) == 2


def test_report_of_nothing_is_valid():
    report = quality_report([], [], [])
    assert report["tables"] == [] and report["distractor_mentions"] == []
    quality_figure(report)
