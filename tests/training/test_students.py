"""Students: shrunk from the teacher's weights, T5 from a config, pretrained folders."""

from __future__ import annotations

import shutil

import pytest

from llm_distillation.training.config import ShrunkCausalSpec
from llm_distillation.training.students import (
    build_student,
    kept_layers,
    load_tokenizer,
    save_student,
)
from tests.training.helpers import TINY_T5

torch = pytest.importorskip("torch")


def _teacher_state(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_shrunk_student_copies_the_kept_teacher_layers(teacher_folder):
    st = build_student({"kind": "shrunk_causal", "layers": [0, 2]}, source=teacher_folder)
    assert st.decoder_only and st.model.config.num_hidden_layers == 2
    teacher = _teacher_state(teacher_folder)
    state = st.model.state_dict()
    for name, value in teacher.items():
        if ".layers.1." in name:
            continue
        mapped = name.replace(".layers.2.", ".layers.1.")
        assert torch.equal(state[mapped], value), name
    head, emb = st.model.get_output_embeddings().weight, st.model.get_input_embeddings().weight
    assert head.data_ptr() == emb.data_ptr()  # tied as in the teacher
    assert len(st.tokenizer) == len(load_tokenizer(teacher_folder))


def test_num_layers_spreads_over_the_teacher():
    spec = ShrunkCausalSpec(num_layers=3)
    assert kept_layers(spec, 30) == [0, 14, 29]
    assert kept_layers(ShrunkCausalSpec(num_layers=2), 30) == [0, 29]
    assert kept_layers(ShrunkCausalSpec(layers=(0, 29)), 30) == [0, 29]
    with pytest.raises(ValueError, match=r"student.layers.*out of range"):
        kept_layers(ShrunkCausalSpec(layers=(0, 30)), 30)
    with pytest.raises(ValueError, match=r"exactly one of layers"):
        ShrunkCausalSpec(layers=(0,), num_layers=1)


def test_t5_from_config_uses_the_local_tokenizer(teacher_folder):
    a = build_student(TINY_T5, source=teacher_folder / "tokenizer.json", seed=0)
    b = build_student(TINY_T5, source=teacher_folder, seed=0)
    c = build_student(TINY_T5, source=teacher_folder, seed=1)
    tok = a.tokenizer
    cfg = a.model.config
    assert not a.decoder_only
    assert cfg.vocab_size == len(tok) == a.model.get_output_embeddings().weight.shape[0]
    assert cfg.pad_token_id == cfg.decoder_start_token_id == tok.pad_token_id == tok.eos_token_id
    assert cfg.eos_token_id == tok.eos_token_id
    sa, sb, sc = (s.model.state_dict() for s in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # same seed, same initialisation
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_t5_from_config_has_an_untied_head(teacher_folder, tmp_path):
    """T5 v1.1: the LM head is its own matrix (transformers 5's T5Config would tie it), the
    encoder and decoder share the input embedding, and a saved student loads back untied."""
    st = build_student(TINY_T5, source=teacher_folder, seed=0)
    model = st.model
    head, shared = model.get_output_embeddings().weight, model.shared.weight
    assert head is not shared and head.data_ptr() != shared.data_ptr()
    assert not torch.equal(head, shared)
    assert model.encoder.embed_tokens.weight is shared
    assert model.decoder.embed_tokens.weight is shared
    assert model.config.tie_word_embeddings is False
    assert not model.config.scale_decoder_outputs  # v1.1 does not rescale the decoder output
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params - sum(p.numel() for p in model.shared.parameters()) > head.numel()
    # a training step changes the head and the embedding differently
    ids = torch.tensor([[5, 6, 7, st.tokenizer.eos_token_id]])
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert not torch.equal(head.grad, shared.grad)
    back = build_student(
        {
            "kind": "hub",
            "model_id": str(save_student(st, tmp_path / "t5")),
            "architecture": "seq2seq",
        }
    ).model
    assert back.get_output_embeddings().weight.data_ptr() != back.shared.weight.data_ptr()
    assert torch.equal(back.get_output_embeddings().weight, head.detach())


def test_pretrained_folder_loads_safetensors_only(teacher_folder, tmp_path):
    st = build_student({"kind": "hub", "model_id": str(teacher_folder), "architecture": "causal"})
    assert st.decoder_only and st.model.config.num_hidden_layers == 3
    t5 = build_student(TINY_T5, source=teacher_folder)
    saved = save_student(t5, tmp_path / "t5")
    assert (saved / "model.safetensors").is_file()
    back = build_student({"kind": "hub", "model_id": str(saved), "architecture": "seq2seq"})
    assert not back.decoder_only
    ref = t5.model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in back.model.state_dict().items())
    pickled = tmp_path / "pickled"
    shutil.copytree(teacher_folder, pickled)
    state = _teacher_state(teacher_folder)
    (pickled / "model.safetensors").unlink()
    torch.save(state, pickled / "pytorch_model.bin")
    with pytest.raises((OSError, ValueError)):
        build_student({"kind": "hub", "model_id": str(pickled), "architecture": "causal"})
    with pytest.raises(FileNotFoundError, match=r"student.folder.*no \*.safetensors"):
        build_student({"kind": "shrunk_causal", "num_layers": 1}, source=pickled)


def test_chat_format_false_builds_and_saves_the_student_without_its_chat_template(tmp_path):
    """``chat_format: false`` (the study's plain decoder-only format) drops the template from
    the tokenizer the student trains and is saved with; the default keeps it, so the view input
    is a user turn (``student_prompt``) in training and, after a reload, in evaluation."""
    from llm_distillation.generation.tokenize import student_prompt
    from tests.generation.tiny_models import CHATML, build_tiny_llama

    teacher = build_tiny_llama(tmp_path / "chat_teacher", chat_template=CHATML)
    chat = build_student({"kind": "shrunk_causal", "num_layers": 1}, source=teacher)
    plain = build_student(
        {"kind": "shrunk_causal", "num_layers": 1, "chat_format": False}, source=teacher
    )
    hub = build_student(
        {"kind": "hub", "model_id": str(teacher), "architecture": "causal", "chat_format": False}
    )
    text = "[predict] Question: q?\nChoices: (a) x (b) y"
    assert student_prompt(chat.tokenizer, text, decoder_only=True) == [
        {"role": "user", "content": text}
    ]
    for student in (plain, hub):
        assert student_prompt(student.tokenizer, text, decoder_only=True) == text
    for name, student in (("chat", chat), ("plain", plain)):
        save_student(student, tmp_path / name)
    assert load_tokenizer(tmp_path / "chat").chat_template == CHATML
    assert not load_tokenizer(tmp_path / "plain").chat_template
