"""Which process of a distributed launch is the main one: the one place that decides it.

``accelerate launch`` and ``torchrun`` give every process its global rank in ``RANK``; a plain
``kedro run`` sets none and is the main process. Reading the environment (rather than
``accelerate.PartialState().is_main_process``, which reports the same rank) needs no torch and
no process group, so datasets can ask it while loading.
"""

from __future__ import annotations

import os


def process_rank() -> int:
    """This process's global rank in a distributed launch (``RANK``), 0 outside one."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True in rank 0 (and outside a distributed launch): the process that writes shared
    outputs (a cell's model folders, its summaries); the other ranks only read them."""
    return process_rank() == 0
