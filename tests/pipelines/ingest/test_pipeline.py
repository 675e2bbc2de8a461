"""The ingest pipeline end to end through a KedroSession on the embedded default."""

from __future__ import annotations

import json

import polars as pl
import pytest

from llm_distillation.errors import MissingSampleDataError, TooManyRejectionsError
from llm_distillation.schema import BENCHMARKS, EXAMPLE_SCHEMA, SPLITS
from tests.kedro_session import run_pipelines


def _versions(path):
    """The version folders of a versioned dataset (one per run)."""
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def test_ingest_writes_versioned_tables_for_every_benchmark(tmp_path, shared_data):
    run_pipelines(["ingest"], tmp_path, params={"shared_data_dir": str(shared_data)})
    sizes = {}
    for benchmark in BENCHMARKS:
        ids: dict[str, set[str]] = {}
        for split in SPLITS:
            folder = tmp_path / "03_primary" / benchmark / f"{split}.parquet"
            (version,) = _versions(folder)
            table = pl.read_parquet(folder / version / f"{split}.parquet")
            assert table.schema == EXAMPLE_SCHEMA
            assert set(table["split"]) == {split} and set(table["benchmark"]) == {benchmark}
            ids[split] = set(table["example_id"])
            sizes[benchmark, split] = table.height
        assert not ids["train"] & ids["dev"] and not ids["train"] & ids["test"]
        rejected = tmp_path / "02_intermediate" / benchmark / "rejected_examples.parquet"
        assert len(_versions(rejected)) == 1
    assert sizes["cqa", "train"] + sizes["cqa", "dev"] == 600
    assert sizes["cqa", "dev"] == 60 and sizes["cqa", "test"] == 300
    assert sizes["strategyqa", "test"] == 229

    # A second run adds a new version and keeps the first.
    run_pipelines(["ingest"], tmp_path, params={"shared_data_dir": str(shared_data)})
    assert len(_versions(tmp_path / "03_primary" / "cqa" / "train.parquet")) == 2


def test_missing_sample_folder_stops_at_once_with_help(tmp_path):
    with pytest.raises(MissingSampleDataError) as err:
        run_pipelines(["ingest"], tmp_path, params={"shared_data_dir": str(tmp_path / "nowhere")})
    message = str(err.value)
    assert "does not exist" in message and "shared_data_dir" in message
    assert "--env paper" in message
    assert not (tmp_path / "02_intermediate").exists()


def test_invalid_parameters_fail_before_running(tmp_path, shared_data):
    with pytest.raises(
        ValueError, match=r"ingest.dev_fraction: Input should be less than 1 \(got 2\b"
    ):
        run_pipelines(
            ["ingest"],
            tmp_path,
            params={"shared_data_dir": str(shared_data), "ingest": {"dev_fraction": 2}},
        )
    assert not (tmp_path / "02_intermediate").exists()


def test_rejections_are_saved_before_the_run_fails(tmp_path, shared_data):
    """A bad row fails the run (default share 0), and its rejection record is kept."""
    samples = tmp_path / "samples"
    (samples / "strategyqa").mkdir(parents=True)
    rows = json.loads((shared_data / "strategyqa/train.json").read_text())[:40]
    rows[7]["answer"] = None
    (samples / "strategyqa/train.json").write_text(json.dumps(rows))
    (samples / "strategyqa/dev.json").write_text((shared_data / "strategyqa/dev.json").read_text())
    out = tmp_path / "out"
    with pytest.raises(TooManyRejectionsError, match=r"strategyqa: 1 of 269 rows rejected"):
        run_pipelines(
            ["ingest"], out, params={"shared_data_dir": str(samples)}, namespaces=["strategyqa"]
        )
    folder = out / "02_intermediate/strategyqa/rejected_examples.parquet"
    (version,) = _versions(folder)
    rejected = pl.read_parquet(folder / version / "rejected_examples.parquet")
    assert rejected.select("source_row", "field", "example_id").row(0) == (
        7,
        "answer",
        rows[7]["qid"],
    )
    assert rejected["source_file"][0] == str(samples / "strategyqa/train.json")
    assert not (out / "03_primary").exists()
