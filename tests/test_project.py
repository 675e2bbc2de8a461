"""Project-wide conventions: registry, node names, layers, light imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

ENVS = ("base", "paper")


@pytest.fixture(scope="module")
def pipelines():
    from kedro.framework.project import pipelines as registry
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return dict(registry)


def test_default_pipeline_is_all_pipelines(pipelines):
    names = set(pipelines) - {"__default__"}
    assert "ingest" in names
    all_nodes = {n.name for name in names for n in pipelines[name].nodes}
    assert {n.name for n in pipelines["__default__"].nodes} == all_nodes


def test_every_node_has_an_explicit_name(pipelines):
    for name, pipeline in pipelines.items():
        for node in pipeline.nodes:
            # Kedro derives "func([inputs]) -> [outputs]" when name= is missing.
            assert node._name is not None, f"pipeline {name}: node {node} has no name="


def test_registry_and_package_import_do_not_load_torch():
    code = (
        "import sys\n"
        "from kedro.framework.startup import bootstrap_project\n"
        f"bootstrap_project(r'{PROJECT_ROOT}')\n"
        "from kedro.framework.project import pipelines\n"
        "list(pipelines['__default__'].nodes)\n"
        "import llm_distillation.hooks, llm_distillation.kedro_datasets\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'datasets', 'vllm') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_a_cheap_run_prints_no_warning(tmp_path, shared_data):
    """Known-harmless warnings are silenced in one place (``settings.quiet_known_warnings``),
    the others fixed: a run of the ingest pipeline and of the study's statistics prints none."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    params = f"data_dir={tmp_path},shared_data_dir={shared_data}"
    for selection in (
        ["--pipelines", "ingest"],
        ["--pipelines", "reporting", "--tags", "study_analysis"],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "kedro", "run", *selection, "--params", params],
            check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        log = run.stdout + run.stderr
        assert run.returncode == 0, log[-3000:]
        warned = [line for line in log.splitlines() if "Warning" in line or "WARNING" in line]
        # kedro-viz's own note on runs of part of the pipeline (the default run is whole)
        warned = [w for w in warned if "Workflow tracking is disabled" not in w]
        assert not warned, f"{selection}: {warned}"


def test_parameter_files_have_one_top_level_key_named_after_the_file():
    for path in sorted((PROJECT_ROOT / "conf").glob("*/parameters_*.yml")):
        keys = list(yaml.safe_load(path.read_text()) or {})
        assert keys == [path.stem.removeprefix("parameters_")], path


# Every environment with a catalog (conf/local too, when it has one).
CATALOG_ENVS = sorted({p.parent.name for p in (PROJECT_ROOT / "conf").glob("*/catalog*.yml")})


@pytest.mark.parametrize("env", CATALOG_ENVS)
def test_persisted_catalog_entries_have_a_viz_layer(env):
    """Plain entries and dataset factories ("{benchmark}.examples") alike (the lineage test
    checks the resolved datasets of every registered pipeline in the kedro-viz graph)."""
    assert set(ENVS) <= set(CATALOG_ENVS)
    for path in sorted((PROJECT_ROOT / "conf" / env).glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if name.startswith("_") or not isinstance(entry, dict):
                continue
            layer = (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")
            assert layer, f"{env}/{path.name}: {name} has no metadata.kedro-viz.layer"


def test_environments_repeat_no_catalog_entry_of_base():
    """An environment holds only what differs from conf/base."""
    base = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("catalog*.yml")):
        base.update(yaml.safe_load(path.read_text()) or {})
    for env in ENVS[1:]:
        for path in sorted((PROJECT_ROOT / "conf" / env).glob("catalog*.yml")):
            for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
                if not name.startswith("_"):
                    assert entry != base.get(name), f"conf/{env}/{path.name}: {name} = base"


def _leaves(tree: object, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    if isinstance(tree, dict) and tree:
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, (*path, key)).items()}
    return {path: tree}


PARAMETER_ENVS = sorted(
    {p.parent.name for p in (PROJECT_ROOT / "conf").glob("*/parameters*.yml")} - {"base"}
)


@pytest.mark.parametrize("env", PARAMETER_ENVS)
def test_environments_repeat_no_parameter_of_base(env):
    """Parameters are merged leaf by leaf (settings.py: ``merge_strategy: {parameters:
    soft}``), so an environment states only the leaves that differ from conf/base."""
    base = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters*.yml")):
        base.update(_leaves(yaml.safe_load(path.read_text()) or {}))
    for path in sorted((PROJECT_ROOT / "conf" / env).glob("parameters*.yml")):
        for leaf, value in _leaves(yaml.safe_load(path.read_text()) or {}).items():
            assert base.get(leaf, object()) != value, (
                f"conf/{env}/{path.name}: {'.'.join(leaf)} = {value!r} repeats conf/base"
            )


