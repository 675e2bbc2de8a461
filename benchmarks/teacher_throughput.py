"""Teacher generation throughput on CPU: one prompt at a time vs. the batched backend.

Generates with the default teacher (SmolLM2-135M-Instruct, the converted folder of
``data/06_models/teacher/smollm2-135m-instruct``, converted from the packaged GGUF if missing)
on realistic few-shot rationale prompts (a system message and demos shared by every prompt,
then one real CommonsenseQA question with "The answer is {gold}.": about 360 tokens with the
default three demos), greedy, float32, and reports generated tokens per second of

(a) plain ``model.generate`` on one prompt at a time (no padding, no batching), and
(b) the generation engine (:class:`~llm_distillation.generation.GenerationEngine`, which the
    ``transformers`` teacher backend runs: batches of ``--batch-size``, shared-prefix KV cache),

and their ratio, in one run. ``--also-uncached`` adds (c), the engine batched without the
prefix cache. No stop strings are used, so every variant decodes the same greedy tokens (up to
EOS or ``--new-tokens``); the script checks how many outputs agree between (a) and (b).

Usage::

    .venv/bin/python benchmarks/teacher_throughput.py --prompts 16 --new-tokens 48
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("teacher_throughput")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "data/06_models/teacher/smollm2-135m-instruct"
LETTERS = "abcde"

SYSTEM = (
    "You are a careful teacher. Given a multiple-choice commonsense question and its correct "
    "answer, explain in one or two clear sentences why that answer is the right one."
)
# Our own demos (not from the benchmark): question, choices, gold answer, rationale.
DEMOS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    (
        "Where would you most likely keep a carton of eggs fresh?",
        ("bookshelf", "refrigerator", "mailbox", "garage", "bathtub"),
        "refrigerator",
        "Eggs spoil when they are warm, and a refrigerator is the cold place in a home where "
        "food is stored to keep it fresh.",
    ),
    (
        "What does a person usually do when they feel very tired at night?",
        ("go to sleep", "run a marathon", "paint the house", "buy a car", "start a fire"),
        "go to sleep",
        "Feeling tired is the body's signal that it needs rest, and at night people rest by "
        "going to sleep.",
    ),
    (
        "If you want to send a letter to a friend in another city, where do you take it?",
        ("library", "post office", "bakery", "gym", "cinema"),
        "post office",
        "A post office collects letters and delivers them to addresses in other places, which "
        "is what sending a letter needs.",
    ),
    (
        "What would a musician need to play a song on a guitar?",
        ("strings", "wheels", "pillows", "envelopes", "umbrellas"),
        "strings",
        "A guitar makes its sound when its strings vibrate, so without strings the musician "
        "could not play the song.",
    ),
    (
        "Where are you likely to see many animals kept so that visitors can look at them?",
        ("zoo", "office", "kitchen", "parking lot", "laundry room"),
        "zoo",
        "A zoo is a place built to house many kinds of animals so that people can visit and "
        "watch them.",
    ),
    (
        "What happens to ice when it is left in the warm sun?",
        ("it melts", "it grows", "it sings", "it freezes harder", "it turns into wood"),
        "it melts",
        "Heat from the sun raises the temperature of the ice above its freezing point, so it "
        "turns into water, which is melting.",
    ),
)


def format_question(question: str, choices: tuple[str, ...] | list[str], answer: str) -> str:
    """The user turn of one item: question, lettered choices and the given answer."""
    options = " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"Question: {question}\nChoices: {options}\nThe answer is {answer}."


def prefix_messages(n_demos: int) -> tuple[dict[str, str], ...]:
    """System message and the first ``n_demos`` demos: the part shared by every prompt."""
    messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
    for question, choices, answer, rationale in DEMOS[:n_demos]:
        messages.append({"role": "user", "content": format_question(question, choices, answer)})
        messages.append({"role": "assistant", "content": rationale})
    return tuple(messages)


def load_cqa(path: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` CommonsenseQA training rows (JSON lines), a seeded sample."""
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return random.Random(seed).sample(rows, n)


def build_requests(rows: list[dict[str, Any]], n_demos: int) -> list[Any]:
    """One rationale request per CQA row, all with the same few-shot prefix."""
    from llm_distillation.generation import GenerationRequest

    prefix = prefix_messages(n_demos)
    return [
        GenerationRequest(
            key=row["id"],
            messages=(
                {
                    "role": "user",
                    "content": format_question(row["question"], row["choices"], row["answer"]),
                },
            ),
            prefix_messages=prefix,
        )
        for row in rows
    ]


