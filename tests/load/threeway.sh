#!/usr/bin/env bash
# Concurrent one-key three-way transfers against hotlined on loopback, all parties SIPp with RTP.
#   tests/load/threeway.sh N [HOLD_SECONDS]     e.g. tests/load/threeway.sh 100 20   (HOLD default 20)
#   tests/load/threeway.sh sweep [HOLD_SECONDS] increasing N (THREEWAY_SWEEP="10 25 50 …", a failing N is
#                                               tried twice); prints the largest N with >= 99% of mixed
#                                               packets within 2 ms
# N callers (PCMA tone) reach N operator seats (PCMU tone) that key *2 CODE # as SIP INFO; each transfer
# rings its own department seat (PCMU tone), which answers: N three-way mixes. With all N up at once
# (/status media.conferences) the hold window starts: the daemon's CPU over it (/proc) and every RTP packet
# the daemon sends (tcpdump on lo, kernel timestamps) against its 20-ms slots (pacing.py). Then the callers
# hang up and every call must end with a record.
# Env: as run.sh (HOTLINED_BIN, LOAD_PORT_BASE, LOAD_MEDIA_MIN/MAX, LOAD_KEEP, RUST_LOG, LOAD_DAEMON_FIFO), plus
#   THREEWAY_RAMP (calls/s offered, default 25), THREEWAY_RING_MS (department rings, default 500),
#   THREEWAY_SETUP_S (bound for all N to be mixed after the last call is offered, default 10 + N/20),
#   THREEWAY_SWEEP (the N of a sweep, default "10 25 50 100 150 200 300 400").
# Prints a summary and a RESULT line; exit 1 if a call was lost (not mixed for the whole hold, failed, stuck,
# or without a record), 2 on a setup error or a measurement that cannot be trusted (capture drops, the hold
# overlapping the hang-ups). A pacing figure below 99% is a result, not a failure.
source "$(dirname "$0")/common.sh"

USAGE="usage: threeway.sh N [HOLD_SECONDS] | threeway.sh sweep [HOLD_SECONDS]"
ARG=${1:?$USAGE}
HOLD=${2:-20}
RAMP=${THREEWAY_RAMP:-25}
RING_MS=${THREEWAY_RING_MS:-500}
[[ "$HOLD" =~ ^[0-9]+$ ]] && ((HOLD >= 5)) || die "HOLD_SECONDS must be a whole number >= 5 ($USAGE)"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# descendant PID NAME: the first process called NAME below PID (the SIPp under `( cd; timeout sipp )`).
descendant() {
    local c
    for c in $(pgrep -P "$1"); do
        if [[ "$(cat "/proc/$c/comm" 2>/dev/null)" == "$2" ]]; then
            echo "$c"
            return 0
        fi
        descendant "$c" "$2" && return 0
    done
    return 1
}

need_tcpdump() {
    command -v tcpdump >/dev/null && return 0
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        log "installing tcpdump (captures the daemon's RTP on lo)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tcpdump >&2 \
            || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tcpdump >&2; } \
            || die "could not install tcpdump"
    fi
    command -v tcpdump >/dev/null || die "tcpdump not found: apt-get install -y tcpdump (and run as root: it captures on lo)"
}

# One run of the sweep: its output, its RESULT summarised into RESULTS; 0 if the pacing passed.
sweep_run() {
    local n=$1 try=$2 rc=0 line
    log "sweep: N=$n, hold $HOLD s${try:+ (again: noise or the limit?)}"
    "$0" "$n" "$HOLD" >"$WORK/sweep_$n$try.out" || rc=$?
    cat "$WORK/sweep_$n$try.out"
    line=$(grep '^RESULT ' "$WORK/sweep_$n$try.out" | tail -1 | cut -d' ' -f2-) || true
    if [[ -z "$line" ]]; then
        RESULTS+=("N=$n: no result (exit $rc)")
        NO_RESULT=1
        return 1
    fi
    RESULTS+=("$("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print("N=%(n)s up=%(threeway_up)s cpu=%(daemon_cpu_pct)s%% (%(daemon_cpu_pct_per_call)s%%/call, mixer threads %(mixer_threads_cpu_pct)s%%) within2ms=%(within_pct_of_slots)s%% p50=%(p50_ms)s p99=%(p99_ms)s max=%(max_ms)s ms, load %(loadavg_before)s -> %(loadavg_after)s, ok=%(pacing_ok)s lost=%(lost)s invalid=%(invalid)s" % r)' "$line")")
    [[ $rc -eq 0 ]] && "$PY" -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["pacing_ok"] else 1)' "$line"
}

