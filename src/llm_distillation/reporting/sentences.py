"""Plain-language statements generated from result tables (never written by hand).

:func:`describe` turns the rows of a result table (:mod:`llm_distillation.reporting.tidy`) into
short sentences such as "MT:Unrevised beats CF:Unrevised by 12.7 points at 220M (Tukey HSD,
p < 0.001)." Each test has one rule; rows that were not possible are said so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

Row = dict[str, Any]


def format_p(p: float | None, prefix: bool = True) -> str:
    """``p < 0.001`` / ``p = 0.012`` (3 decimals; ``prefix=False`` drops the ``p``)."""
    if p is None:
        return "p not available"
    text = "< 0.001" if p < 0.001 else f"= {p:.3f}"
    if text in ("= 0.050", "= 0.010"):  # do not round across a usual significance level
        text = f"= {p:.4f}"
    return f"p {text}" if prefix else text.removeprefix("= ")


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _where(row: Row) -> str:
    """ " at 220M on cqa" from a subset like "benchmark=cqa, size=220M"."""
    parts = dict(p.split("=", 1) for p in (row.get("subset") or "").split(", ") if "=" in p)
    text = f" at {parts['size']}" if "size" in parts else ""
    return text + (f" on {parts['benchmark']}" if "benchmark" in parts else "")


def _tukey(row: Row, alpha: float, unit: str) -> str:
    diff, p, g1, g2 = row["estimate"], row["p_adjusted"], row["group1"], row["group2"]
    stats = f"Tukey HSD, {format_p(p)}"
    if p < alpha:
        winner, loser = (g2, g1) if diff > 0 else (g1, g2)
        return f"{winner} beats {loser} by {abs(diff):.1f} {unit}{_where(row)} ({stats})."
    return (
        f"{g2} and {g1} do not differ significantly{_where(row)} "
        f"(difference {diff:+.1f} {unit}, {stats})."
    )


def _anova(row: Row, alpha: float, unit: str) -> str:
    verdict = "has a significant effect" if row["p"] < alpha else "has no significant effect"
    return (
        f"{row['term'].replace(':', ' × ')} {verdict} on {row['variable']} (type II ANOVA, "
        f"F({row['df']:.0f}, {row['df2']:.0f}) = {row['statistic']:.2f}, {format_p(row['p'])}, "
        f"generalised η² = {row['effect_size']:.2f})."
    )


def _levene(row: Row, alpha: float, unit: str) -> str:
    verdict = "Variances differ" if row["p"] < alpha else "Variances do not differ significantly"
    return (
        f"{verdict} between the groups of {row['groups']} for {row['variable']} (Levene, "
        f"F({row['df']:.0f}, {row['df2']:.0f}) = {row['statistic']:.2f}, {format_p(row['p'])})."
    )


def _kruskal(row: Row, alpha: float, unit: str) -> str:
    verdict = "differs" if row["p"] < alpha else "does not differ significantly"
    return (
        f"{row['variable']} {verdict} between conditions (Kruskal-Wallis "
        f"H({row['df']:.0f}) = {row['statistic']:.2f}, {format_p(row['p'])})."
    )


def _dunn(row: Row, alpha: float, unit: str) -> str | None:
    if row["p_adjusted"] >= alpha:
        return None  # the non-significant pairs stay in the table
    positive = row["statistic"] > 0
    higher, lower = (row["group2"], row["group1"]) if positive else (row["group1"], row["group2"])
    vda = row.get("_vda")  # A of group1 over group2; said as A of the higher over the lower
    if vda is not None and positive:
        vda = 1 - vda
    effect = f", Vargha-Delaney A = {vda:.2f}" if vda is not None else ""
    return (
        f"{higher} scores higher than {lower} on {row['variable']} (Dunn z = "
        f"{row['statistic']:.2f}, {row['p_adjust_method']}-adjusted "
        f"{format_p(row['p_adjusted'])}{effect})."
    )


def _ols(row: Row, alpha: float, unit: str) -> str | None:
    if not row["term"].startswith("condition") or row["p"] >= alpha:
        return None
    controls = row["note"].split("~", 1)[1].replace("condition", "").strip(" +")
    direction = "higher" if row["estimate"] > 0 else "lower"
    return (
        f"{row['group2']} is rated {abs(row['estimate']):.2f} points {direction} in "
        f"{row['variable']} than {row['group1']}, controlling for {controls} "
        f"(OLS, {format_p(row['p'])})."
    )


def _ols_model(row: Row, alpha: float, unit: str) -> str:
    return (
        f"The model {row['term']} explains R² = {row['effect_size']:.3f} of the variance "
        f"(F({row['df']:.0f}, {row['df2']:.0f}) = {row['statistic']:.2f}, "
        f"{format_p(row['p'])})."
    )


def _npmv(row: Row, alpha: float, unit: str) -> str | None:
    if row["term"] != "anova_type":
        return None
    verdict = "differ jointly" if row["p"] < alpha else "do not differ jointly"
    perms = int((row.get("note") or "0").split()[0])
    perm = row["p_permutation"]
    if perm is None or not perms:
        perm_text = ""
    elif perm == 0:
        perm_text = f"; permutation p < {1 / perms:g} ({perms} permutations)"
    else:
        perm_text = f"; permutation p = {perm:.3f} ({perms} permutations)"
    return (
        f"The ratings ({row['variable']}) {verdict} between conditions (nonparametric "
        f"MANOVA, ANOVA-type F = {row['statistic']:.2f}, {format_p(row['p'])}{perm_text})."
    )


def _mcnemar(row: Row, alpha: float, unit: str) -> str:
    p = row["p_adjusted"] if row["p_adjusted"] is not None else row["p"]
    diff = row["estimate"] * 100
    verdict = "significantly" if p < alpha else "not significantly"
    return (
        f"{row['group2']} vs {row['group1']} ({row['subset']}): accuracy "
        f"{diff:+.1f} points, {verdict} different on the same examples (McNemar, "
        f"{row['p_adjust_method'] or ''} {format_p(p)})."
    ).replace("( ", "(")


def _cochran(row: Row, alpha: float, unit: str) -> str:
    verdict = "differ" if row["p"] < alpha else "do not differ significantly"
    return (
        f"The conditions {row['groups']} {verdict} in per-example correctness "
        f"({row['subset']}; Cochran's Q = {row['statistic']:.2f}, {format_p(row['p'])})."
    )


def _gee(row: Row, alpha: float, unit: str) -> str | None:
    if row["group2"] is None:
        return None
    return (
        f"{row['group2']} vs {row['group1']} ({row['subset']}): odds ratio of a correct "
        f"answer {row['effect_size']:.2f} (GEE over examples, {format_p(row['p'])})."
    )


def _box_m(row: Row, alpha: float, unit: str) -> str:
    verdict = "differ" if row["p"] < alpha else "do not differ significantly"
    return (
        f"The covariance matrices of {row['variable']} {verdict} between the groups of "
        f"{row['groups']} (Box's M, χ²({row['df']:.0f}) = {row['statistic']:.2f}, "
        f"{format_p(row['p'])})."
    )


def _mshapiro(row: Row, alpha: float, unit: str) -> str:
    verdict = "depart from" if row["p"] < alpha else "are compatible with"
    return (
        f"{row['variable']} {verdict} multivariate normality (multivariate Shapiro-Wilk "
        f"W = {row['statistic']:.3f}, {format_p(row['p'])})."
    )


RULES: dict[str, Callable[[Row, float, str], str | None]] = {
    "box_m": _box_m,
    "multivariate_shapiro": _mshapiro,
    "tukey_hsd": _tukey,
    "anova_type2": _anova,
    "levene": _levene,
    "kruskal_wallis": _kruskal,
    "dunn": _dunn,
    "ols_coefficient": _ols,
    "ols_model": _ols_model,
    "nonparametric_manova": _npmv,
    "mcnemar": _mcnemar,
    "mcnemar_exact": _mcnemar,
    "cochran_q": _cochran,
    "gee_logit": _gee,
}
"""test -> its sentence rule (None = no sentence for that row; the table has it)."""


def describe(table: pl.DataFrame, alpha: float = 0.05, unit: str = "points") -> list[str]:
    """One sentence per row that deserves one, in table order; ``unit`` names differences."""
    out: list[str] = []
    vda = {
        (r["variable"], r["group1"], r["group2"]): r["effect_size"]
        for r in table.filter(pl.col("test") == "vargha_delaney").iter_rows(named=True)
    }
    for row in table.iter_rows(named=True):
        if row["test"] == "dunn":
            row["_vda"] = vda.get((row["variable"], row["group1"], row["group2"]))
        note = row.get("note") or ""
        if note.startswith("not possible"):
            where = f" ({row['subset']})" if row.get("subset") else ""
            out.append(f"{row['test']} on {row['variable']}{where} was {note}.")
            continue
        rule = RULES.get(row["test"])
        if rule is None or (row.get("p") is None and row.get("p_adjusted") is None):
            continue
        sentence = rule(row, alpha, unit)
        if sentence:
            out.append(sentence)
    return out


def describe_shapiro(table: pl.DataFrame, alpha: float = 0.05) -> list[str]:
    """One sentence per outcome summarising its Shapiro-Wilk tests over the groups."""
    rows = table.filter((pl.col("test") == "shapiro") & pl.col("p").is_not_null())
    out = []
    for variable in rows["variable"].unique(maintain_order=True).to_list():
        part = rows.filter(pl.col("variable") == variable)
        bad = part.filter(pl.col("p") < alpha).height
        if bad:
            out.append(
                f"{variable} departs from normality in {bad} of {part.height} groups "
                f"(Shapiro-Wilk p < {alpha})."
            )
        else:
            out.append(
                f"{variable} is compatible with normality in all {part.height} groups "
                f"(Shapiro-Wilk, smallest p = {part['p'].min():.3f})."
            )
    return out
