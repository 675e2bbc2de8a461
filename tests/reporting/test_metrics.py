"""Automatic explanation metrics across conditions: the rating tests on a metrics table."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from llm_distillation.reporting.metrics import compare_explanation_metrics
from llm_distillation.reporting.univariate import vargha_delaney_a


def _metrics() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for cond, shift in (("CF", 0.0), ("MT", 0.5), ("MT+CF", 1.0)):
        for i in range(20):
            for metric, scale in (("length", 10.0), ("overlap", 1.0)):
                rows.append(
                    {
                        "example_id": f"e{i}",
                        "condition": cond,
                        "seed": 0,
                        "metric": metric,
                        "value": float(scale * (rng.normal() + shift)),
                    }
                )
    rows.append(
        {"example_id": "e0", "condition": "CF", "seed": 0, "metric": "only_cf", "value": 1.0}
    )
    return pl.DataFrame(rows)


def test_per_metric_tests_match_scipy() -> None:
    data = _metrics()
    table = compare_explanation_metrics(data, ["CF", "MT", "MT+CF"])
    for metric in ("length", "overlap"):
        part = data.filter(pl.col("metric") == metric)
        groups = [
            part.filter(pl.col("condition") == c)["value"].to_numpy() for c in ("CF", "MT", "MT+CF")
        ]
        kw = table.filter((pl.col("variable") == metric) & (pl.col("test") == "kruskal_wallis"))
        assert kw["statistic"][0] == pytest.approx(stats.kruskal(*groups).statistic)
        dunn = table.filter((pl.col("variable") == metric) & (pl.col("test") == "dunn"))
        assert dunn["groups"].to_list() == ["MT vs CF", "MT+CF vs CF", "MT+CF vs MT"]
        assert (dunn["p_adjusted"] == (dunn["p"] * 3).clip(upper_bound=1.0)).all()
        vda = table.filter((pl.col("variable") == metric) & (pl.col("test") == "vargha_delaney"))
        assert vda["effect_size"][0] == pytest.approx(vargha_delaney_a(groups[0], groups[1]))
        # A = P(X > Y) + P(X = Y)/2 by brute force
        brute = np.mean([(x > y) + 0.5 * (x == y) for x in groups[0] for y in groups[1]])
        assert vda["effect_size"][0] == pytest.approx(brute)
    only = table.filter(pl.col("variable") == "only_cf")
    assert only["note"][0].startswith("not possible")


def test_vda_with_ties() -> None:
    assert vargha_delaney_a([1, 2, 3], [1, 2, 3]) == 0.5
    assert vargha_delaney_a([3, 3], [1, 3]) == pytest.approx(0.75)


def test_npmv_singular_ranks_give_only_the_anova_type_test() -> None:
    from llm_distillation.reporting.multivariate import nonparametric_manova

    # the second outcome duplicates the first: every rank covariance matrix is singular
    data = pl.DataFrame({"g": ["a"] * 5 + ["b"] * 5, "x": [1.0, 2, 3, 4, 5, 3, 4, 5, 6, 7]})
    data = data.with_columns(pl.col("x").alias("y"))
    rows = nonparametric_manova(data, ["x", "y"], "g", permutations=20, seed=1)
    assert rows[0]["term"] == "anova_type" and rows[0]["p"] < 1
    assert all(r["note"].startswith("not possible") for r in rows[1:])


def test_a_metric_with_equal_values_gets_a_reason_not_nan() -> None:
    rows = [
        {"example_id": f"e{i}", "condition": c, "seed": 0, "metric": "cf_faithfulness",
         "value": 0.0}
        for c in ("A", "B", "C")
        for i in range(5)
    ]  # fmt: skip
    table = compare_explanation_metrics(pl.DataFrame(rows))
    assert table["test"].to_list() == ["kruskal_wallis"]
    assert table["note"][0] == "not possible: all values are equal (0)"
    assert table["p"][0] is None and table["statistic"][0] is None
