"""The study's analysis on its own data agrees with R (values pinned from R's output).

``r_reference/reference_output.txt`` is the output of ``r_reference/reference.R`` (R 4.2.2,
rstatix 0.7.2, car 3.1-1, npmv 2.4.1), committed so that these tests need no R. Every
comparison is to 1e-6 relative (R printed 12 significant digits): far better than 3 decimals.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from llm_distillation.reporting.explainability import ITEMS, analyse_explainability, prepare_study
from llm_distillation.reporting.performance import (
    CONDITIONS,
    analyse_performance,
    prepare_experiment,
)

REFERENCE = Path(__file__).parent / "r_reference" / "reference_output.txt"
SIZES = ("220M", "770M")


def _reference() -> dict[str, str]:
    out = {}
    for line in REFERENCE.read_text().splitlines():
        key, _, value = line.partition(" = ")
        out[key] = value
    return out


R = _reference()


def r(key: str) -> float:
    return float(R[key])


def close(value: float, key: str, abs_tol: float = 1e-12) -> None:
    assert value == pytest.approx(r(key), rel=1e-6, abs=abs_tol), key


@pytest.fixture(scope="module")
def performance(shared_data: Path) -> dict[str, pl.DataFrame]:
    raw = pl.read_csv(shared_data / "paper_results" / "experiment.csv")
    return analyse_performance(prepare_experiment(raw))


@pytest.fixture(scope="module")
def explainability(shared_data: Path) -> dict[str, pl.DataFrame]:
    study = pl.read_csv(shared_data / "paper_results" / "study.csv")
    return analyse_explainability(prepare_study(study), permutations=200)


def _one(table: pl.DataFrame, **where: object) -> dict:
    rows = table.filter(*(pl.col(k) == v for k, v in where.items()))
    assert rows.height == 1, (where, rows)
    return rows.row(0, named=True)


def test_filter_and_outliers(performance: dict[str, pl.DataFrame]) -> None:
    summary = performance["summary"]
    assert summary.filter(pl.col("stage") == "before")["n"].sum() == r("perf.n_rows")
    assert summary.filter(pl.col("stage") == "after")["n"].sum() == r("perf.n_rows_after")
    expected = {
        (k.split(".")[2], k.split(".")[3], int(k.split(".run")[1])): float(v)
        for k, v in R.items()
        if k.startswith("perf.outlier.")
    }
    got = {
        (row["size"], row["condition"], row["run"]): row["accuracy"]
        for row in performance["outliers"].iter_rows(named=True)
    }
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize("stage", ["before", "after"])
def test_group_means_and_se(performance: dict[str, pl.DataFrame], stage: str) -> None:
    for size in SIZES:
        for cond in CONDITIONS:
            row = _one(performance["summary"], stage=stage, size=size, condition=cond)
            key = f"perf.{stage}.{size}.{cond}"
            assert row["n"] == r(f"{key}.n")
            close(row["mean"], f"{key}.mean")
            close(row["se"], f"{key}.se")


def test_levene_and_shapiro(performance: dict[str, pl.DataFrame]) -> None:
    tests = performance["tests"]
    lev = _one(tests, test="levene")
    close(lev["statistic"], "perf.levene.statistic")
    close(lev["p"], "perf.levene.p")
    assert (lev["df"], lev["df2"]) == (r("perf.levene.df1"), r("perf.levene.df2"))
    for size in SIZES:
        for cond in CONDITIONS:
            row = _one(tests, test="shapiro", subset=f"size={size}, condition={cond}")
            close(row["statistic"], f"perf.shapiro.{size}.{cond}.statistic")
            close(row["p"], f"perf.shapiro.{size}.{cond}.p")


def test_two_way_anova_type2(performance: dict[str, pl.DataFrame]) -> None:
    for term, r_term in (
        ("condition", "model"),
        ("size", "model_size"),
        ("condition:size", "model:model_size"),
    ):
        row = _one(performance["tests"], test="anova_type2", term=term)
        key = f"perf.anova.{r_term}"
        close(row["statistic"], f"{key}.F")
        close(row["p"], f"{key}.p")
        close(row["effect_size"], f"{key}.ges")
        assert (row["df"], row["df2"]) == (r(f"{key}.df1"), r(f"{key}.df2"))
        # rstatix::anova_test's own (rounded) table
        assert round(row["statistic"], 3) == r(f"{key}.rstatix_F_rounded")
        assert round(row["effect_size"], 3) == r(f"{key}.rstatix_ges_rounded")


def test_tukey_hsd_per_size(performance: dict[str, pl.DataFrame]) -> None:
    rows = performance["tests"].filter(pl.col("test") == "tukey_hsd")
    assert rows.height == 12
    for row in rows.iter_rows(named=True):
        key = f"perf.tukey.{row['subset'].removeprefix('size=')}.{row['groups']}"
        close(row["estimate"], f"{key}.estimate")
        # R's qtukey stops its iteration at eps = 1e-4 on the quantile: CI bounds to 1e-6
        close(row["conf_low"], f"{key}.conf_low", abs_tol=1e-6)
        close(row["conf_high"], f"{key}.conf_high", abs_tol=1e-6)
        # R's ptukey is accurate to about 1e-9 absolute (p < 1e-8 differ in the 2nd digit)
        close(row["p_adjusted"], f"{key}.p_adjusted", abs_tol=1e-8)


def test_quality_outliers(explainability: dict[str, pl.DataFrame]) -> None:
    ids = sorted(explainability["outliers"]["id"].to_list())
    assert ",".join(map(str, ids)) == R["expl.quality_outliers.ids"]


def test_rating_assumption_checks(explainability: dict[str, pl.DataFrame]) -> None:
    tests = explainability["tests"]
    for variable in [*ITEMS, "Quality"]:
        lev = _one(tests, test="levene", variable=variable)
        close(lev["statistic"], f"expl.levene.{variable}.statistic")
        close(lev["p"], f"expl.levene.{variable}.p")
        for cond in CONDITIONS:
            row = _one(tests, test="shapiro", variable=variable, subset=f"condition={cond}")
            close(row["statistic"], f"expl.shapiro.{variable}.{cond}.statistic")
            close(row["p"], f"expl.shapiro.{variable}.{cond}.p")
    box = _one(tests, test="box_m")
    close(box["statistic"], "expl.box_m.statistic")
    close(box["p"], "expl.box_m.p")
    assert box["df"] == r("expl.box_m.df")


@pytest.mark.parametrize("model", ["lm4", "lm5"])
def test_quality_regressions(explainability: dict[str, pl.DataFrame], model: str) -> None:
    tests = explainability["tests"]
    models = tests.filter(pl.col("test") == "ols_model")
    fit = models.row(0 if model == "lm4" else 1, named=True)
    close(fit["statistic"], f"expl.{model}.F")
    close(fit["p"], f"expl.{model}.F_p")
    close(fit["effect_size"], f"expl.{model}.r_squared")
    close(fit["estimate"], f"expl.{model}.adj_r_squared")
    assert (fit["df"], fit["df2"]) == (r(f"expl.{model}.df1"), r(f"expl.{model}.df2"))
    coefs = tests.filter((pl.col("test") == "ols_coefficient") & (pl.col("note") == fit["term"]))
    expected_terms = [
        k.split(".", 2)[2].rsplit(".", 1)[0]
        for k in R
        if k.startswith(f"expl.{model}.") and k.endswith(".estimate")
    ]
    # R's names and order (the study's factor is called ``model``, ours ``condition``)
    r_terms = [re.sub("^condition", "model", t) for t in coefs["term"].to_list()]
    assert r_terms == expected_terms
    for row, r_term in zip(coefs.iter_rows(named=True), r_terms, strict=True):
        key = f"expl.{model}.{r_term}"
        close(row["estimate"], f"{key}.estimate")
        close(row["std_error"], f"{key}.se")
        close(row["statistic"], f"{key}.t")
        close(row["p"], f"{key}.p")


def test_nonparametric_manova(explainability: dict[str, pl.DataFrame]) -> None:
    names = {
        "anova_type": "anova",
        "lawley_hotelling": "LH",
        "bartlett_nanda_pillai": "BNP",
        "wilks": "WL",
    }
    for i, (term, short) in enumerate(names.items(), start=1):
        row = _one(explainability["tests"], test="nonparametric_manova", term=term)
        close(row["statistic"], f"expl.npmv.F{short}")
        close(row["df"], f"expl.npmv.df1{short}")
        close(row["df2"], f"expl.npmv.df2{short}")
        close(row["p"], f"expl.npmv.pval{short}")
        # permutation p: another generator than R's, so only Monte-Carlo agreement
        assert abs(row["p_permutation"] - r(f"expl.npmv_perm_seed2024.{i}")) < 0.03
    rel = explainability["relative_effects"]
    for row in rel.iter_rows(named=True):
        for item in ITEMS:
            key = f"expl.npmv_releffect.{row['condition']}.{item}"
            assert row[item] == pytest.approx(r(key), abs=5e-6)  # npmv rounds to 5 digits


def test_kruskal_dunn_vda(explainability: dict[str, pl.DataFrame]) -> None:
    tests = explainability["tests"]
    for item in ITEMS:
        kw = _one(tests, test="kruskal_wallis", variable=item)
        close(kw["statistic"], f"expl.kruskal_full.{item}.statistic")
        close(kw["p"], f"expl.kruskal_full.{item}.p")
        assert kw["df"] == r(f"expl.kruskal.{item}.df")
        for row in tests.filter(
            (pl.col("test") == "dunn") & (pl.col("variable") == item)
        ).iter_rows(named=True):
            key = f"expl.dunn.{item}.{row['group1']} vs {row['group2']}"
            close(row["statistic"], f"{key}.statistic")
            close(row["p"], f"{key}.p")
            close(row["p_adjusted"], f"{key}.p_adjusted")
        vdas = tests.filter((pl.col("test") == "vargha_delaney") & (pl.col("variable") == item))
        assert vdas.height == 6
        for row in vdas.iter_rows(named=True):
            close(row["effect_size"], f"expl.vda.{item}.{row['group1']} vs {row['group2']}")


def test_multivariate_normality_and_item_correlations(
    explainability: dict[str, pl.DataFrame],
) -> None:
    tests = explainability["tests"]
    ms = _one(tests, test="multivariate_shapiro")
    close(ms["statistic"], "expl.mshapiro.statistic")
    close(ms["p"], "expl.mshapiro.p")
    cors = tests.filter(pl.col("test") == "pearson")
    assert cors.height == 10
    for row in cors.iter_rows(named=True):
        key = f"expl.cor.{row['variable']}"
        close(row["estimate"], f"{key}.r")
        close(row["statistic"], f"{key}.t")
        close(row["p"], f"{key}.p", abs_tol=1e-300)
        close(row["conf_low"], f"{key}.conf_low")
        close(row["conf_high"], f"{key}.conf_high")
