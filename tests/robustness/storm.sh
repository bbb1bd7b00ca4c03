#!/usr/bin/env bash
# A registration storm: SEATS seats behind one NAT address (127.0.0.5) register within WITHIN seconds of
# the daemon's start — what a centre's phones do after a power cut or an upgrade that lost the saved
# registrations — while BAD misconfigured phones behind the same address keep sending wrong passwords.
# Asserts: every honest seat is bound (every 401 challenge answered, 0 failed REGISTERs), the wrong ones
# are locked out (BAD (source, user) pairs), and no honest seat is locked out with them (the lockout keys
# on source + user). The NAT address is listed in [sip.flood] trusted, as the docs tell ops to do for a
# seat network behind one address (its REGISTERs exceed the per-source limit otherwise).
#
#   tests/robustness/storm.sh [SEATS] [WITHIN] [BAD]        default 5000 seats in 10 s, 5 bad
# Env: HOTLINED_BIN (skip the release build), LOAD_PORT_BASE (default 3700), LOAD_KEEP=1.
LOAD_PORT_BASE=${LOAD_PORT_BASE:-3700}
source "$(dirname "$0")/../load/common.sh"

SEATS=${1:-5000}
WITHIN=${2:-10}
BAD=${3:-5}
NAT=127.0.0.5
RATE=$(((SEATS + WITHIN - 1) / WITHIN))

build_daemon
write_config "$SEATS" 100
cat >>"$WORK/hotlined.toml" <<TOML

[sip.flood]
trusted = ["$NAT/32"]
TOML
# The misconfigured phones: seats that exist, with a password their phones do not have.
echo "SEQUENTIAL" >"$WORK/bad.csv"
for ((i = 0; i < BAD; i++)); do
    printf '[[seats]]\nid = "%d"\npassword = "right-pw-%d"\n' $((29000 + i)) $((29000 + i)) >>"$WORK/hotlined.toml"
    printf '%d;x;[authentication username=%d password=wrong-%d]\n' $((29000 + i)) $((29000 + i)) "$i" >>"$WORK/bad.csv"
done
start_daemon

log "the misconfigured phones: $BAD seats, 6 wrong attempts each"
(cd "$WORK" && timeout 60 sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/seat_register.xml" -inf "$WORK/bad.csv" \
    -m $((BAD * 6)) -r 50 -i "$NAT" -p $((BASE + 75)) -t u1 -nostdin -timeout 30s >"$WORK/bad.out" 2>&1) || true

log "storm: $SEATS seats from $NAT at $RATE/s"
t0=$(date +%s.%N)
(cd "$WORK" && timeout $((WITHIN + 60)) sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/seat_register.xml" -inf "$WORK/seats.csv" \
    -m "$SEATS" -r "$RATE" -l "$SEATS" -i "$NAT" -p "$UAS_PORT" -t u1 -nostdin -buff_size $BUFF -timeout $((WITHIN + 50))s \
    -trace_stat -stf "$WORK/storm_stat.csv" -trace_err >"$WORK/storm.out" 2>&1) || log "storm sipp exited non-zero"
t1=$(date +%s.%N)
ok=$(tail -1 "$WORK/storm_stat.csv" | cut -d';' -f16)
failed=$(tail -1 "$WORK/storm_stat.csv" | cut -d';' -f18)
retrans=$(tail -1 "$WORK/storm_stat.csv" | cut -d';' -f58)
wall=$(echo "$t1 - $t0" | bc)
$LIB status "$ADMIN" >"$WORK/status.json"
read -r available bindings locked < <("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
avail = sum(1 for x in s.get("seats", []) if (x.get("state") or {}).get("state") == "ready")
print(avail, s["registrar"]["bindings"], s["registrar"]["locked_out"])' "$WORK/status.json")
echo "RESULT {\"seats\": $SEATS, \"rate\": $RATE, \"wall_s\": $wall, \"registered\": $ok, \"failed\": $failed, \"retransmissions\": $retrans, \"available\": $available, \"bindings\": $bindings, \"locked_out\": $locked, \"bad\": $BAD}"
rc=0
((ok == SEATS && failed == 0)) || { log "FAIL: $ok registered, $failed failed of $SEATS"; rc=1; }
((available == SEATS)) || { log "FAIL: $available of $SEATS seats available"; rc=1; }
((locked == BAD)) || { log "FAIL: $locked locked out, want the $BAD bad phones only"; rc=1; }
(($(echo "$wall < $WITHIN + 5" | bc) == 1)) || { log "FAIL: the storm took $wall s"; rc=1; }
exit $rc
