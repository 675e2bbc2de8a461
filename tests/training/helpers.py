"""Tiny students and a small consolidated CQA-like table for the training tests (offline).

The tokenizer is a byte-level BPE trained here on texts like the table's; the decoder-only
student is a 2-layer random Llama saved as an HF folder (the "teacher" a shrunk student is cut
from); the encoder-decoder student is a tiny T5 built from a config with that tokenizer.json.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from llm_distillation.consolidation.merge import consolidated_schema

OBJECTS = ["plate", "cup", "book", "pen", "apple", "shoe", "lamp", "key", "coin", "ball"]
PLACES = ["cupboard", "desk", "kitchen", "garden", "office", "river", "shelf", "drawer", "bag"]


def consolidated_table(n: int = 24, *, seed: int = 0, long_every: int = 0) -> pl.DataFrame:
    """``n`` CQA-like consolidated rows (``consolidated_schema("cqa")``); every
    ``long_every``-th row (0 = none) has a very long question and rationales."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        obj = rng.choice(OBJECTS)
        choices = rng.sample(PLACES, 5)
        gold = rng.randrange(5)
        long = long_every and i % long_every == 0
        question = f"Where would you put a {obj} after using it?"
        if long:
            question = "Where, after a long day, " + " ".join([f"the {obj} stays"] * 60) + "?"
        pos = f"A {obj} is usually kept in the {choices[gold]} when it is not used."
        if long:
            pos = " ".join([f"The {obj} belongs in the {choices[gold]}."] * 50)
        row = {
            "example_id": f"cqa-{i:04d}",
            "benchmark": "cqa",
            "split": "train",
            "teacher": "llama",
            "question": question,
            "premise": None,
            "hypothesis": None,
            "choices": choices,
            "answer": choices[gold],
            "answer_index": gold,
            "few_shot_positive_rationale": pos,
            "few_shot_negative_rationale": None,
            "critique": None,
            "few_shot_revision": f"The {choices[gold]} is right because a {obj} is stored there; "
            f"a {choices[(gold + 1) % 5]} is not a place for it.",
            "quality_flags": [],
        }
        for k in range(5):
            row[f"counterfactual_prompt_answer_{k + 1}_rationale"] = (
                f"A {obj} can be found in the {choices[k]}."
            )
        rows.append(row)
    schema = consolidated_schema("cqa")
    return pl.DataFrame(rows, schema=schema)


def corpus() -> list[str]:
    from llm_distillation.consolidation.views import build_views

    views = build_views(consolidated_table(60, seed=1))
    return [*views["input"].to_list(), *views["target"].to_list()]


def build_tokenizer(folder: Path):
    """A 700-token byte-level BPE trained on view texts; EOS ``<|im_end|>``, no pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus(), trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", unk_token="<|endoftext|>"
    )
    tok.save_pretrained(folder)
    return tok


def build_tiny_llama(folder: Path, *, layers: int = 3) -> Path:
    """A random Llama (``layers`` layers, GQA, tied embeddings) + tokenizer, as an HF folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.1,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        pad_token_id=None,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


TINY_T5 = {
    "kind": "t5_config",
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 1,
    "num_heads": 4,
    "dropout_rate": 0.1,
}
