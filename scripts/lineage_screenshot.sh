#!/usr/bin/env bash
# The lineage screenshots of the docs (docs/architecture.md, "Lineage in kedro-viz"):
#   scripts/lineage_screenshot.sh [OUTPUT.png [CELL_OUTPUT.png]]
#   OUTPUT.png (default docs/figures/lineage.png): every pipeline's nodes with the namespaces
#     collapsed (one box per benchmark and per matrix cell; datasets hidden), layers left to
#     right: the six pipelines at a readable zoom;
#   CELL_OUTPUT.png (default docs/figures/lineage_cell.png): one matrix cell opened (kedro-viz's
#     focus mode on its namespace, expanded: its nodes and datasets, with what it reads), top
#     to bottom.
# 1. `kedro viz build` of a copy of the working tree in a temporary folder (the build needs no
#    data and writes build/ into the project, so the checkout is left untouched);
# 2. serves that build on 127.0.0.1 (Python's http.server plus one path, /__wait__?s=N, that
#    answers after N seconds; its own process group, stopped at the end, whatever happens, and
#    bounded by `timeout`);
# 3. headless Chromium screenshots (Debian: `apt-get install -y chromium`) of a page that
#    stores kedro-viz's settings (light theme, no sidebar, minimap or hints) in localStorage
#    and shows the graph in a frame, opened with kedro-viz 12.5's URL parameters: `pid` (the
#    pipeline), `expandAllPipelines` (false: namespaces collapsed), `types=nodes` (datasets
#    hidden) and, for the cell, `fid` (the focused namespace); the page's hidden image from
#    /__wait__ holds the screenshot until kedro-viz's layout (a web worker, in real time, which
#    --virtual-time-budget does not wait for) has drawn the graph.
# Settings: PYTHON (default .venv/bin/python), CHROMIUM (default chromium), PORT (default 4142),
# WIDTH/HEIGHT (default 1500x1800: a portrait page fits the graph's height), WAIT_S (seconds
# for the layout, default 10; the cell's 557 elements: 3x that), PIPELINE (the registered
# pipeline shown, default __default__: all of them), ORIENTATION (of OUTPUT.png: horizontal,
# the default, or vertical), EXPAND (true: OUTPUT.png with every namespace expanded and its
# datasets; default false), CELL (the namespace opened in CELL_OUTPUT.png; default the
# matrix's first cell; "none": no second picture).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/docs/figures/lineage.png}")
CELL_OUT=$(realpath -m "${2:-$ROOT/docs/figures/lineage_cell.png}")
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
CHROMIUM=${CHROMIUM:-chromium}
PORT=${PORT:-4142}
WIDTH=${WIDTH:-1500}
HEIGHT=${HEIGHT:-1800}
WAIT_S=${WAIT_S:-10}
PIPELINE=${PIPELINE:-__default__}
ORIENTATION=${ORIENTATION:-horizontal}
EXPAND=${EXPAND:-false}
CELL=${CELL:-}

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

if [ -z "$CELL" ]; then
  # the matrix's namespaces, one a line (Kedro's log lines go to stderr)
  CELL=$(cd "$WORK/project" && PYTHONPATH="$WORK/project/src" KEDRO_DISABLE_TELEMETRY=1 \
    "$PYTHON" -m llm_distillation.pipelines.student_training.matrix 2>/dev/null \
    | grep -E '^[A-Za-z0-9_]+$' | sed -n 1p) || true
  [ -n "$CELL" ] || { log "no matrix cell found (set CELL=<namespace> or CELL=none)"; exit 1; }
fi

# The page the screenshots open: kedro-viz's settings in localStorage (same origin), the graph
# in a frame at the URL of its `viz` parameter, and an image that loads after `wait` seconds.
cat >"$WORK/project/build/screenshot.html" <<'HTML'
<!doctype html><meta charset="utf-8">
<style>html, body, iframe { margin: 0; border: 0; width: 100%; height: 100%; overflow: hidden; }</style>
<script>
const q = new URLSearchParams(location.search);
localStorage.setItem("KedroViz", JSON.stringify({
  theme: "light", showFeatureHints: false, textLabels: true, ignoreLargeWarning: true,
  expandAllPipelines: q.get("expand") === "true", orientation: q.get("orientation"),
  visible: {code: false, exportModal: false, graph: true, metadataModal: false, miniMap: false,
            modularPipelineFocusMode: null, settingsModal: false, shareableUrlModal: false,
            sidebar: false, slicing: true, traceback: false}
}));
document.write('<iframe src="/?' + q.get("viz") + '"></iframe>'
  + '<img alt="" style="display: none" src="/__wait__?s=' + q.get("wait") + '">');
</script>
HTML

cat >"$WORK/serve.py" <<'PY'
"""Static files of the build, and /__wait__?s=N: an empty answer after N seconds."""
import functools, http.server, sys, time, urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/__wait__":
            return super().do_GET()
        time.sleep(float(urllib.parse.parse_qs(url.query).get("s", ["0"])[0]))
        self.send_response(204)
        self.end_headers()


handler = functools.partial(Handler, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
PY

log "serving the build on http://127.0.0.1:$PORT"
setsid timeout 600 "$PYTHON" "$WORK/serve.py" "$PORT" "$WORK/project/build" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
  "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/api/main', timeout=1)" \
    2>/dev/null && break
  sleep 0.2
done

# shoot VIZ_QUERY ORIENTATION EXPAND WAIT OUTPUT: the graph at /?VIZ_QUERY -> OUTPUT
shoot() {
  local viz=$1 orientation=$2 expand=$3 wait=$4 out=$5 page
  page=$("$PYTHON" -c 'import sys, urllib.parse as p
print(p.urlencode({"viz": sys.argv[1], "orientation": sys.argv[2], "expand": sys.argv[3],
                   "wait": sys.argv[4]}))' "$viz" "$orientation" "$expand" "$wait")
  log "screenshot ${WIDTH}x${HEIGHT} of /?$viz ($orientation) -> $out"
  mkdir -p "$(dirname "$out")"
  rm -rf "$WORK/chromium"
  timeout $((wait + 120)) "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --disable-background-networking --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$WORK/chromium" --window-size="$WIDTH,$HEIGHT" \
    --virtual-time-budget=5000 --screenshot="$out" \
    "http://127.0.0.1:$PORT/screenshot.html?$page" >"$WORK/chromium.log" 2>&1 \
    || { tail -20 "$WORK/chromium.log"; exit 1; }
  [ -s "$out" ] || { log "no screenshot written"; exit 1; }
  log "wrote $out"
}

if [ "$EXPAND" = true ]; then
  shoot "pid=$PIPELINE&expandAllPipelines=true" "$ORIENTATION" true $((WAIT_S * 3)) "$OUT"
else
  shoot "pid=$PIPELINE&expandAllPipelines=false&types=nodes" "$ORIENTATION" false "$WAIT_S" "$OUT"
fi
if [ "$CELL" != none ]; then
  grep -q "\"$CELL\"" "$WORK/project/build/api/main" \
    || { log "no namespace $CELL in the build (CELL=<namespace>)"; exit 1; }
  shoot "pid=$PIPELINE&fid=$CELL&expandAllPipelines=true" vertical true $((WAIT_S * 3)) "$CELL_OUT"
fi
