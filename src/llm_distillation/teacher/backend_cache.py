"""Which backend a teacher uses, and the cache that lends backends to the jobs of one save.

A :class:`BackendSpec` is the resolved backend of a teacher (name, options, the fingerprint of a
converted model folder); :func:`backend_spec` resolves it from the teacher's configuration. A
:class:`BackendCache` creates each backend when the first shard job needs it and closes them all
when the save of those jobs ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_distillation.generation.engine import torch_threads
from llm_distillation.teacher.backends.base import TeacherBackend, create_backend

logger = logging.getLogger(__name__)


def sha256_json(obj: Any) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys; non-JSON values by ``str``)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class BackendSpec:
    """Which backend a teacher uses, with its options (already resolved, e.g. model path)."""

    name: str
    options: Mapping[str, Any]
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    cpu_threads: int | None = None

    @property
    def key(self) -> str:
        return sha256_json(
            {
                "name": self.name,
                "options": dict(self.options),
                "threads": self.cpu_threads,
                "fingerprint": dict(self.fingerprint),
            }
        )

    def describe(self) -> dict[str, Any]:
        """The manifest's view of the backend (no instance needed). A converted model folder is
        identified by its source fingerprint, not its path, so moving the data folder does not
        redo its shards."""
        options = dict(self.options)
        if self.fingerprint and "model" in options:
            options["model"] = "teacher_model artefact (see model_fingerprint)"
        return {
            "backend": self.name,
            "options": json.loads(json.dumps(options, default=str)),
            "model_fingerprint": dict(self.fingerprint) or None,
            "cpu_threads": self.cpu_threads,
        }


class BackendCache:
    """The backends of one save of shard jobs: each created when the first job needs it, all
    closed when the save ends (models freed, GPU memory released, torch's thread count of a
    spec with ``cpu_threads`` restored), so a GPU teacher does not hold the GPU after teacher
    generation. Backends are lent only inside ``with cache:`` (``run_jobs`` opens it around
    the jobs it computes); a save whose shards are all complete creates none.
    """

    def __init__(self) -> None:
        self._backends: dict[str, TeacherBackend] = {}
        self._open = False
        self._secrets: Mapping[str, Any] = {}
        self._exit = contextlib.ExitStack()
        self.created = 0  # backends created so far (over every opening)

    def open(self, secrets: Mapping[str, Any] | None = None) -> BackendCache:
        """Lend backends until closed; ``secrets`` (an API key from the Kedro credentials) are
        given to the backends created meanwhile, never to a job, a manifest or a log."""
        self._open, self._secrets = True, dict(secrets or {})
        return self

    def __enter__(self) -> BackendCache:
        return self if self._open else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, spec: BackendSpec) -> TeacherBackend:
        """The backend of ``spec``, created on first use (the cache's secrets added to its
        options, not part of its identity or of any manifest)."""
        if not self._open:
            raise RuntimeError("teacher backends are lent only inside `with BackendCache():`")
        backend = self._backends.get(spec.key)
        if backend is None:
            logger.info("Creating teacher backend %s %s", spec.name, dict(spec.options))
            self._exit.enter_context(torch_threads(spec.cpu_threads))
            options = dict(spec.options)
            if spec.name == "openai_compatible" and "api_key" in self._secrets:
                options.setdefault("api_key", self._secrets["api_key"])
            backend = self._backends[spec.key] = create_backend(spec.name, **options)
            self.created += 1
        return backend

    def close(self) -> None:
        """Close every backend and restore the thread count; the cache can be opened again."""
        backends, self._backends, self._open = list(self._backends.values()), {}, False
        self._secrets = {}
        for backend in backends:
            try:
                backend.close()
            except Exception:  # closing must not hide the run's own outcome
                logger.exception("closing teacher backend %s failed", backend)
        self._exit.close()


def backend_spec(
    backend: str,
    options: Mapping[str, Any],
    *,
    teacher_model: str | None,
    cpu_threads: int | None = None,
) -> BackendSpec:
    """The resolved backend ``backend`` with ``options`` (a teacher's configuration).

    ``teacher_model`` (a converted model folder) becomes ``options.model``, identified in
    manifests by its source fingerprint.
    """
    from llm_distillation.teacher.model_artifacts import read_conversion_marker

    resolved = dict(options)
    fingerprint: dict[str, Any] = {}
    if teacher_model is not None:
        resolved["model"] = str(teacher_model)
        marker = read_conversion_marker(teacher_model)
        fingerprint = dict((marker or {}).get("source") or {})
    return BackendSpec(
        name=backend,
        options=resolved,
        fingerprint=fingerprint,
        cpu_threads=cpu_threads,
    )
