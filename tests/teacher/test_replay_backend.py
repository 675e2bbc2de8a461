"""The replay backend on the real teacher outputs in the shared data folder."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.sources import hf, readers
from llm_distillation.sources.benchmarks import content_id, get_loader
from llm_distillation.teacher.backends import create_backend
from llm_distillation.teacher.backends.replay_backend import (
    PalmParseError,
    ReplayBackend,
    parse_key,
    parse_palm_cqa,
    parse_palm_esnli,
)
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA

DECODING = DecodingConfig()


def shard_row(root: Path, folder: str, row: int = 0) -> dict:
    """A row of a consolidated shard read straight with ``datasets`` (independent check)."""
    import datasets

    return datasets.load_from_disk(str(root / "llm_outputs/consolidated" / folder / "shard_0"))[row]


def ask(backend: ReplayBackend, *keys: str) -> list:
    requests = [
        GenerationRequest(key=k, messages=({"role": "user", "content": "-"},)) for k in keys
    ]
    return backend.generate(requests, DECODING)


def task_counts(backend: ReplayBackend) -> dict[tuple[str, str, str], int]:
    counts = backend.records().group_by("split", "task", "finish_reason").len()
    return {(r["split"], r["task"], r["finish_reason"]): r["len"] for r in counts.to_dicts()}


@pytest.fixture(scope="module")
def cqa_llama_test(shared_data: Path) -> ReplayBackend:
    backend = ReplayBackend("study_consolidated", benchmark="cqa", split="test", root=shared_data)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def palm_esnli(shared_data: Path) -> ReplayBackend:
    return ReplayBackend("palm_dsbs", benchmark="esnli", root=shared_data)


@pytest.fixture(scope="module")
def palm_cqa(shared_data: Path) -> ReplayBackend:
    return ReplayBackend("palm_dsbs", benchmark="cqa", root=shared_data)


# ---------------------------------------------------------------- study_consolidated
def test_cqa_counts_per_task(cqa_llama_test: ReplayBackend) -> None:
    assert task_counts(cqa_llama_test) == {
        ("test", "positive_rationale", "replay"): 1221,
        ("test", "negative_rationale", "replay"): 1221,
        ("test", "counterfactual_rationale", "replay"): 1221 * 5,
        ("test", "revision", "replay"): 1221,
    }
    records = cqa_llama_test.records()
    assert records.schema == TEACHER_OUTPUT_SCHEMA
    assert (records["prompt_tokens"] == -1).all() and (records["generated_tokens"] == -1).all()
    assert records["critique_request"].is_null().all()
    assert len(cqa_llama_test.available_keys()) == 1221 * 8


def test_cqa_ids_align_with_the_benchmark_file(
    cqa_llama_test: ReplayBackend, shared_data: Path
) -> None:
    replayed = set(cqa_llama_test.records()["example_id"])
    benchmark = {r["id"] for _, r in readers.read_jsonl(shared_data / "cqa/cqa_test.json")}
    assert replayed == benchmark


def test_generate_replays_the_stored_columns(
    cqa_llama_test: ReplayBackend, shared_data: Path
) -> None:
    row = shard_row(shared_data, "cqa-llama-test")
    gold = row["choices"].index(row["answer"])
    wrong = (gold + 1) % 5
    keys = [
        f"{row['id']}/revision/{gold}",
        f"{row['id']}/positive_rationale/{gold}",
        f"{row['id']}/counterfactual_rationale/4",
        f"{row['id']}/negative_rationale/{gold}",
        f"{row['id']}/counterfactual_rationale/0",
    ]
    results = ask(cqa_llama_test, *keys)
    assert [r.key for r in results] == keys
    assert [r.text for r in results] == [
        row["few_shot_revision"],
        row["few_shot_positive_rationale"],
        row["counterfactual_prompt_answer_5_rationale"],
        row["few_shot_negative_rationale"],
        row["counterfactual_prompt_answer_1_rationale"],
    ]
    for result in results:
        assert result.finish_reason == "replay" and result.error is None
        assert (result.prompt_tokens, result.generated_tokens) == (-1, -1)
    critique, off_gold = ask(
        cqa_llama_test, f"{row['id']}/critique/{gold}", f"{row['id']}/positive_rationale/{wrong}"
    )
    assert critique.finish_reason == "error" and critique.text == ""
    assert critique.error is not None and critique.error.startswith("not in source")
    assert "no critique outputs" in critique.error
    assert off_gold.finish_reason == "error"
    assert off_gold.error == (
        f"not in source: positive_rationale of {row['id']} is stored for option(s) [{gold}], "
        f"not {wrong}"
    )


def test_missing_and_malformed_keys_are_error_rows(cqa_llama_test: ReplayBackend) -> None:
    missing, bad_task, bad_shape = ask(
        cqa_llama_test, "no-such-id/positive_rationale/0", "x/summary/0", "just-an-id"
    )
    assert missing.finish_reason == "error"
    assert missing.error is not None and missing.error.startswith("not in source: example")
    assert bad_task.finish_reason == "error" and "unknown task" in (bad_task.error or "")
    assert bad_shape.finish_reason == "error" and "is not" in (bad_shape.error or "")


def test_esnli_ids_are_content_ids_and_there_is_no_negative_rationale(
    shared_data: Path,
) -> None:
    backend = create_backend(
        "replay", source="study_consolidated", benchmark="esnli", root=str(shared_data)
    )
    assert task_counts(backend) == {
        ("train", "positive_rationale", "replay"): 10983,
        ("train", "counterfactual_rationale", "replay"): 10983 * 3,
        ("train", "revision", "replay"): 10983,
    }
    row = shard_row(shared_data, "esnli-llama-train", 3)
    example_id = content_id("esnli", row["premise"], row["hypothesis"])
    label = row["label"]
    positive, contradiction, negative = ask(
        backend,
        f"{example_id}/positive_rationale/{label}",
        f"{example_id}/counterfactual_rationale/2",
        f"{example_id}/negative_rationale/{label}",
    )
    assert positive.text == row["few_shot_positive_rationale"]
    assert contradiction.text == row["counterfactual_prompt_answer_3_rationale"]
    assert negative.finish_reason == "error" and "no negative_rationale" in (negative.error or "")


@pytest.mark.parametrize("teacher", ["llama", "qwen"])
def test_strategyqa_ids_cover_the_benchmark_sample(shared_data: Path, teacher: str) -> None:
    backend = ReplayBackend(
        "study_consolidated", benchmark="strategyqa", teacher=teacher, root=shared_data
    )
    assert backend.splits == ("test", "train")
    assert task_counts(backend) == {
        ("train", "positive_rationale", "replay"): 1603,
        ("train", "counterfactual_rationale", "replay"): 1603 * 2,
        ("train", "revision", "replay"): 1603,
        ("test", "positive_rationale", "replay"): 687,
        ("test", "counterfactual_rationale", "replay"): 687 * 2,
        ("test", "revision", "replay"): 687,
    }
    sample = [
        get_loader("strategyqa").to_example(r, "hf")
        for name in ("train.json", "dev.json")
        for _, r in readers.read_json_array(shared_data / "strategyqa" / name)
    ]
    sample_ids = {e["example_id"] for e in sample}
    # The study's shards carry the Hub export's qids, not those of the authors' files ...
    assert not sample_ids & set(backend.records()["example_id"])
    # ... so they are aligned to our examples by question text and gold answer.
    examples = pl.DataFrame(
        [
            {
                "example_id": e["example_id"],
                "question": e["question"],
                "answer_index": e["answer_index"],
            }
            for e in sample
        ]
    )
    aligned = ReplayBackend(
        "study_consolidated",
        benchmark="strategyqa",
        teacher=teacher,
        root=shared_data,
        align_to=examples,
    )
    positives = aligned.records().filter(pl.col("task") == "positive_rationale")
    assert len(sample_ids) == 1229 and sample_ids <= set(positives["example_id"])
    # 2290 shard rows; two of them (two qids) ask the same question, so they share one id.
    assert len(positives) == 2289
    first = sample[0]
    shard = {
        r["question"]: r
        for split in ("train", "test")
        for _, r in hf.read_disk(
            shared_data / "llm_outputs/consolidated" / f"strategyqa-{teacher}-{split}"
        )
    }
    [replayed] = ask(aligned, f"{first['example_id']}/revision/{first['answer_index']}")
    assert replayed.text == shard[first["question"]]["few_shot_revision"]
    row = shard_row(shared_data, f"strategyqa-{teacher}-test")
    yes, no = ask(
        backend,
        f"{row['qid']}/counterfactual_rationale/0",
        f"{row['qid']}/counterfactual_rationale/1",
    )
    assert yes.text == row["counterfactual_prompt_answer_1_rationale"]  # option 0 is "yes"
    assert no.text == row["counterfactual_prompt_answer_2_rationale"]


def test_unknown_source_split_or_teacher_fail_early(shared_data: Path) -> None:
    with pytest.raises(ValueError, match="unknown replay source"):
        ReplayBackend("cache", benchmark="cqa", root=shared_data)
    with pytest.raises(ValueError, match=r"available: \['test', 'train'\]"):
        ReplayBackend("study_consolidated", benchmark="cqa", split="dev", root=shared_data)
    with pytest.raises(ValueError, match="no strategyqa outputs"):
        ReplayBackend("palm_dsbs", benchmark="strategyqa", root=shared_data)
    with pytest.raises(ValueError, match="PaLM outputs only"):
        ReplayBackend("palm_dsbs", benchmark="cqa", teacher="llama", root=shared_data)
    with pytest.raises(ValueError, match="no study_consolidated outputs for cqa"):
        ReplayBackend("study_consolidated", benchmark="cqa", teacher="qwen", root=shared_data)


# ---------------------------------------------------------------- palm_dsbs
def test_palm_cqa_counts_alignment_and_predictions(
    palm_cqa: ReplayBackend, shared_data: Path
) -> None:
    assert task_counts(palm_cqa) == {
        ("train", "positive_rationale", "replay"): 1000,
        ("test", "positive_rationale", "replay"): 1221,
    }
    predictions = palm_cqa.predictions()
    agreement = (
        predictions.group_by("split")
        .agg(rate=(pl.col("predicted_index") == pl.col("answer_index")).sum() / pl.len())
        .sort("split")
    )
    # distilling-step-by-step's PaLM answers equal the gold answer on 77.2% of the test rows
    # and 73.5% of the sampled train rows (shared/data/cqa/SOURCE.md): the alignment holds.
    assert agreement.to_dicts() == [
        {"split": "test", "rate": pytest.approx(943 / 1221)},
        {"split": "train", "rate": pytest.approx(0.735)},
    ]
    assert predictions["parse_error"].is_null().all()
    test_rows = readers.read_jsonl(shared_data / "cqa/cqa_test.json")
    palm_1 = json.loads((shared_data / "cqa/teacher/palm/test_CoT_1.json").read_text())
    row_1000 = test_rows[1000][1]
    gold = row_1000["choices"].index(row_1000["answer"])
    [result] = ask(palm_cqa, f"{row_1000['id']}/positive_rationale/{gold}")
    assert result.finish_reason == "replay"
    assert result.text == parse_palm_cqa(palm_1[0])[0]


def test_palm_esnli_unparseable_output_is_an_error_row(
    palm_esnli: ReplayBackend, shared_data: Path
) -> None:
    assert task_counts(palm_esnli) == {
        ("valid", "positive_rationale", "replay"): 999,
        ("valid", "positive_rationale", "error"): 1,
        ("test", "positive_rationale", "replay"): 500,
    }
    rows = readers.read_jsonl(shared_data / "esnli/esnli_valid.json")
    outputs = json.loads((shared_data / "esnli/teacher/palm/valid_CoT_0.json").read_text())
    bad = rows[133][1]
    bad_id = content_id("esnli", bad["premise"], bad["hypothesis"])
    first = rows[0][1]
    first_id = content_id("esnli", first["premise"], first["hypothesis"])
    ok, broken = ask(
        palm_esnli,
        f"{first_id}/positive_rationale/{first['label']}",
        f"{bad_id}/positive_rationale/{bad['label']}",
    )
    assert ok.text == "The to go packages are not necessarily from lunch."
    assert broken.finish_reason == "error" and broken.text == ""
    assert "unparseable PaLM output (valid_CoT_0.json element 133)" in (broken.error or "")
    error_row = palm_esnli.records().filter(pl.col("finish_reason") == "error").row(0, named=True)
    assert error_row["example_id"] == bad_id and error_row["raw_text"] == outputs[133]
    predictions = palm_esnli.predictions()
    agreement = {
        r["split"]: r["rate"]
        for r in predictions.group_by("split")
        .agg((pl.col("predicted_index") == pl.col("answer_index")).sum() / pl.len())
        .rename({"predicted_index": "rate"})
        .to_dicts()
    }
    assert agreement == {"valid": pytest.approx(0.731), "test": pytest.approx(0.746)}


def test_parse_palm_outputs() -> None:
    text = "Only math problems count. So the answer is (d) math problem.\n\nQ: next (a) x"
    assert parse_palm_cqa(text) == ("Only math problems count.", "math problem")
    assert parse_palm_cqa("Because. So the answer is unclear") == ("Because.", None)
    with pytest.raises(PalmParseError, match="found 2"):
        parse_palm_cqa("So the answer is (a) x. So the answer is (b) y.")
    with pytest.raises(PalmParseError, match="found 0"):
        parse_palm_cqa("No conclusion here.")
    esnli = "Sisters are not implied.\nAnswer: neutral\n\nPremise: A man. Answer: entailment"
    assert parse_palm_esnli(esnli) == ("Sisters are not implied.", "neutral")
    with pytest.raises(PalmParseError, match="no 'Answer:'"):
        parse_palm_esnli("The boat is docked.\n")


def test_parse_key() -> None:
    assert parse_key("abc/counterfactual_rationale/3") == ("abc", "counterfactual_rationale", 3)
    assert parse_key("a/b/positive_rationale/0") == ("a/b", "positive_rationale", 0)
    with pytest.raises(ValueError, match="not an integer"):
        parse_key("abc/revision/x")


def test_consolidated_has_no_predictions(cqa_llama_test: ReplayBackend) -> None:
    assert cqa_llama_test.predictions().is_empty()
    assert cqa_llama_test.describe()["splits"] == ["test"]
