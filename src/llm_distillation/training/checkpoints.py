"""The training state and its checkpoints: everything a run needs to resume exactly.

A checkpoint is written every ``checkpoint_every`` steps and at the end, at optimizer-step
boundaries (no gradient-accumulation state is pending): the model (safetensors), the optimizer
and scheduler (``torch.save`` of tensors and numbers, read back with ``weights_only=True``),
the RNG states of every process (python, numpy, torch, CUDA) and the :class:`TrainState`
(step, log accumulators, curves, best dev metric) as JSON. It is written into ``.tmp-step_N``
and renamed to ``step_N``: a folder named ``step_*`` is complete. The best dev weights live in
``best_N`` folders beside them (one is kept).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from llm_distillation.distributed import is_main_process

STEP_PREFIX: Final = "step_"
BEST_PREFIX: Final = "best_"
STATE_FILE: Final = "trainer_state.json"
CHECKPOINT_PREFIXES: Final = (STEP_PREFIX, BEST_PREFIX, ".tmp-", ".old-")
"""Names of the folders a run writes beside its checkpoints (complete, best, in progress)."""


@dataclass
class TrainState:
    """What the loop carries from step to step (and a checkpoint restores)."""

    n_views: int
    step: int = 0
    """Optimizer steps done."""
    curves: list[tuple[int, str, str, float]] = field(default_factory=list)
    """(step, split, metric, value) rows (``loop.CURVES_SCHEMA``)."""
    best_value: list[float] | None = None
    """The selection key of the best dev evaluation (higher is better)."""
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    log_sums: list[float] = field(default_factory=list)
    """Per-view loss sums since the last train log line."""
    log_counts: list[int] = field(default_factory=list)
    log_tokens: int = 0

    def __post_init__(self) -> None:
        self.log_sums = self.log_sums or [0.0] * self.n_views
        self.log_counts = self.log_counts or [0] * self.n_views

    def to_json(self, **extra: Any) -> str:
        return json.dumps({**asdict(self), **extra}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> tuple[TrainState, dict[str, Any]]:
        """The state and the extra keys written with it."""
        data = json.loads(text)
        names = set(cls.__dataclass_fields__)
        state = cls(**{k: v for k, v in data.items() if k in names})
        state.curves = [tuple(r) for r in state.curves]  # type: ignore[misc]
        return state, {k: v for k, v in data.items() if k not in names}


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder`` (temp folders ignored)."""
    root = Path(folder)
    if not root.is_dir():
        return None
    steps = [
        (int(p.name[len(STEP_PREFIX) :]), p)
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(STEP_PREFIX) and p.name[len(STEP_PREFIX) :].isdigit()
    ]
    return max(steps)[1] if steps else None


def step_dir(root: Path, step: int) -> Path:
    return root / f"{STEP_PREFIX}{step:08d}"


def best_dir(root: Path, step: int) -> Path:
    return root / f"{BEST_PREFIX}{step:08d}"


def rng_state() -> dict[str, Any]:
    """This process's RNG states (python, numpy, torch, CUDA)."""
    import torch

    state: dict[str, Any] = {
        "python": json.dumps(random.getstate()),
        "numpy": json.dumps(
            [(x.tolist() if isinstance(x, np.ndarray) else x) for x in np.random.get_state()]
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = json.loads(state["numpy"])
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_dir(final: Path, write: Callable[[Path], None], accelerator: Any) -> None:
    """Write a folder with ``write(tmp)`` on every process, then rename it to ``final``."""
    tmp = final.with_name(f".tmp-{final.name}")
    if is_main_process():
        for pattern in (".tmp-*", ".old-*"):  # left by a killed run
            for stale in final.parent.glob(pattern):
                shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    write(tmp)
    accelerator.wait_for_everyone()
    if is_main_process():
        (tmp / "COMPLETE").write_text("ok\n")
        old = final.with_name(f".old-{final.name}")
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def prune_best(root: Path, keep: int | None, accelerator: Any) -> None:
    """Delete best-weight folders other than ``best_<keep>``: older bests once a checkpoint
    names a newer one, and after a resume the bests written after the checkpoint resumed from
    (the rerun writes them again)."""
    if is_main_process():
        for p in root.glob(f"{BEST_PREFIX}*"):
            if keep is None or p != best_dir(root, keep):
                shutil.rmtree(p, ignore_errors=True)
    accelerator.wait_for_everyone()


def prune_steps(root: Path, keep: int, accelerator: Any) -> None:
    """Keep the ``keep`` newest ``step_*`` checkpoints."""
    if is_main_process():
        done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX))
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def save_weights(model: Any, path: Path) -> None:
    from safetensors.torch import save_model

    save_model(model, str(path))


def load_weights(model: Any, path: Path) -> None:
    from safetensors.torch import load_model

    load_model(model, str(path), strict=True)


def save_best(root: Path, step: int, model: Any, accelerator: Any) -> None:
    """The weights of the best dev step into ``best_<step>``."""

    def write(tmp: Path) -> None:
        if is_main_process():
            save_weights(model, tmp / "model.safetensors")

    atomic_dir(best_dir(root, step), write, accelerator)


def save_checkpoint(  # noqa: PLR0917 (the objects a checkpoint holds)
    root: Path,
    state: TrainState,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    accelerator: Any,
    *,
    keep: int,
    **extra: Any,
) -> None:
    """Checkpoint ``step_<state.step>`` (see the module docstring); ``extra`` goes into the
    state file beside the state (epoch, processes)."""
    import torch

    rank = accelerator.process_index

    def write(tmp: Path) -> None:
        torch.save(rng_state(), tmp / f"rng_{rank}.pt")
        if is_main_process():
            save_weights(model, tmp / "model.safetensors")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            (tmp / STATE_FILE).write_text(state.to_json(**extra))

    atomic_dir(step_dir(root, state.step), write, accelerator)
    prune_best(root, state.best_step, accelerator)
    prune_steps(root, keep, accelerator)


def resume(  # noqa: PLR0917 (the objects a checkpoint restores)
    folder: Path, model: Any, optimizer: Any, scheduler: Any, accelerator: Any, n_views: int
) -> TrainState:
    """Restore the model, optimizer, scheduler and this process's RNGs from ``folder``; the
    state saved there."""
    import torch

    state, extra = TrainState.from_json((folder / STATE_FILE).read_text())
    if extra.get("processes") != accelerator.num_processes:
        raise ValueError(
            f"checkpoint {folder} was written by {extra.get('processes')} processes; resuming "
            f"with {accelerator.num_processes} would change the data order"
        )
    if state.n_views != n_views:
        raise ValueError(f"checkpoint {folder}: {state.n_views} views, this run has {n_views}")
    load_weights(model, folder / "model.safetensors")
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    set_rng_state(torch.load(folder / f"rng_{accelerator.process_index}.pt", weights_only=True))
    return state


__all__ = [
    "BEST_PREFIX",
    "CHECKPOINT_PREFIXES",
    "STEP_PREFIX",
    "TrainState",
    "latest_checkpoint",
    "resume",
    "save_best",
    "save_checkpoint",
]
