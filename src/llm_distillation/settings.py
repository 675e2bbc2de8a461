"""Kedro project settings (see https://docs.kedro.org/ for the defaults)."""

from kedro.config import OmegaConfigLoader

from llm_distillation.catalog import ProjectDataCatalog
from llm_distillation.config import quiet_known_warnings
from llm_distillation.hooks import ProjectHooks

quiet_known_warnings()

HOOKS = (ProjectHooks(),)

# dataset factories that reject an unknown benchmark, split or cell (llm_distillation.catalog)
DATA_CATALOG_CLASS = ProjectDataCatalog

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env> parameters are merged leaf by leaf into conf/base's: an environment states
    # only what differs (null removes a named teacher or student: config.without_removed).
    "merge_strategy": {"parameters": "soft"},
}
