"""The experiment matrix: benchmarks × students × conditions × seeds, declared once.

``conf/<env>/parameters_student_training.yml`` declares the matrix under
``student_training.matrix``; :func:`expand_matrix` turns it into :class:`Cell` s, one Kedro
namespace each (``cqa_t5_small_mt_cf_revised``); the seeds of a cell train inside that cell.
The registry (``pipeline_registry.register_pipelines``) expands the matrix of the run's
configuration (``--env``, ``--params``) once and passes the cells to the ``student_training``,
``evaluation`` and ``reporting`` pipelines (Kedro's dynamic-pipelines pattern), so
``kedro run --params student_training.matrix.seeds=[0]`` changes the cells of that run. Kedro
splits ``--params`` on every comma, so a list of several items goes in a run file instead:
``kedro run --config <file>`` with ``run: {params: {student_training: {matrix: {seeds: [0,
1]}}}}`` (``conf/cpu_study/runs/``).

``python -m llm_distillation.pipelines.student_training.matrix [--env paper]`` lists the
namespaces, one a line (e.g. to index a SLURM job array).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llm_distillation.pipelines.student_training.params import StudentTrainingParams

PARAMETERS_KEY = "student_training"


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a student trained on a benchmark under a condition, per seed."""

    benchmark: str
    student: str
    condition: str
    seeds: tuple[int, ...]

    @property
    def namespace(self) -> str:
        """``<benchmark>_<student>_<condition>``: a Kedro namespace and a folder name."""
        return f"{self.benchmark}_{self.student}_{self.condition}"


def matrix_cells(cfg: StudentTrainingParams) -> list[Cell]:
    """Every cell of the validated ``cfg.matrix``, in declaration order (benchmark, then
    student, then condition); two cells that would share a namespace fail, naming both."""
    m = cfg.matrix
    cells = [
        Cell(benchmark=b, student=s, condition=c, seeds=m.seeds)
        for b in m.benchmarks
        for s in m.students
        for c in m.conditions
    ]
    seen: dict[str, Cell] = {}
    for cell in cells:
        if cell.namespace in seen:
            raise ValueError(
                f"student_training.matrix: cells {seen[cell.namespace]} and {cell} share the "
                f"namespace {cell.namespace!r}; rename a student or condition"
            )
        seen[cell.namespace] = cell
    return cells


def expand_matrix(params: Mapping[str, Any]) -> list[Cell]:
    """The cells of ``params["student_training"]`` (validated first: an unknown student,
    condition or benchmark fails here, naming the setting, before any model is loaded);
    no cells when the parameters have no ``student_training`` block."""
    if PARAMETERS_KEY not in params:
        return []
    return matrix_cells(StudentTrainingParams.model_validate(params[PARAMETERS_KEY]))


def main(argv: list[str] | None = None) -> int:
    """``python -m llm_distillation.pipelines.student_training.matrix [--env paper]``: the
    matrix's namespaces, one a line (e.g. to index a SLURM job array)."""
    import argparse
    import contextlib

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--env", default=None, help="Kedro environment (default: $KEDRO_ENV)")
    parser.add_argument("--seeds", action="store_true", help="also print each cell's seeds")
    args = parser.parse_args(argv)
    # Kedro's logging, configured on import, writes to stdout: keep stdout for the namespaces
    with contextlib.redirect_stdout(sys.stderr):
        from llm_distillation.pipelines import project_config_loader

        cells = expand_matrix(project_config_loader(args.env)["parameters"])
    for cell in cells:
        seeds = " " + ",".join(map(str, cell.seeds)) if args.seeds else ""
        sys.stdout.write(f"{cell.namespace}{seeds}\n")  # the command's output, not a log line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
