"""Shards, manifests, skipping, redoing and atomic writes (no model: scripted jobs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pytest

from llm_distillation.kedro_datasets.teacher_shards import TeacherShardsDataset
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA
from llm_distillation.teacher.sharding import ShardStore, run_jobs, shard_chunks


@dataclass
class ScriptedJob:
    """A shard job whose output is a function of its ids and a `setting`."""

    teacher: str
    task: str
    shard: int
    ids: list[str]
    setting: str = "a"
    fail: bool = False
    computed: list[int] = field(default_factory=list)

    @property
    def manifest(self) -> dict[str, Any]:
        return {"teacher": self.teacher, "task": self.task, "ids": self.ids, "s": self.setting}

    @property
    def size(self) -> int:
        return len(self.ids)

    def compute(self, progress=None) -> pl.DataFrame:
        if self.fail:
            raise RuntimeError("backend crashed")
        self.computed.append(self.shard)
        if progress:
            progress(len(self.ids), 3 * len(self.ids))
        return pl.DataFrame(
            [
                {
                    "example_id": i,
                    "benchmark": "cqa",
                    "split": "train",
                    "teacher": self.teacher,
                    "task": self.task,
                    "option_index": 0,
                    "option": "x",
                    "text": f"{self.setting}:{i}" if i != "e2" else "",
                    "raw_text": f"{self.setting}:{i}",
                    "prompt_tokens": 10,
                    "generated_tokens": 3,
                    "finish_reason": "length" if i == "e0" else "stop",
                    "is_empty": i == "e2",
                    "prompt_truncated": i == "e1",
                    "critique_request": None,
                }
                for i in self.ids
            ],
            schema=TEACHER_OUTPUT_SCHEMA,
        )


IDS = [f"e{i}" for i in range(5)]


def _jobs(setting_by_shard=None, task="positive_rationale", teacher="t", size=2):
    setting_by_shard = setting_by_shard or {}
    return [
        ScriptedJob(teacher, task, i, ids, setting_by_shard.get(i, "a"))
        for i, ids in enumerate(shard_chunks(IDS, shard_size=size))
    ]


def test_shard_chunks_sorted_and_fixed():
    assert shard_chunks(["c", "a", "b", "a"], shard_size=2) == [["a", "b"], ["c"]]
    assert shard_chunks([f"x{i:02d}" for i in range(25)], num_shards=10)[0] == ["x00", "x01", "x02"]
    assert len(shard_chunks([f"x{i:02d}" for i in range(25)], num_shards=10)) == 9
    assert shard_chunks([], shard_size=3) == []
    with pytest.raises(ValueError, match="exactly one"):
        shard_chunks(IDS)


def test_skip_complete_and_redo_only_changed(tmp_path):
    store = ShardStore(tmp_path)
    first = _jobs()
    assert run_jobs(store, first, tasks=["positive_rationale"])["computed"] == 3
    again = _jobs()
    counts = run_jobs(store, again, tasks=["positive_rationale"])
    assert counts == {"computed": 0, "skipped": 3, "pruned": 0}
    assert all(not j.computed for j in again)
    changed = _jobs({1: "b"})
    assert run_jobs(store, changed, tasks=["positive_rationale"])["computed"] == 1
    assert [j.computed for j in changed] == [[], [1], []]
    texts = store.scan().sort("example_id").collect()["text"].to_list()
    assert texts == ["a:e0", "a:e1", "", "b:e3", "a:e4"]


def test_stale_and_surplus_shards_are_pruned(tmp_path):
    store = ShardStore(tmp_path)
    run_jobs(store, _jobs(size=1), tasks=["positive_rationale"])  # 5 shards
    run_jobs(store, _jobs(size=2, teacher="other"), tasks=["positive_rationale"])
    assert len(store.complete_shards()) == 3  # teacher "t" (not configured now) removed
    run_jobs(store, _jobs(size=3, teacher="other"), tasks=["positive_rationale"])
    frame = store.scan().collect()
    assert sorted(frame["example_id"]) == IDS  # no duplicate, none missing
    assert len(list((tmp_path / "other" / "positive_rationale").iterdir())) == 4


def test_prune_touches_only_owned_tasks(tmp_path):
    store = ShardStore(tmp_path)
    run_jobs(store, _jobs(), tasks=["positive_rationale"])
    run_jobs(store, _jobs(task="critique"), tasks=["critique"])
    run_jobs(store, [], tasks=["revision"])
    assert {t for _, t, *_ in store.complete_shards()} == {"positive_rationale", "critique"}
    with pytest.raises(ValueError, match="holds"):
        run_jobs(store, _jobs(task="critique"), tasks=["revision"])


def test_crash_loses_only_the_shard_in_progress(tmp_path):
    store = ShardStore(tmp_path)
    jobs = _jobs()
    jobs[2].fail = True
    with pytest.raises(RuntimeError, match="crashed"):
        run_jobs(store, jobs, tasks=["positive_rationale"])
    assert [s for _, _, s, *_ in store.complete_shards()] == [0, 1]
    rerun = _jobs()
    run_jobs(store, rerun, tasks=["positive_rationale"])
    assert [j.computed for j in rerun] == [[], [], [2]]


def test_atomic_write_leaves_no_partial_shard(tmp_path, monkeypatch):
    store = ShardStore(tmp_path)
    run_jobs(store, _jobs(), tasks=["positive_rationale"])

    def broken_write(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken_write)
    with pytest.raises(OSError, match="disk full"):
        run_jobs(store, _jobs({0: "b"}), tasks=["positive_rationale"])
    folder = tmp_path / "t" / "positive_rationale"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    # shard 0 was invalidated before recomputing: not complete, never half-written
    assert [s for _, _, s, *_ in store.complete_shards()] == [1, 2]
    assert not (folder / "shard-00000.parquet").exists()
    monkeypatch.undo()
    assert sorted(store.scan().collect()["example_id"]) == IDS[2:]


def test_mismatching_manifest_is_incomplete(tmp_path):
    store = ShardStore(tmp_path)
    run_jobs(store, _jobs(), tasks=["positive_rationale"])
    parquet, _ = store.paths("t", "positive_rationale", 1)
    parquet.write_bytes(parquet.read_bytes() + b"garbage")  # not what the manifest describes
    assert [s for _, _, s, *_ in store.complete_shards()] == [0, 2]
    rerun = _jobs()
    run_jobs(store, rerun, tasks=["positive_rationale"])
    assert [j.computed for j in rerun] == [[], [1], []]


def test_dataset_load_contract_and_stats(tmp_path):
    ds = TeacherShardsDataset(path=str(tmp_path / "cqa" / "train"))
    empty = ds.load()
    assert isinstance(empty, pl.LazyFrame)
    assert empty.collect_schema() == TEACHER_OUTPUT_SCHEMA
    assert not ds.exists()
    ds.save(_jobs())
    critiques = TeacherShardsDataset(path=str(tmp_path / "cqa" / "train"), tasks=["critique"])
    critiques.save(_jobs(task="critique"))
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
    jobs = _jobs()
    jobs[2].fail = True
    with pytest.raises(Exception, match="crashed"):  # kedro wraps it in a DatasetError
        ds.save(jobs)
    store = ShardStore(tmp_path)
    assert len(store.complete_shards()) == 2 and not ds.exists()
    ds.save(_jobs())
    assert ds.exists()
    store.invalidate("t", "positive_rationale", 0)
    assert not ds.exists()
    ds.save(_jobs())
    changed = _jobs({1: "b"})  # another setting: planned anew, so complete again once saved
    ds.save(changed)
    assert ds.exists() and [j.computed for j in changed] == [[], [1], []]
    other = TeacherShardsDataset(path=str(tmp_path), tasks=["critique"])
    assert not other.exists()  # a plan per set of owned tasks
