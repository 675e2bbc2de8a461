"""The project's pipelines, one package each (``find_pipelines`` registers them).

This is the wiring layer: it may import the framework packages below it, never the reverse.
:func:`parameter_models` maps every top-level parameter key to the model that validates it:
each pipeline package's ``params.PARAMETERS`` (key = the pipeline's name) and the blocks shared
by several pipelines (:data:`SHARED_PARAMETERS`).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from pydantic import BaseModel


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
