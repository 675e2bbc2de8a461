"""The ``ingest`` pipeline: one namespaced copy per benchmark (``cqa``, ``esnli``, ``strategyqa``).

Datasets of a benchmark are named ``<benchmark>.<name>`` (``cqa.source``, ``cqa.train`` …) and
resolved by the dataset factories in ``conf/base/catalog.yml``.
"""

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines.ingest.nodes import (
    enforce_rejection_limit,
    normalize_benchmark,
    split_examples,
)
from llm_distillation.schema import BENCHMARKS


def _benchmark_pipeline() -> Pipeline:
    return Pipeline(
        [
            Node(
                normalize_benchmark,
                inputs="source",
                outputs=["normalized_rows", "rejected_examples"],
                name="normalize_benchmark",
            ),
            Node(
                enforce_rejection_limit,
                inputs=["normalized_rows", "rejected_examples", "params:ingest"],
                outputs="examples",
                name="enforce_rejection_limit",
            ),
            Node(
                split_examples,
                inputs=["examples", "params:ingest"],
                outputs=["train_examples", "dev_examples", "test_examples"],
                name="split_examples",
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    template = _benchmark_pipeline()
    return Pipeline(
        [Pipeline(template, namespace=b, parameters={"ingest"}) for b in BENCHMARKS],
        tags="ingest",
    )