# Increasing N; a failing N runs once more (the box is shared), and the second failure ends the sweep.
sweep() {
    build_daemon
    export HOTLINED_BIN=$BIN
    local n best=0
    RESULTS=()
    NO_RESULT=0
    for n in ${THREEWAY_SWEEP:-10 25 50 100 150 200 300 400}; do
        # A run without a result (setup error) is not retried.
        if sweep_run "$n" "" || { ((NO_RESULT == 0)) && sweep_run "$n" "-again"; }; then
            best=$n
        else
            break
        fi
    done
    echo "== sweep (hold $HOLD s)"
    printf '  %s\n' "${RESULTS[@]}"
    echo "SWEEP largest N with >= 99% of mixed packets within 2 ms of their slot: $best"
    # A run that ended without a result (setup error) before any N passed: the sweep measured nothing.
    if ((best == 0 && NO_RESULT)); then
        return 2
    fi
}

if [[ "$ARG" == sweep ]]; then
    SWEEP_RC=0
    sweep || SWEEP_RC=$?
    exit "$SWEEP_RC"
fi
N=$ARG
# Three RTP ports per three-way call from the daemon's range (even ports only).
MAX_N=$(((MEDIA_MAX - MEDIA_MIN + 2) / 2 / 3))
((MAX_N > 9999)) && MAX_N=9999
[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1 && N <= MAX_N)) || die "N must be 1..$MAX_N ($USAGE; LOAD_MEDIA_MIN/MAX set the RTP range)"

# Bound for the setup after the last call is offered: more calls, more signalling behind them.
SETUP_S=${THREEWAY_SETUP_S:-$((10 + N / 20))}

# Ports besides common.sh's: the department seats' UAS, and SIPp's RTP sockets (callers, operators,
# departments; SIPp 3.6 streams every call of a process from its one -mp port).
DEPT_PORT=$((BASE + 72))
MP_CALLER=$((BASE + 28))
MP_OPERATOR=$((BASE + 24))
MP_DEPT=$((BASE + 36))
# What the RTP range carries (the daemon caps max_active to it, with a warning).
MAX_ACTIVE=${LOAD_MAX_ACTIVE:-$(((MEDIA_MAX - MEDIA_MIN + 2) / 4))}

build_daemon
need_tcpdump

# Config: N operator seats 20000.. serving the main queue only, N department seats 30000.. each the only
# seat of its own group ld0000.. . The plan copy gets one department number per group, 860dddd with
# transfer_code dddd: operator 2dddd keys *2dddd# and rings department seat 3dddd alone. (One group of N
# seats would not do: a ring-all transfer reserves every free seat of its group, so transfers to the same
# department at the same time fail with 480, and each rings all N seats.)
write_config "$N" "$MAX_ACTIVE" '["general"]'
add_seats 30000 "$N" "$WORK/dept_seats.csv" '["ld{i}"]'
cat >>"$WORK/hotlined.toml" <<TOML

