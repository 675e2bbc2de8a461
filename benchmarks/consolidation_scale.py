"""Consolidation at e-SNLI scale: our polars path against a straightforward pandas one.

Builds, in a temporary folder, 550,000 e-SNLI examples with five teacher outputs each (three
counterfactual rationales, the positive rationale and the revision) in the long teacher-output
format, spread over 100 shard files. The text is the study's real ``esnli-llama-train`` output
(10,983 examples), repeated with new example ids. Then it times, each in its own subprocess:

- ``polars``: :func:`llm_distillation.consolidation.merge.consolidate` (the pipeline's code:
  lazy scan of every shard, cleaning, every check, pivot, join) + writing table and rejects;
- ``pandas``: the same merge, cleaning rules and checks written plainly with pandas (+ writing).

It prints rows/s, wall time, peak resident memory (``ru_maxrss`` of each subprocess) and the
ratio, and checks that both found the same rows and failures. Usage::

    .venv/bin/python benchmarks/consolidation_scale.py [--examples 550000] [--shards 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("consolidation_scale")

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("positive_rationale", "counterfactual_rationale", "revision")


def shared_data_dir() -> Path:
    env = os.environ.get("LLM_DISTILLATION_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


# ---------------------------------------------------------------------------------- input


def build_input(workdir: Path, n_examples: int, n_shards: int) -> dict[str, int]:
    """Examples + long outputs at scale, from the study's real e-SNLI outputs."""
    import polars as pl

    from llm_distillation.consolidation.study_import import import_study
    from llm_distillation.sources.formats import RawBenchmark, read_split

    raw = RawBenchmark("esnli", "hf_disk", "hf")
    raw.splits["train"] = read_split(
        "esnli",
        "hf_disk",
        "esnli-llama-train",
        root=shared_data_dir() / "llm_outputs" / "consolidated",
    )
    examples, long, _ = import_study(raw, "llama")
    examples = examples.unique("example_id", keep="first", maintain_order=True)
    copies = math.ceil(n_examples / examples.height)
    rep = pl.DataFrame({"copy": list(range(copies))})
    new_id = pl.format("{}-r{}", pl.col("example_id"), pl.col("copy"))
    big_ex = (
        examples.join(rep, how="cross")
        .sort("copy", maintain_order=True)
        .head(n_examples)
        .with_columns(example_id=new_id)
        .drop("copy")
    )
    keep = big_ex.select("example_id")
    big_long = (
        long.join(rep, how="cross")
        .with_columns(example_id=new_id)
        .drop("copy")
        .join(keep, on="example_id", how="semi")
        .with_columns(finish_reason=pl.lit("stop"))
    )
    big_ex.write_parquet(workdir / "examples.parquet")
    shard_dir = workdir / "shards"
    shard_dir.mkdir()
    # shard = position of the example in id order // shard size (like teacher_generation)
    size = math.ceil(keep.height / n_shards)
    order = (
        keep.sort("example_id")
        .with_row_index("pos")
        .select("example_id", shard=(pl.col("pos") // size).cast(pl.Int64))
    )
    big_long = big_long.join(order, on="example_id")
    for (shard,), part in big_long.partition_by("shard", as_dict=True).items():
        part.drop("shard").sort("example_id", "task", "option_index").write_parquet(
            shard_dir / f"shard-{shard:05d}.parquet"
        )
    return {
        "examples": big_ex.height,
        "outputs": big_long.height,
        "shards": len(list(shard_dir.glob("*.parquet"))),
    }


# ------------------------------------------------------------------------ polars (ours)


def run_polars(workdir: Path, batch_rows: int = 1_000_000) -> dict[str, object]:
    import polars as pl

    from llm_distillation.consolidation.checks import ChecksConfig
    from llm_distillation.consolidation.merge import consolidate

    start = time.perf_counter()
    files = sorted((workdir / "shards").glob("*.parquet"))
    result = consolidate(
        pl.scan_parquet(files),
        pl.read_parquet(workdir / "examples.parquet"),
        benchmark="esnli",
        split="train",
        checks=ChecksConfig(),
        required_tasks=REQUIRED,
        batch_rows=batch_rows,
    )
    result.table.write_parquet(workdir / "polars_table.parquet")
    result.rejects.write_parquet(workdir / "polars_rejects.parquet")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "table_rows": result.table.height,
        "failures": dict(result.rejects.group_by("check").len().sort("check").iter_rows()),
    }


# ------------------------------------------------------------------------ pandas baseline


def run_pandas(workdir: Path) -> dict[str, object]:
    """The same cleaning rules, checks and pivot, written the plain pandas way."""
    import numpy as np
    import pandas as pd

    from llm_distillation.cleaning import (
        ANSWER_PREAMBLE,
        DEFAULT_PREFIX_HEADERS,
        DEFAULT_STOP_HEADERS,
    )
    from llm_distillation.consolidation.checks import STATEMENT
    from llm_distillation.consolidation.merge import TASK_COLUMNS

    start = time.perf_counter()
    files = sorted((workdir / "shards").glob("*.parquet"))
    long = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    ex = pd.read_parquet(workdir / "examples.parquet")

    # cleaning (python ``re`` per text, the rules of cleaning.py in the same order)
    think_closed = re.compile(r"(?s)<think>.*?</think>")
    think_open = re.compile(r"(?s)<think>.*\Z")
    trailing = re.compile(r"(?m)[ \t]+$")
    prefix = re.compile(
        r"(?i)^(?:" + "|".join(f"(?:{p})" for p in DEFAULT_PREFIX_HEADERS) + r")[ \t]*\n?"
    )
    preamble_re = re.compile(ANSWER_PREAMBLE)
    stop = re.compile(
        r"(?ms)^[ \t]*(?:" + "|".join(re.escape(h) for h in DEFAULT_STOP_HEADERS) + r").*\Z"
    )

    def base(text: str) -> str:
        text = think_open.sub("", think_closed.sub("", text))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = re.sub("[\u00a0\u2009\u202f]", " ", text)
        return trailing.sub("", text).strip()

    def clean(text: str | None, keep_preamble: bool = False) -> str | None:
        if text is None:
            return None
        text = prefix.sub("", base(text), count=1).lstrip()
        if not keep_preamble:
            text = preamble_re.sub("", text, count=1).lstrip()
        text = stop.sub("", text, count=1).strip()
        return text.split("\n", 1)[0].strip()

    src = long["raw_text"].where(long["raw_text"].notna(), long["text"])
    src_list = src.tolist()
    long["text"] = [clean(t) for t in src_list]
    preamble_grp = re.compile("(?i)(" + ANSWER_PREAMBLE.removeprefix("(?i)") + ")")
    preambles = []
    for t in src_list:
        m = preamble_grp.search(base(t)) if t is not None else None
        preambles.append(m.group(1).strip() if m else None)
    long["preamble"] = preambles
    long["column"] = np.where(
        long["task"] == "counterfactual_rationale",
        "counterfactual_prompt_answer_" + (long["option_index"] + 1).astype(str) + "_rationale",
        long["task"].map(TASK_COLUMNS),
    )
    long["is_duplicate"] = long.duplicated(["teacher", "example_id", "task", "option_index"])
    long["is_empty"] = [t is None or not re.search(r"\w", t) for t in long["text"]]
    sentence_end = re.compile(r"[.!?…][\"'”’)\]*]*\Z")
    truncated = []
    for raw, text, reason in zip(src_list, long["text"], long["finish_reason"], strict=True):
        reaches = raw is not None and raw.strip().endswith(text[-16:] if text else "")
        unknown = reason is None or reason == "replay"
        truncated.append(
            bool(text)
            and reaches
            and (reason == "length" or (unknown and not sentence_end.search(text)))
        )
    long["is_truncated"] = truncated

    failures = []

    def fail(frame: pd.DataFrame, check: str, reason) -> None:
        out = frame[["example_id", "teacher"]].copy()
        out["check"] = check
        out["column"] = frame.get("column")
        out["reason"] = reason if isinstance(reason, str) else list(reason)
        failures.append(out)

    known = long.merge(ex[["example_id", "choices", "answer_index"]], on="example_id")
    unknown_rows = long[~long["example_id"].isin(ex["example_id"])]
    first = known[~known["is_duplicate"]]
    fail(known[known["is_duplicate"]], "duplicate_example", "duplicate")
    fail(unknown_rows.drop_duplicates(["teacher", "example_id"]), "unknown_example", "unknown")
    fail(first[first["is_empty"]], "empty_text", "empty after cleaning")
    fail(first[first["is_truncated"] & ~first["is_empty"]], "truncated", "truncated")

    # answer mismatch: statements per row, matched against the row's options
    statement = re.compile(STATEMENT)
    letters = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}

    def norm(s: str) -> str:
        s = s.lower().strip(" \t'\"*“”‘’`")
        return re.sub(r"^(?:an?|the)\s+", "", s)

    subject = first[first["task"] != "critique"]
    subject = subject[~subject["is_empty"]]
    bad_idx, bad_reason = [], []
    for idx, pre, text, choices, opt, option, bench in zip(
        subject.index,
        subject["preamble"],
        subject["text"],
        subject["choices"],
        subject["option_index"],
        subject["option"],
        subject["benchmark"],
        strict=True,
    ):
        scope = f"{pre} {text}" if pre else text
        stated = []
        for m in statement.finditer(scope):
            letter = letters.get((m.group(1) or "").lower())
            stated.append((letter, norm(m.group(2) or "")))
        if bench in ("esnli", "strategyqa"):
            lead = re.match(r"^\W*(\w+)\b", scope)
            if lead:
                stated.append((None, lead.group(1).lower()))
        opts = [norm(c) for c in choices]
        for letter, s in stated:
            hits = {
                j
                for j, o in enumerate(opts)
                if letter == j or s == o or (o and s.startswith(o) and re.match(r"\W", s[len(o) :]))
            }
            if hits and opt not in hits:
                bad_idx.append(idx)
                bad_reason.append(
                    f"states '{s}' but was asked to explain option {opt + 1} '{option}'"
                )
                break
    mismatched = subject.loc[bad_idx]
    fail(mismatched, "answer_mismatch", bad_reason)

    # missing outputs: expected (example, task, option) rows against the present ones
    seen = first[["teacher", "example_id"]].drop_duplicates()
    base_ex = ex[["example_id", "choices", "answer_index"]].merge(seen, on="example_id")
    parts = []
    for task in REQUIRED:
        if task == "counterfactual_rationale":
            e = base_ex.assign(option_index=base_ex["choices"].map(lambda c: list(range(len(c)))))
            e = e.explode("option_index")
        else:
            e = base_ex.assign(option_index=base_ex["answer_index"])
        parts.append(e.assign(task=task)[["teacher", "example_id", "task", "option_index"]])
    expected = pd.concat(parts, ignore_index=True)
    expected["option_index"] = expected["option_index"].astype("int64")
    present = first[["teacher", "example_id", "task", "option_index"]]
    merged = expected.merge(present, how="left", indicator=True)
    missing = merged[merged["_merge"] == "left_only"].assign(column=None)
    fail(missing, "missing_output", "missing")

    rejects = pd.concat(failures, ignore_index=True)
    required = {
        "duplicate_example",
        "unknown_example",
        "empty_text",
        "answer_mismatch",
        "missing_output",
    }
    rejects["rejected"] = rejects["check"].isin(required)
    row_level = rejects[
        rejects["rejected"] & ~rejects["check"].isin(["duplicate_example", "unknown_example"])
    ][["teacher", "example_id"]].drop_duplicates()

    wide = first.pivot_table(
        index=["teacher", "example_id"], columns="column", values="text", aggfunc="first"
    ).reset_index()
    table = ex.drop(columns=["source_file", "source_row", "explanations", "metadata"]).merge(
        wide, on="example_id"
    )
    table = table.merge(row_level, on=["teacher", "example_id"], how="left", indicator=True)
    table = table[table["_merge"] == "left_only"].drop(columns="_merge")
    flags = (
        rejects[~rejects["rejected"]]
        .groupby(["teacher", "example_id"])["check"]
        .agg(lambda s: sorted(set(s)))
        .rename("quality_flags")
        .reset_index()
    )
    table = table.merge(flags, on=["teacher", "example_id"], how="left")
    table = table.sort_values(["teacher", "example_id"])
    table.to_parquet(workdir / "pandas_table.parquet")
    rejects.to_parquet(workdir / "pandas_rejects.parquet")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "table_rows": len(table),
        "failures": {k: int(v) for k, v in rejects.groupby("check").size().sort_index().items()},
    }


