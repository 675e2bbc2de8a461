"""The consolidation pipeline end to end through a KedroSession on a temporary data folder:
ingest, teacher shards in teacher_generation's layout (real study outputs of the sampled
examples, plus critiques), consolidation, rejects, gate and report."""

from __future__ import annotations

import json
from types import SimpleNamespace

import polars as pl
import pytest

from llm_distillation.consolidation.checks import ConsolidationQualityError
from llm_distillation.consolidation.merge import consolidated_schema
from llm_distillation.consolidation.study_import import import_study
from llm_distillation.schema import SPLITS
from llm_distillation.sources.formats import RawBenchmark, read_split
from llm_distillation.teacher.sharding import ShardStore
from tests.consolidation.helpers import generated_like, write_shards
from tests.kedro_session import PROJECT_ROOT, run_pipelines

PER_SPLIT = 12
LENIENT = {"checks": {"empty_text": {"max_share": 1.0}, "answer_mismatch": {"max_share": 1.0}}}


def _versions(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def _latest(path):
    return path / _versions(path)[-1] / path.name


def run_consolidation(data_dir, shared_data, params=None):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    runtime = {"data_dir": str(data_dir), "shared_data_dir": str(shared_data)}
    if params is not None:
        runtime["consolidation"] = params
    with KedroSession.create(
        project_path=PROJECT_ROOT, runtime_params=runtime, save_on_close=False
    ) as session:
        return session.run(pipeline_names=["consolidation"], tags=["consolidation_generated"])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, shared_data):
    """Ingested benchmarks + cqa teacher shards of ``PER_SPLIT`` examples per split."""
    root = tmp_path_factory.mktemp("consolidation_run")
    run_pipelines(["ingest"], root, params={"shared_data_dir": str(shared_data)})
    raw = RawBenchmark("cqa", "hf_disk", "hf")
    for split in ("train", "test"):
        raw.splits[split] = read_split(
            "cqa", "hf_disk", f"cqa-llama-{split}", root=shared_data / "llm_outputs/consolidated"
        )
    _, study_long, _ = import_study(raw, "llama")
    for split in SPLITS:
        examples = pl.read_parquet(_latest(root / "03_primary" / "cqa" / f"{split}.parquet"))
        ids = examples["example_id"].head(PER_SPLIT)
        long = generated_like(study_long.filter(pl.col("example_id").is_in(ids.implode())))
        long = long.with_columns(split=pl.lit(split))
        assert long["example_id"].n_unique() == PER_SPLIT
        write_shards(root / "04_feature" / "teacher_outputs" / "cqa" / split, long, shard_size=5)
    return root


def test_consolidation_writes_tables_rejects_and_report(data_dir, shared_data):
    run_consolidation(data_dir, shared_data, LENIENT)
    out = data_dir / "05_model_input" / "consolidated"
    for split in SPLITS:
        (version,) = _versions(out / "cqa" / split)
        files = sorted(p.name for p in (out / "cqa" / split / version / split).iterdir())
        assert files == ["llama.parquet"]
        table = pl.read_parquet(out / "cqa" / split / version / split / "llama.parquet")
        assert table.schema == consolidated_schema("cqa")
        assert set(table["split"]) == {split}  # splits carried through from ingest
        assert 0 < table.height <= PER_SPLIT
        assert table["critique_request"].null_count() == 0
        # benchmarks without teacher outputs give empty tables, not errors
        esnli = out / "esnli" / split
        assert pl.read_parquet(_latest(esnli) / "_empty.parquet").is_empty()
    rejects = pl.read_parquet(_latest(out / "cqa" / "consolidation_rejects.parquet"))
    assert set(rejects.columns) >= {
        "example_id",
        "benchmark",
        "teacher",
        "split",
        "check",
        "reason",
    }
    report_path = _latest(data_dir / "08_reporting" / "consolidation" / "quality_report.json")
    report = json.loads(report_path.read_text())
    assert {t["split"] for t in report["tables"]} == set(SPLITS)
    assert {r["kind"] for r in report["distractor_mentions"]} >= {"positive", "revision"}
    assert _versions(data_dir / "08_reporting" / "consolidation" / "quality_report.png")


def test_gate_fails_after_saving_rejects(data_dir, shared_data):
    # one critique of a dev example made empty: 1 of 12 rows > max_share 0
    folder = data_dir / "04_feature" / "teacher_outputs" / "cqa" / "dev" / "llama" / "critique"
    shard = sorted(folder.glob("shard-*.parquet"))[0]
    frame = pl.read_parquet(shard).with_columns(
        raw_text=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("\n")).otherwise("raw_text")
    )
    job = SimpleNamespace(teacher="llama", task="critique", shard=0, manifest={"edited": True})
    ShardStore(data_dir / "04_feature" / "teacher_outputs" / "cqa" / "dev").write(job, frame)

    rejects_dir = (
        data_dir / "05_model_input" / "consolidated" / "cqa" / "consolidation_rejects.parquet"
    )
    before = len(_versions(rejects_dir))
    tables_before = len(_versions(data_dir / "05_model_input" / "consolidated" / "cqa" / "dev"))
    strict = {"checks": {"empty_text": {"max_share": 0.0}, "answer_mismatch": {"max_share": 1.0}}}
    with pytest.raises(
        ConsolidationQualityError, match=r"cqa/dev teacher 'llama': check 'empty_text'"
    ):
        run_consolidation(data_dir, shared_data, strict)
    assert len(_versions(rejects_dir)) == before + 1  # saved before the gate failed
    latest = pl.read_parquet(_latest(rejects_dir))
    assert latest.filter(
        (pl.col("check") == "empty_text") & (pl.col("column") == "critique")
    ).height
    assert (
        len(_versions(data_dir / "05_model_input" / "consolidated" / "cqa" / "dev"))
        == tables_before
    )
