"""One sub-package per pipeline, each with ``nodes.py`` and ``pipeline.py``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any


def bind(func: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """``func`` with keyword arguments fixed (a node per benchmark, split or matrix cell),
    keeping its name and docstring."""
    return update_wrapper(partial(func, **kwargs), func)
