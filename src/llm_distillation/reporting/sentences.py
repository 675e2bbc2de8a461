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
Rule = Callable[[Row, float, str], str | None]


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


def _gee(row: Row, alpha: float, unit: str) -> str | None:
    if row["group2"] is None:
        return None
    return (
        f"{row['group2']} vs {row['group1']} ({row['subset']}): odds ratio of a correct "
        f"answer {row['effect_size']:.2f} (GEE over examples, {format_p(row['p'])})."
    )


def _p_rule(template: str, significant: str = "", not_significant: str = "") -> Rule:
    """A rule that fills ``template`` from the row's fields and three more.

    ``{verdict}`` is ``significant`` when ``p < alpha``, else ``not_significant``; ``{p_text}`` is
    :func:`format_p` of ``p``; ``{term_label}`` is the term with ``:`` read as ``×``.
    """

    def rule(row: Row, alpha: float, unit: str) -> str:
        verdict = significant if row["p"] < alpha else not_significant
        term_label = (row.get("term") or "").replace(":", " × ")
        fields = {**row, "verdict": verdict, "p_text": format_p(row["p"]), "term_label": term_label}
        return template.format_map(fields)

    return rule


_F_TEST = "F({df:.0f}, {df2:.0f}) = {statistic:.2f}, {p_text}"

RULES: dict[str, Rule] = {
    "box_m": _p_rule(
        "The covariance matrices of {variable} {verdict} between the groups of {groups} "
        "(Box's M, χ²({df:.0f}) = {statistic:.2f}, {p_text}).",
        "differ",
        "do not differ significantly",
    ),
    "multivariate_shapiro": _p_rule(
        "{variable} {verdict} multivariate normality (multivariate Shapiro-Wilk "
        "W = {statistic:.3f}, {p_text}).",
        "depart from",
        "are compatible with",
    ),
    "tukey_hsd": _tukey,
    "anova_type2": _p_rule(
        "{term_label} {verdict} on {variable} (type II ANOVA, "
        + _F_TEST
        + ", generalised η² = {effect_size:.2f}).",
        "has a significant effect",
        "has no significant effect",
    ),
    "levene": _p_rule(
        "{verdict} between the groups of {groups} for {variable} (Levene, " + _F_TEST + ").",
        "Variances differ",
        "Variances do not differ significantly",
    ),
    "kruskal_wallis": _p_rule(
        "{variable} {verdict} between conditions (Kruskal-Wallis "
        "H({df:.0f}) = {statistic:.2f}, {p_text}).",
        "differs",
        "does not differ significantly",
    ),
    "dunn": _dunn,
    "ols_coefficient": _ols,
    "ols_model": _p_rule(
        "The model {term} explains R² = {effect_size:.3f} of the variance (" + _F_TEST + ")."
    ),
    "nonparametric_manova": _npmv,
    "mcnemar": _mcnemar,
    "mcnemar_exact": _mcnemar,
    "cochran_q": _p_rule(
        "The conditions {groups} {verdict} in per-example correctness "
        "({subset}; Cochran's Q = {statistic:.2f}, {p_text}).",
        "differ",
        "do not differ significantly",
    ),
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
