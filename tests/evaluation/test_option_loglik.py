"""Option log-likelihood accuracy: batched label-only scores equal an independent full-logits
computation, the length-normalised choice, and a cell's rows on real CQA test items."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.evaluation.option_loglik import (
    VIEW,
    continuation_logprobs,
    option_predictions,
    option_rows,
    score_options_cell,
)
from llm_distillation.evaluation.predictions import CellInfo, accuracy_table

torch = pytest.importorskip("torch")


def _load(student):
    return student.open(device="cpu", dtype="float32", max_context=512)


def _reference(model, tokenizer, prompt, continuation, *, decoder_only):
    """Σ log p(continuation) from one unpadded forward with full logits."""
    from llm_distillation.generation.tokenize import encode_prompt, encode_target, student_prompt

    p = encode_prompt(tokenizer, student_prompt(tokenizer, prompt, decoder_only=decoder_only))
    c = encode_target(tokenizer, continuation)
    with torch.no_grad():
        if decoder_only:
            logits = model(input_ids=torch.tensor([p + c])).logits[0]
            logp = logits[len(p) - 1 : -1].log_softmax(-1)
        else:
            start = model.config.decoder_start_token_id
            logits = model(
                input_ids=torch.tensor([p]), decoder_input_ids=torch.tensor([[start, *c[:-1]]])
            ).logits[0]
            logp = logits.log_softmax(-1)
    return float(logp[torch.arange(len(c)), torch.tensor(c)].sum())


@pytest.mark.parametrize("kind", ["llama", "t5"])
def test_batched_scores_equal_full_logits(kind, tiny_students, cqa_test_table):
    rows = option_rows(cqa_test_table.head(3))
    assert rows.height == 15 and rows["continuation"][0].startswith("The answer is ")
    with _load(tiny_students[kind][0]) as engine:
        decoder_only = not engine.is_encoder_decoder
        got = continuation_logprobs(
            engine.model, engine.tokenizer, rows, decoder_only=decoder_only, batch_size=4
        )
        want = [
            _reference(engine.model, engine.tokenizer, p, c, decoder_only=decoder_only)
            for p, c in rows.select("prompt", "continuation").iter_rows()
        ]
    assert got == pytest.approx(want, rel=1e-4, abs=1e-4)
    assert all(x < 0 for x in got)


@pytest.mark.parametrize("kind", ["llama", "t5"])
def test_shared_prompts_equal_row_by_row_scores(kind, tiny_students, cqa_test_table):
    # 6 examples, one of them with 3 options: groups of 5×5 and 1×3 rows; batch sizes that
    # give one example a batch, ragged last batches (2+2+1 and 3+2 examples) and one batch
    table = cqa_test_table.head(6).with_columns(
        choices=pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.col("choices").list.head(3))
        .otherwise(pl.col("choices"))
    )
    rows = option_rows(table)
    assert rows.height == 28
    with _load(tiny_students[kind][0]) as engine:
        kwargs = {"decoder_only": not engine.is_encoder_decoder}
        want = continuation_logprobs(
            engine.model, engine.tokenizer, rows, batch_size=8, shared_prompts=False, **kwargs
        )
        for batch_size in (1, 10, 16, 64):
            got = continuation_logprobs(
                engine.model, engine.tokenizer, rows, batch_size=batch_size, **kwargs
            )
            assert got == pytest.approx(want, rel=1e-4, abs=1e-4), batch_size


def test_the_best_length_normalised_option_wins():
    table = pl.DataFrame(
        {"example_id": ["q1"], "choices": [["cat", "elephant"]], "answer_index": [1]}
    )
    task = {"benchmark": "cqa", "question": "Which?", "premise": None, "hypothesis": None}
    rows = option_rows(table.with_columns(pl.lit(v, pl.String).alias(k) for k, v in task.items()))
    # raw: cat is likelier (-17 > -20); per character: elephant (-20/22 > -17/17)
    out = option_predictions(table, rows, [-17.0, -20.0])
    row = out.row(0, named=True)
    assert row["predicted_index"] == 1 and row["prediction"] == "elephant" and row["correct"]
    assert row["margin"] == pytest.approx(-20 / 22 + 1.0)


def test_a_cell_gets_one_option_answer_per_example_and_seed(tiny_students, cqa_test_table):
    table = cqa_test_table.head(6)
    info = CellInfo(cell="cqa_tiny_standard", benchmark="cqa", student="tiny", condition="x")
    rows = score_options_cell(tiny_students["llama"], table, info)
    assert rows.height == 6 and set(rows["view"]) == {VIEW}
    assert rows["predicted_index"].null_count() == 0  # always an answer: no format to miss
    gold = dict(zip(table["example_id"], table["answer_index"], strict=True))
    assert all(
        (gold[e] == p) == c
        for e, p, c in rows.select("example_id", "predicted_index", "correct").iter_rows()
    )
    acc = accuracy_table(rows, "predict", resamples=50)
    assert acc["view"].to_list() == [VIEW] and acc["n"].to_list() == [6]
    assert acc["unparseable"].to_list() == [0.0]
