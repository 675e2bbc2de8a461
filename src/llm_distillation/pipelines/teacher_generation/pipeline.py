"""The ``teacher_generation`` pipeline: one namespaced copy per benchmark, one branch per split.

Per (benchmark, split), in task order::

    {split}_examples -> rationale_jobs_{split} -> teacher_rationales_{split}
        -> critique_jobs_{split} -> teacher_critiques_{split}
        -> revision_jobs_{split} -> teacher_outputs_{split}
        -> summarize_generation_{split} -> teacher_generation_stats_{split}

The ``*_jobs`` nodes return lazy shard jobs; the teacher runs in the save of the
``teacher_*`` dataset each is saved to (``TeacherShardsDataset``, exactly once per shard).
The three ``teacher_*`` datasets are views of one shard folder; ``teacher_outputs_{split}``
(all tasks) is what consolidation reads. ``teacher_model`` (the converted default teacher) is
shared by all benchmarks.
"""

from kedro.pipeline import Node, Pipeline

from llm_distillation.pipelines.teacher_generation.nodes import (
    critique_jobs,
    rationale_jobs,
    revision_jobs,
    summarize_generation,
    teacher_model_source,
)
from llm_distillation.schema import BENCHMARKS, SPLITS

PARAMS = "params:teacher_generation"
PROMPTS = "params:teacher_prompts"
CLEANING = "params:cleaning"


def _split_nodes(split: str) -> list[Node]:
    shared = {
        "examples": f"{split}_examples",
        "teacher_model": "teacher_model",
        "params": PARAMS,
        "prompts": PROMPTS,
        "cleaning": CLEANING,
    }
    rationales = {"rationales": f"teacher_rationales_{split}"}
    critiques = {"critiques": f"teacher_critiques_{split}"}
    steps = (
        (rationale_jobs, {}, "teacher_rationales", "rationale_jobs"),
        (critique_jobs, rationales, "teacher_critiques", "critique_jobs"),
        (revision_jobs, {**rationales, **critiques}, "teacher_outputs", "revision_jobs"),
    )
    nodes = [
        Node(func, inputs={**shared, **extra}, outputs=f"{out}_{split}", name=f"{name}_{split}")
        for func, extra, out, name in steps
    ]
    return [
        *nodes,
        Node(
            summarize_generation,
            inputs=[f"teacher_outputs_{split}", f"teacher_shard_stats_{split}"],
            outputs=f"teacher_generation_stats_{split}",
            name=f"summarize_generation_{split}",
        ),
    ]


def create_pipeline(**kwargs: object) -> Pipeline:
    template = Pipeline([n for split in SPLITS for n in _split_nodes(split)])
    prepare = Pipeline(
        [
            Node(
                teacher_model_source,
                inputs=["teacher_gguf", PARAMS, PROMPTS],
                outputs="teacher_model",
                name="teacher_model_source",
            )
        ]
    )
    per_benchmark = [
        Pipeline(
            template,
            namespace=b,
            inputs={"teacher_model"},
            parameters={"teacher_generation", "teacher_prompts", "cleaning"},
        )
        for b in BENCHMARKS
    ]
    return Pipeline([prepare, *per_benchmark], tags="teacher_generation")
