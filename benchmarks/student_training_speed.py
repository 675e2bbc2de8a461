"""Student training speed: the best Hugging Face ``Trainer`` setup vs. the project's loop.

Trains the default decoder-only student (SmolLM2-135M with ``--layers`` of its layers kept,
initialised from the teacher folder, its tokenizer) on the same tokenised views (all four views
of ``mt_cf_revised`` from a seeded sample of the study teacher's consolidated CQA table, the
labels of ``llm_distillation.training.examples``: −100 on prompt tokens and padding) for the
same number of optimizer steps, batch size, learning rate and schedule, with

(a) ``transformers.Trainer`` at its best settings: ``train_sampling_strategy="group_by_length"``
    (the old ``group_by_length=True``), dynamic padding (``DataCollatorForSeq2Seq`` with −100
    label padding), no evaluation, logging or saving, fp32 on CPU / bf16 on GPU;
(b) :func:`llm_distillation.training.loop.train_student` (whole source examples per step,
    ``--batch-size`` of them, each with all its views; LM head and loss only at label
    positions, length-grouped examples, no per-step host syncs); the Trainer gets as many view
    rows per step as those examples bring on average;

and with ``--also-defaults`` (c) the Trainer with its default random sampler. Each run is a
fresh process (model loading is not timed; peak memory is that process's). ``--repeats N``
alternates the variants N times and keeps each one's fastest run (the machine is shared).

Printed per variant: non-pad tokens trained, seconds, non-pad tokens/s and the ratio to (a),
peak memory (CPU: max RSS; GPU: ``torch.cuda.max_memory_allocated``), and the FLOP rate: model
FLOPs ≈ 6 · (non-embedding parameters) · (non-pad tokens) + 6 · (hidden · vocabulary) · (LM
head positions) — the head counted at the positions each variant computes (every padded
position for the Trainer, label positions for the loop) — against this machine's fp32 matmul
peak, measured in the same run (``torch.mm`` of two ``--peak-size`` square matrices, best of 5).

Usage (needs the teacher folder and the study import's consolidated table, made by
``kedro run --pipelines teacher_generation,consolidation`` or ``kedro run``)::

    .venv/bin/python benchmarks/student_training_speed.py --steps 20 --batch-size 2
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("student_training_speed")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "data/06_models/teacher/smollm2-135m-instruct"
DEFAULT_TABLE = PROJECT_ROOT / "data/05_model_input/study_consolidated/cqa/train"
CONDITION = "mt_cf_revised"
LABELS = {
    "trainer": "(a) HF Trainer, group_by_length",
    "loop": "(b) train_student",
    "trainer_defaults": "(c) HF Trainer, defaults",
}


def latest_table(path: Path) -> Path:
    """A Parquet file, or the newest version's files of a consolidated-table folder."""
    if path.is_file():
        return path
    files = sorted(glob.glob(str(path / "*" / "*" / "*.parquet")))
    if not files:
        raise SystemExit(
            f"no consolidated table under {path}; run `kedro run --pipelines consolidation "
            "--tags study_import` first (or pass --table)"
        )
    return Path(files[-1]).parent


def build_examples(args: argparse.Namespace) -> Any:
    """The tokenised views both variants train on (one decoder-only ExampleSet)."""
    import polars as pl

    from llm_distillation.sampling import take_seeded
    from llm_distillation.training.conditions import NAMED_CONDITIONS
    from llm_distillation.training.examples import condition_view_table, tokenize_views
    from llm_distillation.training.students import load_tokenizer

    table = latest_table(args.table)
    frame = pl.read_parquet(table if table.is_file() else sorted(table.glob("*.parquet")))
    rows, _ = take_seeded(frame, n=args.examples, seed=args.seed)
    views = condition_view_table(rows, NAMED_CONDITIONS[CONDITION], seed=args.seed)
    tokenizer = load_tokenizer(args.model_dir)
    return tokenize_views(views, tokenizer, decoder_only=True, max_length=args.max_length)


def _student(args: argparse.Namespace) -> Any:
    from llm_distillation.training.config import ShrunkCausalSpec
    from llm_distillation.training.students import build_student

    spec = ShrunkCausalSpec(num_layers=args.layers)
    return build_student(spec, source=args.model_dir, seed=args.seed)


