"""Multivariate tests over several outcomes (the five rating items).

- :func:`nonparametric_manova`: npmv::nonpartest (Ellis, Burchett, Harrar & Bathke 2017,
  "Nonparametric inference for multivariate data: the R package npmv", J. Stat. Softw. 76(4)),
  reimplemented from its source (``basenonpartest``): the ANOVA-type, Lawley-Hotelling (McKeon),
  Bartlett-Nanda-Pillai (Muller) and Wilks' Lambda statistics on the mid-ranks of each outcome,
  with their F approximations, and a permutation test of each (group labels permuted).
- :func:`box_m`: Box's M test of equal covariance matrices (rstatix::box_m).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from llm_distillation.reporting.univariate import levels_of

Row = dict[str, Any]

NPMV_TESTS: tuple[str, ...] = ("anova_type", "lawley_hotelling", "bartlett_nanda_pillai", "wilks")
"""The four statistics of npmv::nonpartest, in its order."""


def _matrix(
    data: pl.DataFrame, outcomes: Sequence[str], group: str, levels: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    lv = levels_of(data, group, levels)
    codes = data[group].cast(pl.String).replace_strict({g: i for i, g in enumerate(lv)}).to_numpy()
    x = data.select(pl.col(c).cast(pl.Float64) for c in outcomes).to_numpy()
    if np.isnan(x).any():
        raise ValueError(f"nonparametric MANOVA: missing values in {list(outcomes)}")
    return x, codes.astype(int), lv


def _npmv_statistics(
    ranks: np.ndarray, codes: np.ndarray, a: int, anova_only: bool = False
) -> dict[str, float]:
    """basenonpartest: the four statistics and their F-approximation degrees of freedom
    (``anova_only``: the other three are NaN). ``singular`` is 1.0 when one of npmv's five rank
    covariance matrices has a determinant of exactly 0 (npmv's rule for returning only the
    ANOVA-type test; a matrix of rank a - 1 < p is not exactly singular in floating point, so
    npmv, and we, still compute the other three there)."""
    n_total, p = ranks.shape
    onehot = np.zeros((n_total, a))
    onehot[np.arange(n_total), codes] = 1.0
    ssize = onehot.sum(axis=0)
    rbars = (onehot.T @ ranks) / ssize[:, None]
    rtilda = rbars.mean(axis=0)
    rbarovr = ranks.mean(axis=0)
    dev_all = rbars - rbarovr
    dev_til = rbars - rtilda
    h1 = (dev_all * ssize[:, None]).T @ dev_all / (a - 1)
    h2 = dev_til.T @ dev_til / (a - 1)
    resid = ranks - rbars[codes]
    w1 = np.ones(n_total)
    w2 = ((1 - ssize / n_total) / (ssize - 1))[codes]
    w3 = (1 / (ssize * (ssize - 1)))[codes]
    g1 = (resid * w1[:, None]).T @ resid / (n_total - a)
    g2 = (resid * w2[:, None]).T @ resid / (a - 1)
    g3 = (resid * w3[:, None]).T @ resid / a
    singular = any(np.linalg.det(m) == 0 for m in (h1, h2, g1, g2, g3))
    out: dict[str, float] = {"singular": float(singular)}
    # ANOVA type
    fhat = (a - 1) * np.trace(g3) ** 2 / np.trace(g3 @ g3)
    fhat0 = a**2 / ((a - 1) * np.sum(1 / (ssize - 1))) * fhat
    out["anova_type"] = np.trace(h2) / np.trace(g3)
    out["anova_type.df1"], out["anova_type.df2"] = fhat, fhat0
    if anova_only:
        for name in NPMV_TESTS[1:]:
            out[name] = out[f"{name}.df1"] = out[f"{name}.df2"] = float("nan")
        return {key: float(val) for key, val in out.items()}
    n, pp = n_total, p
    # Lawley-Hotelling, McKeon approximation
    u = np.trace(((a - 1) * h1) @ np.linalg.inv((n - a) * g1))
    k = pp * (a - 1)
    b = ((n - pp - 2) * (n - a - 1)) / ((n - a - pp) * (n - a - pp - 3))
    d = 4 + (pp * (a - 1) + 2) / (b - 1)
    g = (pp * (a - 1) * (d - 2)) / ((n - a - pp - 1) * d)
    out["lawley_hotelling"] = u / g
    out["lawley_hotelling.df1"], out["lawley_hotelling.df2"] = k, d
    # Bartlett-Nanda-Pillai, Muller approximation
    v = np.trace(((a - 1) * h1) @ np.linalg.inv((a - 1) * h1 + (n - a) * g1))
    gamma = min(a - 1, pp)
    common = gamma * (n - a + gamma - pp) * (n + 2) * (n - 1) / ((n - a) * (n - pp)) - 2
    nu1 = (pp * (a - 1)) / (gamma * (n - 1)) * common
    nu2 = (n - a + gamma - pp) / n * common
    out["bartlett_nanda_pillai"] = ((v / gamma) / nu1) / ((1 - v / gamma) / nu2)
    out["bartlett_nanda_pillai.df1"], out["bartlett_nanda_pillai.df2"] = nu1, nu2
    # Wilks' Lambda
    lam = np.linalg.det((n - a) * g1) / np.linalg.det((n - a) * g1 + (a - 1) * h1)
    r_wl = (n - a) - (pp - (a - 1) + 1) / 2
    u_wl = (pp * (a - 1) - 2) / 4
    t_d = pp * pp + (a - 1) ** 2 - 5
    t_wl = np.sqrt((pp**2 * (a - 1) ** 2 - 4) / t_d) if t_d > 0 else 1.0
    df1 = pp * (a - 1)
    df2 = r_wl * t_wl - 2 * u_wl
    root = lam ** (1 / t_wl)
    out["wilks"] = (1 - root) / root * df2 / df1
    out["wilks.df1"], out["wilks.df2"] = df1, df2
    return {key: float(val) for key, val in out.items()}


def nonparametric_manova(
    data: pl.DataFrame,
    outcomes: Sequence[str],
    group: str,
    levels: Sequence[str] | None = None,
    *,
    permutations: int = 1000,
    seed: int = 0,
) -> list[Row]:
    """npmv::nonpartest(outcome1 | … ~ group): one row per statistic (:data:`NPMV_TESTS`).

    ``statistic``/``df``/``df2``/``p``: the F approximation (as npmv, unrounded);
    ``p_permutation``: the share of ``permutations`` random relabellings (numpy generator seeded
    by ``seed``) whose statistic is strictly larger than the observed one, as npmv counts.
    """
    from scipy import stats

    x, codes, lv = _matrix(data, outcomes, group, levels)
    a = len(lv)
    counts = np.bincount(codes, minlength=a)
    if (counts < 2).any():
        raise ValueError(f"nonparametric MANOVA: every group of {group!r} needs at least 2 rows")
    ranks = np.column_stack([stats.rankdata(x[:, j]) for j in range(x.shape[1])])
    anova_only = bool(_npmv_statistics(ranks, codes, a, anova_only=True)["singular"])
    observed = _npmv_statistics(ranks, codes, a, anova_only=anova_only)
    rng = np.random.default_rng(seed)
    exceed = dict.fromkeys(NPMV_TESTS, 0)
    for _ in range(permutations):
        perm = _npmv_statistics(ranks, rng.permutation(codes), a, anova_only=anova_only)
        for name in NPMV_TESTS:
            exceed[name] += perm[name] > observed[name]
    n = len(codes)
    rows = []
    for name in NPMV_TESTS:
        f, df1, df2 = observed[name], observed[f"{name}.df1"], observed[f"{name}.df2"]
        if anova_only and name != "anova_type":
            rows.append(
                {
                    "test": "nonparametric_manova",
                    "term": name,
                    "variable": " | ".join(outcomes),
                    "groups": group,
                    "n": n,
                    "note": "not possible: a rank covariance matrix is singular "
                    "(npmv then returns only the ANOVA-type test)",
                }
            )
            continue
        rows.append(
            {
                "test": "nonparametric_manova",
                "term": name,
                "variable": " | ".join(outcomes),
                "groups": group,
                "statistic": f,
                "statistic_name": "F",
                "df": df1,
                "df2": df2,
                "p": float(stats.f.sf(f, df1, df2)),
                "p_permutation": exceed[name] / permutations if permutations else None,
                "n": n,
                "note": f"{permutations} permutations, seed {seed}",
            }
        )
    return rows


def relative_effects(
    data: pl.DataFrame, outcomes: Sequence[str], group: str, levels: Sequence[str] | None = None
) -> pl.DataFrame:
    """npmv's relative effects: (mean rank of the group - 1/2) / N per outcome (unrounded)."""
    from scipy import stats

    x, codes, lv = _matrix(data, outcomes, group, levels)
    n = len(codes)
    cols: dict[str, Any] = {group: lv}
    for j, name in enumerate(outcomes):
        r = stats.rankdata(x[:, j])
        cols[name] = [float((r[codes == g].mean() - 0.5) / n) for g in range(len(lv))]
    return pl.DataFrame(cols)


