"""One evaluation row per test example: the trained teacher's row of a multi-teacher table, LAS
folds split by example id, and a test table without teacher columns (metrics skipped)."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.views import build_views
from llm_distillation.evaluation import simulatability
from llm_distillation.evaluation.plan import CellPlan, first_round
from llm_distillation.evaluation.references import missing_references
from llm_distillation.evaluation.rows import one_row_per_example
from llm_distillation.evaluation.simulatability import (
    fold_assignment,
    leakage_adjusted_simulatability,
)
from tests.evaluation.conftest import ingest_test_split

MT_CF = CellPlan(
    trained_views=("predict", "explain", "factual", "counterfactual"),
    primary_view="predict",
    rationale="positive",
)
CF = CellPlan(
    trained_views=("factual", "counterfactual"), primary_view="factual", rationale="positive"
)
STANDARD = CellPlan(trained_views=("predict",), primary_view="predict")
ENABLED = ("words", "rouge_l", "embedding_similarity", "probe_consistency", "cf_faithfulness")


@pytest.mark.parametrize(
    ("teachers", "kept"),
    [(["llama"], "llama"), (["qwen"], "qwen"), (["qwen", "llama"], "qwen"), (None, "llama")],
)
def test_one_row_per_example_of_the_trained_teacher(strategyqa_two_teachers, teachers, kept):
    rows = one_row_per_example(strategyqa_two_teachers, teachers)
    assert rows.height == rows["example_id"].n_unique() == 8
    assert set(rows["teacher"]) == {kept}
    expected = strategyqa_two_teachers.filter(pl.col("teacher") == kept)
    assert rows.equals(expected)  # the teacher's own rows, in table order, text untouched


def test_an_example_the_first_teacher_lacks_comes_from_the_next(strategyqa_two_teachers):
    gone = strategyqa_two_teachers["example_id"][0]
    table = strategyqa_two_teachers.filter(
        ~((pl.col("teacher") == "qwen") & (pl.col("example_id") == gone))
    )
    rows = one_row_per_example(table, ["qwen", "llama"])
    assert rows.height == 8
    teacher_of = dict(rows.select("example_id", "teacher").iter_rows())
    assert teacher_of.pop(gone) == "llama" and set(teacher_of.values()) == {"qwen"}
    assert one_row_per_example(table, ["qwen"]).height == 7  # a filter, not a fallback


def test_a_bad_teacher_names_the_setting_and_the_known_teachers(strategyqa_two_teachers):
    with pytest.raises(
        ValueError,
        match=r"student_training\.data\.teachers: unknown teachers of study_strategyqa"
        r"\.consolidated_test \['lama'\]; allowed: \['llama', 'qwen'\]",
    ):
        one_row_per_example(
            strategyqa_two_teachers,
            ["llama", "lama"],
            table_name="study_strategyqa.consolidated_test",
        )


def test_a_table_without_teachers_is_evaluated_as_it_is(esnli_ingest_test):
    assert "teacher" not in esnli_ingest_test.columns
    assert one_row_per_example(esnli_ingest_test, ["llama"]) is esnli_ingest_test


def test_folds_are_disjoint_by_example_id(strategyqa_two_teachers):
    ids = strategyqa_two_teachers["example_id"].to_list()  # every id twice
    for folds in (2, 3, 4):
        fold_of = fold_assignment(ids, folds, seed=5)
        assert set(fold_of) == set(range(folds))
        for k in range(folds):
            test = {i for i, f in zip(ids, fold_of, strict=True) if f == k}
            train = {i for i, f in zip(ids, fold_of, strict=True) if f != k}
            assert test and not test & train
    # unique ids: the fold sizes differ by at most one, and the assignment is seeded
    unique = [f"e{i}" for i in range(10)]
    sizes = pl.Series(fold_assignment(unique, 4, seed=1)).value_counts()["count"]
    assert sizes.max() - sizes.min() <= 1
    assert fold_assignment(unique, 4, seed=1) == fold_assignment(unique, 4, seed=1)


def test_las_fits_no_simulator_on_the_example_it_scores(monkeypatch):
    """Two rows per example: every simulator fit leaves out both rows of each scored one."""
    import numpy as np

    rng = np.random.default_rng(0)
    groups = [f"ex{i // 2}" for i in range(16)]
    xs = [rng.normal(size=(3, 2)) for _ in groups]
    es = [rng.normal(size=(3, 3)) for _ in groups]
    targets = [int(i % 3) for i in range(16)]
    seen = []
    real = simulatability._fit_predict

    def spy(features, tgts, train, test, seed):
        seen.append(({groups[i] for i in train}, {groups[i] for i in test}))
        return real(features, tgts, train, test, seed)

    monkeypatch.setattr(simulatability, "_fit_predict", spy)
    result = leakage_adjusted_simulatability(xs, es, targets, folds=4, seed=0, groups=groups)
    assert result.las is not None and len(result.sim_x) == 16
    assert len(seen) == 3 * 4  # three simulators × four folds
    for train, test in seen:
        assert test and not train & test
    assert set().union(*(t for _, t in seen[:4])) == set(groups)  # every example scored once
    with pytest.raises(ValueError, match="groups: 3 ids for 16 rows"):
        leakage_adjusted_simulatability(xs, es, targets, groups=groups[:3])


def test_probes_use_the_trained_teachers_rationales(strategyqa_two_teachers):
    for teacher in ("llama", "qwen"):
        rows = one_row_per_example(strategyqa_two_teachers, [teacher])
        ids = rows["example_id"].head(4).to_list()
        probes = first_round(rows, ids, MT_CF).filter(pl.col("view") == "counterfactual")
        own = strategyqa_two_teachers.filter(pl.col("teacher") == teacher)
        other = strategyqa_two_teachers.filter(pl.col("teacher") != teacher)
        want = build_views(own.filter(pl.col("example_id").is_in(ids)), views=("counterfactual",))
        unwanted = build_views(
            other.filter(pl.col("example_id").is_in(ids)), views=("counterfactual",)
        )
        assert probes.height > 0
        assert sorted(probes["prompt"]) == sorted(want["input"])
        assert not set(probes["prompt"]) & set(unwanted["input"])


def test_ingest_prompts_are_the_training_prompts(shared_data, cqa_test_table):
    """A test table without teacher columns gives the same task prompts, byte for byte, as the
    consolidated rows of the same examples."""
    ingest = ingest_test_split(shared_data, "cqa", "cqa/cqa_test.json", 400)
    ids = sorted(set(ingest["example_id"]) & set(cqa_test_table["example_id"]))
    assert len(ids) >= 8
    ingest = ingest.filter(pl.col("example_id").is_in(ids))
    got = first_round(ingest, ids, MT_CF)
    views = build_views(cqa_test_table.filter(pl.col("example_id").is_in(ids)))
    for view in ("predict", "explain", "factual"):
        mine = got.filter(pl.col("view") == view).select("example_id", "prompt").sort("example_id")
        train = views.filter(pl.col("view") == view).select("example_id", prompt="input")
        assert mine.equals(train.sort("example_id")), view
    assert "counterfactual" not in set(got["view"])  # no teacher rationales to probe with


def test_metrics_that_need_teacher_text_are_skipped_with_a_reason(
    esnli_ingest_test, cqa_test_table
):
    skipped = missing_references(esnli_ingest_test, MT_CF, ENABLED)
    assert set(skipped) == {"rouge_l", "embedding_similarity", "cf_faithfulness"}
    assert "few_shot_positive_rationale" in skipped["rouge_l"]
    assert "counterfactual_prompt_answer" in skipped["cf_faithfulness"]
    assert set(missing_references(esnli_ingest_test, CF, ("words", "rouge_l"))) == {"rouge_l"}
    assert missing_references(esnli_ingest_test, STANDARD, ENABLED) == {}  # nothing to compare
    assert missing_references(cqa_test_table, MT_CF, ENABLED) == {}  # the teacher's table
    empty = cqa_test_table.with_columns(few_shot_positive_rationale=pl.lit("  "))
    assert set(missing_references(empty, MT_CF, ENABLED)) == {"rouge_l", "embedding_similarity"}
    # CF probes: only where the table has the teacher's wrong-option rationales
    views = set(
        first_round(esnli_ingest_test, esnli_ingest_test["example_id"].to_list(), CF)["view"]
    )
    assert views == {"factual"}
