"""Project pipelines: one per package of ``llm_distillation.pipelines``, built from an explicit
configuration.

Some pipelines depend on the configuration (Kedro's dynamic-pipelines pattern): the experiment
matrix (``params:student_training.matrix``) gives the cells of ``student_training``,
``evaluation`` and ``reporting``; the ``study_<b>_<teacher>.source`` catalog entries give the
study import of ``consolidation``. :func:`register_pipelines` reads the parameters and the
catalog configuration once and passes each pipeline's ``create_pipeline`` the arguments its
signature names (:func:`pipeline_arguments`).

Kedro calls it without a loader (also ``kedro registry list``): the project's configuration
``conf/base`` + ``conf/$KEDRO_ENV`` (default ``local``). In a session, the project hook replaces
the pipelines with those of the session's config loader (``--env``, ``--params``) before
anything reads them (``hooks.ProjectHooks.after_context_created``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from kedro.pipeline import Pipeline

import llm_distillation.pipelines as pipeline_packages


def pipeline_arguments(config_loader: Any) -> dict[str, Any]:
    """What the configuration-dependent pipelines are built from, by argument name:
    ``parameters`` (the run's parameters), ``cells`` (the experiment matrix, expanded and
    validated), ``study_folders`` (``benchmark -> teacher -> splits`` of the study import)."""
    from llm_distillation.consolidation.study_import import study_sources
    from llm_distillation.pipelines.student_training.matrix import expand_matrix

    parameters = _section(config_loader, "parameters")
    return {
        "parameters": parameters,
        "cells": expand_matrix(parameters),
        "study_folders": study_sources(_section(config_loader, "catalog")),
    }


def register_pipelines(config_loader: Any = None) -> dict[str, Pipeline]:
    """Every pipeline by its package name, and ``__default__`` = all of them, built from the
    configuration of ``config_loader`` (default: :func:`~llm_distillation.pipelines.
    project_config_loader`). Each package's ``create_pipeline`` is called with the arguments
    of :func:`pipeline_arguments` that its signature names."""
    if config_loader is None:
        config_loader = pipeline_packages.project_config_loader()
    arguments = pipeline_arguments(config_loader)
    pipelines: dict[str, Pipeline] = {}
    for info in sorted(pkgutil.iter_modules(pipeline_packages.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        package = importlib.import_module(f"{pipeline_packages.__name__}.{info.name}")
        create = package.create_pipeline
        wanted = inspect.signature(create).parameters
        pipelines[info.name] = create(**{k: v for k, v in arguments.items() if k in wanted})
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines


def _section(config_loader: Any, key: str) -> dict[str, Any]:
    """``config_loader[key]`` as a dict; empty when the configuration has no such files."""
    try:
        return dict(config_loader[key])
    except KeyError:
        return {}
