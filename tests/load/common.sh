# Shared by run.sh and overload.sh (sourced, not run). Starts a daemon of our own on loopback with a
# generated config, N digest-registered seats all answered by one SIPp UAS, an RTP sink, then drives a
# caller SIPp at a fixed rate and prints one summary. Every wait is bounded; the EXIT trap kills what we
# started (by pid).
set -euo pipefail

LOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LOAD_DIR/../.." && pwd)
# The system interpreter: a pyenv shim costs seconds per call on a busy box.
PY=$(command -v /usr/bin/python3 || command -v python3)
LIB="$PY $LOAD_DIR/loadlib.py"

# Loopback ports (override LOAD_PORT_BASE if they clash with something else on the box).
BASE=${LOAD_PORT_BASE:-3000}
SIP_PORT=$((BASE + 60))
ADMIN_PORT=$((BASE + 80))
UAS_PORT=$((BASE + 70))
CALLER_PORT=$((BASE + 62))
SINK_CALLER=$((BASE + 90))
SINK_SEAT=$((BASE + 92))
MEDIA_MIN=${LOAD_MEDIA_MIN:-4000}
MEDIA_MAX=${LOAD_MEDIA_MAX:-19998}
ADMIN="127.0.0.1:$ADMIN_PORT"
BUFF=4194304

PIDS=()
WORK=$(mktemp -d /tmp/hotline-load.XXXXXX)
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [[ -z "${LOAD_KEEP:-}" ]]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 2; }

