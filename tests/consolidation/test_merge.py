"""The merge on real study data: shards -> wide table; both paths give one schema."""

from __future__ import annotations

import polars as pl

from llm_distillation.cleaning import clean_text
from llm_distillation.consolidation.merge import (
    consolidate,
    consolidated_schema,
    counterfactual_column,
)
from llm_distillation.kedro_datasets.teacher_shards import TeacherShardsDataset
from llm_distillation.pipelines.consolidation.nodes import (
    consolidate_split,
    consolidate_study_split,
    import_study_outputs,
)
from llm_distillation.schema import N_OPTIONS
from tests.consolidation.conftest import study_raw
from tests.consolidation.helpers import generated_like, write_shards

STUDY_TASKS = ("positive_rationale", "counterfactual_rationale", "revision")


def test_study_import_gives_the_study_layout_with_cleaned_text(study_slices, shared_data):
    examples, long = study_slices["cqa", "llama", "test"]
    result = consolidate(
        long.lazy(), examples, benchmark="cqa", split="test", required_tasks=STUDY_TASKS
    )
    table = result.table
    assert table.schema == consolidated_schema("cqa")
    assert [c for c in table.columns if c.startswith("counterfactual_")] == [
        counterfactual_column(i) for i in range(5)
    ]
    assert set(table["split"]) == {"test"} and set(table["teacher"]) == {"llama"}
    assert table["critique"].null_count() == table.height  # the study kept no critiques
    # every kept row is the study's row, with the text cleaned by the documented rules
    raw = {
        r["id"]: r
        for _, r in study_raw(shared_data, "cqa", "llama", "test", 40).splits["test"].rows
    }
    for row in table.iter_rows(named=True):
        source = raw[row["example_id"]]
        assert row["question"] == source["question"] and row["choices"] == source["choices"]
        assert row["answer"] == source["answer"]
        assert row["choices"][row["answer_index"]] == source["answer"]
        expected = (
            pl.DataFrame({"t": [source["few_shot_revision"]]})
            .select(clean_text(pl.col("t")))
            .item()
        )
        assert row["few_shot_revision"] == expected
    # rows the checks rejected are all in the rejects, with a reason
    rejected = set(result.rejects.filter("rejected")["example_id"])
    assert rejected.isdisjoint(table["example_id"])
    assert table.height + len(rejected) == examples.height


def test_strategyqa_answer_bool_maps_to_yes_no(study_slices):
    examples, long = study_slices["strategyqa", "qwen", "test"]
    assert set(examples["choices"].list.join("/")) == {"yes/no"}
    yes = examples.filter(pl.col("answer") == "yes")
    assert set(yes["answer_index"]) == {0}
    cf = long.filter(pl.col("task") == "counterfactual_rationale")
    assert set(cf["option"]) == {"yes", "no"} and set(cf["option_index"]) == {0, 1}


def test_esnli_ids_are_content_ids_and_there_is_no_negative(study_slices):
    examples, long = study_slices["esnli", "llama", "train"]
    assert examples["example_id"].str.starts_with("esnli-").all()
    assert "negative_rationale" not in set(long["task"])
    result = consolidate(
        long.lazy(), examples, benchmark="esnli", split="train", required_tasks=STUDY_TASKS
    )
    assert result.table["few_shot_negative_rationale"].null_count() == result.table.height
    assert result.table.schema == consolidated_schema("esnli")


def test_shards_of_two_teachers_merge_into_one_table(study_slices, tmp_path):
    ex_llama, long_llama = study_slices["strategyqa", "llama", "test"]
    _, long_qwen = study_slices["strategyqa", "qwen", "test"]
    folder = tmp_path / "04_feature" / "teacher_outputs" / "strategyqa" / "test"
    write_shards(folder, pl.concat([long_llama, long_qwen]), shard_size=7)
    assert len(list(folder.glob("*/*/shard-*.parquet"))) == 2 * 3 * 6  # teachers × tasks × shards
    outputs = TeacherShardsDataset(path=str(folder)).load()
    table, rejects, summary = consolidate_split(
        outputs,
        ex_llama,
        {"required_tasks": list(STUDY_TASKS), "checks": {"answer_mismatch": {"required": False}}},
        {},
        benchmark="strategyqa",
        split="test",
    )
    assert set(table["teacher"]) == {"llama", "qwen"}
    per_teacher = dict(table.group_by("teacher").len().iter_rows())
    dropped = rejects.filter("rejected").group_by("teacher").agg(pl.col("example_id").n_unique())
    for teacher, n in dropped.iter_rows():
        per_teacher[teacher] += n
    assert per_teacher == {"llama": 40, "qwen": 40}
    assert set(summary["total_rows"]) == {40}


def test_generated_and_imported_paths_give_one_schema(study_slices, tmp_path, shared_data):
    """Generated shards (with critiques) and the study import -> identical table schemas."""
    for benchmark, teacher, split in (("cqa", "llama", "test"), ("esnli", "llama", "train")):
        examples, long = study_slices[benchmark, teacher, split]
        folder = tmp_path / benchmark / split
        write_shards(folder, generated_like(long), shard_size=16)
        ours, _, _ = consolidate_split(
            TeacherShardsDataset(path=str(folder)).load(),
            examples,
            {"checks": {"answer_mismatch": {"required": False}, "empty_text": {"max_share": 1}}},
            {},
            benchmark=benchmark,
            split=split,
        )
        ex, out, invalid = import_study_outputs(
            study_raw(shared_data, benchmark, teacher, split, 40), teacher=teacher
        )
        study, _, _ = consolidate_study_split(
            {}, {}, ex, out, invalid, benchmark=benchmark, split=split
        )
        assert ours.schema == study.schema == consolidated_schema(benchmark)
        assert ours.height > 0 and study.height > 0
        assert ours["critique"].null_count() == 0 and ours["critique_request"].null_count() == 0
        assert study["critique"].null_count() == study.height
        n = N_OPTIONS[benchmark]
        assert counterfactual_column(n - 1) in ours.columns
        assert counterfactual_column(n) not in ours.columns


def test_batches_by_example_give_the_same_result(study_slices):
    examples, long = study_slices["strategyqa", "qwen", "test"]
    dup = long.head(3)  # duplicated outputs must still be found across batches
    outputs = pl.concat([long, dup]).lazy()
    args = {"benchmark": "strategyqa", "split": "test", "required_tasks": STUDY_TASKS}
    whole = consolidate(outputs, examples, **args)
    batched = consolidate(outputs, examples, batch_rows=25, **args)
    assert whole.table.sort("example_id").equals(batched.table.sort("example_id"))
    assert whole.rejects.equals(batched.rejects)
    assert whole.summary.equals(batched.summary)
    assert batched.rejects.filter(pl.col("check") == "duplicate_example").height == 3
