"""The project's configuration as the pipelines' ``create_pipeline`` functions see it.

Some pipelines are built from configuration (Kedro's dynamic-pipelines pattern): the study
folders that consolidation imports are the ``study_<benchmark>_<teacher>.source`` catalog
entries, the experiment matrix is ``params:student_training.matrix``. Pipelines are built when
the registry is first read, which during ``kedro run`` happens while the context is created:
the project hook binds the session's config loader first (:func:`bind_config_loader`), so the
pipelines follow ``--env`` and ``--params`` exactly. Outside a session (``kedro registry list``,
``kedro viz``) a loader over ``conf/base`` + ``conf/$KEDRO_ENV`` (default ``local``) is used.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

_bound: Any = None
_bound_key: tuple[Any, str] | None = None


def bind_config_loader(loader: Any) -> None:
    """Use ``loader`` (the running session's; ``None``: the default one) for every later
    :func:`project_config` call.

    When its environment or runtime parameters differ from the previously bound loader's (a
    second session in one process, e.g. ``--env paper`` after the default), the pipeline
    registry is rebuilt on its next access, so it always follows the session's configuration.
    """
    global _bound, _bound_key  # noqa: PLW0603 - one config per Kedro session, set by the hook
    key = (
        getattr(loader, "env", None),
        json.dumps(getattr(loader, "runtime_params", None) or {}, sort_keys=True, default=str),
    )
    _bound = loader
    if key != _bound_key:
        _bound_key = key
        _rebuild_registry()


def _rebuild_registry() -> None:
    from kedro.framework.project import pipelines

    module = getattr(pipelines, "_pipelines_module", None)
    if module is not None and getattr(pipelines, "_is_data_loaded", False):
        requested = getattr(pipelines, "_requested_pipelines", None)
        pipelines.configure(module)  # rebuilt on next access, for this configuration
        pipelines.set_requested(requested)


def _default_loader(env: str | None = None) -> Any:
    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import settings

    conf = Path(__file__).resolve().parents[2] / settings.CONF_SOURCE
    if not conf.is_dir():  # an installed package run from a project folder
        conf = Path.cwd() / settings.CONF_SOURCE
    with warnings.catch_warnings():  # kedro's own resolver registration warns on omegaconf 2.4
        warnings.filterwarnings("ignore", message=".*register_new_resolver", category=UserWarning)
        return OmegaConfigLoader(
            conf_source=str(conf),
            env=env or os.environ.get("KEDRO_ENV"),
            **{"base_env": "base", "default_run_env": "local", **settings.CONFIG_LOADER_ARGS},
        )


def project_config(key: str, env: str | None = None) -> dict[str, Any]:
    """``catalog`` or ``parameters`` of the bound session (or the default loader); with
    ``env``, of ``conf/base`` + ``conf/<env>`` instead."""
    if env is not None:
        loader = _default_loader(env)
    else:  # (a config loader is a mapping that is empty until read: no `or` here)
        loader = _bound if _bound is not None else _default_loader()
    try:
        return dict(loader[key])
    except KeyError:
        return {}
