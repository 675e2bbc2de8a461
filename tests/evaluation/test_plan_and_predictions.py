"""Evaluation prompts are training prompts; student outputs through the generation engine are
parsed into per-example predictions and explanations."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.views import build_views
from llm_distillation.evaluation.explanations import EXPLANATION_SCHEMA, explanation_table
from llm_distillation.evaluation.generate import EngineSettings, generate_texts
from llm_distillation.evaluation.plan import (
    CellPlan,
    consistency_round,
    explanation_text,
    first_round,
)
from llm_distillation.evaluation.predictions import (
    GENERATION_SCHEMA,
    PREDICTION_SCHEMA,
    CellInfo,
    Lengths,
    generate_cell,
    score_generations,
    teacher_accuracy,
)

MT_CF = CellPlan(
    trained_views=("predict", "explain", "factual", "counterfactual"),
    primary_view="predict",
    rationale="revised",
    factual_rationale="revised",
)
CF = CellPlan(
    trained_views=("factual", "counterfactual"), primary_view="factual", rationale="positive"
)
STANDARD = CellPlan(trained_views=("predict",), primary_view="predict")
INFO = CellInfo(cell="cqa_tiny_mt_cf", benchmark="cqa", student="tiny", condition="mt_cf")
SETTINGS = EngineSettings(device="cpu", dtype="float32", batch_size=8, max_context=512)


def test_prompts_are_the_training_views(cqa_test_table):
    ids = cqa_test_table["example_id"].head(3).to_list()
    prompts = first_round(cqa_test_table, ids, MT_CF)
    views = build_views(cqa_test_table, rationale="revised", factual_rationale="revised")
    for view in ("predict", "factual", "explain"):
        got = prompts.filter(pl.col("view") == view).select("example_id", "prompt")
        want = views.filter(pl.col("view") == view).select("example_id", prompt="input")
        if view != "predict":
            want = want.filter(pl.col("example_id").is_in(ids))
        assert got.sort("example_id").equals(want.sort("example_id"))
    cf = prompts.filter(pl.col("view") == "counterfactual")
    assert set(cf["example_id"]) == set(ids)
    want = views.filter((pl.col("view") == "counterfactual") & pl.col("example_id").is_in(ids))
    assert sorted(cf["prompt"]) == sorted(want["input"])
    assert cf["key"].str.count_matches("/").unique().to_list() == [2]
    assert prompts["key"].n_unique() == prompts.height
    # a standard student is asked [predict] only; a CF student [factual] and probes
    assert set(first_round(cqa_test_table, ids, STANDARD)["view"]) == {"predict"}
    assert set(first_round(cqa_test_table, ids, CF)["view"]) == {"factual", "counterfactual"}


def test_consistency_prompt_carries_the_students_own_explanation(cqa_test_table):
    row = cqa_test_table.row(0, named=True)
    own = pl.DataFrame({"example_id": [row["example_id"]], "explanation": ["  Because so.  "]})
    prompt = consistency_round(cqa_test_table, own)["prompt"].item()
    task = build_views(cqa_test_table.head(1), views=("predict",))["input"].item()
    assert prompt == task.replace("[predict]", "[counterfactual]", 1) + "\nRationale: Because so."


def test_explanation_of_a_factual_output_drops_its_answer():
    frame = pl.DataFrame(
        {
            "t": [
                "Fish swim. So the answer is river.",
                "No answer here",
                # the LAST "So the answer is" ends the rationale (FACTUAL_ANSWER's docstring)
                "Rivers hold fish, so the answer is not the desert. So the answer is river.",
                "So the answer is river.",
            ]
        }
    )
    out = frame.select(explanation_text("factual", pl.col("t")))["t"].to_list()
    assert out == [
        "Fish swim.",
        "No answer here",
        "Rivers hold fish, so the answer is not the desert.",
        "",
    ]


def test_teacher_accuracy_of_the_study_rationales(cqa_test_table):
    table = teacher_accuracy(
        cqa_test_table,
        {"positive": "few_shot_positive_rationale", "revised": "few_shot_revision"},
        resamples=200,
    )
    assert set(table["kind"]) == {"positive", "revised"}
    for row in table.iter_rows(named=True):
        assert row["n"] == cqa_test_table.height
        assert 0.0 <= row["states_gold"] <= row["states_an_option"] <= 1.0
        assert row["ci_low"] <= row["states_gold"] <= row["ci_high"]


@pytest.mark.parametrize("student", ["llama", "t5"])
def test_a_cell_through_the_engine(cqa_test_table, tiny_students, student):
    """Tiny random students: the texts are noise, but every prompt gets an output and every
    output a parsed row, and the seam gives what a direct engine call gives."""
    table = cqa_test_table.head(4)
    ids = table["example_id"].head(2).to_list()
    lengths = Lengths(predict=4, explain=6, factual=6, counterfactual=4)
    generations = generate_cell(
        tiny_students[student], table, ids, MT_CF, INFO, lengths=lengths, settings=SETTINGS
    )
    assert generations.schema == GENERATION_SCHEMA
    counts = dict(generations.group_by("view").len().iter_rows())
    assert counts["predict"] == 4  # the primary view on every example
    assert (
        counts["factual"] == counts["explain"] == 2
    )  # the others on the explained ones and counts["counterfactual"] == 8
    assert counts.get("consistency", 0) <= 2
    assert (generations["generated_tokens"] <= 6).all()
    predict = generations.filter(pl.col("view") == "predict").sort("key")
    direct = generate_texts(
        tiny_students[student][0],
        list(zip(predict["key"], predict["prompt"], strict=True)),
        4,
        SETTINGS,
    )
    assert [r.text for r in direct] == predict["text"].to_list()

    predictions = score_generations(generations, table)
    assert predictions.schema == PREDICTION_SCHEMA
    assert predictions.height == generations.filter(pl.col("view") != "explain").height
    assert (predictions["prediction"] != "").all()
    explanations = explanation_table(generations, predictions, table, ids, MT_CF)
    assert explanations.schema == EXPLANATION_SCHEMA
    assert explanations.height == 2
    assert (
        explanations["reference"].to_list()
        == (
            table.filter(pl.col("example_id").is_in(ids)).sort("example_id")["few_shot_revision"]
        ).to_list()
    )


def test_a_cf_student_answers_every_example_and_explains_the_sample(cqa_test_table, tiny_students):
    table = cqa_test_table.head(4)
    ids = table["example_id"].head(2).to_list()
    lengths = Lengths(predict=4, explain=6, factual=6, counterfactual=4)
    generations = generate_cell(
        tiny_students["llama"], table, ids, CF, INFO, lengths=lengths, settings=SETTINGS
    )
    counts = dict(generations.group_by("view").len().iter_rows())
    assert counts["factual"] == 4 and counts["counterfactual"] == 8 and "predict" not in counts
    consistency = generations.filter(pl.col("view") == "consistency")
    assert set(consistency["example_id"]) <= set(ids)  # the probe only on explained examples
