"""The study's training conditions: which views a condition trains and each view's weight.

A condition is a (mode, rationale kind) pair plus the weights α, β, γ (``ConditionSpec``).
The study's named conditions have stable keys:

==================  =================  ==========================
key                 study label        (mode, rationale)
==================  =================  ==========================
``standard``        Standard           (standard, –)
``cf_unrevised``    CF:Unrevised       (cf, unrevised)
``mt_unrevised``    MT:Unrevised       (mt, unrevised)
``mt_cf_unrevised`` MT+CF:Unrevised    (mt_cf, unrevised)
``mt_cf_revised``   MT+CF:Revised      (mt_cf, revised)
``untrained``       Untrained          (untrained, –): no training, a baseline
==================  =================  ==========================

The total loss is ``Σ_view weight(view) · L_view`` with the weights of :func:`view_weights`.

The factual target's rationale follows the study's code per benchmark
(:data:`STUDY_FACTUAL_RATIONALE`, applied by :func:`for_benchmark`): on CommonsenseQA the
MT+CF conditions train the gold option's counterfactual-prompt rationale, everywhere else the
condition's own kind (``docs/study_parity.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from llm_distillation.training.config import MODES, ConditionSpec

NAMED_CONDITIONS: Final[dict[str, ConditionSpec]] = {
    "standard": ConditionSpec(mode="standard", label="Standard"),
    "cf_unrevised": ConditionSpec(mode="cf", rationale="unrevised", label="CF:Unrevised"),
    "mt_unrevised": ConditionSpec(mode="mt", rationale="unrevised", label="MT:Unrevised"),
    "mt_cf_unrevised": ConditionSpec(mode="mt_cf", rationale="unrevised", label="MT+CF:Unrevised"),
    "mt_cf_revised": ConditionSpec(mode="mt_cf", rationale="revised", label="MT+CF:Revised"),
    "untrained": ConditionSpec(mode="untrained", label="Untrained"),
}
"""The study's four named conditions plus the standard baseline (α = β = γ = 0.5)."""

MODE_VIEWS: Final[dict[str, tuple[str, ...]]] = {
    "standard": ("predict",),
    "mt": ("predict", "explain"),
    "cf": ("factual", "counterfactual"),
    "mt_cf": ("predict", "explain", "factual", "counterfactual"),
    "untrained": (),
}
VIEW_RATIONALE: Final = {"unrevised": "positive", "revised": "revised"}
"""Rationale kind of a condition -> the ``rationale`` argument of ``build_views``."""

STUDY_FACTUAL_RATIONALE: Final[dict[str, dict[str, str]]] = {
    "cqa": {"mt_cf": "counterfactual"},
}
"""benchmark -> mode -> the study's ``factual_rationale`` where it is not the condition's own
rationale kind. The study's ``src/dataloaders/cqa.py`` builds the ``both`` (MT+CF) factual
target with ``_template_for_counterfactual_training`` called without ``target_rationale``, so
from ``counterfactual_prompt_answer_{gold}_rationale``; its ``counterfactual_prefix`` (CF) mode
passes ``target_rationale`` (the positive rationale). ``esnli.py`` and ``strategyqa.py`` pass
``target_rationale`` in every mode (positive, or the revision for MT+CF:Revised). A mode or
benchmark not listed keeps the condition's own kind."""


def condition_spec(
    value: str | Mapping[str, Any] | ConditionSpec, *, setting: str = "condition"
) -> ConditionSpec:
    """A condition from a named key (``"mt_cf_revised"``), a named key with overrides
    (``{"name": "mt_cf_revised", "gamma": 0.7}``), a full mapping (``{"mode": "mt", …}``) or a
    spec. Errors name ``setting`` and the allowed names/values."""
    if isinstance(value, ConditionSpec):
        return value
    if isinstance(value, str):
        if value not in NAMED_CONDITIONS:
            raise ValueError(
                f"{setting}: unknown condition {value!r}; allowed: {list(NAMED_CONDITIONS)}"
            )
        return NAMED_CONDITIONS[value]
    data = dict(value)
    name = data.pop("name", None)
    if name is not None:
        base = condition_spec(str(name), setting=f"{setting}.name").model_dump()
        base.update(data)
        data = base
    if "mode" in data and data["mode"] not in MODES:
        raise ValueError(f"{setting}.mode: unknown mode {data['mode']!r}; allowed: {list(MODES)}")
    try:
        return ConditionSpec.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{'.'.join([setting, *map(str, e['loc'])])}: {e['msg']} (got {e.get('input')!r})"
            for e in err.errors()
        ]
        raise ValueError("invalid condition:\n  " + "\n  ".join(problems)) from None


def condition_views(condition: ConditionSpec) -> tuple[str, ...]:
    """The views a condition trains on, in the order of ``VIEWS``."""
    return MODE_VIEWS[condition.mode]


def view_weights(condition: ConditionSpec) -> dict[str, float]:
    """Weight of each trained view's loss (the study's formulas; see the module docstring)."""
    a, b, g = condition.alpha, condition.beta, condition.gamma
    if condition.mode == "untrained":
        return {}
    if condition.mode == "standard":
        return {"predict": 1.0}
    if condition.mode == "mt":
        return {"predict": a, "explain": 1.0 - a}
    if condition.mode == "cf":
        return {"factual": 1.0, "counterfactual": 1.0}
    return {
        "predict": g * a,
        "explain": g * (1.0 - a),
        "factual": (1.0 - g) * b,
        "counterfactual": (1.0 - g) * (1.0 - b),
    }


def accuracy_view(condition: ConditionSpec) -> str:
    """The view whose answer the dev accuracy proxy scores: ``predict`` when the condition
    trains it, else ``factual`` (a CF student answers after "So the answer is")."""
    return "predict" if "predict" in condition_views(condition) else "factual"


def for_benchmark(condition: ConditionSpec, benchmark: str) -> ConditionSpec:
    """``condition`` as trained on ``benchmark``: an unset ``factual_rationale`` takes the
    study's value for the benchmark and mode (:data:`STUDY_FACTUAL_RATIONALE`); one set in the
    condition is kept."""
    if condition.factual_rationale is not None or "factual" not in condition_views(condition):
        return condition
    kind = STUDY_FACTUAL_RATIONALE.get(benchmark, {}).get(condition.mode)
    if kind is None:
        return condition
    return condition.model_copy(update={"factual_rationale": kind})


def factual_rationale(condition: ConditionSpec) -> str:
    """The ``factual_rationale`` argument of ``build_views`` for this condition (resolve the
    benchmark's first: :func:`for_benchmark`)."""
    kind = condition.factual_rationale or condition.rationale
    return "counterfactual" if kind == "counterfactual" else VIEW_RATIONALE[kind]
