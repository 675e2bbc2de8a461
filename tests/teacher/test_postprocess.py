"""Post-processing of raw teacher text."""

from __future__ import annotations

import pytest

from llm_distillation.teacher.postprocess import clean, strip_think

HEADERS = ("Question:", "Premise:", "Explanation (", "Critique:")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  A blanket keeps heat in.", "A blanket keeps heat in."),
        ("\n\nFirst line.\nSecond line.", "First line."),
        ("Cats chase mice.\n\nQuestion: Where is", "Cats chase mice."),
        ("Cats chase mice. Question: Where do birds live?", "Cats chase mice."),
        ("<think>hmm, mice?</think>\nCats chase mice.", "Cats chase mice."),
        ("<think>still thinking about it", ""),
        ("  <think>a</think> B <think>c</think>D", "B D"),
        ("reasoning</think>Answer text.", "Answer text."),
        ("Question: echoed header first. Then text", "Question: echoed header first. Then text"),
        ("", ""),
        ("   \n  ", ""),
        ("Good.###ignored", "Good."),
    ],
)
def test_clean(raw, expected):
    out = clean(raw, stop=("###",), headers=HEADERS)
    assert out.text == expected
    assert out.raw_text == raw  # kept exactly
    assert out.is_empty == (expected == "")


def test_none_is_empty_not_replaced():
    out = clean(None)
    assert out.text == "" and out.raw_text == "" and out.is_empty


def test_strip_think_leaves_plain_text():
    assert strip_think("no tags here") == "no tags here"
