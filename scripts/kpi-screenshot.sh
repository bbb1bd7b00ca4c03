#!/usr/bin/env bash
# Screenshots of the KPI report page for the docs: starts the example daemon (deploy/hotlined.toml) on its own
# ports with a throwaway SQLite database, files a few tickets through the API so the charts have figures, and
# renders /kpi (Chinese), /kpi?lang=en and the wallboard (/wallboard) in headless Chromium.
#   scripts/kpi-screenshot.sh [OUT_DIR]      (default docs/img; needs chromium, fonts-noto-cjk, curl)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/img}"
mkdir -p "$out"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

bin="${HOTLINED_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p hotlined
  bin="${CARGO_TARGET_DIR:-target}/debug/hotlined"
fi
admin="127.0.0.1:${KPI_SHOT_ADMIN_PORT:-18480}"
HOTLINED_ADMIN__LISTEN="$admin" \
HOTLINED_TICKETS__DATABASE_URL="sqlite://$work/h.db" \
HOTLINED_TICKETS__SPOOL_DIR="$work/spool" \
HOTLINED_SIP__LISTEN_UDP="127.0.0.1:${KPI_SHOT_SIP_PORT:-18460}" \
HOTLINED_SIP__LISTEN_TCP="127.0.0.1:${KPI_SHOT_SIP_PORT:-18460}" \
  "$bin" run --config deploy/hotlined.toml >"$work/log" 2>&1 &
pid=$!
auth="admin:change-me-example-token"
for _ in $(seq 100); do curl -sf -u "$auth" "http://$admin/status" >/dev/null && break; sleep 0.1; done

now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ticket() { # department caller → id
  curl -sf -u "$auth" -H 'Content-Type: application/json' "http://$admin/api/tickets" \
    -d "{\"accepted_at\":\"$now\",\"category\":\"complaint\",\"department\":\"$1\",\"text\":\"示例\",\"caller\":\"$2\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
act() { curl -sf -u "$auth" -H 'Content-Type: application/json' "http://$admin/api/tickets/$1/actions" -d "$2" >/dev/null; }
n=0
for dept in 市水务局 市住建局 市医保局 市司法局; do
  for _ in 1 2 3; do
    n=$((n + 1))
    id="$(ticket "$dept" "1380000$(printf %04d $n)")"
    if [ $((n % 3)) -ne 0 ]; then
      act "$id" "{\"action\":\"dispatch\",\"department\":\"$dept\"}"
      act "$id" '{"action":"sign"}'
      act "$id" '{"action":"handle"}'
      act "$id" '{"action":"reply","text":"已办理"}'
      act "$id" '{"action":"close"}'
      act "$id" '{"action":"call_back","reached":true}'
      sat=satisfied; [ $((n % 2)) -eq 0 ] && sat=basic
      act "$id" "{\"action\":\"evaluate\",\"satisfaction\":\"$sat\"}"
    fi
  done
done
act "$(ticket 市水务局 13900000000)" '{"action":"not_accept","reason":"litigation"}'

shot() { # path file
  chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
    --hide-scrollbars --virtual-time-budget=10000 --window-size=1280,1500 \
    --screenshot="$2" "http://$auth@$admin$1" 2>/dev/null
  echo "wrote $2"
}
shot /kpi "$out/kpi.png"
shot "/kpi?lang=en" "$out/kpi-en.png"
shot /wallboard "$out/wallboard.png"
