"""Sentences come from the numbers of the result rows."""

from __future__ import annotations

import re

import polars as pl
import pytest

from llm_distillation.reporting.sentences import (
    NO_DIFFERENCE,
    describe,
    describe_baseline,
    describe_shapiro,
    describe_skipped,
    format_p,
)
from llm_distillation.reporting.tidy import RESULT_COLUMNS, result_table


def test_format_p() -> None:
    assert format_p(0.0004) == "p < 0.001"
    assert format_p(0.0123) == "p = 0.012"
    assert format_p(0.04996) == "p = 0.0500"  # not rounded onto the 0.05 boundary
    assert format_p(None) == format_p(float("inf")) == "p not available"


def test_tukey_sentence_from_numbers() -> None:
    table = result_table(
        [
            {
                "test": "tukey_hsd",
                "variable": "accuracy",
                "subset": "size=220M",
                "group1": "CF",
                "group2": "MT",
                "estimate": 12.66,
                "p_adjusted": 8.6e-10,
            },
            {
                "test": "tukey_hsd",
                "variable": "accuracy",
                "subset": "benchmark=cqa, size=770M",
                "group1": "MT",
                "group2": "MT+CF",
                "estimate": 0.3,
                "conf_low": -5.14,
                "conf_high": 5.74,
                "p_adjusted": 0.956,
            },
            {
                "test": "tukey_hsd",
                "variable": "accuracy",
                "subset": "size=770M",
                "group1": "MT",
                "group2": "MT+CF:Revised",
                "estimate": -1.9,
                "p_adjusted": 0.0167,
            },
        ]
    )
    assert describe(table) == [
        "MT beats CF by 12.7 points at 220M (Tukey HSD, p < 0.001).",
        "MT+CF vs MT at 770M on cqa: no difference detected at this sample size (difference "
        "+0.3 points, 95% CI -5.1 to +5.7 points; Tukey HSD, p = 0.956).",
        "MT beats MT+CF:Revised by 1.9 points at 770M (Tukey HSD, p = 0.017).",
    ]


# one row per directional rule; p is set per case
_DIRECTIONAL = {
    "tukey_hsd": {"estimate": 4.0, "conf_low": -1.0, "conf_high": 9.0, "p_adjust_method": "tukey"},
    "dunn": {"statistic": 2.5, "estimate": 30.0, "p_adjust_method": "bonferroni"},
    "mcnemar": {
        "estimate": 0.08,
        "conf_low": -0.01,
        "conf_high": 0.17,
        "n": 100,
        "p_adjust_method": "holm",
        "note": "discordant: 4 only group1 right, 12 only group2 right",
    },
    "gee_logit": {"estimate": 0.4, "effect_size": 1.49, "conf_low": -0.1, "conf_high": 0.9},
    "ols_coefficient": {"term": "conditionB", "estimate": 0.3, "note": "Quality ~ condition"},
}
_DIRECTION_WORDS = ("beats", "higher", "lower")


def _directional(test: str, p: float) -> pl.DataFrame:
    extra = dict(_DIRECTIONAL[test])
    p_field = "p" if test in ("gee_logit", "ols_coefficient") else "p_adjusted"
    return result_table(
        [
            {
                "test": test,
                "variable": "accuracy",
                "subset": "benchmark=cqa, student=S",
                "groups": "B vs A",
                "group1": "A",
                "group2": "B",
                "p": p,
                p_field: p,
                **extra,
            }
        ]
    )


@pytest.mark.parametrize("test", sorted(_DIRECTIONAL))
def test_a_direction_only_below_alpha(test: str) -> None:
    (claim,) = describe(_directional(test, 0.01), alpha=0.05)
    assert any(w in claim for w in _DIRECTION_WORDS), claim
    for p in (0.05, 0.2):  # p = alpha is not below it
        said = describe(_directional(test, p), alpha=0.05)
        assert not any(w in s for s in said for w in _DIRECTION_WORDS), said
        if test != "ols_coefficient":  # the study's OLS keeps non-significant terms in its table
            (sentence,) = said
            assert NO_DIFFERENCE in sentence
    # a stricter alpha takes the claim back
    assert not any(
        w in s for s in describe(_directional(test, 0.01), 0.005) for w in _DIRECTION_WORDS
    )


def test_no_difference_gives_the_estimate_and_its_ci() -> None:
    (mcnemar,) = describe(_directional("mcnemar", 0.3))
    assert "accuracy +8.0 points on the same 100 examples, 95% CI -1.0 to +17.0 points" in mcnemar
    (gee,) = describe(_directional("gee_logit", 0.3))
    assert "odds ratio 1.49, 95% CI 0.90 to 2.46" in gee