def test_paper_parameters_merge_into_base_leaf_by_leaf():
    """conf/paper's parameters on top of base's: its own leaves win, base's others stay, and
    a base teacher or student set to null is gone (``config.without_removed``)."""
    from kedro.config import OmegaConfigLoader

    from llm_distillation.pipelines import validate_parameters
    from llm_distillation.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env="paper", **CONFIG_LOADER_ARGS)
    params = validate_parameters(loader["parameters"])
    assert set(params["teacher_generation"].teachers) == {"qwen3-30b-a3b", "endpoint"}
    assert params["teacher_generation"].sharding.num_shards == 10
    assert set(params["student_training"].students) == {
        "t5_v1_1_base", "t5_v1_1_large", "qwen3_0_6b"
    }  # fmt: skip
    training = params["student_training"].training
    assert (training.max_steps, training.schedule, training.save_dtype) == (5000, "linear", None)
    cqa = params["ingest"].benchmarks["cqa"]
    assert cqa.train.n is None and cqa.test.n is None  # the full splits
    consolidation = params["consolidation"]
    assert consolidation.teachers == {} and consolidation.checks.missing_example.enabled
    assert consolidation.study_import.enforce_thresholds is False  # base's, kept
    evaluation = params["evaluation"]
    assert (evaluation.engine.batch_size, evaluation.engine.max_context) == (48, 512)


def test_paper_environment_resolves_without_gpu_or_hub():
    """`--env paper`: every parameter block validates and every dataset of every registered
    pipeline instantiates (nothing is loaded: no GPU, no Hub)."""
    from kedro.config import OmegaConfigLoader
    from kedro.framework.startup import bootstrap_project
    from kedro.io import DataCatalog

    from llm_distillation.pipeline_registry import register_pipelines
    from llm_distillation.pipelines import validate_parameters
    from llm_distillation.settings import CONFIG_LOADER_ARGS

    bootstrap_project(PROJECT_ROOT)
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env="paper", **CONFIG_LOADER_ARGS)
    validated = validate_parameters(loader["parameters"])
    assert {"ingest", "teacher_generation", "consolidation", "cleaning"} <= set(validated)
    pipelines = register_pipelines(loader)
    catalog = DataCatalog.from_config(loader["catalog"], credentials={})
    names = {d for p in pipelines.values() for d in p.datasets() if not d.startswith("params:")}
    names -= {"parameters"}
    persisted = {n: ds for n in sorted(names) if (ds := catalog.get(n)) is not None}  # builds
    for name in ("cqa.source", "cqa.train_examples", "teacher_model", "cqa.teacher_outputs_train",
                 "study_cqa_llama.source", "study_cqa.consolidated_train"):  # fmt: skip
        assert name in persisted, name
    hub = catalog.get("cqa.source")
    assert hub._describe()["format"] == "hf_hub"  # the paper reads the Hub, not the samples
    # e-SNLI is evaluated on ingest's test split (the study kept no e-SNLI test outputs); the
    # metrics that need the teacher's text are skipped, with reasons, in a reporting table
    assert validated["evaluation"].test_tables == {"esnli": "ingest"}
    evaluation = pipelines["evaluation"]
    esnli = [n for n in evaluation.nodes if n.namespace and n.namespace.startswith("esnli_")]
    assert len({n.namespace for n in esnli}) == 12  # 3 students x 4 conditions
    assert {"esnli.test_examples"} == {
        i for n in esnli for i in n.inputs if i.endswith(("_test", "test_examples"))
    }
    assert "study_esnli.consolidated_test" not in evaluation.inputs()
    assert "esnli.test_examples" in pipelines["ingest"].all_outputs()
    for name in ("esnli.test_examples", "evaluation.skipped_metrics_all",
                 "esnli_qwen3_0_6b_mt_cf_revised.skipped_metrics"):  # fmt: skip
        assert name in persisted, name


def test_the_data_folder_size_counts_a_hard_linked_file_once(tmp_path):
    import os

    from llm_distillation.hooks import folder_size

    (tmp_path / "a").write_bytes(b"x" * 1000)
    os.link(tmp_path / "a", tmp_path / "b")  # the catalog links finished students
    (tmp_path / "c").symlink_to(tmp_path / "a")
    assert folder_size(tmp_path) == (1000, 1)
