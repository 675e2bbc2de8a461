"""Kedro project settings (see https://docs.kedro.org/ for the defaults)."""

import warnings

from kedro.config import OmegaConfigLoader

from llm_distillation.catalog import ProjectDataCatalog
from llm_distillation.hooks import ProjectHooks

# Kedro's config loader calls omegaconf's deprecated `register_new_resolver` each time one is
# created: harmless, and nothing a user can act on.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)

HOOKS = (ProjectHooks(),)

# dataset factories that reject an unknown benchmark, split or cell (llm_distillation.catalog)
DATA_CATALOG_CLASS = ProjectDataCatalog

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
