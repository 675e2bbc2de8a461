"""Sentences come from the numbers of the result rows."""

from __future__ import annotations

from llm_distillation.reporting.sentences import describe, describe_shapiro, format_p
from llm_distillation.reporting.tidy import RESULT_COLUMNS, result_table


def test_format_p() -> None:
    assert format_p(0.0004) == "p < 0.001"
    assert format_p(0.0123) == "p = 0.012"
    assert format_p(0.04996) == "p = 0.0500"  # not rounded onto the 0.05 boundary


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
        "MT+CF and MT do not differ significantly at 770M on cqa (difference +0.3 points, "
        "Tukey HSD, p = 0.956).",
        "MT beats MT+CF:Revised by 1.9 points at 770M (Tukey HSD, p = 0.017).",
    ]


def test_not_possible_is_said() -> None:
    table = result_table(
        [
            {
                "test": "anova_type2",
                "variable": "accuracy",
                "subset": "benchmark=cqa",
                "note": "not possible: fewer than 2 runs after outlier removal in 220M/MT (n=1)",
            }
        ]
    )
    (sentence,) = describe(table)
    assert sentence.startswith("anova_type2 on accuracy (benchmark=cqa) was not possible")


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
