"""Paired per-example comparisons of conditions on the same test examples (beyond the study).

Input: per-example predictions of the evaluation pipeline, :data:`PREDICTION_COLUMNS`
(``example_id, benchmark, student, condition, seed, correct``), one row per example, trained
run (condition × seed) and benchmark/student. Conditions are compared within each
(benchmark, student):

- two conditions: McNemar's test on the discordant pairs (R's ``mcnemar.test``: chi-squared
  with continuity correction; ``exact=True``: the binomial test);
- several: Cochran's Q over all of them, then McNemar for every pair, Holm-corrected;
- :func:`gee_correctness`: a logistic GEE of correctness on condition with the example as
  cluster (exchangeable working correlation, robust standard errors), which uses every seed;
- :func:`mcnemar_detectable`: the smallest accuracy difference McNemar's test detects on ``n``
  pairs at a discordant share ψ (each McNemar row's ``detectable``, at its observed ψ).

Pairing unit (``pair_on``): ``"example"`` — per example, a condition counts as correct when the
strict majority of its seeds is (one seed: that seed); ``"example_seed"`` — (example, seed)
pairs, on the seeds every compared condition has.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl

from llm_distillation.reporting.tidy import result_table

Row = dict[str, Any]
PairOn = Literal["example", "example_seed"]

PREDICTION_COLUMNS: dict[str, pl.DataType] = {
    "example_id": pl.String(),
    "benchmark": pl.String(),
    "student": pl.String(),
    "condition": pl.String(),
    "seed": pl.Int64(),
    "correct": pl.Boolean(),
}


def check_predictions(predictions: pl.DataFrame, source: str = "predictions") -> pl.DataFrame:
    """The predictions table with :data:`PREDICTION_COLUMNS` cast (and ``predicted_index``,
    null for an unparseable answer, when the table has it); a clear error otherwise."""
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"{source}: missing columns {missing}; expected {list(PREDICTION_COLUMNS)}"
        )
    table = predictions.select(pl.col(c).cast(t) for c, t in PREDICTION_COLUMNS.items())
    nulls = table.with_row_index("row").filter(pl.any_horizontal(pl.all().is_null()))
    if nulls.height:
        row = nulls.row(0, named=True)
        field = next(c for c in PREDICTION_COLUMNS if row[c] is None)
        raise ValueError(f"{source}: row {row['row'] + 1}, field {field!r}: missing value")
    keys = ["benchmark", "student", "condition", "seed", "example_id"]
    dup = table.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        raise ValueError(
            f"{source}: duplicate prediction for {dup.select(keys).row(0, named=True)}"
        )
    if "predicted_index" in predictions.columns:
        table = table.with_columns(predictions["predicted_index"].cast(pl.Int64))
    return table


def untestable_reason(part: pl.DataFrame, conditions: Sequence[str]) -> str | None:
    """Why no paired test or GEE can compare ``conditions`` on ``part`` (one benchmark and
    student of :func:`check_predictions`), as a ``not possible: …`` note; None when they can.
    Reasons: one condition; every answer unparseable; every answer wrong (or right)."""
    if len(conditions) < 2:
        return "not possible: one condition"
    rows = part.filter(pl.col("condition").is_in(list(conditions)))
    if "predicted_index" in rows.columns and rows["predicted_index"].null_count() == rows.height:
        return "not possible: all answers unparseable"
    if rows["correct"].n_unique() == 1:
        word = "right" if rows["correct"][0] else "wrong"
        return f"not possible: every answer is {word} in every condition"
    return None


def correctness_matrix(
    predictions: pl.DataFrame, conditions: Sequence[str], pair_on: PairOn = "example"
) -> tuple[np.ndarray, list[str]]:
    """(units × conditions bool matrix, unit labels) for one benchmark and student.

    Only units present in every condition are kept (paired tests need complete pairs).
    """
    rows = predictions.filter(pl.col("condition").is_in(list(conditions)))
    if pair_on == "example":
        units = (
            rows.group_by(["example_id", "condition"])
            .agg((pl.col("correct").cast(pl.Float64).mean() > 0.5).alias("correct"))
            .rename({"example_id": "unit"})
        )
    elif pair_on == "example_seed":
        seeds = rows.group_by("condition").agg(pl.col("seed").unique())
        common = set.intersection(*(set(s) for s in seeds["seed"].to_list()))
        units = rows.filter(pl.col("seed").is_in(sorted(common))).select(
            pl.concat_str("example_id", pl.lit("#"), pl.col("seed").cast(pl.String)).alias("unit"),
            "condition",
            "correct",
        )
    else:
        raise ValueError(f"pair_on: {pair_on!r}; allowed: ['example', 'example_seed']")
    wide = units.pivot(on="condition", index="unit", values="correct").drop_nulls()
    wide = wide.sort("unit")
    missing = [c for c in conditions if c not in wide.columns]
    if missing:
        raise ValueError(f"conditions {missing} have no predictions to pair")
    return wide.select(list(conditions)).to_numpy().astype(bool), wide["unit"].to_list()


def mcnemar_detectable(
    discordant: float, n: int, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest accuracy difference δ (a fraction, b − a) that McNemar's test on ``n``
    pairs detects two-sided at ``alpha`` with ``power``, when a share ``discordant`` (ψ) of the
    pairs is discordant: Connor's (1987) normal approximation,
    ``δ√n = z(1−α/2)·√ψ + z(power)·√(ψ − δ²)``, solved for δ in (0, ψ] (a difference is at
    most the discordant share). None when no such δ exists (ψ = 0, or too few pairs).

    This is the power of the paired test actually run, not of two independent proportions:
    two students that are right on mostly the same examples (small ψ) are compared far more
    finely than their CIs suggest."""
    from scipy import optimize, stats

    if n < 1 or not 0.0 < discordant <= 1.0:
        return None
    z_a = float(stats.norm.ppf(1 - alpha / 2))
    z_b = float(stats.norm.ppf(power))
    root_n = math.sqrt(n)

    def gap(delta: float) -> float:
        return (
            delta * root_n
            - z_a * math.sqrt(discordant)
            - z_b * math.sqrt(max(discordant - delta**2, 0.0))
        )

    if gap(discordant) < 0:  # even δ = ψ (every discordant pair one way) is not detected
        return None
    return float(optimize.brentq(gap, 0.0, discordant, xtol=1e-10))


