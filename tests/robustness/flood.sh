#!/usr/bin/env bash
# A SIP flood beside real traffic: FLOOD_RATE junk INVITEs/REGISTERs per second from SOURCES non-trunk
# loopback addresses (127.0.0.2 ...) for SECONDS, while the trunk (127.0.0.1) places calls at CALL_RATE/s.
# Asserts: every trunk call completes (the load summary is clean: 0 failed, every call recorded, none left
# active), the flood is dropped by the per-source limit ([sip.flood], defaults) and counted in /status, one
# ban per flooding address.
#
#   tests/robustness/flood.sh [FLOOD_RATE] [CALL_RATE] [SECONDS] [SOURCES]    default 5000 50 10 10
# Env: HOTLINED_BIN (skip the release build), LOAD_PORT_BASE (default 3500), LOAD_KEEP=1.
# Prints the load summary, then one FLOOD line; exit 1 when a promise is broken, 2 on a setup error.
LOAD_PORT_BASE=${LOAD_PORT_BASE:-3500}
source "$(dirname "$0")/../load/common.sh"
ROB_DIR=$(cd "$(dirname "$0")" && pwd)

FLOOD_RATE=${1:-5000}
CALL_RATE=${2:-50}
SECONDS_=${3:-10}
SOURCES=${4:-10}
SEATS=$((CALL_RATE * 3 + 10))

build_daemon
write_config "$SEATS" 2000
start_daemon
start_sink
register_seats "$SEATS"

log "flood: $FLOOD_RATE junk messages/s from $SOURCES addresses for $SECONDS_ s, beside $CALL_RATE calls/s"
"$PY" "$ROB_DIR/flood.py" "127.0.0.1:$SIP_PORT" "$FLOOD_RATE" "$SECONDS_" "$SOURCES" >"$WORK/flood.out" 2>&1 &
FLOOD=$!
PIDS+=("$FLOOD")
drive "$CALL_RATE" "$SECONDS_" 1000 2000 "$SEATS"
wait "$FLOOD" || die "flood generator failed: $(cat "$WORK/flood.out")"

sent=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$WORK/flood.out")
read -r dropped bans < <("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))["sip"]
print(s["flood_dropped"], s["flood_bans"])' "$WORK/status_after.json")
# Datagrams the kernel dropped at the daemon's full socket buffer (a loaded box) never reached the limit: they
# are dropped too, one layer lower, and counted apart.
kernel=$($LIB socket-drops "$SIP_PORT")
# Each address gets its window's allowance (100 per 2 s by default) before its ban; the rest is dropped.
echo "FLOOD {\"sent\": $sent, \"sources\": $SOURCES, \"dropped\": $dropped, \"kernel_dropped\": $kernel, \"bans\": $bans, \"call_summary_rc\": $SUMMARY_RC}"
rc=0
((SUMMARY_RC == 0)) || { log "FAIL: the trunk's calls were not all clean beside the flood"; rc=1; }
((bans == SOURCES)) || { log "FAIL: $bans bans for $SOURCES flooding addresses"; rc=1; }
(((dropped + kernel) * 100 >= (sent - SOURCES * 100) * 95)) \
    || { log "FAIL: only $dropped of $sent flood messages dropped ($kernel more by the kernel)"; rc=1; }
exit $rc
