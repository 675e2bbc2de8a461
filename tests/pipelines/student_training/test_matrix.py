"""The experiment matrix: expansion, namespaces, and errors before any model is loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llm_distillation.pipelines import project_config_loader
from llm_distillation.pipelines.student_training.matrix import Cell, expand_matrix, matrix_cells
from tests.conftest import PROJECT_ROOT


def matrix_of(env):
    """The matrix of ``conf/base`` + ``conf/<env>``."""
    return expand_matrix(project_config_loader(env)["parameters"])


CONDITIONS = ["standard", "cf_unrevised", "mt_unrevised", "mt_cf_unrevised", "mt_cf_revised"]


def _params(**matrix):
    base = {
        "benchmarks": ["cqa"],
        "students": ["tiny"],
        "conditions": ["standard", "mt_cf_revised"],
        "seeds": [0, 1],
    }
    return {
        "student_training": {
            "matrix": {**base, **matrix},
            "students": {"tiny": {"kind": "t5_config"}, "other": {"kind": "t5_config"}},
            "data": {"train": {"n": 4}, "dev": {"n": 2}},
        }
    }


def test_cells_are_benchmark_student_condition_with_seeds_inside():
    cells = expand_matrix(_params(students=["tiny", "other"], benchmarks=["cqa", "esnli"]))
    assert len(cells) == 2 * 2 * 2
    assert cells[0] == Cell("cqa", "tiny", "standard", (0, 1))
    assert cells[0].namespace == "cqa_tiny_standard"
    assert [c.namespace for c in cells[:4]] == [
        "cqa_tiny_standard",
        "cqa_tiny_mt_cf_revised",
        "cqa_other_standard",
        "cqa_other_mt_cf_revised",
    ]
    assert len({c.namespace for c in cells}) == len(cells)


def test_default_matrix_is_the_pretrained_student_untrained_and_under_standard():
    cells = matrix_of("local")
    assert [c.namespace for c in cells] == [
        "esnli_smollm2_135m_untrained",
        "esnli_smollm2_135m_standard",
    ]
    assert {c.seeds for c in cells} == {(0,)}


def test_paper_matrix_is_the_studys_full_matrix():
    cells = matrix_of("paper")
    assert len(cells) == 3 * 3 * 4
    assert {c.benchmark for c in cells} == {"cqa", "esnli", "strategyqa"}
    assert {c.student for c in cells} == {"t5_v1_1_base", "t5_v1_1_large", "qwen3_0_6b"}
    assert {c.condition for c in cells} == set(CONDITIONS) - {"standard"}
    assert {c.seeds for c in cells} == {(0, 1, 2, 3, 4, 5)}


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({"students": ["tiny", "huge"]}, r"matrix\.students: unknown students \['huge'\]"),
        ({"conditions": ["mt_cf_revised", "mt_xx"]}, r"matrix\.conditions: unknown conditions"),
        ({"benchmarks": ["squad"]}, r"unknown benchmarks \['squad'\]"),
        ({"seeds": [0, 0]}, "seeds must be distinct"),
        ({"seeds": []}, "seeds"),
    ],
)
def test_bad_matrix_fails_naming_the_setting(matrix, message):
    with pytest.raises(ValueError, match=message):
        expand_matrix(_params(**matrix))


def test_names_must_be_namespace_safe_and_unique():
    params = _params(students=["tiny.v2"])
    params["student_training"]["students"]["tiny.v2"] = {"kind": "t5_config"}
    with pytest.raises(ValueError, match="lower-case words joined by '_'"):
        expand_matrix(params)
    clash = _params(students=["a_b", "a"], conditions=["b_c", "c"])
    clash["student_training"]["students"] |= {
        "a_b": {"kind": "t5_config"},
        "a": {"kind": "t5_config"},
    }
    clash["student_training"]["conditions"] = {"c": {"mode": "standard"}, "b_c": {"mode": "mt"}}
    with pytest.raises(ValueError, match="share the namespace 'cqa_a_b_c'"):
        expand_matrix(clash)


def test_declared_conditions_extend_the_named_ones():
    params = _params(conditions=["mt_cf_revised", "mt_cf_revised_g07"])
    params["student_training"]["conditions"] = {
        "mt_cf_revised_g07": {"name": "mt_cf_revised", "gamma": 0.7}
    }
    from llm_distillation.pipelines.student_training.params import StudentTrainingParams

    cfg = StudentTrainingParams.model_validate(params["student_training"])
    assert cfg.conditions["mt_cf_revised_g07"].gamma == 0.7
    assert cfg.conditions["mt_cf_revised"].gamma == 0.5
    assert [c.namespace for c in matrix_cells(cfg)][-1] == "cqa_tiny_mt_cf_revised_g07"
    params["student_training"]["conditions"] = {"bad": {"mode": "mt", "alpha": 1.5}}
    with pytest.raises(ValueError, match=r"conditions\.bad\.alpha"):
        StudentTrainingParams.model_validate(params["student_training"])


def test_training_overrides_are_validated_per_student():
    params = _params()
    params["student_training"]["training_overrides"] = {"tiny": {"batch_size": 0}}
    with pytest.raises(ValueError, match="batch_size"):
        expand_matrix(params)
    params["student_training"]["training_overrides"] = {"nobody": {"batch_size": 2}}
    with pytest.raises(ValueError, match=r"training_overrides: unknown students \['nobody'\]"):
        expand_matrix(params)


def test_expanding_the_matrix_loads_no_model_library():
    code = (
        "import sys\n"
        "from llm_distillation.pipelines import project_config_loader\n"
        "from llm_distillation.pipelines.student_training.matrix import expand_matrix\n"
        "assert len(expand_matrix(project_config_loader('paper')['parameters'])) == 36\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'accelerate') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_the_command_lists_the_namespaces():
    """``python -m llm_distillation.pipelines.student_training.matrix``: a cluster array's
    index."""
    command = [sys.executable, "-m", "llm_distillation.pipelines.student_training.matrix"]
    run = subprocess.run(
        [*command, "--env", "paper", "--seeds"],
        check=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert "RuntimeWarning" not in run.stderr  # runpy: the module was imported before it ran
    lines = run.stdout.splitlines()
    assert len(lines) == 36
    assert lines[0] == "cqa_t5_v1_1_base_cf_unrevised 0,1,2,3,4,5"