[calls.transfer]
caller_prompt = "$WORK/dialplans/prompts/transfer_ringing.wav"
ringback_prompt = "$WORK/dialplans/prompts/ringback.wav"
fallback_prompt = "$WORK/dialplans/prompts/transfer_failed.wav"
TOML
{
    echo "# Load-test departments (threeway.sh): one seat group each."
    for ((i = 0; i < N; i++)); do
        printf '\n[[number]]\nnumber = "860%04d"\ntransfer_code = "%04d"\nname = "负载测试部门 %d"\n' "$i" "$i" "$i"
        printf 'department = "负载测试"\nmode = "parallel"\ntarget = "seats:ld%04d"\n' "$i"
    done
} >"$WORK/dialplans/jiujiang/zz_load.toml"
"$PY" "$LOAD_DIR/loadlib.py" tone "$WORK/caller.pcma" alaw 400 1
"$PY" "$LOAD_DIR/loadlib.py" tone "$WORK/operator.pcmu" ulaw 1000 1
"$PY" "$LOAD_DIR/loadlib.py" tone "$WORK/dept.pcmu" ulaw 2000 1

echo "== threeway N=$N hold=${HOLD}s ramp=${RAMP}/s ring=${RING_MS}ms"
LOAD_BEFORE=$(loadavg)
echo "loadavg before: $LOAD_BEFORE"
start_daemon
register_seats_from operator "$WORK/seats.csv" "$N" "$UAS_PORT" $((BASE + 11)) $((BASE + 12)) "$MP_OPERATOR" \
    "$LOAD_DIR/threeway_operator.xml"
OP_PID=$UAS_PID
register_seats_from department "$WORK/dept_seats.csv" "$N" "$DEPT_PORT" $((BASE + 13)) $((BASE + 14)) "$MP_DEPT" \
    "$LOAD_DIR/threeway_dept.xml" -d "$RING_MS"
DEPT_PID=$UAS_PID

# The daemon's idle cost over 3 s, to tell it from the three-way calls' cost.
IDLE0=$($LIB snapshot "$DPID")
sleep 3
IDLE1=$($LIB snapshot "$DPID")

# Capture what the daemon's media ports send to the SIPp RTP sockets, timestamped by the kernel (from now,
# so its start is not on the clock later; the analysis takes the hold window only, when everything the
# daemon sends is the mixers' output). The capture is the instrument: it runs at the daemon's priority
# under LOAD_DAEMON_FIFO, else at nice -5 (below the pacing threads' -10), so a busy box does not make it
# drop packets (counted: the run is then invalid).
CAP_PRIO=(nice -n -5)
[[ -z "${LOAD_DAEMON_FIFO:-}" ]] || CAP_PRIO=(chrt -f "$LOAD_DAEMON_FIFO")
"${CAP_PRIO[@]}" tcpdump -i lo -n -s 64 -B 131072 --time-stamp-precision=nano -w "$WORK/hold.pcap" \
    "udp and src host 127.0.0.1 and src portrange $MEDIA_MIN-$MEDIA_MAX and (dst port $MP_CALLER or dst port $MP_OPERATOR or dst port $MP_DEPT)" \
    2>"$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
for ((i = 0; i < 100; i++)); do
    grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && break
    kill -0 "$TCPDUMP" 2>/dev/null || { cat "$WORK/tcpdump.err" >&2; die "tcpdump did not start"; }
    sleep 0.1
done
grep -q "listening on" "$WORK/tcpdump.err" || die "tcpdump not listening after 10 s"