build_daemon() {
    if [[ -n "${HOTLINED_BIN:-}" ]]; then
        BIN=$HOTLINED_BIN
    else
        log "cargo build --release -p hotlined"
        (cd "$REPO" && cargo build --release -p hotlined) >&2 || die "release build failed"
        BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/hotlined
        [[ "$BIN" = /* ]] || BIN=$REPO/$BIN
    fi
    [[ -x "$BIN" ]] || die "no daemon binary at $BIN (set HOTLINED_BIN)"
    command -v sipp >/dev/null || die "sipp not found: apt-get install -y sip-tester"
}

# write_config SEATS MAX_ACTIVE [QUEUES]: dial plan copy without the greeting (calls queue at once; the hold
# prompt stays), seats 20000.. with passwords (serving QUEUES, default every queue), a database and spool of
# our own.
write_config() {
    local seats=$1 max_active=$2 queues=${3:-}
    cp -r "$REPO/dialplans" "$WORK/dialplans"
    sed -i '/^greeting *=/d' "$WORK/dialplans/jiujiang/center.toml"
    cat >"$WORK/hotlined.toml" <<TOML
[sip]
listen_udp = "127.0.0.1:$SIP_PORT"
domain = "127.0.0.1"
max_message_size = 65535

[trunks]
allow = ["127.0.0.1/32"]

[media]
bind_ip = "127.0.0.1"
port_min = $MEDIA_MIN
port_max = $MEDIA_MAX
media_timeout_s = 60

[calls]
max_active = $max_active
max_calls_per_second = ${LOAD_MAX_CPS:-2000}
retry_after_s = 5
answer_before_queue = false
seat_ring_timeout_s = 15
seat_retry_after_s = 5
wrap_up_s = 0
service_level_s = 20
hold_prompt = "$WORK/dialplans/prompts/please_wait.wav"

[dialplan]
dir = "$WORK/dialplans/jiujiang"
watch = false

[tickets]
database_url = "sqlite://$WORK/hotline.db"
spool_dir = "$WORK/spool"
channel_capacity = 10000

[admin]
listen = "$ADMIN"

# loadlib.py reads /status with this token (docs/access.md).
[[admin.accounts]]
name = "load"
role = "supervisor"
token_sha256 = "dfaf25c9f3035a728cbe6271d6ef786bc1b40f8a12a638e787fca6bb91a17b0e"   # SHA-256 of load-test-token-0123
TOML
    add_seats 20000 "$seats" "$WORK/seats.csv" "$queues"
}

# add_seats FIRST COUNT CSV [QUEUES]: seats FIRST.. (password load-pw-ID; `queues = QUEUES`, a TOML array,
# when given, else every queue of the plan) appended to the config, and their rows to the CSV that
# register_seats_from reads. QUEUES may contain {i}, replaced by the seat's index 0000..9999.
add_seats() {
    local first=$1 count=$2 csv=$3 queues=${4:-} i id
    [[ -s "$csv" ]] || echo "SEQUENTIAL" >"$csv"
    for ((i = 0; i < count; i++)); do
        id=$((first + i))
        printf '[[seats]]\nid = "%d"\npassword = "load-pw-%d"\n' "$id" "$id" >>"$WORK/hotlined.toml"
        if [[ -n "$queues" ]]; then
            printf 'queues = %s\n' "${queues//\{i\}/$(printf '%04d' "$i")}" >>"$WORK/hotlined.toml"
        fi
        printf '%d;load-pw-%d;[authentication username=%d password=load-pw-%d]\n' "$id" "$id" "$id" "$id" >>"$csv"
    done
}

start_daemon() {
    # The daemon reads every HOTLINED_* variable as a config override (and refuses unknown keys), so
    # HOTLINED_BIN must not reach it.
    # LOAD_DAEMON_FIFO=PRIO runs it under SCHED_FIFO (chrt, root): isolates it from other jobs on a shared box.
    local prefix=()
    if [[ -n "${LOAD_DAEMON_FIFO:-}" ]]; then
        command -v chrt >/dev/null || die "LOAD_DAEMON_FIFO needs chrt (util-linux)"
        prefix=(chrt -f "$LOAD_DAEMON_FIFO")
    fi
    env -u HOTLINED_BIN RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "${prefix[@]}" "$BIN" run --config "$WORK/hotlined.toml" >"$WORK/daemon.log" 2>&1 &
    DPID=$!
    PIDS+=("$DPID")
    local i
    for ((i = 0; i < 150; i++)); do
        if curl -fsS -m 1 "http://$ADMIN/healthz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$DPID" 2>/dev/null || { tail -20 "$WORK/daemon.log" >&2; die "daemon exited at start"; }
        sleep 0.2
    done
    tail -20 "$WORK/daemon.log" >&2
    die "daemon did not come up in 30 s"
}

start_sink() {
    # RTP from the daemon (hold prompt, relay) lands here and is dropped.
    "$PY" -c '
import socket, selectors, sys
sel = selectors.DefaultSelector()
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", int(p))); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
while True:
    for k, _ in sel.select():
        try:
            while True: k.fileobj.recv(2048)
        except BlockingIOError: pass
' "$SINK_CALLER" "$SINK_SEAT" &
    PIDS+=("$!")
}

# register_seats N: one SIPp client run over the CSV, bound to the UAS port (the registrar targets the
# REGISTER's source address), then the single SIPp UAS takes that port over.
register_seats() {
    register_seats_from "" "$WORK/seats.csv" "$1" "$UAS_PORT" $((BASE + 11)) $((BASE + 12)) $((BASE + 24)) \
        "$LOAD_DIR/seat_uas.xml" -key seat_rtp_port "$SINK_SEAT"
}

# register_seats_from NAME CSV N PORT REG_CP UAS_CP UAS_MP SCENARIO [UAS_ARGS...]: registers the N seats of
# CSV from PORT (SIPp control port REG_CP), then one SIPp UAS running SCENARIO takes PORT over (control port
# UAS_CP, media port UAS_MP, extra arguments UAS_ARGS); waits until N more seats are available. NAME names
# them in the log (may be empty); logs and stats are $WORK/NAME_* (seat_*); the UAS's pid is in UAS_PID.
register_seats_from() {
    local name=$1 csv=$2 n=$3 port=$4 reg_cp=$5 uas_cp=$6 uas_mp=$7 scenario=$8
    shift 8
    local before avail what=${name:+$name }seats
    before=$($LIB seats-available "$ADMIN")
    log "registering $n $what"
    (cd "$WORK" && timeout 120 sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/seat_register.xml" -inf "$csv" \
        -m "$n" -r 400 -l 400 -i 127.0.0.1 -p "$port" -t u1 -nostdin -cp "$reg_cp" -mp $((uas_mp - 4)) \
        -buff_size $BUFF -timeout 100s -trace_err -trace_stat -stf "$WORK/${name:-seat}_register_stat.csv" \
        >"$WORK/${name:-seat}_register.out" 2>&1) || { tail -5 "$WORK"/*register*_errors.log 2>/dev/null >&2; die "$what registration failed (see $WORK/${name:-seat}_register.out)"; }
    (cd "$WORK" && exec sipp -sf "$scenario" -i 127.0.0.1 -p "$port" -t u1 -nostdin \
        -cp "$uas_cp" -mp "$uas_mp" -buff_size $BUFF "$@" \
        -trace_err -trace_stat -fd 1 -stf "$WORK/${name:-seat}_uas_stat.csv" -trace_counts >"$WORK/${name:-seat}_uas.out" 2>&1) &
    UAS_PID=$!
    PIDS+=("$UAS_PID")
    avail=$($LIB wait-seats "$ADMIN" $((before + n)) 30) || die "only $((avail - before)) of $n $what available after 30 s"
    log "$((avail - before)) $what available"
}

# drive RATE SECONDS TALK_MS MAX_ACTIVE SEATS: the caller run, the wait for idle, the records, the summary.
drive() {
    local rate=$1 seconds=$2 talk=$3 max_active=$4 seats=$5
    local total=$((rate * seconds))
    local before after t0 t1 wall idle0 idle1
    # The daemon's idle cost (timers, housekeeping) over 3 s, to separate it from the per-call cost.
    idle0=$($LIB snapshot "$DPID")
    sleep 3
    idle1=$($LIB snapshot "$DPID")
    before=$($LIB snapshot "$DPID")
    log "calling: $rate calls/s for $seconds s ($total calls), talk $talk ms"
    t0=$(date +%s.%N)
    $LIB sample "$DPID" "$WORK/daemon_samples.csv" 1 &
    local sampler=$!
    PIDS+=("$sampler")
    $LIB sample-status "$ADMIN" "$WORK/status_samples.csv" 1 &
    local status_sampler=$!
    PIDS+=("$status_sampler")
    # Bound: the offer window, talk, and the 20 s answer timeout of caller.xml, plus margin.
    (cd "$WORK" && timeout $((seconds + talk / 1000 + 90)) sipp "127.0.0.1:$SIP_PORT" -sf "$LOAD_DIR/caller.xml" \
        -s 12345 -key caller_rtp_port "$SINK_CALLER" -r "$rate" -m "$total" -d "$talk" \
        -i 127.0.0.1 -p "$CALLER_PORT" -t u1 -nostdin -cp $((BASE + 10)) -mp $((BASE + 28)) -buff_size $BUFF \
        -timeout $((seconds + talk / 1000 + 80))s -trace_stat -fd 1 -stf "$WORK/caller_stat.csv" -trace_counts \
        -trace_err >"$WORK/caller.out" 2>&1) || log "caller sipp exited non-zero (failed calls or timeout)"
    t1=$(date +%s.%N)
    kill "$sampler" "$status_sampler" 2>/dev/null || true
    wall=$(echo "$t1 - $t0" | bc)
    local active answered rows warn
    active=$($LIB wait-idle "$ADMIN" "${LOAD_IDLE_WAIT:-40}")
    answered=$($LIB answered "$WORK/caller*_counts.csv")
    rows=$($LIB wait-records "$WORK/hotline.db" "$answered" 20)
    after=$($LIB snapshot "$DPID")
    local measured
    measured=$(echo "$(date +%s.%N) - $t0" | bc)
    $LIB status "$ADMIN" >"$WORK/status_after.json"
    warn=$(grep -c -E ' (WARN|ERROR) ' "$WORK/daemon.log" || true)
    SUMMARY_RC=0
    $LIB summary rate="$rate" seconds="$seconds" talk_ms="$talk" seats="$seats" max_active="$max_active" \
        stat="$WORK/caller_stat.csv" counts="$WORK/caller*_counts.csv" before="$before" after="$after" \
        status="$WORK/status_after.json" clk_tck="$(getconf CLK_TCK)" wall="$wall" idle0="$idle0" idle1="$idle1" measured_s="$measured" records="$rows" active_after="$active" \
        pid="$DPID" samples="$WORK/daemon_samples.csv" status_samples="$WORK/status_samples.csv" warn_lines="$warn" sip_ports="$SIP_PORT,$CALLER_PORT,$UAS_PORT" mode="${DRIVE_MODE:-fixed}" || SUMMARY_RC=$?
    if ((warn > 0)); then
        log "daemon WARN/ERROR lines (first 5 distinct):"
        grep -E ' (WARN|ERROR) ' "$WORK/daemon.log" | sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -5 >&2 || true   # head closes the pipe early: SIGPIPE must not end the script (pipefail)
    fi
    if [[ -n "${LOAD_KEEP:-}" ]]; then log "logs in $WORK"; fi
}