def test_direction_follows_the_sign() -> None:
    table = _directional("mcnemar", 0.001).with_columns(
        pl.lit(-0.08).alias("estimate"),
        pl.lit(-0.17).alias("conf_low"),
        pl.lit(-0.01).alias("conf_high"),
    )
    (sentence,) = describe(table)
    assert sentence.startswith("A scores higher than B (cqa/S): 8.0 points")
    assert "95% CI +1.0 to +17.0 points" in sentence


def test_nan_never_reaches_a_sentence() -> None:
    # the case: a Dunn test on all-equal values gave z = nan, p = nan, A = 0.50
    table = result_table(
        [
            {"test": "kruskal_wallis", "variable": "cf_faithfulness", "statistic": float("nan"),
             "df": 4.0, "p": float("nan")},
            {"test": "dunn", "variable": "cf_faithfulness", "group1": "A", "group2": "B",
             "statistic": float("nan"), "p": float("nan"), "p_adjusted": float("nan"),
             "p_adjust_method": "bonferroni"},
            {"test": "vargha_delaney", "variable": "cf_faithfulness", "group1": "A",
             "group2": "B", "effect_size": 0.5},
            {"test": "cochran_q", "variable": "correct", "subset": "benchmark=cqa, student=S",
             "groups": "A | B | C", "statistic": float("nan"), "df": 2.0, "p": float("nan")},
        ]
    )  # fmt: skip
    said = describe(table)
    assert not any(re.search(r"\bnan\b", s, re.IGNORECASE) for s in said), said
    assert not any("higher" in s for s in said)
    assert said == [
        "Kruskal-Wallis, Dunn and Cochran's Q on cf_faithfulness and correct not possible: "
        "the test gives no finite value on these data; cells cqa/S: A | B | C."
    ]
    assert format_p(float("nan")) == "p not available"


def test_no_discordant_pairs_is_said() -> None:
    table = _directional("mcnemar", 1.0).with_columns(
        pl.lit(0.0).alias("estimate"),
        pl.lit("discordant: 0 only group1 right, 0 only group2 right; no discordant pairs").alias(
            "note"
        ),
    )
    (sentence,) = describe(table)
    assert "(no discordant pairs)" in sentence and "no difference can be detected" in sentence


def test_untestable_tests_are_grouped_by_reason() -> None:
    cells = ", ".join(f"S/{c}" for c in ("Standard", "MT:Unrevised", "MT+CF:Revised"))
    one_seed = "not possible: one seed per condition (the group tests need 2 runs per cell)"
    rows = [
        {"test": t, "variable": "accuracy", "subset": f"benchmark={b}",
         "note": f"{one_seed}; cells: {cells}"}
        for b in ("cqa", "esnli")
        for t in ("levene", "anova_type2", "tukey_hsd")
    ] + [
        {"test": t, "variable": "correct", "subset": f"benchmark={b}, student=S, pair_on=example",
         "note": "not possible: all answers unparseable"}
        for b in ("cqa", "esnli")
        for t in ("cochran_q", "mcnemar", "gee_logit")
    ]  # fmt: skip
    said = describe(result_table(rows))
    assert said == [
        "Levene, ANOVA and Tukey HSD on accuracy not possible: one seed per condition (the "
        "group tests need 2 runs per cell); cells cqa/S/Standard, cqa/S/MT:Unrevised, "
        "cqa/S/MT+CF:Revised, esnli/S/Standard, esnli/S/MT:Unrevised, esnli/S/MT+CF:Revised.",
        "Cochran's Q, McNemar and GEE on correct not possible: all answers unparseable; "
        "cells cqa/S, esnli/S.",
    ]


def test_dunn_pairs_without_a_difference_share_one_sentence() -> None:
    rows = [
        {"test": "dunn", "variable": "words", "group1": a, "group2": b, "statistic": z,
         "p": p, "p_adjusted": p, "p_adjust_method": "bonferroni"}
        for a, b, z, p in (("A", "B", 3.5, 0.001), ("A", "C", 0.5, 0.9), ("B", "C", -1.0, 0.6))
    ] + [
        {"test": "vargha_delaney", "variable": "words", "group1": a, "group2": b,
         "effect_size": e}
        for a, b, e in (("A", "B", 0.3), ("A", "C", 0.48), ("B", "C", 0.55))
    ]  # fmt: skip
    assert describe(result_table(rows)) == [
        "B scores higher than A on words (Dunn z = 3.50, bonferroni-adjusted p = 0.001, "
        "Vargha-Delaney A = 0.70).",
        "words: no difference detected at this sample size between 2 of 3 pairs (Dunn, "
        "bonferroni-adjusted p ≥ 0.05; Vargha-Delaney A from 0.48 to 0.55).",
    ]


