"""The project's pipelines, one package each (``pipeline_registry.register_pipelines`` builds
them).

This is the wiring layer: it may import the framework packages below it, never the reverse.
:func:`project_config_loader` is the project's configuration outside a Kedro session (the
registry's default, the matrix CLI). :func:`parameter_models` maps every top-level parameter
key to the model that validates it: each pipeline package's ``params.PARAMETERS`` (key = the
pipeline's name) and the blocks shared by several pipelines (:data:`SHARED_PARAMETERS`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from pydantic import BaseModel


def project_config_loader(env: str | None = None) -> Any:
    """Kedro's ``OmegaConfigLoader`` over ``conf/base`` + ``conf/<env>`` (default:
    ``$KEDRO_ENV``, else ``local``) with the project's ``CONFIG_LOADER_ARGS``: the configuration
    a command outside a Kedro session reads (``kedro registry list``, the matrix CLI)."""
    from pathlib import Path

    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import settings

    from llm_distillation.config import quiet_known_warnings

    quiet_known_warnings()
    conf = Path(__file__).resolve().parents[3] / settings.CONF_SOURCE
    if not conf.is_dir():  # an installed package run from a project folder
        conf = Path.cwd() / settings.CONF_SOURCE
    return OmegaConfigLoader(
        conf_source=str(conf),
        env=env or os.environ.get("KEDRO_ENV"),
        **{"base_env": "base", "default_run_env": "local", **settings.CONFIG_LOADER_ARGS},
    )


def _shared_parameters() -> dict[str, type[BaseModel]]:
    from llm_distillation.cleaning import CleaningRules

    return {"cleaning": CleaningRules}


def parameter_models() -> dict[str, type[BaseModel]]:
    """Top-level parameter key -> its model."""
    models = _shared_parameters()
    for info in pkgutil.iter_modules(__path__):
        module_name = f"{__name__}.{info.name}.params"
        if not info.ispkg or importlib.util.find_spec(module_name) is None:
            continue
        model = getattr(importlib.import_module(module_name), "PARAMETERS", None)
        if model is not None:
            models[info.name] = model
    return models


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every known top-level key of ``params`` (see :func:`parameter_models`)."""
    from llm_distillation.config import validate_blocks

    return validate_blocks(params, parameter_models())


def bind(func: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """``func`` with keyword arguments fixed (a node per benchmark, split or matrix cell),
    keeping its name and docstring."""
    return update_wrapper(partial(func, **kwargs), func)
