"""Group comparisons used by the study's analyses, each as R computes it.

Inputs are a polars table, the outcome column and the grouping column(s); outputs are rows of
the result schema (:mod:`llm_distillation.reporting.tidy`). Group order is the order of
``levels`` (R's factor levels), which fixes the direction of every pairwise difference.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

Row = dict[str, Any]


def levels_of(data: pl.DataFrame, column: str, levels: Sequence[str] | None = None) -> list[str]:
    """The groups of ``column`` in ``levels`` order (default: sorted, as R's ``factor``)."""
    present = set(data[column].cast(pl.String).unique().to_list())
    if levels is None:
        return sorted(present)
    unknown = sorted(present - set(levels))
    if unknown:
        raise ValueError(f"column {column!r}: values {unknown} are not among the levels {levels}")
    return [lv for lv in levels if lv in present]


def _group_values(
    data: pl.DataFrame, value: str, group: str, levels: Sequence[str] | None
) -> tuple[list[str], list[np.ndarray]]:
    lv = levels_of(data, group, levels)
    col = data[group].cast(pl.String)
    return lv, [data.filter(col == g)[value].cast(pl.Float64).to_numpy() for g in lv]


def group_summary(data: pl.DataFrame, value: str, by: Sequence[str]) -> pl.DataFrame:
    """n, mean, sd and standard error (sd / sqrt(n), as sciplot::se) of ``value`` per group."""
    return (
        data.group_by(list(by), maintain_order=True)
        .agg(
            pl.len().alias("n"),
            pl.col(value).mean().alias("mean"),
            pl.col(value).std(ddof=1).alias("sd"),
        )
        .with_columns((pl.col("sd") / pl.col("n").sqrt()).alias("se"))
    )


def levene(data: pl.DataFrame, value: str, groups: Sequence[str], center: str = "median") -> Row:
    """Levene's test over the cells of ``groups`` (car::leveneTest; its default centre: median,
    i.e. the Brown-Forsythe variant; rstatix::levene_test passes it on). When every cell's
    absolute deviations are constant (two runs per cell, centred on the median), F is 0/0 or
    x/0 (R: NaN or Inf): a ``not possible`` row instead."""
    from scipy import stats

    cells = data.group_by(list(groups), maintain_order=True).agg(pl.col(value))
    samples = [np.asarray(v, dtype=float) for v in cells[value].to_list()]
    res = stats.levene(*samples, center=center)
    n = sum(len(s) for s in samples)
    middle = np.median if center == "median" else np.mean
    spreads = [np.abs(s - middle(s)) for s in samples]
    within = sum(((z - z.mean()) ** 2).sum() for z in spreads)
    scale = sum((z**2).sum() for z in spreads)
    if within <= 1e-12 * max(scale, 1e-300) or not np.isfinite(res.statistic):
        return {
            "test": "levene",
            "variable": value,
            "groups": " x ".join(groups),
            "n": n,
            "note": f"not possible: every cell's deviations from its {center} are equal "
            "(as with two runs per cell)",
        }
    return {
        "test": "levene",
        "variable": value,
        "groups": " x ".join(groups),
        "statistic": float(res.statistic),
        "statistic_name": "F",
        "df": float(len(samples) - 1),
        "df2": float(n - len(samples)),
        "p": float(res.pvalue),
        "n": n,
        "note": f"center={center}",
    }


def shapiro_by_group(data: pl.DataFrame, value: str, by: Sequence[str]) -> list[Row]:
    """Shapiro-Wilk per group (scipy's and R's ``shapiro.test`` are both Royston's algorithm);
    a group of fewer than 3 values, or of equal values (R: an error), gets a ``not computed``
    row."""
    from scipy import stats

    rows = []
    cells = data.group_by(list(by), maintain_order=True).agg(pl.col(value))
    for cell in cells.iter_rows(named=True):
        x = np.asarray(cell[value], dtype=float)
        label = ", ".join(f"{k}={cell[k]}" for k in by)
        if len(x) < 3 or np.ptp(x) == 0:
            rows.append(
                {
                    "test": "shapiro",
                    "variable": value,
                    "subset": label,
                    "n": len(x),
                    "note": "not computed: fewer than 3 values"
                    if len(x) < 3
                    else "not computed: all values are equal",
                }
            )
            continue
        res = stats.shapiro(x)
        rows.append(
            {
                "test": "shapiro",
                "variable": value,
                "subset": label,
                "statistic": float(res.statistic),
                "statistic_name": "W",
                "p": float(res.pvalue),
                "n": len(x),
            }
        )
    return rows


def tukey_hsd(
    data: pl.DataFrame,
    value: str,
    group: str,
    levels: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> list[Row]:
    """Tukey HSD of a one-way ANOVA ``value ~ group`` (R's ``TukeyHSD(aov(...))``, which
    rstatix::tukey_hsd calls): Tukey-Kramer standard errors for unequal groups, p from the
    studentized range. For every pair, group1 comes before group2 in ``levels`` and
    ``estimate`` = mean(group2) - mean(group1), as R's ``group2-group1`` rows. Without variance
    within the groups (or residual degrees of freedom), the rows say ``not possible``."""
    from scipy import stats

    lv, samples = _group_values(data, value, group, levels)
    k = len(samples)
    n = np.array([len(s) for s in samples])
    means = np.array([s.mean() for s in samples])
    df_resid = int(n.sum() - k)
    mse = sum(((s - s.mean()) ** 2).sum() for s in samples) / df_resid if df_resid else 0.0
    if mse == 0:  # q = diff / 0: no test
        return [
            {
                "test": "tukey_hsd",
                "variable": value,
                "groups": f"{lv[j]} vs {lv[i]}",
                "group1": lv[i],
                "group2": lv[j],
                "estimate": float(means[j] - means[i]),
                "n": int(n[i] + n[j]),
                "note": "not possible: no variance within the groups",
            }
            for i, j in itertools.combinations(range(k), 2)
        ]
    q_crit = stats.studentized_range.ppf(conf_level, k, df_resid)
    rows = []
    for i, j in itertools.combinations(range(k), 2):
        diff = means[j] - means[i]
        se = np.sqrt(mse / 2 * (1 / n[i] + 1 / n[j]))
        q = abs(diff) / se
        rows.append(
            {
                "test": "tukey_hsd",
                "variable": value,
                "groups": f"{lv[j]} vs {lv[i]}",
                "group1": lv[i],
                "group2": lv[j],
                "statistic": float(q),
                "statistic_name": "q",
                "df": float(df_resid),
                "p_adjusted": float(stats.studentized_range.sf(q, k, df_resid)),
                "p_adjust_method": "tukey",
                "estimate": float(diff),
                "std_error": float(se),
                "conf_low": float(diff - q_crit * se),
                "conf_high": float(diff + q_crit * se),
                "n": int(n[i] + n[j]),
            }
        )
    return rows


def kruskal_wallis(
    data: pl.DataFrame, value: str, group: str, levels: Sequence[str] | None = None
) -> Row:
    """Kruskal-Wallis H with tie correction (R's ``kruskal.test``), and its effect size
    eta²[H] = (H - k + 1) / (n - k) (rstatix::kruskal_effsize)."""
    from scipy import stats

    _, samples = _group_values(data, value, group, levels)
    n = sum(len(s) for s in samples)
    k = len(samples)
    res = stats.kruskal(*samples)
    h = float(res.statistic)
    return {
        "test": "kruskal_wallis",
        "variable": value,
        "groups": group,
        "statistic": h,
        "statistic_name": "H",
        "df": float(k - 1),
        "p": float(res.pvalue),
        "effect_size": (h - k + 1) / (n - k) if n > k else None,
        "effect_size_name": "eta2_H",
        "n": n,
    }


def dunn(
    data: pl.DataFrame,
    value: str,
    group: str,
    levels: Sequence[str] | None = None,
    p_adjust: str = "bonferroni",
) -> list[Row]:
    """Dunn's pairwise test after Kruskal-Wallis, as rstatix::dunn_test.

    Ranks over all rows (average ties); z = (mean rank of group2 - mean rank of group1) /
    sqrt((N(N+1)/12 - T) (1/n1 + 1/n2)) with the tie term T = sum(t³ - t) / (12 (N - 1));
    two-sided normal p; ``p_adjust`` over the pairs of this call (``statsmodels`` names:
    bonferroni, holm, ...). ``estimate`` is the mean rank difference.
    """
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    lv, samples = _group_values(data, value, group, levels)
    x = np.concatenate(samples)
    n_total = len(x)
    ranks = stats.rankdata(x)
    bounds = np.cumsum([0] + [len(s) for s in samples])
    mean_ranks = [ranks[bounds[g] : bounds[g + 1]].mean() for g in range(len(samples))]
    _, counts = np.unique(x, return_counts=True)
    ties = float(((counts**3 - counts).sum()) / (12 * (n_total - 1)))
    a = n_total * (n_total + 1) / 12
    rows = []
    for i, j in itertools.combinations(range(len(samples)), 2):
        ni, nj = len(samples[i]), len(samples[j])
        diff = mean_ranks[j] - mean_ranks[i]
        z = diff / np.sqrt((a - ties) * (1 / ni + 1 / nj))
        rows.append(
            {
                "test": "dunn",
                "variable": value,
                "groups": f"{lv[j]} vs {lv[i]}",
                "group1": lv[i],
                "group2": lv[j],
                "statistic": float(z),
                "statistic_name": "z",
                "p": float(2 * stats.norm.sf(abs(z))),
                "p_adjust_method": p_adjust,
                "estimate": float(diff),
                "n": ni + nj,
            }
        )
    if rows:
        adjusted = multipletests([r["p"] for r in rows], method=p_adjust)[1]
        for row, p_adj in zip(rows, adjusted, strict=True):
            row["p_adjusted"] = float(p_adj)
    return rows


def vargha_delaney_a(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Vargha-Delaney A = P(X > Y) + P(X = Y) / 2 (rcompanion::vda: the Mann-Whitney U of
    ``x`` against ``y`` divided by n_x * n_y)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ranks = stats.rankdata(np.concatenate([x, y]))
    u = ranks[: len(x)].sum() - len(x) * (len(x) + 1) / 2
    return float(u / (len(x) * len(y)))


def pairwise_vda(
    data: pl.DataFrame, value: str, group: str, levels: Sequence[str] | None = None
) -> list[Row]:
    """A of group1 against group2 for every pair (rcompanion::multiVDA's pairs, group1 first
    in ``levels``); A < 0.5 means group2 tends to be higher."""
    lv, samples = _group_values(data, value, group, levels)
    return [
        {
            "test": "vargha_delaney",
            "variable": value,
            "groups": f"{lv[i]} vs {lv[j]}",
            "group1": lv[i],
            "group2": lv[j],
            "effect_size": vargha_delaney_a(samples[i], samples[j]),
            "effect_size_name": "A12",
            "n": len(samples[i]) + len(samples[j]),
        }
        for i, j in itertools.combinations(range(len(samples)), 2)
    ]


def compare_groups(
    data: pl.DataFrame,
    outcomes: Sequence[str],
    group: str,
    levels: Sequence[str] | None = None,
    p_adjust: str = "bonferroni",
) -> list[dict[str, Any]]:
    """Per outcome: Kruskal-Wallis, Dunn's pairwise tests (``p_adjust`` within the outcome, as
    the study's ``group_by(variable) %>% dunn_test``) and Vargha-Delaney A of every pair; an
    outcome whose values are all equal gets one ``not possible`` row instead (H and z are 0/0)."""
    rows: list[dict[str, Any]] = []
    for outcome in outcomes:
        values = data[outcome].drop_nulls()
        if values.n_unique() <= 1:
            shown = f" ({values[0]:g})" if values.len() else ""
            rows.append(
                {
                    "test": "kruskal_wallis",
                    "variable": outcome,
                    "groups": group,
                    "n": values.len(),
                    "note": f"not possible: all values are equal{shown}",
                }
            )
            continue
        rows.append(kruskal_wallis(data, outcome, group, levels))
        rows += dunn(data, outcome, group, levels, p_adjust=p_adjust)
        rows += pairwise_vda(data, outcome, group, levels)
    return rows


def pearson_correlations(
    data: pl.DataFrame, variables: Sequence[str], conf_level: float = 0.95
) -> list[Row]:
    """Pearson's r of every pair of ``variables`` with R's ``cor.test``: t statistic on n - 2
    df, two-sided p, Fisher-z confidence interval (what rstatix::cor_test reports)."""
    from scipy import stats

    rows = []
    for a, b in itertools.combinations(variables, 2):
        pair = data.select(pl.col(a).cast(pl.Float64), pl.col(b).cast(pl.Float64)).drop_nulls()
        x, y = pair[a].to_numpy(), pair[b].to_numpy()
        res = stats.pearsonr(x, y)
        r = float(res.statistic)
        n = len(x)
        ci = res.confidence_interval(confidence_level=conf_level)
        rows.append(
            {
                "test": "pearson",
                "variable": f"{a} ~ {b}",
                "groups": f"{a} vs {b}",
                "group1": a,
                "group2": b,
                "statistic": r * np.sqrt((n - 2) / (1 - r**2)),
                "statistic_name": "t",
                "df": float(n - 2),
                "p": float(res.pvalue),
                "estimate": r,
                "conf_low": float(ci.low),
                "conf_high": float(ci.high),
                "n": n,
            }
        )
    return rows
