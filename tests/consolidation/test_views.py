"""Every student training view is built from a consolidated table alone."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.merge import consolidate
from llm_distillation.consolidation.views import VIEW_SCHEMA, VIEWS, build_views, row_views

STUDY_TASKS = ("positive_rationale", "counterfactual_rationale", "revision")


@pytest.fixture(scope="module")
def tables(study_slices):
    out = {}
    for (benchmark, _, split), (examples, long) in study_slices.items():
        result = consolidate(
            long.lazy(), examples, benchmark=benchmark, split=split, required_tasks=STUDY_TASKS
        )
        out[benchmark] = result.table.head(10)
    return out


def test_every_view_from_the_table_alone(tables):
    for benchmark, table in tables.items():
        views = build_views(table)
        assert views.schema == VIEW_SCHEMA
        assert set(views["view"]) == set(VIEWS), benchmark
        per_view = dict(views.group_by("view").len().iter_rows())
        assert per_view["predict"] == table.height
        # one counterfactual view per wrong option (all of them, not one)
        wrong = table.select(pl.col("choices").list.len() - 1).to_series().sum()
        assert per_view["counterfactual"] <= wrong
        assert per_view["counterfactual"] >= wrong - 3  # a few empty rationales are skipped
        cf = views.filter(pl.col("view") == "counterfactual")
        assert cf["answer_only_loss"].all()
        assert not views.filter(pl.col("view") != "counterfactual")["answer_only_loss"].any()


def test_view_texts_for_one_cqa_row(tables):
    row = tables["cqa"].row(0, named=True)
    views = {(v["view"], v["option_index"]): v for v in row_views(row)}
    gold, choices = row["answer"], row["choices"]
    task = f"Question: {row['question']}\nChoices: " + " ".join(
        f"({'abcde'[i]}) {c}" for i, c in enumerate(choices)
    )
    gi = row["answer_index"]
    assert views["predict", gi]["input"] == f"[predict] {task}"
    assert views["predict", gi]["target"] == f"The answer is {gold}"
    assert views["explain", gi]["target"] == row["few_shot_positive_rationale"]
    assert (
        views["factual", gi]["target"]
        == f"{row['few_shot_positive_rationale']} So the answer is {gold}."
    )
    wrong = next(i for i in range(5) if choices[i] != gold and ("counterfactual", i) in views)
    rationale = row[f"counterfactual_prompt_answer_{wrong + 1}_rationale"]
    assert (
        views["counterfactual", wrong]["input"]
        == f"[counterfactual] {task}\nRationale: {rationale}"
    )
    assert views["counterfactual", wrong]["target"] == f"So the answer is {choices[wrong]}."
    assert ("counterfactual", gi) not in views


def test_revised_explain_and_nli_input(tables):
    row = tables["esnli"].row(0, named=True)
    views = row_views(row, views=("explain",), rationale="revised")
    assert views[0]["target"] == row["few_shot_revision"]
    assert views[0]["input"].startswith(f"[explain] Premise: {row['premise']}\nHypothesis: ")
    assert views[0]["input"].endswith("Choices: (a) entailment (b) neutral (c) contradiction")


def test_unknown_view_is_refused(tables):
    with pytest.raises(ValueError, match="unknown views"):
        build_views(tables["cqa"], views=("predict", "summarize"))


def test_views_of_a_table_in_several_chunks(tables):
    """Tables loaded from several teacher files come in chunks."""
    table = tables["strategyqa"]
    chunked = pl.concat([table.head(4), table.tail(6)], rechunk=False)
    # how many chunks each part brings depends on the thread pool; more than one is the point
    assert chunked.n_chunks() >= 2
    assert build_views(chunked).equals(build_views(chunked.rechunk()))
