"""Run the project's pipelines through a real ``KedroSession`` on a temporary output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_pipelines(
    names: list[str],
    data_dir: Path,
    *,
    params: dict[str, Any] | None = None,
    env: str | None = None,
    namespaces: list[str] | None = None,
    only_missing_outputs: bool = False,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """``kedro run --pipelines <names> --params data_dir=<data_dir>,…`` in-process."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    runtime_params = {"data_dir": str(data_dir), **(params or {})}
    try:
        with KedroSession.create(
            project_path=PROJECT_ROOT, env=env, runtime_params=runtime_params, save_on_close=False
        ) as session:
            return session.run(
                pipeline_names=names,
                namespaces=namespaces,
                only_missing_outputs=only_missing_outputs,
                tags=tags,
            )
    finally:
        # `session.run` leaves Kedro's process-wide registry filtered to the pipelines it ran
        # and built from this session's configuration (the project hook); the next test
        # expects every pipeline of the project's own configuration: configure the project
        # again (the registry is rebuilt on its next access).
        bootstrap_project(PROJECT_ROOT)


def main() -> None:
    """``python -m tests.kedro_session DATA_DIR RUN``: :func:`run_pipelines` in a process of its
    own (the resume tests kill it part-way); ``RUN``: JSON of ``{"pipelines": [...], "params":
    {...}, "env": ..., "only_missing_outputs": ...}`` (only ``pipelines`` is required)."""
    import json
    import sys

    data_dir, run = Path(sys.argv[1]), json.loads(sys.argv[2])
    run_pipelines(
        run["pipelines"],
        data_dir,
        params=run.get("params"),
        env=run.get("env"),
        only_missing_outputs=run.get("only_missing_outputs", False),
    )


if __name__ == "__main__":
    main()