def test_skipped_metrics_grouped_by_reason() -> None:
    skipped = pl.DataFrame(
        {
            "benchmark": ["esnli"] * 4,
            "student": ["S"] * 4,
            "condition": ["Standard", "Standard", "MT:Unrevised", "MT:Unrevised"],
            "metric": ["cf_faithfulness", "las", "cf_faithfulness", "las"],
            "reason": ["no teacher counterfactuals", "no teacher rationales"] * 2,
        }
    )
    assert describe_skipped(skipped) == [
        "Not computed (no teacher counterfactuals): cf_faithfulness; cells esnli/S/Standard, "
        "esnli/S/MT:Unrevised.",
        "Not computed (no teacher rationales): las; cells esnli/S/Standard, esnli/S/MT:Unrevised.",
    ]


def test_shapiro_summary() -> None:
    table = result_table(
        [{"test": "shapiro", "variable": "x", "p": p, "statistic": 0.9} for p in (0.2, 0.01)]
    )
    assert describe_shapiro(table) == [
        "x departs from normality in 1 of 2 groups (Shapiro-Wilk p < 0.05)."
    ]


def test_result_table_schema_and_unknown_columns() -> None:
    table = result_table([{"test": "x", "p": 0.5, "n": 3}])
    assert tuple(table.columns) == RESULT_COLUMNS
    try:
        result_table([{"test": "x", "pval": 0.5}])
    except ValueError as err:
        assert "unknown columns ['pval']" in str(err)
    else:
        raise AssertionError("unknown column accepted")


def _baseline_rows(p_standard: float, p_mt: float) -> pl.DataFrame:
    subset = "benchmark=esnli, student=S, pair_on=example"
    return result_table(
        [
            {"test": "cochran_q", "subset": subset, "groups": "Untrained | Standard | MT",
             "p": 0.0},
            # group2 - group1: Standard over Untrained; Untrained listed second against MT
            {"test": "mcnemar", "subset": subset, "group1": "Untrained", "group2": "Standard",
             "groups": "Standard vs Untrained", "estimate": 0.21, "conf_low": 0.15,
             "conf_high": 0.27, "p": p_standard / 3, "p_adjusted": p_standard,
             "p_adjust_method": "holm", "n": 300, "detectable": 0.08},
            {"test": "mcnemar", "subset": subset, "group1": "MT", "group2": "Untrained",
             "groups": "Untrained vs MT", "estimate": -0.05, "conf_low": -0.1,
             "conf_high": 0.0, "p": p_mt, "p_adjusted": p_mt, "p_adjust_method": "holm",
             "n": 300, "detectable": 0.07},
            {"test": "mcnemar", "subset": subset, "group1": "Standard", "group2": "MT",
             "groups": "MT vs Standard", "estimate": -0.16, "p": 0.0, "n": 300},
        ]
    )  # fmt: skip


_OPTIONS = pl.DataFrame(
    {
        "benchmark": ["esnli"] * 4,
        "student": ["S"] * 4,
        "condition": ["Untrained", "Standard", "Standard", "MT"],
        "seed": [0, 0, 1, 0],
        "accuracy": [0.347, 0.55, 0.56, 0.40],
    }
)


def test_the_first_claim_names_the_trained_student_that_beats_the_untrained_one() -> None:
    (claim,) = describe_baseline(_baseline_rows(0.0004, 0.02), _OPTIONS, ["Untrained"])
    assert claim == (
        "Training changed the students (esnli/S): Standard beats Untrained by 21.0 points on the "
        "same 300 test examples by option log-likelihood: 55.5% correct against 34.7% "
        "(McNemar, holm-adjusted p < 0.001, 95% CI +15.0 to +27.0 points). MT also beats it."
    )
    # MT's gain over Untrained (sign flipped: Untrained is its group2) is not significant here
    (claim,) = describe_baseline(_baseline_rows(0.0004, 0.2), _OPTIONS, ["Untrained"])
    assert claim.endswith("+27.0 points).")


def test_the_first_claim_says_when_no_trained_student_beats_the_untrained_one() -> None:
    (claim,) = describe_baseline(_baseline_rows(0.3, 0.4), _OPTIONS, ["Untrained"])
    assert claim.startswith(f"No trained student beats Untrained (esnli/S): {NO_DIFFERENCE}.")
    assert "The best, Standard, differs by +21.0 points" in claim
    assert "holm-adjusted p = 0.300" in claim
    assert claim.endswith("A gain of 8.0 points or more would most likely have been detected.")
    # the baseline as group2 (b - a = Untrained - MT): the gain and its CI turn round
    flipped = _baseline_rows(0.3, 0.4).filter(pl.col("groups") == "Untrained vs MT")
    (claim,) = describe_baseline(flipped, _OPTIONS, ["Untrained"])
    assert "The best, MT, differs by +5.0 points" in claim
    assert "95% CI +0.0 to +10.0 points" in claim
    (claim,) = describe_baseline(_baseline_rows(0.3, 0.4), _OPTIONS, [])
    assert "no untrained baseline" in claim and "matrix.conditions" in claim
    assert describe_baseline(result_table([]), _OPTIONS, ["Untrained"]) == []
