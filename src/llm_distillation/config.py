"""Typed configuration: the one strict base model, and validation of parameter blocks.

Every parameter block is a pydantic model derived from :class:`StrictModel` (unknown keys fail,
values are frozen). Which top-level key is validated by which model is decided by the wiring
layer (``llm_distillation.pipelines.parameter_models``); this module knows no pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


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
    """Validate every key of ``params`` that has a model; raise one error naming each problem
    (the setting's dotted path, the reason, the value, and the file to edit)."""
    out: dict[str, BaseModel] = {}
    problems: list[str] = []
    for key, model in models.items():
        if key not in params:
            continue
        try:
            out[key] = model.model_validate(params[key])
        except ValidationError as err:
            for e in err.errors():
                where = ".".join(str(p) for p in (key, *e["loc"]))
                problems.append(
                    f"  {where}: {e['msg']} (got {e.get('input')!r}; "
                    f"see conf/*/parameters_{key}.yml)"
                )
    if problems:
        raise ValueError("Invalid parameters:\n" + "\n".join(problems))
    return out
