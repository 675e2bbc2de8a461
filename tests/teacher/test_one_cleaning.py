"""One cleaning of teacher text: the rationale a critique or revision prompt receives is exactly
the rationale consolidation stores (on the study's real raw outputs)."""

from __future__ import annotations

import polars as pl
import pytest
import yaml

from llm_distillation.cleaning import CleaningRules
from llm_distillation.consolidation.merge import consolidate
from llm_distillation.consolidation.study_import import import_study
from llm_distillation.pipelines.teacher_generation.params import TeacherGenerationParams
from llm_distillation.teacher.generate import build_jobs
from llm_distillation.teacher.prompts import PromptConfig
from llm_distillation.teacher.records import STUDY_TASK_COLUMNS
from llm_distillation.teacher.shard_job import output_table
from tests.conftest import PROJECT_ROOT
from tests.consolidation.conftest import study_raw

STUDY_TASKS = ("positive_rationale", "counterfactual_rationale", "revision")


def _prompts() -> PromptConfig:
    path = PROJECT_ROOT / "conf" / "base" / "parameters_teacher_prompts.yml"
    return PromptConfig.model_validate(yaml.safe_load(path.read_text())["teacher_prompts"])


@pytest.mark.parametrize(("benchmark", "split"), [("cqa", "test"), ("strategyqa", "test")])
def test_revision_prompts_receive_the_consolidated_rationale(shared_data, benchmark, split):
    """The study's StrategyQA rationales all need cleaning (a leading newline, trailing
    fragments); its CQA ones are already clean."""
    raw_study = study_raw(shared_data, benchmark, "llama", split, 80)
    examples, long, _ = import_study(raw_study, "llama")
    rules = CleaningRules()
    # What teacher_generation stores when a backend returns the study's raw positive rationale.
    positive = long.filter(pl.col("task") == "positive_rationale")
    stored = output_table(positive.drop("text", "is_empty").to_dicts(), rules)
    critique = "It does not say why the other choices are wrong."
    critiques = stored.with_columns(task=pl.lit("critique"), text=pl.lit(critique))
    params = TeacherGenerationParams.model_validate(
        {
            "teachers": {
                "llama": {
                    "backend": "transformers",
                    "options": {"model": "not-loaded-here"},
                    "benchmarks": [benchmark],
                }
            }
        }
    )
    jobs = build_jobs(
        examples, params, _prompts(), tasks=("critique", "revision"),
        rationales=stored.lazy(), critiques=critiques.lazy(), cleaning=rules,
    )  # fmt: skip
    table = consolidate(
        long.lazy(), examples, benchmark=benchmark, split=split, rules=rules,
        required_tasks=STUDY_TASKS,
    ).table  # fmt: skip
    consolidated = dict(
        zip(table["example_id"], table[STUDY_TASK_COLUMNS["positive_rationale"]], strict=True)
    )
    raw = dict(zip(positive["example_id"], positive["raw_text"], strict=True))
    checked = cleaned_differently = 0
    for job in jobs:
        for row, prompt, request in job._requests():
            eid = row["example_id"]
            if eid not in consolidated:  # the row left the table (a failed check)
                continue
            turn = request.messages[-1]["content"]
            assert f"The answer is {prompt.answer}. {consolidated[eid]}\n" in turn, eid
            checked += 1
            cleaned_differently += consolidated[eid] != raw[eid]
    assert checked >= 2 * 60  # critique and revision prompts of most of the 80 examples
    assert (cleaned_differently > 0) == (benchmark == "strategyqa")


def test_cleaning_rules_are_part_of_the_shard_manifest():
    params = TeacherGenerationParams.model_validate(
        {"teachers": {"t": {"backend": "transformers", "options": {"model": "m"}}}}
    )
    examples = pl.DataFrame(
        [
            {
                "example_id": "q1",
                "benchmark": "cqa",
                "split": "train",
                "question": "Where is a plate kept?",
                "premise": None,
                "hypothesis": None,
                "choices": ["cupboard", "river"],
                "answer": "cupboard",
                "answer_index": 0,
            }
        ]
    )
    manifests = [
        build_jobs(examples, params, _prompts(), tasks=("positive_rationale",), cleaning=r)
        .jobs[0]
        .manifest
        for r in (CleaningRules(), CleaningRules(keep="all"))
    ]
    assert manifests[0]["cleaning"]["keep"] == "first_line"
    assert manifests[0] != manifests[1]  # other rules: the shard is redone
