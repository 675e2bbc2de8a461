"""Plain-language statements generated from result tables (never written by hand).

:func:`describe` turns the rows of a result table (:mod:`llm_distillation.reporting.tidy`) into
short sentences such as "MT:Unrevised beats CF:Unrevised by 12.7 points at 220M (Tukey HSD,
p < 0.001)." Each test has one rule, and every rule tells the truth:

- a sentence claims a direction ("X scores higher than Y") only when its test gives p < α;
  otherwise it says that no difference was detected at this sample size, with the estimate and
  its confidence interval where the test has one;
- a value that is not a finite number (NaN, infinity) never reaches a sentence: such a row, and
  every row whose ``note`` starts with ``not possible`` or ``not computed``, is said by
  :func:`describe_not_possible`, one line per reason naming the tests and the cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import polars as pl

Row = dict[str, Any]
Rule = Callable[[Row, float, str], str | None]

NO_DIFFERENCE = "no difference detected at this sample size"
"""What a sentence says when its test gives p ≥ α (never "X and Y are the same")."""

TEST_NAMES: dict[str, str] = {
    "levene": "Levene",
    "shapiro": "Shapiro-Wilk",
    "anova_type2": "ANOVA",
    "tukey_hsd": "Tukey HSD",
    "kruskal_wallis": "Kruskal-Wallis",
    "dunn": "Dunn",
    "vargha_delaney": "Vargha-Delaney A",
    "ols_coefficient": "OLS",
    "ols_model": "OLS",
    "nonparametric_manova": "nonparametric MANOVA",
    "box_m": "Box's M",
    "multivariate_shapiro": "multivariate Shapiro-Wilk",
    "pearson": "Pearson",
    "mcnemar": "McNemar",
    "mcnemar_exact": "McNemar (exact)",
    "cochran_q": "Cochran's Q",
    "gee_logit": "GEE",
}
"""test -> its name in sentences."""

_SENTENCE_FIELDS = ("statistic", "p", "p_adjusted", "estimate", "conf_low", "conf_high")
"""The numbers sentences use; a row where one of them is not finite is said as undefined."""


def format_p(p: float | None, prefix: bool = True) -> str:
    """``p < 0.001`` / ``p = 0.012`` (3 decimals; ``prefix=False`` drops the ``p``)."""
    if p is None or not math.isfinite(p):
        return "p not available"
    text = "< 0.001" if p < 0.001 else f"= {p:.3f}"
    if text in ("= 0.050", "= 0.010"):  # do not round across a usual significance level
        text = f"= {p:.4f}"
    return f"p {text}" if prefix else text.removeprefix("= ")


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _significant(p: float | None, alpha: float) -> bool:
    """True only for a finite p below ``alpha`` (NaN and None never are)."""
    return _finite(p) and p < alpha


def _test_p(row: Row) -> float | None:
    """The p a sentence judges: the adjusted one where the row has it."""
    return row["p_adjusted"] if row.get("p_adjusted") is not None else row.get("p")


def _subset_parts(row: Row) -> dict[str, str]:
    return dict(p.split("=", 1) for p in (row.get("subset") or "").split(", ") if "=" in p)


def _where(row: Row) -> str:
    """ " at 220M on cqa" from a subset like "benchmark=cqa, size=220M"."""
    parts = _subset_parts(row)
    text = f" at {parts['size']}" if "size" in parts else ""
    return text + (f" on {parts['benchmark']}" if "benchmark" in parts else "")


_PLACE_KEYS = ("benchmark", "student", "size", "condition")


def _place(row: Row) -> str:
    """``cqa/S`` from a subset like "benchmark=cqa, student=S, pair_on=example"."""
    parts = _subset_parts(row)
    return "/".join(parts[k] for k in _PLACE_KEYS if k in parts)


def _in_place(row: Row) -> str:
    place = _place(row)
    return f" ({place})" if place else ""


def _ci(low: float | None, high: float | None, scale: float = 1.0, unit: str = "") -> str:
    """ ", 95% CI -3.1 to +5.2 points" (empty when the row has no finite interval)."""
    if not (_finite(low) and _finite(high)):
        return ""
    return f", 95% CI {low * scale:+.1f} to {high * scale:+.1f}{unit}"


def _tukey(row: Row, alpha: float, unit: str) -> str:
    diff, p, g1, g2 = row["estimate"], row["p_adjusted"], row["group1"], row["group2"]
    stats = f"Tukey HSD, {format_p(p)}"
    if _significant(p, alpha):
        winner, loser = (g2, g1) if diff > 0 else (g1, g2)
        return f"{winner} beats {loser} by {abs(diff):.1f} {unit}{_where(row)} ({stats})."
    ci = _ci(row.get("conf_low"), row.get("conf_high"), unit=f" {unit}")
    return (
        f"{g2} vs {g1}{_where(row)}: {NO_DIFFERENCE} (difference {diff:+.1f} {unit}{ci}; {stats})."
    )


def _dunn(row: Row, alpha: float, unit: str) -> str | None:
    if not _significant(row["p_adjusted"], alpha):
        return None  # said together with the other pairs of its variable (_dunn_quiet)
    positive = row["statistic"] > 0
    higher, lower = (row["group2"], row["group1"]) if positive else (row["group1"], row["group2"])
    vda = row.get("_vda")  # A of group1 over group2; said as A of the higher over the lower
    if vda is not None and positive:
        vda = 1 - vda
    effect = f", Vargha-Delaney A = {vda:.2f}" if _finite(vda) else ""
    return (
        f"{higher} scores higher than {lower} on {row['variable']} (Dunn z = "
        f"{row['statistic']:.2f}, {row['p_adjust_method']}-adjusted "
        f"{format_p(row['p_adjusted'])}{effect})."
    )


def _dunn_quiet(variable: str, rows: list[Row], pairs: int, alpha: float) -> str:
    """One sentence for the pairs of ``variable`` whose Dunn test gives p ≥ α."""
    methods = sorted({r["p_adjust_method"] for r in rows if r.get("p_adjust_method")})
    adjusted = f"{'/'.join(methods)}-adjusted " if methods else ""
    which = "any two conditions" if len(rows) == pairs else f"{len(rows)} of {pairs} pairs"
    vdas = [r["_vda"] for r in rows if _finite(r.get("_vda"))]
    effect = (
        f"; Vargha-Delaney A from {min(vdas):.2f} to {max(vdas):.2f}"
        if len(vdas) > 1
        else (f"; Vargha-Delaney A = {vdas[0]:.2f}" if vdas else "")
    )
    return f"{variable}: {NO_DIFFERENCE} between {which} (Dunn, {adjusted}p ≥ {alpha:g}{effect})."


def _ols(row: Row, alpha: float, unit: str) -> str | None:
    if not row["term"].startswith("condition") or not _significant(row["p"], alpha):
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
    verdict = (
        "differ jointly"
        if _significant(row["p"], alpha)
        else "show no joint difference detected at this sample size"
    )
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
    p = _test_p(row)
    g1, g2, n = row["group1"], row["group2"], row.get("n")
    method = f"{row['p_adjust_method']}-adjusted " if row.get("p_adjust_method") else ""
    stats = f"{TEST_NAMES[row['test']]}, {method}{format_p(p)}"
    if "no discordant pairs" in (row.get("note") or ""):
        return (
            f"{g2} vs {g1}{_in_place(row)}: both are right on exactly the same "
            f"{n} examples (no discordant pairs), so no difference can be detected."
        )
    diff = row["estimate"] * 100
    low, high = row.get("conf_low"), row.get("conf_high")
    if _significant(p, alpha):
        if diff > 0:
            higher, lower, ci = g2, g1, _ci(low, high, 100, " points")
        else:
            higher, lower = g1, g2
            ci = _ci(-high, -low, 100, " points") if _finite(low) and _finite(high) else ""
        return (
            f"{higher} scores higher than {lower}{_in_place(row)}: {abs(diff):.1f} points "
            f"more correct answers on the same {n} examples{ci} ({stats})."
        )
    detectable = row.get("detectable")
    reach = (
        f"; a difference of {100 * detectable:.1f} points or more would most likely have "
        "been detected (the smallest detectable difference: the opening box)"
        if _finite(detectable)
        else "; at this discordant share no difference can be detected"
    )
    return (
        f"{g2} vs {g1}{_in_place(row)}: {NO_DIFFERENCE} (accuracy {diff:+.1f} points on the "
        f"same {n} examples{_ci(low, high, 100, ' points')}; {stats}{reach})."
    )


def _gee(row: Row, alpha: float, unit: str) -> str | None:
    if row["group2"] is None:
        return None
    g1, g2 = row["group1"], row["group2"]
    low, high = row.get("conf_low"), row.get("conf_high")
    ci = (
        f", 95% CI {math.exp(low):.2f} to {math.exp(high):.2f}"
        if _finite(low) and _finite(high)
        else ""
    )
    stats = f"odds ratio {row['effect_size']:.2f}{ci}; GEE over examples, {format_p(row['p'])}"
    if _significant(row["p"], alpha):
        direction = "higher" if row["estimate"] > 0 else "lower"
        return f"{g2} has {direction} odds of a correct answer than {g1}{_in_place(row)} ({stats})."
    return (
        f"{g2} vs {g1}{_in_place(row)}: {NO_DIFFERENCE} in the odds of a correct answer ({stats})."
    )


def _p_rule(template: str, significant: str = "", not_significant: str = "") -> Rule:
    """A rule that fills ``template`` from the row's fields and three more.

    ``{verdict}`` is ``significant`` when ``p < alpha``, else ``not_significant``; ``{p_text}`` is
    :func:`format_p` of ``p``; ``{term_label}`` is the term with ``:`` read as ``×``.
    """

    def rule(row: Row, alpha: float, unit: str) -> str:
        verdict = significant if _significant(row["p"], alpha) else not_significant
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
        "has no effect detected at this sample size",
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
        "shows no difference detected at this sample size",
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
        "show no difference detected at this sample size",
    ),
    "gee_logit": _gee,
}
"""test -> its sentence rule (None = no sentence for that row; the table has it)."""


def _not_run(row: Row) -> bool:
    note = row.get("note") or ""
    return note.startswith(("not possible", "not computed"))


def _undefined(row: Row) -> bool:
    """A value a sentence would use is NaN or infinite."""
    return any(
        isinstance(row.get(f), float) and not math.isfinite(row[f]) for f in _SENTENCE_FIELDS
    )


def describe(table: pl.DataFrame, alpha: float = 0.05, unit: str = "points") -> list[str]:
    """One sentence per row that deserves one, in table order (``unit`` names differences);
    then, per variable, one sentence for its Dunn pairs without a detected difference; then
    :func:`describe_not_possible` of the table."""
    out: list[str] = []
    vda = {
        (r["variable"], r["group1"], r["group2"]): r["effect_size"]
        for r in table.filter(pl.col("test") == "vargha_delaney").iter_rows(named=True)
    }
    quiet: dict[str, list[Row]] = {}
    pairs: dict[str, int] = {}
    for row in table.iter_rows(named=True):
        if _not_run(row) or _undefined(row):
            continue  # describe_not_possible says these
        rule = RULES.get(row["test"])
        if rule is None or (row.get("p") is None and row.get("p_adjusted") is None):
            continue
        if row["test"] == "dunn":
            row["_vda"] = vda.get((row["variable"], row["group1"], row["group2"]))
            pairs[row["variable"]] = pairs.get(row["variable"], 0) + 1
            if not _significant(row["p_adjusted"], alpha):
                quiet.setdefault(row["variable"], []).append(row)
                continue
        sentence = rule(row, alpha, unit)
        if sentence:
            out.append(sentence)
    out += [_dunn_quiet(v, rows, pairs[v], alpha) for v, rows in quiet.items()]
    return out + describe_not_possible(table)


CELLS_MARK = "; cells: "
"""In a ``not possible`` note: what follows names the cells (``size/condition``, …)."""


def _cells(row: Row) -> list[str]:
    """Where a row that did not run belongs: ``cqa/S/Standard`` per cell its note names
    (after :data:`CELLS_MARK`), else the place of its subset (``cqa/S``); an undefined row adds
    its groups."""
    place = _place(row)
    note = row.get("note") or ""
    if _not_run(row) and CELLS_MARK in note:
        named = note.split(CELLS_MARK, 1)[1].split(", ")
        return [f"{place}/{c.strip()}" if place else c.strip() for c in named]
    groups = row.get("groups")
    if _undefined(row) and groups:
        return [f"{place}: {groups}" if place else groups]
    return [place] if place else []


def _reason(row: Row) -> str:
    note = (row.get("note") or "").split(CELLS_MARK, 1)[0]
    if _not_run(row):
        return note.split(":", 1)[1].strip() if ":" in note else note
    if "no discordant" in note:
        return "no discordant pairs"
    return "the test gives no finite value on these data"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_not_possible(table: pl.DataFrame) -> list[str]:
    """The rows that did not run (``note`` starting ``not possible`` or ``not computed``)
    and those whose numbers are not finite, one line per reason: the tests, their variables
    and the cells, e.g. "Levene, ANOVA and Tukey HSD on accuracy not possible: one seed per
    condition; cells cqa/S/Standard, cqa/S/MT." """
    groups: dict[str, dict[str, list[str]]] = {}
    for row in table.iter_rows(named=True):
        if not (_not_run(row) or _undefined(row)):
            continue
        entry = groups.setdefault(_reason(row), {"tests": [], "variables": [], "cells": []})
        name = TEST_NAMES.get(row["test"], row["test"])
        if name not in entry["tests"]:
            entry["tests"].append(name)
        if row.get("variable") and row["variable"] not in entry["variables"]:
            entry["variables"].append(row["variable"])
        entry["cells"] += [c for c in _cells(row) if c not in entry["cells"]]
    out = []
    for reason, entry in groups.items():
        on = f" on {_join(entry['variables'])}" if entry["variables"] else ""
        cells = f"; cells {', '.join(entry['cells'])}" if entry["cells"] else ""
        out.append(f"{_join(entry['tests'])}{on} not possible: {reason}{cells}.")
    return out