def _model_flops(model: Any, nonpad_tokens: int, head_positions: int) -> float:
    """6·(parameters other than the embedding and LM head)·tokens + 6·hidden·vocab·(head
    positions)."""
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    vocab, hidden = head.shape
    body = sum(p.numel() for p in model.parameters()) - emb.numel()
    if head.data_ptr() != emb.data_ptr():
        body -= head.numel()
    return 6.0 * body * nonpad_tokens + 6.0 * hidden * vocab * head_positions


def _peak_memory(torch: Any) -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_trainer(args: argparse.Namespace, examples: Any, grouped: bool) -> dict[str, Any]:
    """(a)/(c): ``transformers.Trainer`` on the same examples."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    student = _student(args)
    features = [
        {
            "input_ids": list(e.input_ids),
            "attention_mask": [1] * len(e.input_ids),
            "labels": list(e.labels),
        }
        for e in examples.examples
    ]
    pad = DataCollatorForSeq2Seq(
        student.tokenizer, padding=True, label_pad_token_id=-100, return_tensors="pt"
    )
    counts = {"nonpad": 0, "positions": 0}

    def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
        out = pad(batch)
        counts["nonpad"] += int(out["attention_mask"].sum())
        counts["positions"] += int(out["input_ids"].numel())
        return out

    gpu = torch.cuda.is_available()
    training_args = TrainingArguments(
        output_dir=str(args.work_dir / "trainer"),
        per_device_train_batch_size=_trainer_batch(args, examples),
        gradient_accumulation_steps=1,
        max_steps=args.steps,
        learning_rate=args.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        train_sampling_strategy="group_by_length" if grouped else "random",
        logging_strategy="no",
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=not gpu,
        bf16=gpu,
        seed=args.seed,
    )
    trainer = Trainer(
        model=student.model,
        args=training_args,
        train_dataset=features,
        data_collator=collate,
        processing_class=student.tokenizer,
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    flops = _model_flops(student.model, counts["nonpad"], counts["positions"])
    return _figures(counts["nonpad"], seconds, flops, _peak_memory(torch))


def _trainer_batch(args: argparse.Namespace, examples: Any) -> int:
    """View rows per Trainer step: as many as the loop's ``batch_size`` source examples bring
    on average (the loop batches whole examples, all their views; the Trainer samples rows)."""
    from llm_distillation.training.conditions import NAMED_CONDITIONS, condition_views
    from llm_distillation.training.data_plan import example_groups

    views = condition_views(NAMED_CONDITIONS[CONDITION])
    groups = example_groups(examples.examples, views)
    return max(1, round(args.batch_size * len(examples) / len(groups)))


def run_loop(args: argparse.Namespace, examples: Any) -> dict[str, Any]:
    """(b): the project's loop on the same examples, same steps and optimizer settings."""
    import torch

    from llm_distillation.training.conditions import NAMED_CONDITIONS
    from llm_distillation.training.config import TrainingConfig
    from llm_distillation.training.loop import train_student

    if args.threads:
        torch.set_num_threads(args.threads)
    student = _student(args)
    config = TrainingConfig(
        max_steps=args.steps,
        learning_rate=args.learning_rate,
        schedule="linear",
        batch_size=args.batch_size,
        grad_accumulation=1,
        max_grad_norm=1.0,
        eval_every=0,
        checkpoint_every=0,
        log_every=args.steps,
        max_length=args.max_length,
        seed=args.seed,
        progress=False,
    )
    label_positions = [0]

    def observe(step: int, indices: list[int]) -> None:
        label_positions[0] += sum(examples.examples[i].n_label_tokens for i in indices)

    started = time.perf_counter()
    result = train_student(
        student, examples, None, NAMED_CONDITIONS[CONDITION], config, observer=observe
    )
    seconds = time.perf_counter() - started
    flops = _model_flops(student.model, result.train_tokens, label_positions[0])
    return _figures(result.train_tokens, seconds, flops, _peak_memory(torch))


def _figures(tokens: int, seconds: float, flops: float, peak_mib: float) -> dict[str, Any]:
    return {
        "nonpad_tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "gflop": flops / 1e9,
        "gflops_per_s": flops / seconds / 1e9,
        "peak_memory_mib": peak_mib,
    }


