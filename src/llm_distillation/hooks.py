"""Project hooks: checks that fail a run at once, before any node does heavy work."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class ProjectHooks:
    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Validate all parameters (typed models in ``llm_distillation.params``).

        First records the run environment (``--env``), from which the registry reads the
        experiment matrix (``llm_distillation.experiment``).
        """
        from llm_distillation.experiment import use_run_env
        from llm_distillation.params import validate_parameters

        use_run_env(context.env)

        validate_parameters(context.params)

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
