"""Custom Kedro datasets of this project (``type: llm_distillation.kedro_datasets.<Name>``)."""

from llm_distillation.kedro_datasets.benchmark_source import BenchmarkSourceDataset

__all__ = ["BenchmarkSourceDataset"]
