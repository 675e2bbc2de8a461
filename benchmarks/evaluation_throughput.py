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

Usage::

    .venv/bin/python benchmarks/evaluation_throughput.py --model PATH/seed_0 --prompts 40
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
    from llm_distillation.evaluation.generate import EngineSettings, open_student

    settings = EngineSettings(device="cpu", dtype="float32", batch_size=batch)
    with open_student(model_dir, settings) as generate:
        generate(prompts[:1], 2)  # warm-up
        started = time.perf_counter()
        results = generate(prompts, new_tokens)
        seconds = time.perf_counter() - started
    return {
        "texts": [r.text for r in results],
        "generated_tokens": sum(r.generated_tokens for r in results),
        "seconds": seconds,
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
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
