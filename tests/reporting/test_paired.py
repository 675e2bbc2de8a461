"""Paired per-example tests and the GEE, on hand-made data with known answers.

Reference values: R 4.2.2 (``mcnemar.test``, Cochran's Q by its formula, ``p.adjust``, ``glm``),
see the comments at each constant.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from llm_distillation.reporting.paired import (
    check_predictions,
    cochran_q,
    correctness_matrix,
    gee_correctness,
    mcnemar,
    mcnemar_detectable,
    paired_tests,
)

# 12 examples x 3 conditions (columns A, B, C)
X = np.array(
    [
        [1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1],
        [1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1],
        [0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],
    ]
).T
CONDITIONS = ["A", "B", "C"]


def _predictions(matrix: np.ndarray, seeds: int = 1) -> pl.DataFrame:
    rows = []
    for seed in range(seeds):
        for i in range(matrix.shape[0]):
            for j, cond in enumerate(CONDITIONS):
                rows.append(
                    {
                        "example_id": f"ex{i:02d}",
                        "benchmark": "cqa",
                        "student": "s",
                        "condition": cond,
                        "seed": seed,
                        "correct": bool(matrix[i, j]),
                    }
                )
    return pl.DataFrame(rows)


def _pairs(a_right_b_right: int, a_only: int, b_only: int, neither: int) -> tuple:
    a = [True] * a_right_b_right + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * a_right_b_right + [False] * a_only + [True] * b_only + [False] * neither
    return np.array(a), np.array(b)


def test_mcnemar_matches_r() -> None:
    # R: mcnemar.test(matrix(c(794, 86, 150, 570), nrow = 2)) -> 16.8177966102, 4.11456228135e-05
    a, b = _pairs(794, 150, 86, 570)
    res = mcnemar(a, b)
    assert res["statistic"] == pytest.approx(16.8177966102, rel=1e-9)
    assert res["p"] == pytest.approx(4.11456228135e-05, rel=1e-9)
    assert res["estimate"] == pytest.approx((794 + 86 - 794 - 150) / 1600)
    # R: mcnemar.test(matrix(c(10, 3, 12, 9), nrow = 2)) -> 4.2666666666667, 0.0388671038124
    a, b = _pairs(10, 12, 3, 9)
    res = mcnemar(a, b)
    assert res["statistic"] == pytest.approx(4.2666666666667, rel=1e-9)
    assert res["p"] == pytest.approx(0.0388671038124, rel=1e-9)
    assert res["effect_size"] == pytest.approx(3 / 12)


@pytest.mark.parametrize(("psi", "n"), [(0.2, 1000), (0.35, 300), (0.08, 1000), (0.5, 100)])
def test_mcnemar_detectable_has_the_power_it_claims(psi: float, n: int) -> None:
    """Simulated paired samples with the detectable difference: McNemar (no continuity
    correction, as Connor's approximation) rejects in about 80% of them; a difference 30%
    smaller is detected clearly less often."""
    from scipy import stats

    delta = mcnemar_detectable(psi, n)
    assert delta is not None and 0 < delta <= psi
    # it solves Connor's equation
    lhs = delta * np.sqrt(n)
    rhs = stats.norm.ppf(0.975) * np.sqrt(psi) + stats.norm.ppf(0.8) * np.sqrt(psi - delta**2)
    assert lhs == pytest.approx(rhs, abs=1e-8)
    rng = np.random.default_rng(0)

    def rejected(d: float) -> float:
        counts = rng.multinomial(n, [(psi + d) / 2, (psi - d) / 2, 1 - psi], size=4000)
        b, c = counts[:, 0], counts[:, 1]
        chi2 = np.where(b + c > 0, (b - c) ** 2 / np.maximum(b + c, 1), 0.0)
        return float((stats.chi2.sf(chi2, 1) < 0.05).mean())

    assert rejected(delta) == pytest.approx(0.8, abs=0.035)
    assert rejected(0.7 * delta) < 0.65


def test_mcnemar_detectable_edges_and_the_row() -> None:
    assert mcnemar_detectable(0.0, 1000) is None  # the two are right on the same examples
    assert mcnemar_detectable(0.05, 5) is None  # even all discordant pairs one way: too few
    assert mcnemar_detectable(0.2, 4000) < mcnemar_detectable(0.2, 1000)  # more examples
    assert mcnemar_detectable(0.1, 1000) < mcnemar_detectable(0.3, 1000)  # less disagreement
    assert mcnemar_detectable(0.2, 1000, power=0.9) > mcnemar_detectable(0.2, 1000)
    # paired beats independent: 1,000 examples at 50% accuracy, 20% discordant -> ~3.9 points,
    # where two independent proportions would need ~6.3
    assert mcnemar_detectable(0.2, 1000) == pytest.approx(0.0395, abs=5e-4)
    a, b = _pairs(794, 150, 86, 570)
    assert mcnemar(a, b)["detectable"] == pytest.approx(mcnemar_detectable(236 / 1600, 1600))
    assert mcnemar(a, b, alpha=0.01)["detectable"] > mcnemar(a, b)["detectable"]


def test_mcnemar_exact_and_no_discordance() -> None:
    a, b = _pairs(5, 0, 6, 1)
    assert mcnemar(a, b, exact=True)["p"] == pytest.approx(2 * 0.5**6)  # binomial, two-sided
    same = mcnemar(np.array([True, False]), np.array([True, False]))
    assert same["p"] == 1.0


def test_cochran_q_matches_formula() -> None:
    # R: Q = (k-1)(k sum(C_j^2) - N^2) / (k N - sum(R_i^2)) -> 10.57142857142857, 0.00506341417176
    res = cochran_q(X)
    assert res["statistic"] == pytest.approx(10.57142857142857, rel=1e-9)
    assert res["p"] == pytest.approx(0.00506341417176, rel=1e-9)
    assert res["df"] == 2


def test_paired_tests_holm_over_pairs() -> None:
    table = paired_tests(_predictions(X), CONDITIONS)
    q = table.filter(pl.col("test") == "cochran_q")
    assert q.height == 1
    pairs = table.filter(pl.col("test") == "mcnemar")
    assert pairs["groups"].to_list() == ["B vs A", "C vs A", "C vs B"]
    raw = pairs["p"].to_numpy()
    order = np.argsort(raw)
    m = len(raw)
    holm = np.maximum.accumulate(np.minimum(1, raw[order] * (m - np.arange(m))))
    expected = np.empty(m)
    expected[order] = holm
    assert pairs["p_adjusted"].to_numpy() == pytest.approx(expected)
    assert (pairs["p_adjust_method"] == "holm").all()
    # each pair equals the two-condition test on its columns
    direct = mcnemar(X[:, 0].astype(bool), X[:, 2].astype(bool))
    assert pairs.filter(pl.col("groups") == "C vs A")["p"][0] == pytest.approx(direct["p"])


def test_majority_and_seed_pairing() -> None:
    preds = _predictions(X, seeds=3)
    # flip one seed of example 0 / condition A: the majority stays "right"
    preds = preds.with_columns(
        pl.when(
            (pl.col("example_id") == "ex00") & (pl.col("condition") == "A") & (pl.col("seed") == 1)
        )
        .then(False)
        .otherwise(pl.col("correct"))
        .alias("correct")
    )
    matrix, units = correctness_matrix(preds, CONDITIONS, "example")
    assert matrix.shape == (12, 3)
    assert (matrix == X.astype(bool)).all()
    matrix, units = correctness_matrix(preds, CONDITIONS, "example_seed")
    assert matrix.shape == (36, 3)
    assert "ex00#1" in units


def test_bad_predictions_are_named() -> None:
    with pytest.raises(ValueError, match="missing columns \\['correct'\\]"):
        check_predictions(_predictions(X).drop("correct"))
    dup = pl.concat([_predictions(X), _predictions(X).head(1)])
    with pytest.raises(ValueError, match="duplicate prediction"):
        check_predictions(dup)


def test_gee_independence_equals_logistic_regression() -> None:
    # R: glm(y ~ cond, binomial) on the long matrix -> 1.09861228867 -1.43508452529 -2.70805020110
    table = gee_correctness(_predictions(X), CONDITIONS, correlation="independence")
    assert table["estimate"].to_list() == pytest.approx(
        [1.09861228867, -1.43508452529, -2.70805020110], rel=1e-8
    )
    assert table["term"].to_list() == ["(Intercept)", "conditionB", "conditionC"]


def test_gee_exchangeable_uses_every_seed() -> None:
    table = gee_correctness(_predictions(X, seeds=2), CONDITIONS)
    # balanced complete clusters: the point estimates are the marginal log odds ratios
    assert table["estimate"][1] == pytest.approx(np.log((5 / 7) / (9 / 3)), rel=1e-6)
    assert table["n"][0] == 72
    assert (table["p"].drop_nulls() < 1).all()
    assert "up to 2 seeds" in table["note"][0]


def test_mcnemar_ci_of_the_paired_difference() -> None:
    # Agresti (2013) §11.1.1: d = (n21 - n12) / n, se = sqrt((n12 + n21) - (n12 - n21)^2 / n) / n
    a, b = _pairs(794, 150, 86, 570)
    res = mcnemar(a, b)
    n, d = 1600, (86 - 150) / 1600
    se = np.sqrt((150 + 86) - (150 - 86) ** 2 / n) / n
    assert (res["conf_low"], res["conf_high"]) == pytest.approx(
        (d - 1.959964 * se, d + 1.959964 * se)
    )
    same = mcnemar(np.array([True, False]), np.array([True, False]))
    assert (same["conf_low"], same["conf_high"]) == (0.0, 0.0)
    assert "no discordant pairs" in same["note"]


def test_cochran_q_without_discordant_examples_says_why() -> None:
    res = cochran_q(np.array([[0, 0, 0], [1, 1, 1]]))
    assert res["note"].startswith("not possible: no discordant examples")
    assert "p" not in res and "statistic" not in res


def _no_nan(table: pl.DataFrame) -> bool:
    floats = table.select(pl.col(pl.Float64))
    return not any(floats.select(pl.all().is_nan().any()).row(0))


@pytest.mark.filterwarnings("error")  # a reason, not statsmodels' or numpy's warnings
def test_all_unparseable_answers_give_reasons_not_nan() -> None:
    preds = _predictions(np.zeros_like(X)).with_columns(
        pl.lit(None, dtype=pl.Int64).alias("predicted_index")
    )
    for table in (paired_tests(preds, CONDITIONS), gee_correctness(preds, CONDITIONS)):
        assert set(table["note"]) == {"not possible: all answers unparseable"}
        assert _no_nan(table)
    assert paired_tests(preds, CONDITIONS)["test"].to_list() == ["cochran_q", "mcnemar"]
    # parsed but all wrong: the same tests, another reason
    parsed = preds.with_columns(pl.lit(9, dtype=pl.Int64).alias("predicted_index"))
    assert set(gee_correctness(parsed, CONDITIONS)["note"]) == {
        "not possible: every answer is wrong in every condition"
    }


@pytest.mark.filterwarnings("error")  # no PerfectSeparationWarning: the note says it
def test_gee_names_a_condition_that_is_always_wrong() -> None:
    matrix = X.copy()
    matrix[:, 2] = 0  # condition C never right: its odds ratio is 0
    table = gee_correctness(_predictions(matrix), CONDITIONS)
    assert table.height == 1
    assert table["note"][0] == (
        "not possible: C answers every example wrong (an odds ratio of 0 or infinity)"
    )
    paired = paired_tests(_predictions(matrix), CONDITIONS)  # McNemar still runs
    assert paired.filter(pl.col("test") == "mcnemar").height == 3
    assert _no_nan(paired)
