"""Typed configuration: the one strict base model, and validation of parameter blocks.

Every parameter block is a pydantic model derived from :class:`StrictModel` (unknown keys fail,
values are frozen). Which top-level key is validated by which model is decided by the wiring
layer (``llm_distillation.pipelines.parameter_models``); this module knows no pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from llm_distillation.errors import ParameterError


class StrictModel(BaseModel):
    """Base of every typed parameter block: unknown keys are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def without_removed(value: Any) -> Any:
    """A named collection (``teachers``, ``students``) without the entries set to null.

    Parameters are merged *softly* (``settings.CONFIG_LOADER_ARGS``): ``conf/<env>`` states
    only the leaves that differ from ``conf/base``, and a base entry that an environment
    does not want (conf/paper runs no ``smollm2`` teacher) is removed by setting it to null
    there. Used as a ``mode="before"`` validator of such collections."""
    if isinstance(value, Mapping):
        return {name: entry for name, entry in value.items() if entry is not None}
    return value


def validate_blocks(
    params: Mapping[str, Any], models: Mapping[str, type[BaseModel]]
) -> dict[str, BaseModel]:
    """Validate every key of ``params`` that has a model; raise one :class:`ParameterError`
    naming each problem (the setting's dotted path, the rule, the value, and the file to edit)."""
    out: dict[str, BaseModel] = {}
    problems: list[tuple[str, str, object]] = []
    for key, model in models.items():
        if key not in params:
            continue
        try:
            out[key] = model.model_validate(params[key])
        except ValidationError as err:
            problems.extend(validation_problems(key, err))
    if problems:
        raise ParameterError(problems)
    return out


def validation_problems(key: str, err: ValidationError) -> list[tuple[str, str, object]]:
    """``(setting, rule, value)`` of each error of ``err``, raised validating the parameter
    block ``key``; ``setting`` is the dotted path from ``key`` down to the broken value."""
    return [
        (".".join(str(p) for p in (key, *e["loc"])), e["msg"], e.get("input")) for e in err.errors()
    ]


def quiet_known_warnings() -> None:
    """Silence the warnings a user cannot act on; the one place for this (the others are
    fixed where they arise, and tests/test_project.py checks that a run prints none); called
    by ``settings.py`` and by the loader of commands outside a session
    (``pipelines.project_config_loader``).

    - kedro 1.7's own ``OmegaConfigLoader`` registers its resolvers with
      ``register_new_resolver``, which omegaconf 2.4 deprecates: a UserWarning per loader,
      about kedro's code, not this project's.
    """
    import warnings

    warnings.filterwarnings("ignore", message=r".*register_new_resolver", category=UserWarning)
