#!/usr/bin/env bash
# kill -9 of the daemon with CALLS calls up, then a restart on the same config, spool and database — what
# systemd's Restart=always does (deploy/hotlined.service). Asserts:
#   - every answered call has exactly one record: the calls cut by the kill come back from the live-call
#     journal, ended `interrupted` at the daemon's last heartbeat (none lost, none twice);
#   - the seats are bound again at once, from the registrations saved beside the spool (no REGISTER is
#     sent after the restart), and the ACD offers them calls: AFTER more calls complete, with records;
#   - nothing is left inconsistent: no call active at the end, no duplicate call id in the database, RTP
#     ports reusable (the new calls get media ports of the same range).
#
#   tests/robustness/crash.sh [CALLS] [AFTER]        default 500 calls up, then 50 after the restart
# Env: HOTLINED_BIN (skip the release build), LOAD_PORT_BASE (default 3600), LOAD_KEEP=1.
# Prints one RESULT line; exit 1 when a promise is broken, 2 on a setup error.
LOAD_PORT_BASE=${LOAD_PORT_BASE:-3600}
source "$(dirname "$0")/../load/common.sh"

CALLS=${1:-500}
AFTER=${2:-50}
SEATS=$((CALLS + AFTER + 10))

build_daemon
write_config "$SEATS" $((CALLS * 2 + 100))
start_daemon
start_sink
register_seats "$SEATS"

log "placing $CALLS long calls"
(cd "$WORK" && exec sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/caller.xml" -s 12345 -key caller_rtp_port "$SINK_CALLER" \
    -r 200 -m "$CALLS" -d 600000 -i 127.0.0.1 -p "$CALLER_PORT" -t u1 -nostdin -cp $((BASE + 10)) \
    -mp $((BASE + 28)) -buff_size $BUFF -trace_err >"$WORK/caller_long.out" 2>&1) &
LONG=$!
PIDS+=("$LONG")
up=0
for ((i = 0; i < 120; i++)); do
    up=$($LIB status "$ADMIN" 2>/dev/null | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
print(sum(1 for x in s.get("seats", []) if (x.get("state") or {}).get("state") == "talking"))' 2>/dev/null || echo 0)
    ((up >= CALLS)) && break
    sleep 0.5
done
((up >= CALLS)) || die "only $up of $CALLS calls answered"
sleep 2 # a heartbeat after the last answer
log "$up calls talking: kill -9"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
kill "$LONG" 2>/dev/null || true
rows_at_kill=$($LIB wait-records "$WORK/hotline.db" 0 1)

log "restart on the same config, spool and database"
start_daemon
avail=$($LIB wait-seats "$ADMIN" "$SEATS" 20) || true
rows=$($LIB wait-records "$WORK/hotline.db" "$CALLS" 30)
interrupted=$("$PY" -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT count(*) FROM call_records WHERE end_reason = ?", ("interrupted",)).fetchone()[0])' "$WORK/hotline.db")
dupes=$("$PY" -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT count(*) FROM (SELECT call_id FROM call_records GROUP BY call_id HAVING count(*) > 1)").fetchone()[0])' "$WORK/hotline.db")

log "$AFTER calls after the restart (seats not re-registered)"
(cd "$WORK" && timeout 120 sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/caller.xml" -s 12345 -key caller_rtp_port "$SINK_CALLER" \
    -r 20 -m "$AFTER" -d 1000 -i 127.0.0.1 -p "$CALLER_PORT" -t u1 -nostdin -cp $((BASE + 10)) \
    -mp $((BASE + 28)) -buff_size $BUFF -trace_err -trace_counts >"$WORK/caller_after.out" 2>&1) || log "caller sipp after the restart exited non-zero"
answered_after=$($LIB answered "$WORK/caller_*counts.csv")
active=$($LIB wait-idle "$ADMIN" 30)
total=$($LIB wait-records "$WORK/hotline.db" $((CALLS + AFTER)) 30)

echo "RESULT {\"calls_up_at_kill\": $up, \"records_at_kill\": $rows_at_kill, \"records_after_restart\": $rows, \"interrupted\": $interrupted, \"duplicate_call_ids\": $dupes, \"seats\": $SEATS, \"seats_available_after_restart\": $avail, \"answered_after_restart\": $answered_after, \"of\": $AFTER, \"records_total\": $total, \"active_after\": $active}"
rc=0
((rows == CALLS)) || { log "FAIL: $rows records for $CALLS answered calls"; rc=1; }
((interrupted == CALLS)) || { log "FAIL: $interrupted records ended interrupted, want $CALLS"; rc=1; }
((dupes == 0)) || { log "FAIL: $dupes call ids recorded twice"; rc=1; }
((avail == SEATS)) || { log "FAIL: $avail of $SEATS seats bound after the restart"; rc=1; }
((answered_after == AFTER)) || { log "FAIL: $answered_after of $AFTER calls answered after the restart"; rc=1; }
((total == CALLS + AFTER)) || { log "FAIL: $total records in all, want $((CALLS + AFTER))"; rc=1; }
((active == 0)) || { log "FAIL: $active calls left active"; rc=1; }
exit $rc
