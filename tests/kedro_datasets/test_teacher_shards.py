"""TeacherShardsDataset: the load contract, the stats view, ``exists`` of a planned save, and
the catalog example of its docstring (scripted jobs, no model)."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.kedro_datasets.teacher_shards import TeacherShardsDataset
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA
from llm_distillation.teacher.sharding import ShardStore
from tests.teacher.scripted_jobs import scripted_jobs


def test_dataset_load_contract_and_stats(tmp_path):
    ds = TeacherShardsDataset(path=str(tmp_path / "cqa" / "train"))
    empty = ds.load()
    assert isinstance(empty, pl.LazyFrame)
    assert empty.collect_schema() == TEACHER_OUTPUT_SCHEMA
    assert not ds.exists()
    ds.save(scripted_jobs())
    critiques = TeacherShardsDataset(path=str(tmp_path / "cqa" / "train"), tasks=["critique"])
    critiques.save(scripted_jobs(task="critique"))
    assert ds.exists()
    frame = ds.load().collect()
    assert frame.height == 10 and frame.schema == TEACHER_OUTPUT_SCHEMA
    assert critiques.load().collect()["task"].unique().to_list() == ["critique"]
    stats = TeacherShardsDataset(path=str(tmp_path / "cqa" / "train"), view="stats").load()
    assert stats.height == 6
    row = stats.filter(pl.col("task") == "critique", pl.col("shard") == 0).row(0, named=True)
    assert row["examples"] == 0 or row["rows"] == 2  # scripted jobs have no example_ids
    totals = stats.select(pl.col("empty_outputs", "length_truncations", "prompt_truncations").sum())
    assert totals.row(0) == (2, 2, 2)
    with pytest.raises(Exception, match="unknown teacher tasks"):
        TeacherShardsDataset(path=str(tmp_path), tasks=["summary"])


def test_exists_only_when_every_planned_shard_is_complete(tmp_path):
    """A save plans its shards first: a half-finished generation does not exist (so
    `kedro run --only-missing-outputs` redoes it), a finished one does, a lost shard does not."""
    ds = TeacherShardsDataset(path=str(tmp_path), tasks=["positive_rationale"])
    assert not ds.exists()
    jobs = scripted_jobs()
    jobs[2].fail = True
    with pytest.raises(Exception, match="crashed"):  # kedro wraps it in a DatasetError
        ds.save(jobs)
    store = ShardStore(tmp_path)
    assert len(store.complete_shards()) == 2 and not ds.exists()
    ds.save(scripted_jobs())
    assert ds.exists()
    store.invalidate("t", "positive_rationale", 0)
    assert not ds.exists()
    ds.save(scripted_jobs())
    changed = scripted_jobs({1: "b"})  # another setting: planned anew, so complete again once saved
    ds.save(changed)
    assert ds.exists() and [j.computed for j in changed] == [[], [1], []]
    other = TeacherShardsDataset(path=str(tmp_path), tasks=["critique"])
    assert not other.exists()  # a plan per set of owned tasks
