"""The project's data catalog: Kedro's, with dataset factories that reject typos.

The catalog's factories (``"{benchmark}.examples"``, ``"{cell}.student_model"``, …) match any
name, so ``typo.examples`` would quietly resolve to a new folder. :class:`ProjectDataCatalog`
(``settings.DATA_CATALOG_CLASS``) checks the placeholder values of every name it resolves
through a factory: a ``benchmark`` must be one of :data:`llm_distillation.schema.BENCHMARKS`, a
``split`` one of :data:`~llm_distillation.schema.SPLITS`, and a ``cell`` a namespace of the
experiment matrix of the catalog's own ``params:student_training`` (not checked in a catalog
without parameters). An unknown value raises Kedro's ``DatasetNotFoundError`` that lists the
known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro.io import DataCatalog, DatasetNotFoundError
from parse import parse

from llm_distillation.schema import BENCHMARKS, SPLITS

MATRIX_PARAMETERS = "params:student_training"
"""The catalog entry (added by Kedro from the parameters) the matrix's cells come from."""


class ProjectDataCatalog(DataCatalog):
    """A ``DataCatalog`` whose factory-resolved names must use known benchmarks, splits and
    cells (see the module docstring)."""

    def get(self, key: str, fallback_to_runtime_pattern: bool = False, version: Any = None) -> Any:
        """Kedro's ``get``, after :meth:`check_name` for a name not yet in the catalog."""
        if not key.startswith("params:") and key not in self.keys():
            self.check_name(key)
        return super().get(key, fallback_to_runtime_pattern, version)

    def check_name(self, name: str) -> None:
        """Raise ``DatasetNotFoundError`` when ``name`` matches a dataset factory with an unknown
        benchmark, split or cell; the message lists the known ones."""
        pattern = self.config_resolver.match_dataset_pattern(name)
        if pattern is None:
            return
        values = parse(pattern, name).named
        for placeholder in sorted(values):
            known = self.known_values(placeholder)
            if known is not None and values[placeholder] not in known:
                raise DatasetNotFoundError(
                    f"Dataset '{name}' (catalog factory '{pattern}'): unknown {placeholder} "
                    f"{values[placeholder]!r}; known: {', '.join(known)}"
                )

    def known_values(self, placeholder: str) -> list[str] | None:
        """The values a factory placeholder may take (``None``: any)."""
        rule = KNOWN_VALUES.get(placeholder)
        return None if rule is None else rule(self)


def _cells(catalog: DataCatalog) -> list[str] | None:
    """The namespaces of the matrix cells of ``catalog``'s ``params:student_training``."""
    from llm_distillation.pipelines.student_training.matrix import expand_matrix

    if MATRIX_PARAMETERS not in catalog:
        return None
    key = MATRIX_PARAMETERS.removeprefix("params:")
    return [cell.namespace for cell in expand_matrix({key: catalog[MATRIX_PARAMETERS].load()})]


KNOWN_VALUES: dict[str, Callable[[DataCatalog], list[str] | None]] = {
    "benchmark": lambda _: list(BENCHMARKS),
    "split": lambda _: list(SPLITS),
    "cell": _cells,
}
"""Factory placeholder -> the values it may take in a catalog."""