def one_at_a_time(model_dir: Path, requests: list[Any], new_tokens: int) -> dict[str, Any]:
    """(a): plain ``model.generate`` per prompt. Returns texts, token counts and timing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def encode(request: Any) -> Any:
        chat = [*request.prefix_messages, *request.messages]
        return tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def run(inputs: Any, max_new: int) -> Any:
        return model.generate(
            **inputs,
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )

    with torch.inference_mode():
        run(encode(requests[0]), 2)  # warm-up
        texts, generated, prompt_tokens = [], 0, 0
        started, cpu_started = time.perf_counter(), time.process_time()
        for request in requests:
            inputs = encode(request)
            n_prompt = inputs["input_ids"].shape[1]
            out = run(inputs, new_tokens)[0, n_prompt:]
            generated += int(out.shape[0])
            prompt_tokens += n_prompt
            texts.append(tokenizer.decode(out, skip_special_tokens=True))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return _figures(texts, generated, prompt_tokens, elapsed, cpu)


def _figures(
    texts: list[str], generated: int, prompt_tokens: int, seconds: float, cpu_seconds: float
) -> dict[str, Any]:
    return {
        "texts": texts,
        "generated_tokens": generated,
        "prompt_tokens": prompt_tokens,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "tokens_per_s": generated / seconds,
        "tokens_per_cpu_s": generated / cpu_seconds,
    }


def batched(
    model_dir: Path, requests: list[Any], new_tokens: int, batch_size: int, prefix_cache: bool
) -> dict[str, Any]:
    """(b)/(c): the generation engine. Returns texts, token counts and timing."""
    from llm_distillation.generation import DecodingConfig, GenerationEngine

    with GenerationEngine.from_pretrained(
        model_dir, device="cpu", dtype="float32", batch_size=batch_size, prefix_cache=prefix_cache
    ) as engine:
        engine.generate(requests[:1], DecodingConfig(max_new_tokens=2))  # warm-up
        engine.clear_prefix_cache()  # the timed run pays for its own prefix prefill
        started, cpu_started = time.perf_counter(), time.process_time()
        results = engine.generate(requests, DecodingConfig(max_new_tokens=new_tokens))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return _figures(
        [r.text for r in results],
        sum(r.generated_tokens for r in results),
        sum(r.prompt_tokens for r in results),
        elapsed,
        cpu,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16, help="number of prompts (16)")
    parser.add_argument("--new-tokens", type=int, default=48, help="max new tokens (48)")
    parser.add_argument("--batch-size", type=int, default=16, help="backend batch size (16)")
    parser.add_argument(
        "--demos", type=int, default=3, choices=range(1, len(DEMOS) + 1),
        help="few-shot demos in the shared prefix (3: about 360 prompt tokens)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the CQA sample (0)")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(
            os.environ.get("LLM_DISTILLATION_SHARED_DATA", PROJECT_ROOT.parent / "shared/data")
        )
        / "cqa/cqa_train.json",
    )
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="run the variants this many times, alternating, and keep each one's fastest run (3)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=0,
        help="torch threads (0: torch's default); 1 is least disturbed by other jobs",
    )  # fmt: skip
    parser.add_argument("--also-uncached", action="store_true", help="add (c): no prefix cache")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    import transformers

    from llm_distillation.teacher.model_artifacts import ensure_default_teacher

    torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = ensure_default_teacher(args.model_dir)
    requests = build_requests(load_cqa(args.data, args.prompts, args.seed), args.demos)
    load_before = os.getloadavg()
    logger.info(
        "SmolLM2-135M-Instruct fp32 on CPU (%d torch threads), %d prompts, %d new tokens max, "
        "torch %s, transformers %s",
        torch.get_num_threads(),
        len(requests),
        args.new_tokens,
        torch.__version__,
        transformers.__version__,
    )
    variants: dict[str, Any] = {
        "one_at_a_time": lambda: one_at_a_time(model_dir, requests, args.new_tokens),
        "backend": lambda: batched(model_dir, requests, args.new_tokens, args.batch_size, True),
    }
    if args.also_uncached:
        variants["backend_no_prefix_cache"] = lambda: batched(
            model_dir, requests, args.new_tokens, args.batch_size, False
        )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, run in variants.items():
            runs[name].append(run())
            logger.info("run %d %s: %.2f tok/s", repeat + 1, name, runs[name][-1]["tokens_per_s"])
    figures = {name: max(r, key=lambda f: f["tokens_per_s"]) for name, r in runs.items()}
    single = figures["one_at_a_time"]
    logger.info("mean prompt length %.0f tokens", single["prompt_tokens"] / len(requests))
    load_after = os.getloadavg()

    base = single["tokens_per_s"]
    logger.info(
        "%-36s %7s %8s %8s %7s %10s",
        "variant",
        "tokens",
        "seconds",
        "tok/s",
        "ratio",
        "tok/cpu-s",
    )
    labels = {
        "one_at_a_time": "(a) model.generate, one at a time",
        "backend": f"(b) engine, batch {args.batch_size} + prefix",
        "backend_no_prefix_cache": f"(c) engine, batch {args.batch_size}, no prefix",
    }
    for name, fig in figures.items():
        fig["ratio"] = fig["tokens_per_s"] / base
        logger.info(
            "%-36s %7d %8.1f %8.2f %6.2fx %10.2f",
            labels[name],
            fig["generated_tokens"],
            fig["seconds"],
            fig["tokens_per_s"],
            fig["ratio"],
            fig["tokens_per_cpu_s"],
        )
    same = sum(a == b for a, b in zip(single["texts"], figures["backend"]["texts"], strict=True))
    logger.info("greedy outputs identical between (a) and (b): %d of %d", same, len(requests))
    logger.info("load average before %.2f, after %.2f", load_before[0], load_after[0])
    if args.json:
        summary = {
            name: {k: v for k, v in fig.items() if k != "texts"} for name, fig in figures.items()
        }
        summary["settings"] = vars(args) | {"identical_outputs": same}
        summary["all_runs_tokens_per_s"] = {
            name: [f["tokens_per_s"] for f in r] for name, r in runs.items()
        }
        args.json.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
