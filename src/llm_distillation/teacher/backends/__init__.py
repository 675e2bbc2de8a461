"""Teacher backends behind one interface (:class:`~.base.TeacherBackend`).

Backends are created by name through :func:`create_backend`; each implementation module is
imported only when its backend is created, so heavy or optional dependencies (torch,
transformers, vllm, httpx) are never imported by the CLI or by an unknown-name check.
"""

from llm_distillation.teacher.backends.base import (
    BACKEND_NAMES,
    TeacherBackend,
    create_backend,
)

__all__ = [
    "BACKEND_NAMES",
    "TeacherBackend",
    "create_backend",
]