def describe_shapiro(table: pl.DataFrame, alpha: float = 0.05) -> list[str]:
    """One sentence per outcome summarising its Shapiro-Wilk tests over the groups (those with
    a finite p; the others are said by :func:`describe_not_possible`)."""
    rows = table.filter(
        (pl.col("test") == "shapiro") & pl.col("p").is_not_null() & pl.col("p").is_finite()
    )
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


SKIPPED_COLUMNS = ("benchmark", "student", "condition", "metric", "reason")
"""Columns of the evaluation's skipped metrics that :func:`describe_skipped` reads."""


def describe_skipped(skipped: pl.DataFrame) -> list[str]:
    """The metrics the evaluation skipped (``evaluation.skipped_metrics_all``), one line per
    reason: the metrics and the cells (``benchmark/student/condition``)."""
    missing = [c for c in SKIPPED_COLUMNS if c not in skipped.columns]
    if missing:
        raise ValueError(f"skipped metrics: missing columns {missing}; expected {SKIPPED_COLUMNS}")
    out = []
    for (reason,), part in skipped.group_by("reason", maintain_order=True):
        metrics = part["metric"].unique(maintain_order=True).to_list()
        cells = [
            "/".join(str(r[k]) for k in ("benchmark", "student", "condition"))
            for r in part.unique(
                ["benchmark", "student", "condition"], maintain_order=True
            ).iter_rows(named=True)
        ]
        out.append(f"Not computed ({reason}): {_join(metrics)}; cells {', '.join(cells)}.")
    return out


