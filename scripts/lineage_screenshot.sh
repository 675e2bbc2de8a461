#!/usr/bin/env bash
# The lineage screenshot of the docs (docs/architecture.md, "Lineage in kedro-viz"):
#   scripts/lineage_screenshot.sh [OUTPUT.png]        (default: docs/figures/lineage.png)
# 1. `kedro viz build` of a copy of the working tree in a temporary folder (the build needs no
#    data and writes build/ into the project, so the checkout is left untouched);
# 2. serves that build on 127.0.0.1 with `python -m http.server` (its own process group,
#    stopped at the end, whatever happens, and bounded by `timeout`);
# 3. a headless Chromium screenshot of the graph (Debian: `apt-get install -y chromium`).
# Settings: PYTHON (default .venv/bin/python), CHROMIUM (default chromium), PORT (default 4142),
# WIDTH/HEIGHT (default 1600x1000), BUDGET_MS (virtual time for the page to lay out, 20000),
# PIPELINE (the registered pipeline shown, default __default__: all of them), ORIENTATION
# (horizontal, the default: layers left to right, which fits the wide graph; or vertical).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/docs/figures/lineage.png}")
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
CHROMIUM=${CHROMIUM:-chromium}
PORT=${PORT:-4142}
WIDTH=${WIDTH:-1600}
HEIGHT=${HEIGHT:-1000}
BUDGET_MS=${BUDGET_MS:-20000}
PIPELINE=${PIPELINE:-__default__}
ORIENTATION=${ORIENTATION:-horizontal}

log() { echo "lineage_screenshot: $*" >&2; }
command -v "$CHROMIUM" >/dev/null || { log "no $CHROMIUM (apt-get install -y chromium)"; exit 1; }
[ -x "$PYTHON" ] || { log "no Python at $PYTHON (run scripts/setup.sh or set PYTHON)"; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true  # the server's whole process group
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "kedro viz build in $WORK/project"
tar -C "$ROOT" --exclude=./.venv --exclude=./data --exclude=./build --exclude=./.git \
  --exclude=./.viz --exclude='__pycache__' -cf - . | (mkdir "$WORK/project" && tar -C "$WORK/project" -xf -)
(cd "$WORK/project" && PYTHONPATH="$WORK/project/src" KEDRO_DISABLE_TELEMETRY=1 \
  "$PYTHON" -m kedro viz build >"$WORK/build.log" 2>&1) || { tail -30 "$WORK/build.log"; exit 1; }

# A page on the same origin that stores kedro-viz's settings (light theme, no sidebar, minimap
# or feature hints; namespaces collapsed) in its localStorage, then opens the graph.
cat >"$WORK/project/build/screenshot.html" <<HTML
<!doctype html><meta charset="utf-8"><script>
localStorage.setItem("KedroViz", JSON.stringify({
  theme: "light", showFeatureHints: false, expandAllPipelines: false, textLabels: true,
  orientation: "$ORIENTATION", pipeline: {active: "$PIPELINE"},
  visible: {code: false, exportModal: false, graph: true, metadataModal: false, miniMap: false,
            modularPipelineFocusMode: null, settingsModal: false, shareableUrlModal: false,
            sidebar: false, slicing: true, traceback: false}
}));
location.replace("/");
</script>
HTML

log "serving the build on http://127.0.0.1:$PORT"
setsid timeout 300 "$PYTHON" -m http.server "$PORT" --bind 127.0.0.1 \
  --directory "$WORK/project/build" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
  "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/api/main', timeout=1)" \
    2>/dev/null && break
  sleep 0.2
done

log "screenshot ${WIDTH}x${HEIGHT} -> $OUT"
mkdir -p "$(dirname "$OUT")"
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$WORK/chromium" --window-size="$WIDTH,$HEIGHT" \
  --virtual-time-budget="$BUDGET_MS" --screenshot="$OUT" \
  "http://127.0.0.1:$PORT/screenshot.html" >"$WORK/chromium.log" 2>&1 \
  || { tail -20 "$WORK/chromium.log"; exit 1; }
[ -s "$OUT" ] || { log "no screenshot written"; exit 1; }
log "wrote $OUT"
