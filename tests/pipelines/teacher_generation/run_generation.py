"""``teacher_generation`` through a KedroSession, as a separate process (the resume test kills
it part-way): ``python -m tests.pipelines.teacher_generation.run_generation DATA_DIR PARAMS``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.kedro_session import run_pipelines


def main() -> None:
    data_dir, params = Path(sys.argv[1]), json.loads(sys.argv[2])
    run_pipelines(["teacher_generation"], data_dir, params=params)


if __name__ == "__main__":
    main()
