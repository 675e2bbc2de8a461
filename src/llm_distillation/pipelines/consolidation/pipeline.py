"""The ``consolidation`` pipeline.

Per benchmark (namespace ``cqa``, ``esnli``, ``strategyqa``)::

    <b>.teacher_outputs_<split> + <b>.<split>_examples
        -> consolidate_<split>            (clean, check, pivot; in memory)
        -> collect_rejects                -> <b>.consolidation_rejects, <b>.consolidation_summary
        -> enforce_quality_thresholds     -> <b>.consolidated_<split>   (after rejects are saved)

then ``consolidation_quality_report`` (+ figure) over all of them. The study import (tag
``study_import``, namespaces ``study_<b>``) runs the study's own shards — every catalog entry
``study_<b>_<teacher>.source`` of the run's catalog configuration, found by the registry
(:func:`~llm_distillation.consolidation.study_import.study_sources`) — through the same
consolidation into ``study_<b>.consolidated_<split>`` and
``study_consolidation_quality_report``: ``kedro run --pipelines consolidation --tags
study_import`` runs it alone, ``--tags consolidation_generated`` the rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

from kedro.pipeline import Node, Pipeline

from llm_distillation.consolidation.study_import import study_source
from llm_distillation.pipelines import bind as _bind
from llm_distillation.pipelines.consolidation.nodes import (
    build_quality_report,
    collect_rejects,
    consolidate_split,
    consolidate_study_split,
    enforce_quality_thresholds,
    import_study_outputs,
    plot_quality,
)
from llm_distillation.schema import BENCHMARKS, SPLITS, STUDY_PREFIX, table_namespace

PARAMS = "params:consolidation"
CLEANING = "params:cleaning"


def _benchmark_pipeline(benchmark: str) -> Pipeline:
    nodes = [
        Node(
            _bind(consolidate_split, benchmark=benchmark, split=split),
            inputs=[f"teacher_outputs_{split}", f"{split}_examples", PARAMS, CLEANING],
            outputs=[
                f"unchecked_{split}",
                f"consolidation_rejects_{split}",
                f"consolidation_summary_{split}",
            ],
            name=f"consolidate_{split}",
        )
        for split in SPLITS
    ]
    nodes += _gate_nodes(benchmark, SPLITS, study=False)
    return Pipeline(nodes)


def _gate_nodes(benchmark: str, splits: Sequence[str], *, study: bool) -> list[Node]:
    """Save every split's check failures and summary first, then gate the tables on them."""
    parts = [
        n for s in splits for n in (f"consolidation_rejects_{s}", f"consolidation_summary_{s}")
    ]
    return [
        Node(
            collect_rejects,
            inputs=parts,
            outputs=["consolidation_rejects", "consolidation_summary"],
            name="collect_rejects",
        ),
        Node(
            _bind(enforce_quality_thresholds, benchmark=benchmark, study=study),
            inputs=[
                "consolidation_rejects",
                "consolidation_summary",
                PARAMS,
                *(f"unchecked_{s}" for s in splits),
            ],
            outputs=[f"consolidated_{s}" for s in splits],
            name="enforce_quality_thresholds",
        ),
    ]


def _report(prefix: str, names: dict[str, list[str]], tag: str) -> Pipeline:
    """Report node over every benchmark namespace in ``names`` (namespace -> its splits)."""
    inputs: dict[str, str] = {}
    for ns, splits in names.items():
        for s in splits:
            inputs[f"table_{ns}_{s}"] = f"{ns}.consolidated_{s}"
        inputs[f"summary_{ns}"] = f"{ns}.consolidation_summary"
        inputs[f"rejects_{ns}"] = f"{ns}.consolidation_rejects"
    with warnings.catch_warnings():
        # The report reads every benchmark's namespaced datasets on purpose; Kedro warns about
        # the dots in their names whenever a node outside a namespace names them.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        report = Node(
            build_quality_report,
            inputs=inputs,
            outputs=f"{prefix}consolidation_quality_report",
            name=f"{prefix}build_quality_report",
        )
    return Pipeline(
        [
            report,
            Node(
                plot_quality,
                inputs=f"{prefix}consolidation_quality_report",
                outputs=f"{prefix}consolidation_quality_figure",
                name=f"{prefix}plot_quality",
            ),
        ],
        tags=tag,
    )


def _study_pipeline(benchmark: str, teachers: Mapping[str, tuple[str, ...]]) -> Pipeline:
    nodes = [
        Node(
            _bind(import_study_outputs, teacher=teacher),
            inputs=study_source(benchmark, teacher),
            outputs=[f"examples_{teacher}", f"outputs_{teacher}", f"invalid_{teacher}"],
            name=f"import_study_{teacher}",
        )
        for teacher in teachers
    ]
    splits = sorted({s for ss in teachers.values() for s in ss}, key=SPLITS.index)
    for split in splits:
        triples = [
            n
            for t, ss in teachers.items()
            if split in ss
            for n in (f"examples_{t}", f"outputs_{t}", f"invalid_{t}")
        ]
        nodes.append(
            Node(
                _bind(consolidate_study_split, benchmark=benchmark, split=split),
                inputs=[PARAMS, CLEANING, *triples],
                outputs=[
                    f"unchecked_{split}",
                    f"consolidation_rejects_{split}",
                    f"consolidation_summary_{split}",
                ],
                name=f"consolidate_study_{split}",
            )
        )
    nodes += _gate_nodes(benchmark, splits, study=True)
    return Pipeline(nodes)


def create_pipeline(*, study_folders: Mapping[str, Mapping[str, tuple[str, ...]]]) -> Pipeline:
    """The consolidation of every benchmark's generated shards, and the study import of
    ``study_folders`` (``benchmark -> teacher -> splits``: ``study_sources`` of the run's
    catalog configuration; none: no study import)."""
    folders = study_folders
    generated = Pipeline(
        [
            *(
                Pipeline(_benchmark_pipeline(b), namespace=b, parameters={PARAMS, CLEANING})
                for b in BENCHMARKS
            ),
            _report("", {b: list(SPLITS) for b in BENCHMARKS}, "consolidation_report"),
        ],
        tags="consolidation_generated",
    )
    if not folders:
        return Pipeline([generated], tags="consolidation")
    study = Pipeline(
        [
            Pipeline(
                _study_pipeline(b, teachers),
                namespace=table_namespace(b, study=True),
                parameters={PARAMS, CLEANING},
                inputs={study_source(b, t) for t in teachers},
            )
            for b, teachers in folders.items()
        ]
    ) + _report(
        STUDY_PREFIX,
        {
            table_namespace(b, study=True): sorted(
                {s for ss in teachers.values() for s in ss}, key=SPLITS.index
            )
            for b, teachers in folders.items()
        },
        "study_import",
    )
    return Pipeline([generated, Pipeline(study, tags="study_import")], tags="consolidation")
