"""teacher_generation: structure, parameter checks, no heavy imports, a run in a session."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from llm_distillation.pipelines import validate_parameters
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA

from ...conftest import PROJECT_ROOT
from ...kedro_session import run_pipelines
from .conftest import copy_ingested


def _base_params() -> dict:
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local")
    return loader["parameters"]


def test_pipeline_order_and_names():
    from llm_distillation.pipelines.teacher_generation import create_pipeline

    pipe = create_pipeline()
    names = [n.name for n in pipe.nodes]
    assert len(names) == len(set(names))
    assert "teacher_model_source" in names
    order = [n.name for n in pipe.nodes if n.name.startswith("cqa.") and n.name.endswith("_dev")]
    assert order == [
        "cqa.rationale_jobs_dev",
        "cqa.critique_jobs_dev",
        "cqa.revision_jobs_dev",
        "cqa.summarize_generation_dev",
    ]
    outputs = pipe.all_outputs()
    for b in ("cqa", "esnli", "strategyqa"):
        for s in ("train", "dev", "test"):
            assert f"{b}.teacher_outputs_{s}" in outputs
            assert f"{b}.teacher_generation_stats_{s}" in outputs


def test_registry_imports_no_torch_or_transformers():
    code = (
        "import sys\n"
        "from kedro.framework.startup import bootstrap_project\n"
        f"bootstrap_project({str(PROJECT_ROOT)!r})\n"
        "from kedro.framework.project import pipelines\n"
        "assert 'teacher_generation' in dict(pipelines)\n"
        "from llm_distillation.pipelines import parameter_models\n"
        "parameter_models()\n"
        "import llm_distillation.kedro_datasets.teacher_shards\n"
        "import llm_distillation.pipelines.teacher_generation.nodes\n"
        "print([m for m in ('torch', 'transformers', 'vllm') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backend": "llamacpp"}, "unknown teacher backend 'llamacpp'; allowed"),
        ({"tasks": ["positive_rationale", "summary"]}, "unknown teacher tasks"),
        ({"tasks": ["critique"]}, "needs the positive_rationale task"),
        ({"examples": {"validation": 3}}, "unknown splits"),
        ({"benchmarks": ["squad"]}, "unknown benchmarks"),
        ({"benchmark_tasks": {"squad": ["revision"]}}, "benchmark_tasks: unknown benchmarks"),
        ({"benchmark_tasks": {"cqa": ["summary"]}}, "unknown teacher tasks"),
        ({"benchmark_tasks": {"esnli": ["revision"]}}, r"needs the critique task \(esnli\)"),
    ],
)
def test_bad_parameters_fail_naming_allowed_values(change, message):
    params = _base_params()
    params["teacher_generation"]["teachers"]["smollm2"].update(change)
    with pytest.raises(ValueError, match=message):
        validate_parameters(params)


def test_bad_backend_fails_before_anything_runs(tmp_path):
    bad = {"teacher_generation": {"teachers": {"smollm2": {"backend": "nope"}}}}
    with pytest.raises(ValueError, match=r"allowed: \['transformers'"):
        run_pipelines(["teacher_generation"], tmp_path, params=bad)
    assert not any(tmp_path.iterdir())  # nothing converted, loaded or written


def test_bad_prompts_fail_in_the_first_node(tmp_path, ingested):
    data_dir = copy_ingested(ingested, tmp_path / "data")
    params = {"teacher_prompts": {"demos_per_task": {"summary": 1}}}
    with pytest.raises(ValueError, match="unknown tasks"):
        run_pipelines(["teacher_generation"], data_dir, params=params)
    assert not (data_dir / "06_models").exists()


def test_generating_teacher_through_a_session_and_resume(
    tmp_path, ingested, shared_data, tiny_teacher, created_backends
):
    """A tiny real model as the only teacher: every configured example and task, `text` cleaned
    by params:cleaning (recorded in the manifests), stats, backends closed after each save, and
    a rerun that skips every shard and creates no backend."""
    data_dir = copy_ingested(ingested, tmp_path / "data")
    params = {
        "shared_data_dir": str(shared_data),
        "teacher_generation": {
            "teachers": {
                "smollm2": {
                    "use_teacher_model": False,
                    "options": {"model": str(tiny_teacher), "batch_size": 8, "max_context": 1024},
                    "decoding": {"max_new_tokens": 6},
                    "benchmarks": ["cqa", "strategyqa"],
                    "examples": {"train": 3, "dev": 0, "test": 0},
                }
            }
        },
    }
    run_pipelines(["teacher_generation"], data_dir, params=params)
    folder = data_dir / "04_feature" / "teacher_outputs" / "cqa" / "train"
    frame = pl.read_parquet(sorted(folder.glob("*/*/shard-*.parquet")))
    assert frame.schema == TEACHER_OUTPUT_SCHEMA
    assert set(frame["teacher"]) == {"smollm2"}
    counts = dict(frame.group_by("task").len().iter_rows())
    assert counts == {
        "positive_rationale": 3,
        "negative_rationale": 3,
        "counterfactual_rationale": 15,
        "critique": 3,
        "revision": 3,
    }
    assert frame.select("task", "example_id", "option_index").is_unique().all()
    assert frame["finish_reason"].is_in(["stop", "length"]).all()
    assert frame.filter(pl.col("task") == "critique")["critique_request"].null_count() == 0
    record = json.loads(sorted(folder.glob("smollm2/*/*.manifest.json"))[0].read_text())
    assert record["manifest"]["cleaning"]["keep"] == "first_line"
    assert record["manifest"]["example_ids"] == sorted(record["manifest"]["example_ids"])
    stats_dir = data_dir / "08_reporting" / "teacher_generation" / "cqa" / "train_stats.parquet"
    stats = pl.read_parquet(sorted(stats_dir.glob("*/*")))
    assert stats["rows"].sum() == frame.height
    sqa = data_dir / "04_feature" / "teacher_outputs" / "strategyqa" / "train"
    assert pl.read_parquet(sorted(sqa.glob("*/*/shard-*.parquet"))).height == 3 * 2 + 3 * 4
    assert not (data_dir / "04_feature/teacher_outputs/esnli/train/smollm2").exists()

    before = {p: p.stat().st_mtime_ns for p in folder.glob("*/*/*")}
    assert created_backends and all(b._engine is None for b in created_backends)  # closed
    created_backends.clear()
    run_pipelines(["teacher_generation"], data_dir, params=params)
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/*/*")} == before  # all skipped
    assert not created_backends  # and no backend was created

    # A half-finished generation (the shard in progress has no manifest, as after a kill) is a
    # missing output: --only-missing-outputs redoes exactly that shard.
    lost = folder / "smollm2" / "counterfactual_rationale" / "shard-00001.manifest.json"
    lost.unlink()
    run_pipelines(["teacher_generation"], data_dir, params=params, only_missing_outputs=True)
    after = {p: p.stat().st_mtime_ns for p in folder.glob("*/*/*")}
    redone = {p for p in after if after[p] != before.get(p)}
    assert redone == {lost, lost.with_name("shard-00001.parquet")}
