"""Performance analysis on this project's accuracy table, and input errors."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.reporting.performance import (
    analyse_performance,
    from_accuracy_table,
    prepare_experiment,
)


def _accuracy(seeds: int) -> pl.DataFrame:
    base = {"mt": 0.64, "cf": 0.52, "std": 0.58}
    return pl.DataFrame(
        [
            {
                "benchmark": "cqa",
                "student": student,
                "condition": cond,
                "seed": seed,
                "accuracy": acc + 0.01 * seed + (0.1 if student == "large" else 0.0),
            }
            for student in ("small", "large")
            for cond, acc in base.items()
            for seed in range(seeds)
        ]
    )


def test_one_seed_reports_not_possible() -> None:
    data = from_accuracy_table(_accuracy(1), "cqa", {"small": "220M", "large": "770M"})
    out = analyse_performance(data, conditions=None)
    tests = out["tests"]
    not_run = tests.filter(pl.col("note").str.starts_with("not possible"))
    assert set(not_run["test"]) == {"levene", "anova_type2", "tukey_hsd"}
    reason, cells = not_run["note"][0].split("; cells: ")
    assert reason == "not possible: one seed per condition (the group tests need 2 runs per cell)"
    assert cells.split(", ") == [
        f"{size}/{c}" for size in ("220M", "770M") for c in ("cf", "mt", "std")
    ]
    assert out["summary"]["n"].to_list() == [1] * 12


def test_too_few_runs_in_some_cells_names_them() -> None:
    data = from_accuracy_table(_accuracy(3), "cqa", {"small": "220M", "large": "770M"})
    data = data.filter(
        ~((pl.col("size") == "770M") & (pl.col("condition") == "mt")) | (pl.col("run") == 0)
    )
    out = analyse_performance(data, conditions=None)
    not_run = out["tests"].filter(pl.col("note").str.starts_with("not possible"))
    assert not_run["note"][0] == (
        "not possible: fewer than 2 runs after outlier removal; cells: 770M/mt (n=1)"
    )


def test_no_variance_within_cells_is_a_reason_not_nan() -> None:
    zero = _accuracy(2).with_columns(pl.lit(0.0).alias("accuracy"))
    out = analyse_performance(from_accuracy_table(zero, "cqa"), conditions=None)
    tests = out["tests"]
    group_tests = tests.filter(pl.col("test") != "shapiro")
    assert set(group_tests["note"]) == {
        "not possible: every run of a cell scored the same (no variance within cells)"
    }
    floats = tests.select(pl.col(pl.Float64))
    assert floats.select(pl.all().is_nan().any()).row(0) == (False,) * floats.width


def test_several_seeds_run_the_study_tests() -> None:
    data = from_accuracy_table(
        _accuracy(4), "cqa", {"small": "220M", "large": "770M"}, conditions=["cf", "mt", "std"]
    )
    assert data["accuracy"].max() == pytest.approx(77.0)
    out = analyse_performance(data, conditions=["cf", "mt", "std"])
    tukey = out["tests"].filter(pl.col("test") == "tukey_hsd")
    assert tukey.height == 6
    first = tukey.row(0, named=True)
    assert (first["group1"], first["group2"], first["subset"]) == ("cf", "mt", "size=220M")
    assert first["estimate"] == pytest.approx(12.0)


def test_bad_inputs_name_row_and_field() -> None:
    bad = _accuracy(1).with_columns(pl.lit(64.0).alias("accuracy"))
    with pytest.raises(ValueError, match=r"row 1, field 'accuracy': 64\.0 is not a fraction"):
        from_accuracy_table(bad, "cqa")
    raw = pl.DataFrame(
        {
            "run": [0],
            "test accuracy": [0.5],
            "target_rationale": ["few-shot-positive-rationale"],
            "model_size": ["220M"],
            "training_mode": ["distill"],
        }
    )
    with pytest.raises(ValueError, match="row 1, field 'training_mode': unknown value 'distill'"):
        prepare_experiment(raw)
    with pytest.raises(ValueError, match="missing columns \\['run'\\]"):
        prepare_experiment(raw.drop("run"))


def test_two_runs_per_cell_and_constant_size_give_reasons() -> None:
    # two runs per cell: Levene's median-centred deviations are equal in every cell (0/0)
    two = from_accuracy_table(_accuracy(2), "cqa", {"small": "220M", "large": "770M"})
    levene = analyse_performance(two, conditions=None)["tests"].filter(pl.col("test") == "levene")
    assert levene["note"][0].startswith("not possible: every cell's deviations from its median")
    assert levene["statistic"][0] is None
    # 220M has no variance within its conditions (770M has): Tukey at 220M says so
    data = from_accuracy_table(_accuracy(3), "cqa", {"small": "220M", "large": "770M"})
    data = data.with_columns(
        pl.when(pl.col("size") == "220M").then(50.0).otherwise(pl.col("accuracy")).alias("accuracy")
    )
    tukey = analyse_performance(data, conditions=None)["tests"].filter(
        pl.col("test") == "tukey_hsd"
    )
    at_220 = tukey.filter(pl.col("subset") == "size=220M")
    assert set(at_220["note"]) == {"not possible: no variance within the groups"}
    assert tukey.filter(pl.col("subset") == "size=770M")["p_adjusted"].is_not_null().all()
