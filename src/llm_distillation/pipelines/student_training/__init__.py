"""``student_training``: the experiment matrix's students, trained per cell (see pipeline.py)."""

from llm_distillation.pipelines.student_training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
