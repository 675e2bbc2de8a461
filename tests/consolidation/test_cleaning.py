"""Cleaning rules, one by one and in order, on real teacher text from the study."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.cleaning import (
    CleaningRules,
    clean_strings,
    clean_text,
    cut_at_stop_headers,
    ends_like_sentence,
    is_empty_text,
    keep_part,
    normalize_whitespace,
    remove_think,
    strip_answer_preamble,
    strip_prefix_headers,
    word_count,
)


def apply(expr_fn, values, **kwargs):
    return pl.DataFrame({"t": values}).select(expr_fn(pl.col("t"), **kwargs))["t"].to_list()


def test_remove_think_drops_closed_and_unclosed_blocks():
    assert apply(remove_think, ["<think>a\nb</think>Yes.", "Keep <think>never closed", None]) == [
        "Yes.",
        "Keep ",
        None,
    ]


def test_normalize_whitespace_trims_lines_and_outer_blanks():
    assert apply(normalize_whitespace, ["  \r\nA b.  \r\nC\u00a0d \n\n"]) == ["A b.\nC d"]


def test_prefix_header_is_removed_but_its_text_kept():
    assert apply(
        strip_prefix_headers,
        ["Assistant (clear and helpful): Beavers cut trees.", "Rationale:\nBecause.", "Plain."],
    ) == ["Beavers cut trees.", "Because.", "Plain."]


def test_answer_preamble_removed_only_at_the_start():
    # real opening of a StrategyQA counterfactual by Qwen3 (study data)
    text = "The answer is no.\nMixed martial arts (MMA) is not totally original."
    assert apply(strip_answer_preamble, [text, "It is so. The answer is no."]) == [
        "Mixed martial arts (MMA) is not totally original.",
        "It is so. The answer is no.",
    ]


def test_cut_at_stop_headers_drops_the_echoed_next_demo():
    # shape of the study's e-SNLI revision: the model went on with a new demo
    text = (
        "Therefore, the correct relationship is neutral.\n\nQuestion: Premise: The man is "
        "wearing a red hat.\nChoices: (a) entailment (b) neutral"
    )
    assert apply(cut_at_stop_headers, [text, "Q: starts with a header"]) == [
        "Therefore, the correct relationship is neutral.",
        "",
    ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("first_line", "One."),
        ("first_paragraph", "One.\nTwo."),
        ("all", "One.\nTwo.\n\nThree."),
    ],
)
def test_line_policies(policy, expected):
    assert apply(keep_part, ["One.\nTwo.\n\nThree."], policy=policy) == [expected]


def test_unknown_line_policy_is_refused():
    with pytest.raises(ValueError, match="unknown line policy"):
        keep_part(pl.col("t"), "all_lines")  # type: ignore[arg-type]


def test_clean_text_runs_every_rule_in_order_on_real_qwen_output():
    raw = (
        "  \nYes, the ship that recovered Apollo 13 was the USS Iwo Jima.  \n\n"
        "Is the Federal Reserve a quick walk from Space Needle?\nThe answer is no.\n"
    )
    assert apply(clean_text, [raw]) == [
        "Yes, the ship that recovered Apollo 13 was the USS Iwo Jima."
    ]
    rules = CleaningRules(keep="first_paragraph")
    assert apply(
        clean_text, ["<think>hmm</think>\nLine one\nline two\n\nQuestion: x"], rules=rules
    ) == ["Line one\nline two"]


def test_clean_strings_is_clean_text_on_python_strings():
    raw = [" The answer is no.  \nMixed martial arts is modern.", None, "<think>x</think> A b."]
    assert clean_strings(raw) == [*apply(clean_text, raw)[:1], "", "A b."]


def test_empty_detection_word_count_and_sentence_end():
    frame = pl.DataFrame({"t": ["", "  ", "...", None, "A b c.", "cut mid"]})
    out = frame.select(
        empty=is_empty_text(pl.col("t")),
        words=word_count(pl.col("t")),
        ends=ends_like_sentence(pl.col("t")),
    )
    assert out["empty"].to_list() == [True, True, True, True, False, False]
    assert out["words"].to_list() == [0, 0, 1, 0, 3, 2]
    assert out["ends"].to_list()[4:] == [True, False]
