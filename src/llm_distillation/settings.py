"""Kedro project settings (see https://docs.kedro.org/ for the defaults)."""

from kedro.config import OmegaConfigLoader

from llm_distillation.hooks import ProjectHooks

HOOKS = (ProjectHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env> parameters are merged leaf by leaf into conf/base's: an environment states
    # only what differs (null removes a named teacher or student: config.without_removed).
    "merge_strategy": {"parameters": "soft"},
}
