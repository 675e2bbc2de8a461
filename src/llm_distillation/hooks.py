"""Project hooks: checks that fail a run at once, before any node does heavy work."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class ProjectHooks:
    def __init__(self) -> None:
        self._data_dir: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Build the pipelines from the session's configuration (``--env``, ``--params``) into
        Kedro's registry, before anything reads it (reading ``context.params`` validates the
        catalog against the registry), then validate all parameters
        (``llm_distillation.pipelines.parameter_models``)."""
        from kedro.framework.project import pipelines

        from llm_distillation.pipeline_registry import register_pipelines
        from llm_distillation.pipelines import validate_parameters

        pipelines.update(register_pipelines(context.config_loader))
        validate_parameters(context.params)
        self._data_dir = _data_dir(context)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Stop at once when a local benchmark source folder needed by this run is missing."""
        from llm_distillation.kedro_datasets import BenchmarkSourceDataset

        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters" or name not in catalog:
                continue
            dataset = catalog[name]
            if isinstance(dataset, BenchmarkSourceDataset):
                dataset.check_root()

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any) -> dict[str, Any] | None:
        """Give a node that asks for ``reporting_input_versions`` the catalog versions and files
        of its other inputs (the report's record of what was read)."""
        from llm_distillation.reporting.report import INPUT_VERSIONS, dataset_versions

        if INPUT_VERSIONS not in node.inputs:
            return None
        names = [n for n in node.inputs if n != INPUT_VERSIONS and not n.startswith("params:")]
        return {INPUT_VERSIONS: dataset_versions(catalog, names)}

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        """End the run's log with the path of every report it wrote: the study's first, this
        run's own (the evaluation report) last, each Markdown before its HTML; the very last
        line names the HTML report of the run."""
        if self._data_dir is not None and self._data_dir.is_dir():
            size, files = folder_size(self._data_dir)
            logger.info("Data folder %s: %.2f GB in %d files", self._data_dir, size / 1e9, files)
        names = sorted(
            (n for n in pipeline.all_outputs() if n.endswith(("report_html", "report_md"))),
            key=lambda n: (n.startswith("evaluation"), n.endswith("report_html"), n),
        )
        for name in names:
            path = _saved_path(catalog, name)
            if path is not None:
                logger.info("Report %s: %s", name, path)


def _data_dir(context: Any) -> Path | None:
    """The run's data folder: ``--params data_dir=…`` or the ``data_dir`` global, relative to
    the project."""
    try:
        value = context.params.get("data_dir") or context.config_loader["globals"].get("data_dir")
    except Exception:  # no globals: nothing to measure
        return None
    if not value:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else Path(context.project_path) / path


def folder_size(folder: Path) -> tuple[int, int]:
    """Bytes on disk and number of the files under ``folder``, as ``du`` counts them: symbolic
    links not followed, a hard-linked file once (the catalog links finished students)."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            stat = (Path(root) / name).lstat()
            if (stat.st_dev, stat.st_ino) not in seen and not Path(root, name).is_symlink():
                seen.add((stat.st_dev, stat.st_ino))
                size += stat.st_size
    return size, len(seen)


def _saved_path(catalog: Any, name: str) -> str | None:
    """Where ``name`` was saved in this run (the newest version of a versioned dataset)."""
    try:
        dataset = catalog[name]
    except Exception:  # a name the catalog cannot resolve has no file to name
        return None
    get_path = getattr(dataset, "_get_load_path", None)
    if get_path is None:
        return None
    try:
        return str(get_path())
    except Exception:  # not saved (e.g. the node did not run)
        return None
