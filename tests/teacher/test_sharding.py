"""Shards, manifests, skipping, redoing and atomic writes (no model: scripted jobs)."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.teacher.sharding import ShardStore, run_jobs, shard_chunks
from tests.teacher.scripted_jobs import IDS, scripted_jobs


def test_shard_chunks_sorted_and_fixed():
    assert shard_chunks(["c", "a", "b", "a"], shard_size=2) == [["a", "b"], ["c"]]
    assert shard_chunks([f"x{i:02d}" for i in range(25)], num_shards=10)[0] == ["x00", "x01", "x02"]
    assert len(shard_chunks([f"x{i:02d}" for i in range(25)], num_shards=10)) == 9
    assert shard_chunks([], shard_size=3) == []
    with pytest.raises(ValueError, match="exactly one"):
        shard_chunks(IDS)


def test_skip_complete_and_redo_only_changed(tmp_path):
    store = ShardStore(tmp_path)
    first = scripted_jobs()
    assert run_jobs(store, first, tasks=["positive_rationale"])["computed"] == 3
    again = scripted_jobs()
    counts = run_jobs(store, again, tasks=["positive_rationale"])
    assert counts == {"computed": 0, "skipped": 3, "pruned": 0}
    assert all(not j.computed for j in again)
    changed = scripted_jobs({1: "b"})
    assert run_jobs(store, changed, tasks=["positive_rationale"])["computed"] == 1
    assert [j.computed for j in changed] == [[], [1], []]
    texts = store.scan().sort("example_id").collect()["text"].to_list()
    assert texts == ["a:e0", "a:e1", "", "b:e3", "a:e4"]


def test_stale_and_surplus_shards_are_pruned(tmp_path):
    store = ShardStore(tmp_path)
    run_jobs(store, scripted_jobs(size=1), tasks=["positive_rationale"])  # 5 shards
    run_jobs(store, scripted_jobs(size=2, teacher="other"), tasks=["positive_rationale"])
    assert len(store.complete_shards()) == 3  # teacher "t" (not configured now) removed
    run_jobs(store, scripted_jobs(size=3, teacher="other"), tasks=["positive_rationale"])
    frame = store.scan().collect()
    assert sorted(frame["example_id"]) == IDS  # no duplicate, none missing
    assert len(list((tmp_path / "other" / "positive_rationale").iterdir())) == 4


def test_prune_touches_only_owned_tasks(tmp_path):
    store = ShardStore(tmp_path)
    run_jobs(store, scripted_jobs(), tasks=["positive_rationale"])
    run_jobs(store, scripted_jobs(task="critique"), tasks=["critique"])
    run_jobs(store, [], tasks=["revision"])
    assert {t for _, t, *_ in store.complete_shards()} == {"positive_rationale", "critique"}
    with pytest.raises(ValueError, match="holds"):
        run_jobs(store, scripted_jobs(task="critique"), tasks=["revision"])


def test_crash_loses_only_the_shard_in_progress(tmp_path):
    store = ShardStore(tmp_path)
    jobs = scripted_jobs()
    jobs[2].fail = True
    with pytest.raises(RuntimeError, match="crashed"):
        run_jobs(store, jobs, tasks=["positive_rationale"])
    assert [s for _, _, s, *_ in store.complete_shards()] == [0, 1]
    rerun = scripted_jobs()
    run_jobs(store, rerun, tasks=["positive_rationale"])
    assert [j.computed for j in rerun] == [[], [], [2]]


def test_atomic_write_leaves_no_partial_shard(tmp_path, monkeypatch):
    store = ShardStore(tmp_path)
    run_jobs(store, scripted_jobs(), tasks=["positive_rationale"])

    def broken_write(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken_write)
    with pytest.raises(OSError, match="disk full"):
        run_jobs(store, scripted_jobs({0: "b"}), tasks=["positive_rationale"])
    folder = tmp_path / "t" / "positive_rationale"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    # shard 0 was invalidated before recomputing: not complete, never half-written
    assert [s for _, _, s, *_ in store.complete_shards()] == [1, 2]
    assert not (folder / "shard-00000.parquet").exists()
    monkeypatch.undo()
    assert sorted(store.scan().collect()["example_id"]) == IDS[2:]


def test_mismatching_manifest_is_incomplete(tmp_path):
    store = ShardStore(tmp_path)
    run_jobs(store, scripted_jobs(), tasks=["positive_rationale"])
    parquet, _ = store.paths("t", "positive_rationale", 1)
    parquet.write_bytes(parquet.read_bytes() + b"garbage")  # not what the manifest describes
    assert [s for _, _, s, *_ in store.complete_shards()] == [0, 2]
    rerun = scripted_jobs()
    run_jobs(store, rerun, tasks=["positive_rationale"])
    assert [j.computed for j in rerun] == [[], [1], []]
