"""``teacher_generation``: few-shot teacher rationales, counterfactuals, critiques and revisions,
in resumable shards (see ``docs/teacher_generation.md``)."""

from llm_distillation.pipelines.teacher_generation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
