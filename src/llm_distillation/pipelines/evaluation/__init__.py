"""``evaluation``: trained students -> predictions, accuracy, explanations, metrics, ratings."""

from llm_distillation.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
