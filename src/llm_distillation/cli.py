"""``kedro run`` (and ``python -m llm_distillation``): Kedro's own run command, except that a
known input error ends it with a short message instead of a traceback.

Kedro puts this module's ``cli`` group over its built-in commands (``KedroCLI.project_groups``,
see Kedro's "how to add or modify CLI commands"), and ``find_run_command`` (``__main__``)
returns its ``run``. The input errors are a bad parameter (pydantic validation, also while the
pipelines are built), a bad catalog entry or an unreadable dataset (Kedro's ``DatasetError``),
and a missing or malformed input file (``FileNotFoundError``, the classes of
``llm_distillation.errors``). Each ends the command with at most 10 lines that name the setting,
the value, the rule and the file to edit, and exit code 1; ``kedro run --verbose`` raises the
original error with its traceback. Any other error is raised as before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import click
import yaml
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import CONTEXT_SETTINGS, KedroCliError
from kedro.framework.project import settings
from kedro.io import DatasetError
from parse import parse
from pydantic import ValidationError

from llm_distillation.errors import ParameterError, SourceFormatError, TooManyRejectionsError

MAX_PROBLEMS = 3
"""Broken parameters listed one by one (two lines each); the rest are counted."""

MAX_MESSAGE_LINES = 5
"""Lines of an error's own message that are shown (Kedro's hints are cut)."""

VERBOSE_HINT = "(kedro run --verbose shows the traceback)"


class InputError(KedroCliError):
    """A known input error: shown as its message alone, without a traceback (exit code 1)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.ClickException.show(self, file)


@click.group(context_settings=CONTEXT_SETTINGS, name=__file__)
def cli() -> None:
    """Project commands (they replace Kedro's of the same name)."""


def _run(verbose: bool, **kwargs: Any) -> Any:
    """Kedro's ``run`` with ``kwargs``; a known input error becomes an :class:`InputError`."""
    try:
        return kedro_run.callback(**kwargs)  # type: ignore[misc]
    except Exception as exc:
        message = None if verbose else short_message(exc, kwargs.get("env"), kwargs)
        if message is None:
            raise
        raise InputError(message) from exc


run = click.Command(
    name="run",
    context_settings=CONTEXT_SETTINGS,
    callback=_run,
    params=[
        *kedro_run.params,
        click.Option(
            ["--verbose"],
            is_flag=True,
            help="On a bad parameter, catalog entry or input file, show the full traceback.",
        ),
    ],
    help=kedro_run.help,
    short_help=kedro_run.short_help,
)
cli.add_command(run)


def short_message(
    exc: BaseException, env: str | None = None, options: Mapping[str, Any] | None = None
) -> str | None:
    """The short message of the first known input error in ``exc``'s chain (``None``: not an
    input error). ``env`` is the run's ``--env``; ``options`` the run's options (``params``:
    the ``--params`` values, ``conf_source``)."""
    options = options or {}
    conf = Conf(
        Path(options.get("conf_source") or settings.CONF_SOURCE),
        env or os.environ.get("KEDRO_ENV") or settings.CONFIG_LOADER_ARGS["default_run_env"],
        options.get("params") or {},
    )
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, ParameterError):
            return _parameter_message(error.problems, conf)
        if isinstance(error, ValidationError):
            return _parameter_message(_validation_problems(error), conf)
    for error in chain:
        if isinstance(error, (SourceFormatError, TooManyRejectionsError, FileNotFoundError)):
            return _lines(f"Missing or unreadable input {VERBOSE_HINT}:", str(error))
    for error in chain:
        if isinstance(error, DatasetError):
            return _dataset_message(str(error), conf)
    return None


class Conf:
    """Where the run's configuration comes from: ``root`` (``conf``), the run's ``env`` and the
    ``--params`` values (``runtime``)."""

    def __init__(self, root: Path, env: str, runtime: Mapping[str, Any]) -> None:
        self.root = root
        self.env = env
        self.runtime = runtime

    def files(self, kind: str) -> list[Path]:
        """The ``kind*.yml`` files (``parameters``, ``catalog``) of the run's env, then of base."""
        base = settings.CONFIG_LOADER_ARGS.get("base_env", "base")
        return [f for e in (self.env, base) for f in sorted((self.root / e).glob(f"{kind}*.yml"))]

    def parameter_source(self, setting: str) -> str:
        """Where ``setting`` (a dotted path) is set: the ``--params`` option or the first
        parameters file that holds it (the env's before base)."""
        parts = setting.split(".")
        if _holds(self.runtime, parts):
            return "the --params option of the command"
        for file in self.files("parameters"):
            if _holds(_read_yaml(file), parts):
                return str(file)
        return str(self.root / self.env / f"parameters_{parts[0]}.yml")

    def catalog_source(self, name: str) -> str:
        """The catalog file that defines dataset ``name`` (literally or by a factory pattern)."""
        files = self.files("catalog")
        for file in files:
            if name in _read_yaml(file):
                return str(file)
        for file in files:
            if any("{" in key and parse(key, name) for key in _read_yaml(file)):
                return str(file)
        return str(self.root / self.env / "catalog.yml")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from (``__cause__``, else ``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _validation_problems(err: ValidationError) -> list[tuple[str, str, object]]:
    """``(setting, rule, value)`` of a pydantic error, the setting named from the parameter
    block whose model raised it (its model's name otherwise)."""
    from llm_distillation.config import validation_problems
    from llm_distillation.pipelines import parameter_models

    keys = {model.__name__: key for key, model in parameter_models().items()}
    return validation_problems(keys.get(err.title, err.title), err)


def _parameter_message(problems: list[tuple[str, str, object]], conf: Conf) -> str:
    """One line per broken setting (its value and rule) and one naming where it is set."""
    lines = [f"Invalid parameters {VERBOSE_HINT}:"]
    for setting, rule, value in problems[:MAX_PROBLEMS]:
        lines.append(f"  {setting} = {_shorten(repr(value))}: {' '.join(rule.splitlines())}")
        lines.append(f"    edit: {conf.parameter_source(setting)}")
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"  … and {len(problems) - MAX_PROBLEMS} more")
    return "\n".join(lines)


def _shorten(text: str, width: int = 60) -> str:
    """``text``, cut to ``width`` characters (a whole parameter block can be the value)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _dataset_message(text: str, conf: Conf) -> str:
    """A ``DatasetError``'s own message (without Kedro's install hints) and the catalog file
    of the dataset it names."""
    names = re.findall(r"dataset '([^']+)'", text, flags=re.IGNORECASE)
    edit = f"edit: {conf.catalog_source(names[0])}" if names else ""
    return _lines(f"Bad catalog entry or dataset {VERBOSE_HINT}:", text, edit)


def _lines(head: str, text: str, tail: str = "") -> str:
    """``head``, the first lines of ``text`` up to a ``Hint:`` line, and ``tail``."""
    body = []
    for line in text.strip().splitlines():
        if line.startswith("Hint:") or len(body) == MAX_MESSAGE_LINES:
            break
        body.append(f"  {line}")
    return "\n".join([head, *body, *([f"  {tail}"] if tail else [])])


def _holds(tree: Any, parts: list[str]) -> bool:
    """Whether the nested mapping ``tree`` has a value at the path ``parts``."""
    for part in parts:
        if not isinstance(tree, Mapping) or part not in tree:
            return False
        tree = tree[part]
    return True


def _read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty for an empty or unreadable file)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
