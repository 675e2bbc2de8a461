"""``consolidation``: teacher output shards -> the study's consolidated tables, with checks."""

from llm_distillation.pipelines.consolidation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
