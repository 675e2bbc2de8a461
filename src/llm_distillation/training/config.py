"""Typed settings of student training: which student, which condition, how to train.

All models are strict (``extra="forbid"``, frozen): an unknown or mistyped setting fails when
the parameters are validated, before any data or model is loaded. ``StudentSpec`` is a union
discriminated by ``kind``; :func:`student_spec` and :func:`condition_spec` turn plain mappings
(YAML) into them with errors naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, model_validator

from llm_distillation.config import StrictModel

STUDENT_KINDS: Final = ("shrunk_causal", "t5_config", "hub")
MODES: Final = ("standard", "mt", "cf", "mt_cf", "untrained")
RATIONALE_KINDS: Final = ("unrevised", "revised")
Mode = Literal["standard", "mt", "cf", "mt_cf", "untrained"]
Rationale = Literal["unrevised", "revised"]


class ShrunkCausalSpec(StrictModel):
    """A decoder-only student cut out of the teacher: only some of its layers are kept, each
    initialised from the teacher's weights; same tokenizer, embeddings/LM head tied as in the
    teacher.

    Give ``layers`` (teacher layer indices, in order, e.g. ``[0, 29]``) or ``num_layers`` (k
    layers spread evenly over the teacher's depth, first and last included).
    ``folder`` is the teacher's HF folder; the pipeline passes the ``teacher_model`` catalog
    folder instead (``build_student(..., source=...)``).
    """

    kind: Literal["shrunk_causal"] = "shrunk_causal"
    folder: str | None = None
    layers: tuple[int, ...] | None = None
    num_layers: int | None = Field(default=None, ge=1)
    chat_format: bool = True
    """The view input as one user turn of the chat template, or plain text (``false``: the
    study's decoder-only format); see ``generation.tokenize.student_prompt``."""

    @model_validator(mode="after")
    def _one_of(self) -> ShrunkCausalSpec:
        if (self.layers is None) == (self.num_layers is None):
            raise ValueError("give exactly one of layers (teacher layer indices) or num_layers")
        if self.layers is not None:
            if not self.layers:
                raise ValueError("layers: keep at least one layer")
            if min(self.layers) < 0 or len(set(self.layers)) != len(self.layers):
                raise ValueError(
                    f"layers: distinct non-negative indices expected, got {self.layers}"
                )
        return self


class T5ConfigSpec(StrictModel):
    """A small T5 (v1.1 style: gated-GELU, untied head) built from a config and randomly
    initialised (seeded); its tokenizer comes from a LOCAL file or folder (``tokenizer``: a
    ``tokenizer.json`` or a folder with one; the pipeline passes the teacher folder as
    ``source`` when it is unset). pad = decoder start = the tokenizer's pad token (its EOS when
    it has none); the vocabulary size is the tokenizer's."""

    kind: Literal["t5_config"] = "t5_config"
    tokenizer: str | None = None
    d_model: int = Field(default=256, ge=8)
    d_kv: int = Field(default=32, ge=4)
    d_ff: int = Field(default=512, ge=8)
    num_layers: int = Field(default=2, ge=1)
    num_decoder_layers: int | None = Field(default=None, ge=1)
    num_heads: int = Field(default=4, ge=1)
    dropout_rate: float = Field(default=0.1, ge=0.0, lt=1.0)
    feed_forward_proj: Literal["gated-gelu", "relu"] = "gated-gelu"


class HubSpec(StrictModel):
    """A pretrained checkpoint loaded with ``from_pretrained(model_id, revision=revision)``
    (a Hub id or a local folder): safetensors only, ``trust_remote_code`` off."""

    kind: Literal["hub"] = "hub"
    model_id: str
    revision: str | None = None
    architecture: Literal["causal", "seq2seq"]
    chat_format: bool = True
    """Causal students: the view input as one user turn of the chat template, or plain text
    (``false``: the study's decoder-only format); see ``generation.tokenize.student_prompt``."""


StudentSpec = Annotated[ShrunkCausalSpec | T5ConfigSpec | HubSpec, Field(discriminator="kind")]
_STUDENT_ADAPTER: Final = TypeAdapter(StudentSpec)


class ConditionSpec(StrictModel):
    """A training condition: which views are trained and how their losses are weighted.

    ``untrained``: no training (the student as built: a pretrained baseline). ``standard``:
    L_predict. ``mt``: α·L_predict + (1−α)·L_explain. ``cf``: L_factual +
    L_counterfactual. ``mt_cf``: γ·[α·L_predict + (1−α)·L_explain] + (1−γ)·[β·L_factual +
    (1−β)·L_counterfactual]. ``rationale`` picks the explain target (``unrevised`` = the
    teacher's positive rationale, or ``revised``); ``factual_rationale`` the rationale inside the
    factual target (default: the same kind). ``max_counterfactuals`` caps the wrong options
    trained per example (seeded choice; None = all)."""

    mode: Mode
    rationale: Rationale = "unrevised"
    factual_rationale: Literal["unrevised", "revised", "counterfactual"] | None = None
    alpha: float = Field(default=0.5, ge=0.0, le=1.0)
    beta: float = Field(default=0.5, ge=0.0, le=1.0)
    gamma: float = Field(default=0.5, ge=0.0, le=1.0)
    max_counterfactuals: int | None = Field(default=None, ge=1)
    label: str | None = None
    """The study's name of the condition (``MT+CF:Revised``), for tables and figures."""


class TrainingConfig(StrictModel):
    """How one student is trained (the study: AdamW, lr 5e-5, linear schedule, effective
    batch 48, 5,000 steps, dev evaluation every 250 steps, 300 tokens).

    Effective batch = ``batch_size`` × ``grad_accumulation`` × number of processes source
    examples (a source example brings every view its condition trains). A *step* is
    one optimizer step. ``eval_every``/``checkpoint_every``/``log_every`` count steps (0 = off;
    a final evaluation and checkpoint always happen when they are on)."""

    max_steps: int = Field(default=100, ge=1)
    learning_rate: float = Field(default=5e-5, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    warmup_steps: int = Field(default=0, ge=0)
    schedule: Literal["linear", "constant"] = "linear"
    max_grad_norm: float | None = Field(default=1.0, gt=0.0)
    batch_size: int = Field(default=8, ge=1)
    """Source examples per micro-batch, each with all the views its condition trains (the
    study's batch 48 is 48 examples, not 48 view rows)."""
    grad_accumulation: int = Field(default=1, ge=1)
    eval_batch_size: int = Field(default=32, ge=1)
    eval_every: int = Field(default=0, ge=0)
    checkpoint_every: int = Field(default=0, ge=0)
    keep_checkpoints: int = Field(default=0, ge=0)
    """Step checkpoints kept once the student is saved (0: all removed, the finished student
    replaces them); while training, the newest ``max(1, keep_checkpoints)`` are kept."""
    save_dtype: Literal["float32", "bfloat16", "float16"] | None = None
    """Store the finished student in this precision (named in its model card, ``README.md``);
    None: as trained (float32 on CPU)."""
    log_every: int = Field(default=10, ge=1)
    max_length: int = Field(default=300, ge=8)
    seed: int = 0
    select_by: Literal["dev_accuracy", "dev_loss", "final"] = "dev_accuracy"
    """Which weights a run keeps (``training.selection``): the best free-running greedy dev
    accuracy, the lowest dev loss, or the last step's."""
    dev_max_new_tokens: dict[Literal["predict", "factual"], int] = Field(
        default_factory=lambda: {"predict": 16, "factual": 128}
    )
    """Greedy dev accuracy: tokens a student may generate after ``[predict]`` (an answer) and
    after ``[factual]`` (a CF-only student: its rationale, then its answer)."""
    length_grouping: bool = True
    """Batches of whole source examples of similar length (seeded megabatches sorted by the
    examples' total length), less padding."""
    megabatch_factor: int = Field(default=32, ge=1)
    head_chunk_tokens: int = Field(default=4096, ge=1)
    """LM-head rows computed at once (only label positions get logits)."""
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    """``auto``: bf16 on GPU, fp32 on CPU (bf16 matmuls are very slow on CPUs)."""
    tracking: tuple[Literal["tensorboard", "wandb", "mlflow"], ...] = ()
    project_name: str = "llm-distillation"
    group_name: str | None = None
    """The run group of the trackers (the study's ``--group_name``)."""
    progress: bool = True


def student_spec(value: Mapping[str, Any] | BaseModel, *, setting: str = "student") -> Any:
    """A ``StudentSpec`` from a mapping (YAML); errors name ``setting`` and the allowed kinds."""
    if isinstance(value, BaseModel):
        return value
    kind = value.get("kind") if isinstance(value, Mapping) else None
    if kind not in STUDENT_KINDS:
        raise ValueError(
            f"{setting}.kind: unknown student kind {kind!r}; allowed: {list(STUDENT_KINDS)}"
        )
    try:
        return _STUDENT_ADAPTER.validate_python(dict(value))
    except ValidationError as err:
        raise ValueError(_describe(err, setting)) from None


def _describe(err: ValidationError, setting: str) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if str(p) not in STUDENT_KINDS]
        where = ".".join([setting, *loc])
        lines.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
    return "invalid settings:\n  " + "\n  ".join(lines)
