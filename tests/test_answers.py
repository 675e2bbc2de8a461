"""The one answer-statement parser (llm_distillation.answers): what a student's text answers."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.answers import UNPARSEABLE, extract_answers

CHOICES = ["bank", "bank account", "river", "desert", "kitchen"]


def _extract(texts, benchmark="cqa", choices=CHOICES):
    rows = pl.DataFrame(
        {
            "row_id": list(range(len(texts))),
            "benchmark": [benchmark] * len(texts),
            "choices": [choices] * len(texts),
            "scope": texts,
        }
    )
    return extract_answers(rows).sort("row_id")


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("The answer is river", 2),
        ("So the answer is river.", 2),
        ("the ANSWER is River!", 2),
        ("The answer is: (d)", 3),
        ("The answer is (d) desert, because sand.", 3),
        ('The answer is "kitchen" and nothing else', 4),
        ("Fish swim in water. So the answer is the river. Then more text", 2),
        ("The answer is bank account", 1),  # the longest option named
        ("The answer is bank, surely", 0),
        ("(c)", 2),
        ("(b) bank account", 1),
        ("c) river", 2),
        ("Desert.", 3),
        ("kitchen", 4),
        # the last explicit statement wins (a factual output ends with its answer)
        ("The answer is river? No. So the answer is desert.", 3),
        ("", None),
        ("The answer is mountain", None),
        ("I do not know what to say here", None),
        ("The answer is", None),
    ],
)
def test_answers_are_mapped_to_an_option_or_unparseable(text, index):
    out = _extract([text])
    assert out["predicted_index"].item() == index
    expected = CHOICES[index] if index is not None else UNPARSEABLE
    assert out["prediction"].item() == expected


@pytest.mark.parametrize(
    ("choices", "text", "index"),
    [
        # real CQA test questions whose options carry punctuation (issue 13, item 5)
        (
            ["everything", "capitol building", "tourist sites", "canada", "washington d.c"],
            "The answer is washington d.c",
            4,
        ),
        (
            ["everything", "capitol building", "tourist sites", "canada", "washington d.c"],
            "So the answer is washington d.c.",
            4,
        ),
        (["car shop", "desk drawer", "car.", "warehouse", "hand"], "The answer is car.", 2),
        (["car shop", "desk drawer", "car.", "warehouse", "hand"], "The answer is car shop.", 0),
        (["ground", "the ground", "sky", "sea", "air"], "The answer is the ground", 1),
        (["ground", "the ground", "sky", "sea", "air"], "The answer is ground.", 0),
        (
            ["washington", "washington d.c", "ohio", "utah", "iowa"],
            "The answer is washington d.c.",
            1,
        ),
        (["washington", "washington d.c", "ohio", "utah", "iowa"], "The answer is washington.", 0),
    ],
)
def test_options_with_punctuation_are_read_whole(choices, text, index):
    assert _extract([text], choices=choices)["predicted_index"].item() == index


def test_fixed_label_benchmarks_read_a_leading_label_word():
    out = _extract(["Yes, because it is.", "No.", "maybe"], "strategyqa", ["yes", "no"])
    assert out["predicted_index"].to_list() == [0, 1, None]


def test_a_null_text_is_unparseable_and_rows_keep_their_ids():
    rows = pl.DataFrame(
        {
            "row_id": [5, 7],
            "benchmark": ["cqa", "cqa"],
            "choices": [CHOICES, CHOICES],
            "scope": [None, "The answer is river"],
        }
    )
    out = extract_answers(rows).sort("row_id")
    assert out["row_id"].to_list() == [5, 7]
    assert out["prediction"].to_list() == [UNPARSEABLE, "river"]


def test_without_bare_answers_only_statements_count():
    rows = pl.DataFrame(
        {
            "row_id": [0, 1, 2],
            "benchmark": ["cqa"] * 3,
            "choices": [CHOICES] * 3,
            "scope": ["Desert sand is hot.", "(b) is wrong", "So the answer is desert."],
        }
    )
    out = extract_answers(rows, bare=False).sort("row_id")
    assert out["predicted_index"].to_list() == [None, None, 3]
