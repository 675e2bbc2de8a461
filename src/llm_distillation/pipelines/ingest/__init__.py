"""``ingest``: benchmark sources -> normalized, validated, split example tables."""

from llm_distillation.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