def _child(name: str, args: argparse.Namespace, queue: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    examples = build_examples(args)
    if name == "loop":
        queue.put(run_loop(args, examples))
    else:
        queue.put(run_trainer(args, examples, grouped=name == "trainer"))


def run_isolated(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One variant in a fresh process (its own peak memory, no state shared)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise SystemExit(f"variant {name} failed (exit code {proc.exitcode})")
    return result


def matmul_peak(size: int, threads: int) -> float:
    """This machine's fp32 matmul rate (GFLOP/s): best of 5 ``torch.mm`` of size × size."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps (20)")
    parser.add_argument(
        "--batch-size", type=int, default=2,
        help="source examples per loop step (2); the Trainer gets as many view rows per step",
    )  # fmt: skip
    parser.add_argument("--examples", type=int, default=64, help="consolidated rows (64)")
    parser.add_argument("--max-length", type=int, default=256, help="max tokens (256)")
    parser.add_argument("--layers", type=int, default=2, help="teacher layers kept (2)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument(
        "--repeats", type=int, default=2,
        help="run the variants this many times, alternating, keep each one's fastest (2)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--peak-size", type=int, default=2048, help="matmul size for the peak")
    parser.add_argument("--also-defaults", action="store_true", help="add (c): Trainer defaults")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/student_training_speed"))
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch
    import transformers

    examples = build_examples(args)
    n_tokens = sum(e.n_tokens for e in examples.examples)
    n_labels = sum(e.n_label_tokens for e in examples.examples)
    logger.info(
        "%d view rows (%s), %.0f tokens on average, %.0f%% of them labels; %d steps of %d "
        "source examples (the Trainer: %d rows); "
        "torch %s, transformers %s, %d threads, %s",
        len(examples),
        examples.view_counts(),
        n_tokens / len(examples),
        100 * n_labels / n_tokens,
        args.steps,
        args.batch_size,
        _trainer_batch(args, examples),
        torch.__version__,
        transformers.__version__,
        args.threads or torch.get_num_threads(),
        "cuda" if torch.cuda.is_available() else "cpu",
    )
    load_before = os.getloadavg()
    variants = ["trainer", "loop"] + (["trainer_defaults"] if args.also_defaults else [])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    peaks = []
    for repeat in range(args.repeats):
        peaks.append(matmul_peak(args.peak_size, args.threads))
        for name in variants:
            runs[name].append(run_isolated(name, args))
            logger.info("run %d %s: %.1f tok/s", repeat + 1, name, runs[name][-1]["tokens_per_s"])
    load_after = os.getloadavg()
    peak = max(peaks)
    figures = {name: max(r, key=lambda f: f["tokens_per_s"]) for name, r in runs.items()}
    base = figures["trainer"]["tokens_per_s"]
    logger.info("fp32 matmul peak (torch.mm %d², best): %.1f GFLOP/s", args.peak_size, peak)
    logger.info(
        "%-34s %8s %8s %9s %7s %9s %8s %9s",
        "variant",
        "tokens",
        "seconds",
        "tok/s",
        "ratio",
        "GFLOP/s",
        "of peak",
        "peak MiB",
    )
    for name, fig in figures.items():
        fig["ratio"] = fig["tokens_per_s"] / base
        fig["share_of_peak"] = fig["gflops_per_s"] / peak
        logger.info(
            "%-34s %8d %8.1f %9.1f %6.2fx %9.1f %7.0f%% %9.0f",
            LABELS[name],
            fig["nonpad_tokens"],
            fig["seconds"],
            fig["tokens_per_s"],
            fig["ratio"],
            fig["gflops_per_s"],
            100 * fig["share_of_peak"],
            fig["peak_memory_mib"],
        )
    logger.info("load average before %.2f, after %.2f", load_before[0], load_after[0])
    if args.json:
        summary: dict[str, Any] = dict(figures)
        summary["matmul_peak_gflops"] = peak
        summary["settings"] = {k: str(v) for k, v in vars(args).items()}
        summary["all_runs_tokens_per_s"] = {
            name: [f["tokens_per_s"] for f in r] for name, r in runs.items()
        }
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
