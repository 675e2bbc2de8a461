"""``reporting``: the study's statistics, figures and report (see docs/reporting.md)."""

from llm_distillation.pipelines.reporting.pipeline import (
    create_evaluation_pipeline,
    create_pipeline,
)

__all__ = ["create_evaluation_pipeline", "create_pipeline"]
