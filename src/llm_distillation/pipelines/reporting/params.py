"""Typed parameters of the ``reporting`` pipeline (``conf/*/parameters_reporting.yml``).

Discovered and validated before the run by :func:`llm_distillation.pipelines.parameter_models`
(``PARAMETERS``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llm_distillation.config import StrictModel

PAdjust = Literal[
    "bonferroni", "holm", "sidak", "holm-sidak", "simes-hochberg", "hommel", "fdr_bh", "fdr_by"
]
"""p-value corrections (statsmodels ``multipletests`` names; R's ``p.adjust`` has the first
two under the same names, ``BH`` = fdr_bh, ``BY`` = fdr_by)."""


class StudyAnalysisParams(StrictModel):
    """``reporting.study``: the study's analysis on its own results (experiment/study.csv)."""

    permutations: int = Field(default=1000, ge=0)
    """Permutations of the nonparametric MANOVA (npmv's ``permreps``; the study used 1000)."""
    seed: int = 0
    """Seed of the permutation generator (numpy)."""
    dunn_p_adjust: PAdjust = "bonferroni"
    """Correction of Dunn's pairwise tests within each rating item (the study: bonferroni)."""
    min_runs_per_group: int = Field(default=2, ge=2)
    """Fewest runs per (condition, size) cell after outlier removal for the group tests."""


class EvaluationAnalysisParams(StrictModel):
    """``reporting.evaluation``: the same analyses on this project's evaluation outputs."""

    students: dict[str, str] = Field(default_factory=dict)
    """Student name -> size label shown in tables and figures (default: the name)."""
    conditions: list[str] = Field(default_factory=list)
    """Condition order, reference first (default: sorted names)."""
    min_seeds_per_group: int = Field(default=2, ge=2)
    """Fewest seeds per (condition, student) for ANOVA / Tukey; fewer: reported as not possible."""
    pair_on: Literal["example", "example_seed"] = "example"
    """Unit of the paired tests: majority over seeds per example, or (example, seed) pairs."""
    paired_p_adjust: PAdjust = "holm"
    """Correction of the pairwise McNemar tests within a benchmark and student."""
    metrics_p_adjust: PAdjust = "bonferroni"
    """Correction of Dunn's tests of each explanation metric (as the ratings)."""
    mcnemar_exact: bool = False
    """True: exact binomial McNemar; False: chi-squared with continuity correction (R's)."""

    @model_validator(mode="after")
    def _unique(self) -> EvaluationAnalysisParams:
        if len(set(self.conditions)) != len(self.conditions):
            raise ValueError(f"conditions: repeated names in {self.conditions}")
        return self


class ReportingParams(StrictModel):
    """``params:reporting``."""

    title: str = "llm-distillation: results"
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    """Significance level of the report's sentences (tables keep every p-value)."""
    power: float = Field(default=0.8, gt=0.0, lt=1.0)
    """Power at which the report states the smallest detectable difference of each paired test
    (``detectable`` of a McNemar row: ``reporting.paired.mcnemar_detectable``)."""
    study: StudyAnalysisParams = StudyAnalysisParams()
    evaluation: EvaluationAnalysisParams = EvaluationAnalysisParams()


PARAMETERS = ReportingParams