def _mean_accuracy(options: pl.DataFrame, place: dict[str, str], condition: str) -> float | None:
    """Mean over seeds of ``condition``'s accuracy at ``place`` (benchmark, student)."""
    rows = options.filter(pl.col("condition") == condition)
    for key in ("benchmark", "student"):
        if key in place and key in rows.columns:
            rows = rows.filter(pl.col(key) == place[key])
    value = rows["accuracy"].mean() if rows.height else None
    return float(value) if _finite(value) else None


def describe_baseline(
    paired: pl.DataFrame,
    options: pl.DataFrame,
    baselines: list[str],
    alpha: float = 0.05,
    answers: str = "by option log-likelihood",
) -> list[str]:
    """The report's first claim: per benchmark and student, whether a trained condition beats
    the untrained baseline (``baselines``: the untrained conditions' names), from the McNemar
    rows of ``paired`` that compare a baseline with a trained condition on the same examples
    (the p judged: the adjusted one). Names the trained condition with the largest gain, its
    accuracy and the baseline's (``options``: accuracy per run, mean over seeds), the gain with
    its 95% CI and p; where no trained condition is significantly better, says so with the
    smallest difference the test would have detected. No baseline: says how to add one."""
    if not baselines:
        return [
            "This run has no untrained baseline, so it cannot say whether training changed the "
            "students: add `untrained` to student_training.matrix.conditions."
        ]
    rows = [
        r
        for r in paired.filter(pl.col("test").str.starts_with("mcnemar")).iter_rows(named=True)
        if (r["group1"] in baselines) != (r["group2"] in baselines)
        and _finite(r.get("estimate"))
        and not (r.get("note") or "").startswith("not possible")
    ]
    by_place: dict[str, list[Row]] = {}
    for row in rows:
        by_place.setdefault(_place(row), []).append(row)
    out = []
    for place, group in by_place.items():
        gains = []
        for row in group:
            sign = 1.0 if row["group1"] in baselines else -1.0
            low, high = row.get("conf_low"), row.get("conf_high")
            ci = (None, None)
            if _finite(low) and _finite(high):  # b - a flipped to trained - baseline
                ci = (low, high) if sign > 0 else (0.0 - high, 0.0 - low)
            trained, base = (
                (row["group2"], row["group1"]) if sign > 0 else (row["group1"], row["group2"])
            )
            gains.append((sign * row["estimate"], ci, trained, base, row))
        gains.sort(key=lambda g: g[0], reverse=True)
        gain, (low, high), trained, base, row = gains[0]
        parts = _subset_parts(row)
        acc_t, acc_b = _mean_accuracy(options, parts, trained), _mean_accuracy(options, parts, base)
        levels = (
            f": {100 * acc_t:.1f}% correct against {100 * acc_b:.1f}%"
            if acc_t is not None and acc_b is not None
            else ""
        )
        size = f"on the same {row['n']} test examples {answers}{levels}"
        ci = _ci(low, high, 100, " points")
        method = f"{row['p_adjust_method']}-adjusted " if row.get("p_adjust_method") else ""
        stats = f"{TEST_NAMES[row['test']]}, {method}{format_p(_test_p(row))}"
        better = [g for g in gains if g[0] > 0 and _significant(_test_p(g[4]), alpha)]
        if better:
            others = [g[2] for g in better[1:]]
            also = f" {', '.join(others)} also beat{'s' * (len(others) == 1)} it." if others else ""
            out.append(
                f"Training changed the students ({place}): {trained} beats {base} by "
                f"{100 * gain:.1f} points {size} ({stats}{ci}).{also}"
            )
            continue
        detectable = row.get("detectable")
        reach = (
            f" A gain of {100 * detectable:.1f} points or more would most likely have been "
            "detected."
            if _finite(detectable)
            else ""
        )
        out.append(
            f"No trained student beats {base} ({place}): {NO_DIFFERENCE}. The best, {trained}, "
            f"differs by {100 * gain:+.1f} points {size} ({stats}{ci}).{reach}"
        )
    return out