def box_m(
    data: pl.DataFrame, outcomes: Sequence[str], group: str, levels: Sequence[str] | None = None
) -> Row:
    """Box's M test of equal covariance matrices across groups (rstatix::box_m): chi-squared
    approximation of -2 log M with Box's correction."""
    from scipy import stats

    x, codes, lv = _matrix(data, outcomes, group, levels)
    p = x.shape[1]
    k = len(lv)
    dfs = np.array([(codes == g).sum() - 1 for g in range(k)], dtype=float)
    covs = [np.cov(x[codes == g], rowvar=False) for g in range(k)]
    pooled = sum(c * d for c, d in zip(covs, dfs, strict=True)) / dfs.sum()
    logdets = np.array([np.linalg.slogdet(c)[1] for c in covs])
    minus2logm = dfs.sum() * np.linalg.slogdet(pooled)[1] - (logdets * dfs).sum()
    co = ((2 * p**2 + 3 * p - 1) / (6 * (p + 1) * (k - 1))) * ((1 / dfs).sum() - 1 / dfs.sum())
    chi2 = minus2logm * (1 - co)
    df = (p * (p - 1) / 2 + p) * (k - 1)
    return {
        "test": "box_m",
        "variable": " | ".join(outcomes),
        "groups": group,
        "statistic": float(chi2),
        "statistic_name": "chi2",
        "df": float(df),
        "p": float(stats.chi2.sf(chi2, df)),
        "n": len(codes),
    }


