"""Nodes of the consolidation pipeline: rejects collection, the gate, parameters."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.checks import (
    REJECTS_SCHEMA,
    SUMMARY_SCHEMA,
    ConsolidationQualityError,
)
from llm_distillation.pipelines import validate_parameters
from llm_distillation.pipelines.consolidation.nodes import (
    collect_rejects,
    enforce_quality_thresholds,
)


def summary(share: float, max_share: float = 0.02) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "benchmark": "cqa",
                "split": "train",
                "teacher": "llama",
                "check": "empty_text",
                "required": True,
                "failed_rows": int(share * 100),
                "total_rows": 100,
                "share": share,
                "max_share": max_share,
            }
        ],
        schema=SUMMARY_SCHEMA,
    )


def rejects(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "example_id": f"q{i}",
                "benchmark": "cqa",
                "split": "train",
                "teacher": "llama",
                "check": "empty_text",
                "column": "few_shot_revision",
                "reason": "empty after cleaning (raw text had 3 characters)",
                "rejected": True,
            }
            for i in range(n)
        ],
        schema=REJECTS_SCHEMA,
    )


def test_collect_rejects_of_all_splits_keeps_the_schemas():
    all_rejects, all_summary = collect_rejects(rejects(2), summary(0.02), rejects(0), summary(0.0))
    assert all_rejects.schema == REJECTS_SCHEMA and all_rejects.height == 2
    assert all_summary.schema == SUMMARY_SCHEMA and all_summary.height == 2
    empty_rejects, empty_summary = collect_rejects()
    assert empty_rejects.is_empty() and empty_summary.schema == SUMMARY_SCHEMA


def test_gate_passes_tables_on_within_thresholds():
    tables = (pl.DataFrame({"a": [1]}), pl.DataFrame({"a": [2]}))
    out = enforce_quality_thresholds(rejects(1), summary(0.01), {}, *tables, benchmark="cqa")
    assert out == tables


def test_gate_fails_loudly_with_reasons_and_dataset_name():
    with pytest.raises(ConsolidationQualityError) as err:
        enforce_quality_thresholds(rejects(5), summary(0.05), {}, pl.DataFrame(), benchmark="cqa")
    message = str(err.value)
    assert (
        "cqa/train teacher 'llama': check 'empty_text' failed for 5 of 100 rows (5.00%)" in message
    )
    assert "e.g. q0 [few_shot_revision]: empty after cleaning" in message
    assert "'cqa.consolidation_rejects'" in message


def test_study_gate_only_logs_by_default(caplog):
    out = enforce_quality_thresholds(
        rejects(5), summary(0.05), {}, pl.DataFrame(), benchmark="cqa", study=True
    )
    assert len(out) == 1
    assert "study_cqa.consolidation_rejects" in caplog.text
    with pytest.raises(ConsolidationQualityError):
        enforce_quality_thresholds(
            rejects(5),
            summary(0.05),
            {"study_import": {"enforce_thresholds": True}},
            pl.DataFrame(),
            benchmark="cqa",
            study=True,
        )


def test_parameters_are_validated_with_a_clear_message(project_root):
    with pytest.raises(ValueError, match=r"consolidation.*max_share"):
        validate_parameters({"consolidation": {"checks": {"empty_text": {"max_share": 2}}}})
    with pytest.raises(ValueError, match=r"unknown tasks \['rationale'\]"):
        validate_parameters({"consolidation": {"required_tasks": ["rationale"]}})
    with pytest.raises(ValueError, match=r"cleaning\.keep"):
        validate_parameters({"cleaning": {"keep": "first_sentence"}})
    with pytest.raises(ValueError, match=r"consolidation\.cleaning: Extra inputs"):
        validate_parameters({"consolidation": {"cleaning": {}}})  # now params:cleaning


def test_per_teacher_overrides_of_checks_and_required_tasks(study_slices):
    """`consolidation.teachers.<name>` replaces rules for that teacher's outputs only."""
    from llm_distillation.pipelines.consolidation.nodes import consolidate_split

    examples, long = study_slices["strategyqa", "llama", "test"]
    first = long["example_id"][0]
    long = long.filter(~((pl.col("example_id") == first) & (pl.col("task") == "revision")))
    both = pl.concat([long, long.with_columns(teacher=pl.lit("other"))])
    params = {
        "checks": {"empty_text": {"required": True, "max_share": 0.0}},
        "teachers": {
            "llama": {
                "required_tasks": ["positive_rationale", "counterfactual_rationale"],
                "checks": {"empty_text": {"required": True, "max_share": 0.5}},
            }
        },
    }
    table, failures, summary = consolidate_split(
        both, examples, params, {}, benchmark="strategyqa", split="test"
    )
    rule = {(r["teacher"], r["check"]): r["max_share"] for r in summary.iter_rows(named=True)}
    assert rule["llama", "empty_text"] == 0.5 and rule["other", "empty_text"] == 0.0
    # One revision is missing: required for "other" (default tasks), not for llama.
    missing = failures.filter(pl.col("check") == "missing_output")
    assert missing.select("teacher", "example_id").rows() == [("other", first)]
    assert set(table["teacher"]) <= {"llama", "other"}
    assert not table.filter(pl.col("teacher") == "llama").is_empty()


def test_teacher_overrides_name_unknown_checks():
    with pytest.raises(ValueError, match=r"consolidation.teachers.x.checks: .*unknown checks"):
        validate_parameters({"consolidation": {"teachers": {"x": {"checks": {"nope": {}}}}}})