def mcnemar(
    a: Sequence[bool] | np.ndarray,
    b: Sequence[bool] | np.ndarray,
    exact: bool = False,
    correction: bool = True,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Row:
    """McNemar's test of paired correctness ``a`` vs ``b`` (R's ``mcnemar.test(correct=TRUE)``
    by default). ``estimate`` = accuracy(b) - accuracy(a) with its 95% CI
    (:func:`paired_difference_ci`); ``effect_size`` = the discordant odds ratio
    n(b right, a wrong) / n(a right, b wrong); ``detectable`` = :func:`mcnemar_detectable` at
    the observed discordant share, ``alpha`` and ``power``."""
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mcnemar: {a.shape} and {b.shape} are not paired")
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    only_a, only_b = int(table[0, 1]), int(table[1, 0])
    low, high = paired_difference_ci(only_a, only_b, int(a.size))
    row: Row = {
        "test": "mcnemar_exact" if exact else "mcnemar",
        "estimate": float(b.mean() - a.mean()) if a.size else None,
        "conf_low": low,
        "conf_high": high,
        "effect_size": only_b / only_a if only_a else (float("inf") if only_b else None),
        "effect_size_name": "discordant_odds_ratio",
        "n": int(a.size),
        "detectable": (
            mcnemar_detectable((only_a + only_b) / a.size, int(a.size), alpha, power)
            if a.size
            else None
        ),
        "note": f"discordant: {only_a} only group1 right, {only_b} only group2 right",
    }
    if only_a + only_b == 0:
        return {
            **row,
            "p": 1.0,
            "statistic": 0.0 if not exact else None,
            "note": row["note"] + "; no discordant pairs",
        }
    res = sm_mcnemar(table, exact=exact, correction=correction)
    return {
        **row,
        "statistic": None if exact else float(res.statistic),
        "statistic_name": None if exact else "chi2",
        "df": None if exact else 1.0,
        "p": float(res.pvalue),
    }


def paired_difference_ci(
    only_a: int, only_b: int, n: int, conf_level: float = 0.95
) -> tuple[float | None, float | None]:
    """Wald interval of the difference of two paired proportions (b - a) from the discordant
    counts (Agresti, Categorical Data Analysis, 3rd ed., §11.1.1): d = (n_b - n_a) / n,
    var(d) = ((n_a + n_b) - (n_b - n_a)² / n) / n²; (None, None) without pairs."""
    from scipy import stats

    if n == 0:
        return None, None
    d = (only_b - only_a) / n
    se = np.sqrt(max((only_a + only_b) - (only_b - only_a) ** 2 / n, 0.0)) / n
    z = stats.norm.ppf(0.5 + conf_level / 2)
    return float(d - z * se), float(d + z * se)


def cochran_q(matrix: np.ndarray) -> Row:
    """Cochran's Q over the columns of a units × conditions 0/1 matrix (chi-squared, k-1 df);
    a ``not possible`` row when no unit differs between the columns (Q is 0/0)."""
    from statsmodels.stats.contingency_tables import cochrans_q

    x = np.asarray(matrix, dtype=int)
    if (x.min(axis=1) == x.max(axis=1)).all():
        return {
            "test": "cochran_q",
            "n": int(x.shape[0]),
            "note": "not possible: no discordant examples (every example is right in all "
            "conditions or wrong in all)",
        }
    res = cochrans_q(x)
    return {
        "test": "cochran_q",
        "statistic": float(res.statistic),
        "statistic_name": "Q",
        "df": float(res.df),
        "p": float(res.pvalue),
        "n": int(x.shape[0]),
    }


def _by_benchmark_student(
    predictions: pl.DataFrame, conditions: Sequence[str] | None
) -> Iterator[tuple[str, str, pl.DataFrame, list[str]]]:
    """``(benchmark, student, their predictions, their conditions in order)`` for each benchmark
    and student of the checked ``predictions``; ``conditions`` fixes the order (and leaves out
    the others), default: sorted names."""
    table = check_predictions(predictions)
    for (benchmark, student), part in table.group_by(["benchmark", "student"], maintain_order=True):
        present = part["condition"].unique().to_list()
        order = [c for c in conditions if c in present] if conditions else sorted(present)
        yield benchmark, student, part, order


def paired_tests(
    predictions: pl.DataFrame,
    conditions: Sequence[str] | None = None,
    pair_on: PairOn = "example",
    p_adjust: str = "holm",
    exact: bool = False,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pl.DataFrame:
    """Per (benchmark, student): Cochran's Q (three or more conditions) and McNemar for every
    pair of conditions, ``p_adjust`` (Holm) over the pairs of that benchmark and student; each
    McNemar row's ``detectable`` at ``alpha`` and ``power`` (:func:`mcnemar_detectable`).

    ``conditions`` fixes the order (group1 before group2); default: sorted names.
    """
    from statsmodels.stats.multitest import multipletests

    rows: list[Row] = []
    for benchmark, student, part, order in _by_benchmark_student(predictions, conditions):
        subset = f"benchmark={benchmark}, student={student}, pair_on={pair_on}"
        base = {"analysis": "paired", "variable": "correct", "subset": subset}
        reason = untestable_reason(part, order)
        if reason:
            tests = ["cochran_q"] * (len(order) > 2) + ["mcnemar_exact" if exact else "mcnemar"]
            rows += [
                {**base, "test": t, "groups": " | ".join(order), "note": reason} for t in tests
            ]
            continue
        matrix, _ = correctness_matrix(part, order, pair_on)
        if len(order) > 2:
            rows.append({**base, **cochran_q(matrix), "groups": " | ".join(order)})
        pairs = []
        for i, j in itertools.combinations(range(len(order)), 2):
            res = mcnemar(matrix[:, i], matrix[:, j], exact=exact, alpha=alpha, power=power)
            pairs.append(
                {
                    **base,
                    **res,
                    "groups": f"{order[j]} vs {order[i]}",
                    "group1": order[i],
                    "group2": order[j],
                }
            )
        adjusted = multipletests([p["p"] for p in pairs], method=p_adjust)[1]
        for pair, p_adj in zip(pairs, adjusted, strict=True):
            pair.update(p_adjusted=float(p_adj), p_adjust_method=p_adjust)
        rows += pairs
    return result_table(rows)


def _separation_reason(used: pl.DataFrame) -> str | None:
    """A ``not possible`` note when a condition answers every example wrong (or right): its
    odds ratio is 0 or infinite, and the GEE does not converge."""
    constant = (
        used.group_by("condition", maintain_order=True)
        .agg(pl.col("correct").n_unique().alias("k"), pl.col("correct").first().alias("c"))
        .filter(pl.col("k") == 1)
    )
    if constant.height == 0:
        return None
    said = [
        f"{r['condition']} answers every example {'right' if r['c'] else 'wrong'}"
        for r in constant.iter_rows(named=True)
    ]
    return f"not possible: {'; '.join(said)} (an odds ratio of 0 or infinity)"


def gee_correctness(
    predictions: pl.DataFrame,
    conditions: Sequence[str] | None = None,
    correlation: Literal["exchangeable", "independence"] = "exchangeable",
) -> pl.DataFrame:
    """Per (benchmark, student): logistic GEE ``correct ~ condition`` (treatment coding, the
    first of ``conditions`` as reference), clusters = examples, every seed a repeated
    measurement of its example; robust (sandwich) standard errors. One row per coefficient:
    ``estimate`` = log odds ratio against the reference, ``effect_size`` = odds ratio."""
    import statsmodels.api as sm

    rows: list[Row] = []
    for benchmark, student, part, order in _by_benchmark_student(predictions, conditions):
        subset = f"benchmark={benchmark}, student={student}"
        base = {"analysis": "paired", "test": "gee_logit", "variable": "correct", "subset": subset}
        used = part.filter(pl.col("condition").is_in(order)).sort(
            ["example_id", "condition", "seed"]
        )
        reason = untestable_reason(part, order) or _separation_reason(used)
        if reason:
            rows.append({**base, "note": reason})
            continue
        y = used["correct"].cast(pl.Float64).to_numpy()
        cond = used["condition"].to_numpy()
        x = np.column_stack([np.ones(len(y))] + [(cond == c).astype(float) for c in order[1:]])
        groups = used["example_id"].to_numpy()
        cov = (
            sm.cov_struct.Exchangeable()
            if correlation == "exchangeable"
            else sm.cov_struct.Independence()
        )
        fit = sm.GEE(y, x, groups=groups, family=sm.families.Binomial(), cov_struct=cov).fit()
        seeds = used.group_by("condition").agg(pl.col("seed").n_unique())["seed"].max()
        note = (
            f"clusters={used['example_id'].n_unique()}, up to {seeds} seeds per condition, "
            f"{correlation} working correlation"
        )
        ci = fit.conf_int()
        if not (np.isfinite(fit.params).all() and np.isfinite(fit.bse).all()):
            reason = "not possible: the GEE gives no finite estimate on these answers"
            rows.append({**base, "note": reason})
            continue
        for i, name in enumerate(["(Intercept)", *order[1:]]):
            rows.append(
                {
                    **base,
                    "term": name if i == 0 else f"condition{name}",
                    "groups": None if i == 0 else f"{name} vs {order[0]}",
                    "group1": None if i == 0 else order[0],
                    "group2": None if i == 0 else name,
                    "statistic": float(fit.tvalues[i]),
                    "statistic_name": "z",
                    "p": float(fit.pvalues[i]),
                    "estimate": float(fit.params[i]),
                    "std_error": float(fit.bse[i]),
                    "conf_low": float(ci[i, 0]),
                    "conf_high": float(ci[i, 1]),
                    "effect_size": float(np.exp(fit.params[i])),
                    "effect_size_name": "odds_ratio" if i else "odds",
                    "n": len(y),
                    "note": note,
                }
            )
    return result_table(rows)