# --------------------------------------------------------------------------------- driver


def worker(kind: str, workdir: Path, batch_rows: int) -> None:
    result = run_polars(workdir, batch_rows) if kind == "polars" else run_pandas(workdir)
    # ru_maxrss is in KiB on Linux
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    # CPU time of the whole process (all threads): less sensitive than wall time to other
    # work on the machine
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))  # the parent reads this line


def spawn(kind: str, workdir: Path, batch_rows: int) -> dict[str, object]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            kind,
            "--workdir",
            str(workdir),
            "--batch-rows",
            str(batch_rows),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=550_000)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--worker", choices=["polars", "pandas"], default=None)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument(
        "--batch-rows", type=int, default=1_000_000, help="consolidation.batch_rows"
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.workdir, args.batch_rows)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="consolidation_scale_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if (workdir / "sizes.json").exists():  # reuse an input built before (--workdir)
            sizes = json.loads((workdir / "sizes.json").read_text())
        else:
            sizes = build_input(workdir, args.examples, args.shards)
            (workdir / "sizes.json").write_text(json.dumps(sizes))
        logger.info(
            "input: %d examples, %d long outputs in %d shard files (built in %.1f s)",
            sizes["examples"],
            sizes["outputs"],
            sizes["shards"],
            time.perf_counter() - t0,
        )
        results = {"polars": spawn("polars", workdir, args.batch_rows)}
        if not args.skip_pandas:
            results["pandas"] = spawn("pandas", workdir, args.batch_rows)
        for kind, r in results.items():
            logger.info(
                "%-6s %7.1f s wall  %7.1f s CPU  %9.0f output rows/s  peak RSS %6.0f MiB  "
                "table rows %d  failures %s",
                kind,
                r["seconds"],
                r["cpu_seconds"],
                sizes["outputs"] / r["seconds"],
                r["peak_rss_mib"],
                r["table_rows"],
                r["failures"],
            )
        if "pandas" in results:
            p, q = results["polars"], results["pandas"]
            logger.info(
                "speed-up polars vs pandas: %.1fx wall, %.1fx CPU; memory pandas/polars: %.1fx; "
                "same result: %s",
                q["seconds"] / p["seconds"],
                q["cpu_seconds"] / p["cpu_seconds"],
                q["peak_rss_mib"] / p["peak_rss_mib"],
                p["table_rows"] == q["table_rows"] and p["failures"] == q["failures"],
            )
        print(json.dumps({"input": sizes, **results}))


if __name__ == "__main__":
    main()
