"""Build a student model and its tokenizer from a ``StudentSpec`` (``config.py``).

- ``shrunk_causal``: the teacher (a Llama-style HF folder, e.g. SmolLM2-135M) with only some
  of its decoder layers kept; every kept tensor is copied from the teacher's safetensors
  (layer ``layers[i]`` of the teacher becomes layer ``i``), embeddings, final norm and LM head
  (tied as in the teacher) too. Same tokenizer.
- ``t5_config``: a T5 v1.1-style encoder-decoder built from the spec's sizes, randomly
  initialised under the seed, with a tokenizer from a LOCAL file (no Hub). pad id = decoder
  start id = the tokenizer's pad token (EOS when it has none); EOS = the tokenizer's EOS;
  vocabulary size = ``len(tokenizer)``. As in v1.1, the encoder and decoder share the input
  embedding and the LM head is a separate matrix (:func:`untie_lm_head`: transformers 5's
  ``T5Config`` forces ``tie_word_embeddings=True``, which would make the head the embedding).
- ``hub``: ``from_pretrained(model_id, revision=…)`` — a Hub id (conf/paper: Qwen/Qwen3-0.6B,
  google/t5-v1_1-base / -large) or a local folder.

Weights are read from safetensors only (never pickles) and ``trust_remote_code`` is never on.
Students are returned in float32 (master weights; the loop's mixed precision casts compute).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_distillation.training.config import HubSpec, ShrunkCausalSpec, T5ConfigSpec, student_spec

logger = logging.getLogger(__name__)


@dataclass
class Student:
    """A student ready to train: the model, its tokenizer and which kind it is."""

    model: Any
    tokenizer: Any
    decoder_only: bool
    spec: Any

    @property
    def decoder_start_id(self) -> int | None:
        """The decoder start id (encoder-decoder students), else None."""
        if self.decoder_only:
            return None
        return int(self.model.config.decoder_start_token_id)


def student_source(spec: Any, source: str | Path | None = None) -> Path | None:
    """The local folder/file a spec reads (``source`` overrides the spec's own path), or
    None for a Hub id. Raises ``FileNotFoundError`` naming the setting when it is missing —
    so a missing folder fails before any model is loaded."""
    spec = student_spec(spec)
    if isinstance(spec, ShrunkCausalSpec):
        path, setting = source or spec.folder, "student.folder"
    elif isinstance(spec, T5ConfigSpec):
        path, setting = source or spec.tokenizer, "student.tokenizer"
    else:
        local = Path(spec.model_id)
        return local if local.exists() else None
    if path is None:
        raise ValueError(f"{setting}: no path given (set it, or pass the teacher folder as source)")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{setting}: {p} does not exist")
    if isinstance(spec, ShrunkCausalSpec) and not list(p.glob("*.safetensors")):
        raise FileNotFoundError(
            f"{setting}: {p} has no *.safetensors weights (pickles are never loaded)"
        )
    return p


def load_tokenizer(path: str | Path) -> Any:
    """A fast tokenizer from a local folder or a ``tokenizer.json`` file (never the Hub)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = Path(path)
    if p.is_file():
        tok = PreTrainedTokenizerFast(tokenizer_file=str(p))
        cfg = p.with_name("tokenizer_config.json")
        if cfg.is_file():
            meta = json.loads(cfg.read_text())
            for key in ("eos_token", "pad_token", "unk_token", "bos_token"):
                if isinstance(meta.get(key), str):
                    setattr(tok, key, meta[key])
        return tok
    return AutoTokenizer.from_pretrained(str(p), local_files_only=True, trust_remote_code=False)


def build_student(spec: Any, *, source: str | Path | None = None, seed: int = 0) -> Student:
    """The student of ``spec`` (a spec or a mapping). ``source`` = the teacher folder for
    ``shrunk_causal`` / the tokenizer for ``t5_config`` when the spec gives none. ``seed``
    fixes random initialisation (``t5_config``)."""
    spec = student_spec(spec)
    path = student_source(spec, source)
    if isinstance(spec, ShrunkCausalSpec):
        return _plain_text_if_asked(_shrunk_causal(spec, path))  # type: ignore[arg-type]
    if isinstance(spec, T5ConfigSpec):
        return _t5_from_config(spec, path, seed)  # type: ignore[arg-type]
    return _hub(spec)


def kept_layers(spec: ShrunkCausalSpec, n_teacher_layers: int) -> list[int]:
    """Teacher layer indices a shrunk student keeps (``num_layers``: evenly spread, first and
    last included)."""
    if spec.layers is not None:
        bad = [i for i in spec.layers if i >= n_teacher_layers]
        if bad:
            raise ValueError(
                f"student.layers: {bad} out of range; the teacher has {n_teacher_layers} layers"
            )
        return list(spec.layers)
    k = int(spec.num_layers)  # type: ignore[arg-type]
    if k > n_teacher_layers:
        raise ValueError(f"student.num_layers: {k} > the teacher's {n_teacher_layers} layers")
    if k == 1:
        return [0]
    return [round(i * (n_teacher_layers - 1) / (k - 1)) for i in range(k)]


def _shrunk_causal(spec: ShrunkCausalSpec, folder: Path) -> Student:
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    layers = kept_layers(spec, config.num_hidden_layers)
    config.num_hidden_layers = len(layers)
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in layers]
    config.dtype = "float32"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    new_index = {src: dst for dst, src in enumerate(layers)}
    state: dict[str, Any] = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                parts = name.split(".")
                if "layers" in parts:
                    at = parts.index("layers")
                    src = int(parts[at + 1])
                    if src not in new_index:
                        continue
                    parts[at + 1] = str(new_index[src])
                state[".".join(parts)] = f.get_tensor(name).to(torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if unexpected or set(missing) - tied:
        raise ValueError(
            f"student.folder: {folder} does not match its config: missing "
            f"{sorted(set(missing) - tied)}, unexpected {sorted(unexpected)}"
        )
    model.tie_weights()
    tokenizer = load_tokenizer(folder)
    logger.info(
        "shrunk student: teacher layers %s of %s -> %.1fM parameters",
        layers,
        folder,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )
    return Student(model, tokenizer, decoder_only=True, spec=spec)


def _t5_from_config(spec: T5ConfigSpec, tokenizer_path: Path, seed: int) -> Student:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = load_tokenizer(tokenizer_path)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(f"student.tokenizer: {tokenizer_path} has no EOS token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    pad = int(tokenizer.pad_token_id)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=spec.d_model,
        d_kv=spec.d_kv,
        d_ff=spec.d_ff,
        num_layers=spec.num_layers,
        num_decoder_layers=spec.num_decoder_layers or spec.num_layers,
        num_heads=spec.num_heads,
        dropout_rate=spec.dropout_rate,
        feed_forward_proj=spec.feed_forward_proj,
        tie_word_embeddings=False,
        pad_token_id=pad,
        eos_token_id=int(eos),
        decoder_start_token_id=pad,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    untie_lm_head(model)
    model.generation_config.decoder_start_token_id = pad
    model.generation_config.pad_token_id = pad
    model.generation_config.eos_token_id = int(eos)
    logger.info(
        "T5 student from config (d_model %d, %d layers): %.1fM parameters",
        spec.d_model,
        spec.num_layers,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )
    return Student(model, tokenizer, decoder_only=False, spec=spec)


def untie_lm_head(model: Any) -> None:
    """Give a T5 model its own LM head (T5 v1.1: untied), in place.

    transformers 5's ``T5Config`` sets ``tie_word_embeddings=True`` whatever it is given (it
    only reads a ``False`` as "do not scale the decoder output", v1.1's other difference), so a
    T5 built from a config has ``lm_head.weight is shared.weight``. This replaces the head by
    a new matrix drawn as HF initialises an untied head (normal, std ``initializer_factor``,
    from the torch generator: seeded by the caller), drops the head from the model's tied
    keys, and sets ``config.tie_word_embeddings = False`` so the saved config says so. The
    encoder and decoder keep sharing the input embedding."""
    import torch

    d_model, vocab = model.shared.weight.shape[1], model.shared.weight.shape[0]
    head = torch.nn.Linear(d_model, vocab, bias=False)
    torch.nn.init.normal_(head.weight, mean=0.0, std=model.config.initializer_factor)
    model.lm_head = head
    tied = getattr(model, "all_tied_weights_keys", None)
    if isinstance(tied, dict):
        tied.pop("lm_head.weight", None)
    model.config.tie_word_embeddings = False


def _hub(spec: HubSpec) -> Student:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    cls = AutoModelForCausalLM if spec.architecture == "causal" else AutoModelForSeq2SeqLM
    kwargs = {"revision": spec.revision, "trust_remote_code": False}
    model = cls.from_pretrained(spec.model_id, use_safetensors=True, dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(spec.model_id, **kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    student = Student(model, tokenizer, decoder_only=spec.architecture == "causal", spec=spec)
    return _plain_text_if_asked(student)


def _plain_text_if_asked(student: Student) -> Student:
    """Drop the tokenizer's chat template when the spec asks for plain-text inputs
    (``chat_format: false``): the tokenizer the student trains and is saved with then reads
    the view text as is, at training and at evaluation (``generation.tokenize.student_prompt``)."""
    if not getattr(student.spec, "chat_format", True):
        student.tokenizer.chat_template = None
    return student


def save_student(student: Student, folder: str | Path) -> Path:
    """``save_pretrained`` (safetensors) of the model and the tokenizer into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    student.model.save_pretrained(str(out))  # safetensors (the only format of transformers 5)
    student.tokenizer.save_pretrained(str(out))
    return out