# Each caller talks long enough for the last one to be offered (N / RAMP s), every call to be mixed
# (SETUP_S) and the hold to pass: the window ends before the first caller hangs up.
RAMP_S=$(((N + RAMP - 1) / RAMP))
TALK_MS=$(((RAMP_S + SETUP_S + HOLD + 8) * 1000))
log "calling: $N calls at $RAMP/s, each talks $((TALK_MS / 1000)) s"
T_START=$(date +%s.%N)
(cd "$WORK" && timeout $((TALK_MS / 1000 + RAMP_S + 90)) sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/threeway_caller.xml" \
    -s 12345 -r "$RAMP" -m "$N" -l "$N" -d "$TALK_MS" \
    -i 127.0.0.1 -p "$CALLER_PORT" -t u1 -nostdin -cp $((BASE + 10)) -mp "$MP_CALLER" -buff_size $BUFF \
    -timeout $((TALK_MS / 1000 + RAMP_S + 80))s -trace_stat -fd 1 -stf "$WORK/caller_stat.csv" -trace_counts \
    -trace_err >"$WORK/caller.out" 2>&1) &
CALLER_SH=$!
PIDS+=("$CALLER_SH")

UP=$($LIB wait-conferences "$ADMIN" "$N" $((RAMP_S + SETUP_S))) || {
    # Calls that never got their three-way phase are lost calls (exit 1), not a setup error.
    $LIB status "$ADMIN" >"$WORK/status_setup.json"
    log "LOST: only $UP of $N calls were mixed $((RAMP_S + SETUP_S)) s after the first was offered (transfers in /status: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("transfers"))' "$WORK/status_setup.json"); SIPp callers: $(tail -2 "$WORK/caller.out" | tr '\n' ' '))"
    echo "loadavg after: $(loadavg)"
    exit 1
}
log "all $N three-way calls up after $(echo "$(date +%s.%N) - $T_START" | bc | cut -c1-5) s"
SIPP_CALLER_PID=$(descendant "$CALLER_SH" sipp || echo 0)
# A second for the jitter buffers of the last calls to fill.
sleep 1

log "hold: $HOLD s"
$LIB hold "$ADMIN" "$DPID" "$HOLD" "$WORK/hold.json" caller="${SIPP_CALLER_PID:-0}" operators="$OP_PID" departments="$DEPT_PID" tcpdump="$TCPDUMP"
# libpcap hands packets over in blocks retired by a timeout: give the last one time before stopping.
sleep 2
kill -INT "$TCPDUMP" 2>/dev/null || true
wait "$TCPDUMP" 2>/dev/null || true
T_END_OK=$("$PY" -c 'import json,sys; h=json.load(open(sys.argv[1])); print(1 if h["t1"] < float(sys.argv[2]) + float(sys.argv[3]) / 1000 - 1 else 0)' \
    "$WORK/hold.json" "$T_START" "$TALK_MS")
DROPS=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$WORK/tcpdump.err" | head -1)

log "analysing the capture"
"$PY" "$LOAD_DIR/pacing.py" "$WORK/hold.pcap" --from "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["t0"])' "$WORK/hold.json")" \
    --to "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["t1"])' "$WORK/hold.json")" \
    --src-ports "$MEDIA_MIN-$MEDIA_MAX" >"$WORK/pacing.json" || die "pacing analysis failed"

log "tear down: the callers hang up"
wait "$CALLER_SH" || log "caller sipp exited non-zero (failed calls or timeout)"
ACTIVE=$($LIB wait-idle "$ADMIN" "${LOAD_IDLE_WAIT:-40}")
ROWS=$($LIB wait-records "$WORK/hotline.db" "$N" 20)
$LIB status "$ADMIN" >"$WORK/status_after.json"
WARN=$(grep -c -E ' (WARN|ERROR) ' "$WORK/daemon.log" || true)
LOAD_AFTER=$(loadavg)
echo "loadavg after: $LOAD_AFTER"
RC=0
$LIB threeway-summary n="$N" hold_s="$HOLD" hold="$WORK/hold.json" pacing="$WORK/pacing.json" \
    stat="$WORK/caller_stat.csv" counts="$WORK/caller*_counts.csv" status="$WORK/status_after.json" \
    idle0="$IDLE0" idle1="$IDLE1" clk_tck="$(getconf CLK_TCK)" records="$ROWS" active_after="$ACTIVE" \
    warn_lines="$WARN" tcpdump_drops="${DROPS:-unknown}" window_before_hangup="$T_END_OK" \
    loadavg_before="$LOAD_BEFORE" loadavg_after="$LOAD_AFTER" ramp="$RAMP" \
    sched="${LOAD_DAEMON_FIFO:+fifo $LOAD_DAEMON_FIFO}" || RC=$?
if ((WARN > 0)); then
    log "daemon WARN/ERROR lines (first 5 distinct):"
    grep -E ' (WARN|ERROR) ' "$WORK/daemon.log" | sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -5 >&2
fi
exit "$RC"
