#!/usr/bin/env bash
# The first screen of an HTML report, as a reader opens it (docs/reporting.md, "Screenshots"):
#   scripts/report_screenshot.sh [REPORT.html] [OUTPUT.png]
# REPORT.html: default, the newest version of the evaluation report of the data folder,
#   ${DATA_DIR:-data}/08_reporting/reporting/evaluation/report.html/<version>/report.html
#   (the study's report: .../reporting/study/report.html/<version>/report.html);
# OUTPUT.png: default docs/figures/report_first_screen.png.
# A headless Chromium (Debian: `apt-get install -y chromium`) opens the self-contained file
# (file://, nothing else is fetched) in a fresh profile and saves what fits the window.
# Settings: CHROMIUM (default chromium), WIDTH/HEIGHT (default 1280x1000: one laptop screen),
# BUDGET_MS (virtual time for the page to lay out, default 5000).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA_DIR=${DATA_DIR:-$ROOT/data}
CHROMIUM=${CHROMIUM:-chromium}
WIDTH=${WIDTH:-1280}
HEIGHT=${HEIGHT:-1000}
BUDGET_MS=${BUDGET_MS:-5000}

log() { echo "report_screenshot: $*" >&2; }
command -v "$CHROMIUM" >/dev/null || { log "no $CHROMIUM (apt-get install -y chromium)"; exit 1; }

if [ $# -ge 1 ]; then
  REPORT=$1
else
  VERSIONS="$DATA_DIR/08_reporting/reporting/evaluation/report.html"
  [ -d "$VERSIONS" ] || { log "no report versions under $VERSIONS (run the pipelines, or name a report)"; exit 1; }
  LATEST=$(ls -1 "$VERSIONS" | sort | tail -1)
  REPORT="$VERSIONS/$LATEST/report.html"
fi
[ -s "$REPORT" ] || { log "no report at $REPORT"; exit 1; }
REPORT=$(realpath "$REPORT")
OUT=$(realpath -m "${2:-$ROOT/docs/figures/report_first_screen.png}")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

log "screenshot ${WIDTH}x${HEIGHT} of $REPORT -> $OUT"
mkdir -p "$(dirname "$OUT")"
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --disable-background-networking --disable-component-update --disable-sync --no-first-run \
  --user-data-dir="$WORK/chromium" --window-size="$WIDTH,$HEIGHT" \
  --virtual-time-budget="$BUDGET_MS" --screenshot="$OUT" \
  "file://$REPORT" >"$WORK/chromium.log" 2>&1 \
  || { tail -20 "$WORK/chromium.log" >&2; exit 1; }
[ -s "$OUT" ] || { log "no screenshot written"; exit 1; }
log "wrote $OUT"
