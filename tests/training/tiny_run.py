"""Train a tiny student in its own process (the SIGKILL and the 2-process tests run this).

    python tests/training/tiny_run.py --teacher DIR --out DIR [--student t5|shrunk] [--steps N]
        [--checkpoint-every N] [--accum N] [--sleep SECONDS]

Writes ``OUT/ckpt/`` (checkpoints), ``OUT/final_rank<r>.safetensors`` (the returned weights: the
final ones, or with ``--dev`` the best dev loss's) and ``OUT/seen_rank<r>.json`` (step ->
example indices this process trained). Run under ``accelerate launch`` for several processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def main(argv: list[str] | None = None) -> None:
    """Train as the command line says (``argv``: in-process calls from the tests)."""
    p = argparse.ArgumentParser()
    p.add_argument("--teacher", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--student", default="t5", choices=["t5", "shrunk"])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--checkpoint-every", type=int, default=2)
    p.add_argument("--accum", type=int, default=1)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--dev", action="store_true", help="evaluate on a dev set every 3 steps")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # the same numerics in every process and in the test process
    from safetensors.torch import save_model

    from llm_distillation.training.conditions import condition_spec
    from llm_distillation.training.config import TrainingConfig
    from llm_distillation.training.examples import build_examples
    from llm_distillation.training.loop import train_student
    from llm_distillation.training.students import build_student
    from tests.training.helpers import TINY_T5, consolidated_table

    spec = TINY_T5 if args.student == "t5" else {"kind": "shrunk_causal", "layers": [0, 2]}
    student = build_student(spec, source=args.teacher, seed=3)
    cond = condition_spec("mt_cf_unrevised")
    train = build_examples(
        consolidated_table(16),
        cond,
        student.tokenizer,
        decoder_only=student.decoder_only,
        max_length=64,
    )
    dev = None
    if args.dev:
        dev = build_examples(
            consolidated_table(6, seed=9),
            cond,
            student.tokenizer,
            decoder_only=student.decoder_only,
            max_length=64,
        )
    config = TrainingConfig(
        max_steps=args.steps,
        batch_size=4,
        grad_accumulation=args.accum,
        learning_rate=3e-3,
        checkpoint_every=args.checkpoint_every,
        log_every=1,
        seed=11,
        progress=False,
        warmup_steps=2,
        eval_every=3 if args.dev else 0,
        eval_batch_size=5,
        select_by="dev_loss",
    )
    seen: dict[int, list[list[int]]] = {}

    def observer(step: int, indices: list[int]) -> None:
        seen.setdefault(step, []).append(indices)
        if args.sleep:
            time.sleep(args.sleep)

    out = Path(args.out)
    result = train_student(
        student, train, dev, cond, config, checkpoint_dir=out / "ckpt", observer=observer
    )
    from accelerate import PartialState

    rank = PartialState().process_index
    save_model(result.model, str(out / f"final_rank{rank}.safetensors"))
    (out / f"seen_rank{rank}.json").write_text(json.dumps(seen))
    result.curves.write_parquet(out / f"curves_rank{rank}.parquet")


if __name__ == "__main__":
    main()
