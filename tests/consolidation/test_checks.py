"""Each quality check on small, explicit inputs, through ``consolidate`` (the real path)."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.checks import (
    CheckRule,
    ChecksConfig,
    ConsolidationQualityError,
    enforce_thresholds,
    statement_matches,
)
from llm_distillation.consolidation.merge import consolidate
from llm_distillation.errors import TooManyRejectionsError
from llm_distillation.schema import EXAMPLE_SCHEMA
from tests.consolidation.helpers import outputs_frame

TASKS = ("positive_rationale", "counterfactual_rationale", "revision")


def examples(*ids: str, answer_index: int = 0) -> pl.DataFrame:
    rows = [
        {
            "example_id": i,
            "benchmark": "strategyqa",
            "split": "test",
            "question": f"Question {i}?",
            "choices": ["yes", "no"],
            "answer": ["yes", "no"][answer_index],
            "answer_index": answer_index,
            "explanations": [],
            "metadata": "{}",
        }
        for i in ids
    ]
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)


def complete(example_id: str, teacher: str = "t", **texts: str) -> list[dict]:
    """Every required output of one example (gold = "yes")."""
    base = {"example_id": example_id, "teacher": teacher}
    return [
        {
            **base,
            "task": "positive_rationale",
            "option_index": 0,
            "option": "yes",
            "text": texts.get("positive", "Because it is so."),
        },
        {
            **base,
            "task": "counterfactual_rationale",
            "option_index": 0,
            "option": "yes",
            "text": texts.get("cf0", "Yes, it holds."),
        },
        {
            **base,
            "task": "counterfactual_rationale",
            "option_index": 1,
            "option": "no",
            "text": texts.get("cf1", "No, it does not hold."),
        },
        {
            **base,
            "task": "revision",
            "option_index": 0,
            "option": "yes",
            "text": texts.get("revision", "Because it is so, unlike the alternative."),
        },
    ]


def run(rows, ex, **checks):
    config = ChecksConfig(**checks)
    return consolidate(
        outputs_frame(rows).lazy(),
        ex,
        benchmark="strategyqa",
        split="test",
        checks=config,
        required_tasks=TASKS,
    )


def failures(result, check):
    return result.rejects.filter(pl.col("check") == check)


def test_clean_example_passes_every_check():
    result = run(complete("a"), examples("a"))
    assert result.rejects.is_empty()
    assert result.table.height == 1
    assert result.summary["failed_rows"].sum() == 0


def test_missing_output_names_the_task_and_option():
    rows = [
        r
        for r in complete("a")
        if not (r["task"] == "counterfactual_rationale" and r["option_index"] == 1)
    ]
    rows = [r for r in rows if r["task"] != "revision"] + complete("b")
    result = run(rows, examples("a", "b"))
    bad = failures(result, "missing_output")
    assert sorted(bad["reason"].to_list()) == [
        "no counterfactual rationale for option 2 'no'",
        "no revision output",
    ]
    assert set(bad["column"]) == {"counterfactual_prompt_answer_2_rationale", "few_shot_revision"}
    assert bad["rejected"].all()
    assert result.table["example_id"].to_list() == ["b"]


def test_missing_example_only_when_enabled():
    ex = examples("a", "b")
    off = run(complete("a"), ex, missing_example=CheckRule(enabled=False))
    assert failures(off, "missing_example").is_empty()
    result = run(complete("a"), ex, missing_example=CheckRule(max_share=0.5))
    assert failures(result, "missing_example")["example_id"].to_list() == ["b"]
    share = result.summary.filter(pl.col("check") == "missing_example")["share"].item()
    assert share == 0.5


def test_task_absent_for_a_whole_teacher_is_not_a_missing_output():
    rows = [r for r in complete("a") if r["task"] != "revision"]
    result = run(rows, examples("a"))
    assert result.rejects.is_empty()
    assert result.table["few_shot_revision"].to_list() == [None]


def test_empty_text_after_cleaning():
    result = run(complete("a", positive="\n\nQuestion: echoed prompt only"), examples("a"))
    bad = failures(result, "empty_text")
    assert bad["column"].to_list() == ["few_shot_positive_rationale"]
    assert "empty after cleaning" in bad["reason"].item()
    assert result.table.is_empty()


def test_empty_text_of_an_optional_task_is_only_flagged():
    rows = [
        *complete("a"),
        {
            "example_id": "a",
            "teacher": "t",
            "task": "negative_rationale",
            "option_index": 0,
            "option": "yes",
            "text": "   ",
        },
    ]
    result = run(rows, examples("a"))
    assert failures(result, "empty_text")["rejected"].to_list() == [False]
    assert result.table["quality_flags"].to_list() == [["empty_text"]]
    # a flagged failure does not count toward the required check's threshold
    empty = result.summary.filter(pl.col("check") == "empty_text")
    assert empty["failed_rows"].item() == 0


def test_truncated_uses_finish_reason_and_the_kept_text():
    rows = complete("a")
    rows[0]["finish_reason"] = "length"  # cut inside the kept first line
    rows[3].update(finish_reason="length", text="Complete line.\nQuestion: next demo, cut")
    result = run(rows, examples("a"))
    bad = failures(result, "truncated")
    assert bad["column"].to_list() == ["few_shot_positive_rationale"]
    assert not bad["rejected"].any()  # not required by default: flagged
    assert result.table["quality_flags"].to_list() == [["truncated"]]


def test_truncated_imported_text_that_stops_mid_sentence():
    """Imported text has no finish reason (null = unknown): a mid-sentence end counts."""
    rows = complete("a", positive="Beavers need wood from the")
    for r in rows:
        r["finish_reason"] = None
    assert failures(run(rows, examples("a")), "truncated")["column"].to_list() == [
        "few_shot_positive_rationale"
    ]


@pytest.mark.parametrize(
    ("text", "mismatch"),
    [
        ("No, because it never happened. The answer is no.", True),
        ("The answer is no.\nIt never happened.", True),  # the echoed preamble counts
        ("It never happened. Therefore, the answer is actually **no**.", True),
        ("Yes, it holds. So the answer is yes.", False),
        ("It holds, no doubt about it.", False),
    ],
)
def test_answer_mismatch_against_the_conditioned_option(text, mismatch):
    result = run(complete("a", cf0=text), examples("a"))
    bad = failures(result, "answer_mismatch")
    assert (bad.height == 1) is mismatch
    if mismatch:
        assert bad["reason"].item() == "states 'no' but was asked to explain option 1 'yes'"
        assert bad["column"].item() == "counterfactual_prompt_answer_1_rationale"


def test_statement_matching_letters_articles_and_prefixes():
    rows = pl.LazyFrame(
        {
            "row_id": [0, 1, 2, 3],
            "benchmark": ["cqa"] * 4,
            "choices": [["bus depot", "beach", "bridge"]] * 4,
            "option_index": [2, 2, 2, 0],
            "scope": [
                "So the answer is (b).",
                "The answer is a bridge, since",
                "the correct answer is beach because",
                "Nothing is stated here.",
            ],
        }
    )
    out = statement_matches(rows).collect().sort("row_id")
    assert out["row_id"].to_list() == [0, 1, 2]
    assert out["states_other"].to_list() == [True, False, True]
    assert out["states_own"].to_list() == [False, True, False]


def test_duplicates_keep_the_first_copy():
    rows = [*complete("a"), dict(complete("a", positive="A second copy.")[0])]
    result = run(rows, examples("a"))
    bad = failures(result, "duplicate_example")
    assert bad.height == 1 and bad["column"].item() == "few_shot_positive_rationale"
    assert result.table["few_shot_positive_rationale"].to_list() == ["Because it is so."]


def test_unknown_example_ids_are_rejected():
    result = run(complete("a") + complete("zzz"), examples("a"))
    bad = failures(result, "unknown_example")
    assert bad["example_id"].to_list() == ["zzz"]
    assert bad["reason"].item() == "no example zzz in strategyqa/test"
    assert result.table["example_id"].to_list() == ["a"]


def test_gate_message_names_check_share_examples_and_rejects_dataset():
    rows = complete("a", cf1="Yes, it holds anyway.") + complete("b")
    result = run(rows, examples("a", "b"), answer_mismatch=CheckRule(max_share=0.1))
    with pytest.raises(ConsolidationQualityError) as err:
        enforce_thresholds(result.summary, result.rejects, "strategyqa.consolidation_rejects")
    message = str(err.value)
    assert (
        "strategyqa/test teacher 't': check 'answer_mismatch' failed for 1 of 2 rows (50.00%)"
        in message
    )
    assert "more than max_share=10.00%" in message
    assert "e.g. a [counterfactual_prompt_answer_2_rationale]: states 'yes'" in message
    assert "'strategyqa.consolidation_rejects'" in message
    assert isinstance(err.value, TooManyRejectionsError)
    # below the threshold, or with fail=False, it passes
    enforce_thresholds(result.summary, result.rejects, "x", fail=False)
    ok = run(rows, examples("a", "b"), answer_mismatch=CheckRule(max_share=0.5))
    enforce_thresholds(ok.summary, ok.rejects, "x")


def test_disabled_check_does_not_run():
    rows = complete("a", cf1="Yes, it holds anyway.")
    result = run(rows, examples("a"), answer_mismatch=CheckRule(enabled=False))
    assert result.rejects.is_empty()
    assert "answer_mismatch" not in result.summary["check"].to_list()


def test_empty_text_names_backend_errors():
    rows = complete("a")
    rows[3].update(text="", raw_text="", finish_reason="error")
    bad = failures(run(rows, examples("a")), "empty_text")
    assert bad["reason"].to_list() == [
        "no text: the backend reported an error (finish_reason 'error')"
    ]
