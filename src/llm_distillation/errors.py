"""Errors that name the file, row and field that caused them."""

from __future__ import annotations

from collections.abc import Iterable


def require_known(
    names: Iterable[str],
    allowed: Iterable[str],
    what: str,
    *,
    field: str | None = None,
    error: type[Exception] = ValueError,
) -> None:
    """Raise ``error`` naming every name not in ``allowed``, and the allowed values.

    ``what`` is the kind of name (``"benchmarks"``); ``field`` the setting that holds them.
    """
    allowed = list(allowed)
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        where = f"{field}: " if field else ""
        raise error(f"{where}unknown {what} {unknown}; allowed: {allowed}")


class SourceFormatError(ValueError):
    """A source file cannot be read as the format it was declared to have."""

    def __init__(self, path: object, problem: str, expected: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        super().__init__(f"{self.path}: {problem}; expected {expected}")


class RowError(ValueError):
    """One record is invalid; it becomes a row of ``rejected_examples``."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"field {field!r}: {reason}")


class TooManyRejectionsError(RuntimeError):
    """More rows were rejected than the configured share allows."""


class MissingSampleDataError(FileNotFoundError):
    """The embedded default's sample-data folder is not where the setting says."""


class ParameterError(ValueError):
    """Parameters that break their model's rules.

    ``problems`` holds one ``(setting, rule, value)`` per broken rule; ``setting`` is the dotted
    path of the parameter (``student_training.training.learning_rate``).
    """

    def __init__(self, problems: list[tuple[str, str, object]]) -> None:
        self.problems = problems
        lines = [
            f"  {setting}: {rule} (got {value!r}; see conf/*/parameters_{block}.yml)"
            for setting, rule, value in problems
            for block in [setting.split(".")[0]]
        ]
        super().__init__("Invalid parameters:\n" + "\n".join(lines))
