"""Statistics, figures and the report of the study's analysis and of this project's runs.

Pure functions over polars tables; every test result is a row of the one result schema
(:mod:`llm_distillation.reporting.tidy`). The study's own R analysis is the specification of
:mod:`.performance` and :mod:`.explainability` (docs/reporting.md says how each value matches).
"""
