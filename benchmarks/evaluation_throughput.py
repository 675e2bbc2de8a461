"""Student evaluation throughput: one prompt at a time vs. the generation engine.

Asks one student folder (a ``save_pretrained`` folder: a trained ``seed_<k>`` folder of
``<cell>.student_model``, or any causal / seq2seq LM) the ``[predict]`` prompts of real
CommonsenseQA test questions - rendered by ``consolidation.views.build_views``, exactly as
evaluation renders them - greedily, and reports generated tokens per second of

(a) plain ``model.generate`` on one prompt at a time (no padding, no batching), and
(b) :func:`llm_distillation.evaluation.generate.open_student` (the generation engine, batches
    of ``--batch-size``),

and their ratio, in one run; also how many greedy outputs agree. Loading and a warm-up are
not timed; ``--repeats`` alternates the variants and keeps each one's fastest run.

``--option-loglik TABLE`` (a consolidated test table, one row per example, parquet) instead
times option log-likelihood scoring of its first ``--prompts`` examples
(:func:`llm_distillation.evaluation.option_loglik.continuation_logprobs`): (a) every
(prompt, option) row on its own (``shared_prompts=False``) vs. (b) each prompt computed once
for all its options, and the largest difference of their scores.

Usage::

    .venv/bin/python benchmarks/evaluation_throughput.py --model PATH/seed_0 --prompts 40
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/evaluation_throughput.py --model PATH \\
        --prompts 48 --option-loglik data/05_model_input/…/test/llama.parquet
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("evaluation_throughput")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST = PROJECT_ROOT.parent / "shared/data/cqa/cqa_test.json"


def predict_prompts(path: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """``[predict]`` prompts of ``n`` seeded CQA test rows, rendered by ``build_views``."""
    import polars as pl

    from llm_distillation.consolidation.views import build_views
    from llm_distillation.sampling import take_seeded

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    table = pl.DataFrame(
        {
            "example_id": [r["id"] for r in rows],
            "benchmark": "cqa",
            "split": "test",
            "teacher": "none",
            "question": [r["question"] for r in rows],
            "premise": pl.Series([None] * len(rows), dtype=pl.String),
            "hypothesis": pl.Series([None] * len(rows), dtype=pl.String),
            "choices": [r["choices"] for r in rows],
            "answer_index": [r["choices"].index(r["answer"]) for r in rows],
        }
    )
    sample, _ = take_seeded(table, n=n, seed=seed)
    views = build_views(sample, views=("predict",))
    return list(zip(views["example_id"], views["input"], strict=True))


def one_at_a_time(model_dir: str, prompts: list[tuple[str, str]], new_tokens: int) -> dict:
    """(a): ``model.generate`` per prompt, the prompt encoded as the engine encodes it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from llm_distillation.generation.tokenize import encode_prompt

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    seq2seq = bool(getattr(AutoConfig.from_pretrained(model_dir), "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = cls.from_pretrained(model_dir, dtype=torch.float32).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def run(prompt: str, max_new: int) -> tuple[list[int], int]:
        ids = torch.tensor([encode_prompt(tokenizer, prompt)])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=pad,
        )[0]
        new = out[1:] if seq2seq else out[ids.shape[1] :]
        eos = tokenizer.eos_token_id
        tokens = [int(t) for t in new]
        if eos in tokens:
            tokens = tokens[: tokens.index(eos) + 1]
        return tokens, ids.shape[1]

    with torch.inference_mode():
        run(prompts[0][1], 2)  # warm-up
        texts, generated = [], 0
        started = time.perf_counter()
        for _, prompt in prompts:
            tokens, _ = run(prompt, new_tokens)
            generated += len(tokens)
            texts.append(tokenizer.decode(tokens, skip_special_tokens=True))
        seconds = time.perf_counter() - started
    return {"texts": texts, "generated_tokens": generated, "seconds": seconds}


def engine(model_dir: str, prompts: list[tuple[str, str]], new_tokens: int, batch: int) -> dict:
    """(b): the generation engine through evaluation's seam."""
    from pathlib import Path

    from llm_distillation.evaluation.generate import EngineSettings, open_student
    from llm_distillation.generation import StoredModel

    settings = EngineSettings(device="cpu", dtype="float32", batch_size=batch)
    with open_student(StoredModel(Path(model_dir)), settings) as generate:
        generate(prompts[:1], 2)  # warm-up
        started = time.perf_counter()
        results = generate(prompts, new_tokens)
        seconds = time.perf_counter() - started
    return {
        "texts": [r.text for r in results],
        "generated_tokens": sum(r.generated_tokens for r in results),
        "seconds": seconds,
    }


def option_loglik(model_dir: str, table_path: Path, n: int, batch: int, repeats: int) -> dict:
    """Seconds of option log-likelihood scoring, row by row (a) vs. shared prompts (b)."""
    import polars as pl

    from llm_distillation.evaluation.option_loglik import continuation_logprobs, option_rows
    from llm_distillation.generation import GenerationEngine

    rows = option_rows(pl.read_parquet(table_path).head(n))
    with GenerationEngine.from_pretrained(
        model_dir, device="cpu", dtype="float32", batch_size=batch
    ) as eng:
        decoder_only = not eng.is_encoder_decoder

        def score(shared: bool) -> tuple[float, list[float]]:
            started = time.perf_counter()
            out = continuation_logprobs(
                eng.model,
                eng.tokenizer,
                rows,
                decoder_only=decoder_only,
                batch_size=batch,
                shared_prompts=shared,
            )
            return time.perf_counter() - started, out

        continuation_logprobs(  # warm-up
            eng.model, eng.tokenizer, rows.head(2), decoder_only=decoder_only, batch_size=batch
        )
        best: dict[str, tuple[float, list[float]]] = {}
        for _ in range(repeats):
            for name, shared in (("a", False), ("b", True)):
                seconds, out = score(shared)
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, out)
    (a, a_out), (b, b_out) = best["a"], best["b"]
    diff = max(abs(x - y) for x, y in zip(a_out, b_out, strict=True))
    examples = rows["example_id"].n_unique()
    sys.stdout.write(
        f"option log-likelihood of {examples} examples ({rows.height} rows), batch {batch}, "
        f"CPU\n(a) row by row: {a:.2f} s\n(b) shared prompts: {b:.2f} s\n"
        f"ratio (a)/(b): {a / b:.2f}x; largest score difference {diff:.2e}\n"
    )
    return {
        "model": model_dir,
        "examples": examples,
        "rows": rows.height,
        "batch_size": batch,
        "row_by_row_seconds": a,
        "shared_prompts_seconds": b,
        "ratio": a / b,
        "max_abs_difference": diff,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a student folder (save_pretrained)")
    parser.add_argument("--test-file", type=Path, default=DEFAULT_TEST)
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--option-loglik", type=Path, default=None, metavar="TABLE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.option_loglik:
        report = option_loglik(
            args.model, args.option_loglik, args.prompts, args.batch_size, args.repeats
        )
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        return report
    prompts = predict_prompts(args.test_file, args.prompts, args.seed)
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, run in (
            ("a", lambda: one_at_a_time(args.model, prompts, args.new_tokens)),
            ("b", lambda: engine(args.model, prompts, args.new_tokens, args.batch_size)),
        ):
            figures = run()
            if name not in best or figures["seconds"] < best[name]["seconds"]:
                best[name] = figures
    a, b = best["a"], best["b"]
    same = sum(x.strip() == y.strip() for x, y in zip(a["texts"], b["texts"], strict=True))
    report = {
        "model": args.model,
        "prompts": len(prompts),
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "one_at_a_time": {k: a[k] for k in ("generated_tokens", "seconds")}
        | {"tokens_per_s": a["generated_tokens"] / a["seconds"]},
        "engine": {k: b[k] for k in ("generated_tokens", "seconds")}
        | {"tokens_per_s": b["generated_tokens"] / b["seconds"]},
        "identical_outputs": same,
    }
    report["ratio"] = report["engine"]["tokens_per_s"] / report["one_at_a_time"]["tokens_per_s"]
    lines = [
        f"{len(prompts)} [predict] prompts, up to {args.new_tokens} new tokens, greedy, CPU",
        f"(a) model.generate, one at a time: {a['generated_tokens']} tokens in "
        f"{a['seconds']:.2f} s = {report['one_at_a_time']['tokens_per_s']:.1f} tok/s",
        f"(b) generation engine, batch {args.batch_size}: {b['generated_tokens']} tokens in "
        f"{b['seconds']:.2f} s = {report['engine']['tokens_per_s']:.1f} tok/s",
        f"ratio (b)/(a): {report['ratio']:.2f}x; identical outputs: {same} of {len(prompts)}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
