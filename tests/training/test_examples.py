"""Views -> tokenised examples: labels, EOS, answer-only loss, truncation, counterfactual cap."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.views import build_views
from llm_distillation.generation.tokenize import encode_prompt, encode_target, student_prompt
from llm_distillation.training.conditions import condition_spec
from llm_distillation.training.examples import (
    build_examples,
    cap_counterfactuals,
    condition_view_table,
    tokenize_views,
)
from llm_distillation.training.losses import IGNORE_INDEX
from llm_distillation.training.students import load_tokenizer
from tests.training.helpers import consolidated_table


@pytest.fixture(scope="module")
def tok(teacher_folder):
    return load_tokenizer(teacher_folder)


@pytest.fixture(scope="module")
def views():
    return build_views(consolidated_table(12))


def _row(views, view):
    return views.filter(pl.col("view") == view).row(0, named=True)


def test_decoder_only_labels_mask_the_prompt_and_end_with_eos(tok, views):
    for view in ("predict", "explain", "factual"):
        row = _row(views, view)
        ex = tokenize_views(views.filter(pl.col("view") == view).head(1), tok, decoder_only=True)
        (e,) = ex.examples
        chat = student_prompt(tok, row["input"], decoder_only=True)
        prompt, target = encode_prompt(tok, chat), encode_target(tok, row["target"])
        assert list(e.input_ids) == prompt + target
        assert list(e.labels) == [IGNORE_INDEX] * len(prompt) + target
        assert e.labels[-1] == tok.eos_token_id
        assert e.decoder_input_ids is None


def test_a_decoder_only_student_reads_its_input_as_a_user_turn_of_its_chat_format(tok, views):
    """With a chat template (SmolLM2-Instruct's is ChatML), the view input is the user's
    message and the prompt ends with the assistant turn's start; the target follows, EOS last.
    Without one (this tiny tokenizer as built, or an encoder-decoder), the plain text."""
    import copy

    from tests.generation.tiny_models import CHATML

    chat_tok = copy.deepcopy(tok)
    chat_tok.chat_template = CHATML
    one = views.filter(pl.col("view") == "predict").head(1)
    row = one.row(0, named=True)
    (e,) = tokenize_views(one, chat_tok, decoder_only=True).examples
    rendered = f"<|im_start|>user\n{row['input']}<|im_end|>\n<|im_start|>assistant\n"
    prompt = chat_tok(rendered, add_special_tokens=False)["input_ids"]
    target = encode_target(chat_tok, row["target"])
    assert list(e.input_ids) == prompt + target
    assert list(e.labels) == [IGNORE_INDEX] * len(prompt) + target
    (plain,) = tokenize_views(one, tok, decoder_only=True).examples
    assert list(plain.input_ids) == encode_prompt(tok, row["input"]) + target
    assert student_prompt(chat_tok, row["input"], decoder_only=False) == row["input"]


def test_encoder_decoder_labels_are_the_target(tok, views):
    row = _row(views, "predict")
    (e,) = tokenize_views(
        views.filter(pl.col("view") == "predict").head(1), tok, decoder_only=False
    ).examples
    target = encode_target(tok, row["target"])
    assert list(e.input_ids) == encode_prompt(tok, row["input"])
    assert list(e.labels) == target
    assert list(e.decoder_input_ids) == [tok.eos_token_id, *target[:-1]]  # no pad: EOS starts


def test_answer_start_points_at_the_answer(tok, views):
    for view in ("predict", "factual", "counterfactual"):
        row = _row(views, view)
        (e,) = tokenize_views(
            views.filter(pl.col("view") == view).head(1), tok, decoder_only=True
        ).examples
        answer = tok.decode(e.input_ids[e.answer_start :], skip_special_tokens=True)
        option = row["target"].rsplit("answer is ", 1)[1]
        assert answer.strip() == option, view


def test_counterfactual_loss_covers_only_the_answer(tok, views):
    row = _row(views, "counterfactual")
    one = views.filter(pl.col("view") == "counterfactual").head(1)
    option = row["target"].removeprefix("So the answer is ")
    for decoder_only in (True, False):
        (e,) = tokenize_views(one, tok, decoder_only=decoder_only).examples
        kept = [x for x in e.labels if x != IGNORE_INDEX]
        assert tok.decode(kept, skip_special_tokens=True).strip() == option
        assert kept[-1] == tok.eos_token_id
        target = encode_target(tok, row["target"])
        assert len(kept) < len(target)  # "So the answer is" is masked
        if not decoder_only:  # the decoder still reads the whole target
            assert list(e.decoder_input_ids[1:]) == target[:-1]


def test_truncation_keeps_tag_choices_and_answer(tok):
    table = consolidated_table(14, long_every=3)
    cond = condition_spec("mt_cf_unrevised")
    for decoder_only in (True, False):
        ex = build_examples(table, cond, tok, decoder_only=decoder_only, max_length=96)
        t = ex.truncation
        assert t.prompts_cut > 0 and t.prompt_tokens_cut > 0
        assert t.targets_cut > 0 and t.target_tokens_cut > 0  # long explain/factual targets
        assert t.examples == len(ex) + t.dropped
        for e in ex.examples:
            if decoder_only:
                assert len(e.input_ids) <= 96
            else:
                assert len(e.input_ids) <= 96 and len(e.labels) <= 96
            assert e.labels[-1] == tok.eos_token_id
            text = tok.decode(e.input_ids, skip_special_tokens=True)
            assert text.startswith(f"[{e.view}] ")
            assert "Choices: (a)" in text
            if e.view in ("predict", "factual", "counterfactual"):
                start = e.answer_start
                seq = e.input_ids if decoder_only else e.labels
                tail = tok.decode(seq[start:], skip_special_tokens=True)
                assert tail.strip(" .") in table["choices"].explode().to_list()


def test_an_example_whose_answer_cannot_fit_is_dropped_and_counted(tok, views):
    ex = tokenize_views(
        views.filter(pl.col("view") == "predict"), tok, decoder_only=True, max_length=8
    )
    assert len(ex) == 0 and ex.truncation.dropped == ex.truncation.examples == 12


def test_condition_picks_views_and_rationale(views):
    table = consolidated_table(6)
    std = condition_view_table(table, condition_spec("standard"))
    assert set(std["view"]) == {"predict"}
    rev = condition_view_table(table, condition_spec("mt_cf_revised"))
    assert set(rev["view"]) == {"predict", "explain", "factual", "counterfactual"}
    explain = rev.filter(pl.col("view") == "explain")["target"].to_list()
    assert explain == table["few_shot_revision"].to_list()
    factual = rev.filter(pl.col("view") == "factual")["target"].to_list()
    assert all(f.startswith(r) for f, r in zip(factual, table["few_shot_revision"], strict=True))
    cf = condition_view_table(table, condition_spec("cf_unrevised"))
    assert set(cf["view"]) == {"factual", "counterfactual"}
    assert cf.filter(pl.col("view") == "counterfactual").height == 6 * 4  # all wrong options


def test_counterfactual_cap_is_seeded(views):
    a = cap_counterfactuals(views, 2, seed=0)
    cf = a.filter(pl.col("view") == "counterfactual")
    assert set(cf.group_by("example_id").len()["len"]) == {2}  # 4 wrong options each
    assert a.filter(pl.col("view") != "counterfactual").equals(
        views.filter(pl.col("view") != "counterfactual")
    )
    assert a.equals(cap_counterfactuals(views, 2, seed=0))
    b = cap_counterfactuals(views, 2, seed=1).filter(pl.col("view") == "counterfactual")
    assert cf["option_index"].to_list() != b["option_index"].to_list()
    assert cap_counterfactuals(views, None).equals(views)


def test_unknown_view_names_the_row(tok, views):
    bad = views.head(2).with_columns(view=pl.lit("summary"))
    with pytest.raises(ValueError, match=r"row 0.*'view'.*summary"):
        tokenize_views(bad, tok, decoder_only=True)