def multivariate_shapiro(data: pl.DataFrame, outcomes: Sequence[str]) -> Row:
    """Multivariate Shapiro-Wilk (rstatix::mshapiro_test, after mvnormtest::mshapiro.test):
    the univariate Shapiro-Wilk test of the data projected on M⁻¹ r_max, where M is the
    centred cross-product matrix and r_max the centred row with the largest Mahalanobis-type
    norm r' M⁻¹ r. Rows with a missing value are left out."""
    from scipy import stats

    x = data.select(pl.col(c).cast(pl.Float64) for c in outcomes).drop_nulls().to_numpy()
    if not 3 <= len(x) <= 5000:
        raise ValueError(f"multivariate Shapiro-Wilk: needs 3 to 5000 rows, got {len(x)}")
    centred = x - x.mean(axis=0)
    m_inv = np.linalg.inv(centred.T @ centred)
    norms = np.einsum("ij,jk,ik->i", centred, m_inv, centred)
    direction = m_inv @ centred[int(np.argmax(norms))]
    res = stats.shapiro(x @ direction)
    return {
        "test": "multivariate_shapiro",
        "variable": " | ".join(outcomes),
        "statistic": float(res.statistic),
        "statistic_name": "W",
        "p": float(res.pvalue),
        "n": len(x),
    }
