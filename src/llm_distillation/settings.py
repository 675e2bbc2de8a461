"""Kedro project settings (see https://docs.kedro.org/ for the defaults)."""

import warnings

from kedro.config import OmegaConfigLoader

from llm_distillation.catalog import ProjectDataCatalog
from llm_distillation.hooks import ProjectHooks


def quiet_known_warnings() -> None:
    """Silence the warnings a user cannot act on; the one place for this (the others are
    fixed where they arise, and tests/test_project.py checks that a run prints none).

    - kedro 1.7's own ``OmegaConfigLoader`` registers its resolvers with
      ``register_new_resolver``, which omegaconf 2.4 deprecates: a UserWarning per loader,
      about kedro's code, not this project's.
    """
    warnings.filterwarnings("ignore", message=r".*register_new_resolver", category=UserWarning)


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
