#!/usr/bin/env bash
# Kamailio and hotlined side by side, one run, same box, same SIPp caller and seat scenarios, same rate.
#   tests/load/compare-kamailio.sh RATE SECONDS [TALK_MS]        e.g. tests/load/compare-kamailio.sh 500 30
#
# 1. Kamailio (Debian `kamailio` 5.6, deploy/kamailio/kamailio.cfg: stateful proxy with registrar,
#    usrloc in memory, record-route) on its own ports: the N seats register there with the same digest as at
#    hotlined (seat_register.xml, the same CSV), one SIPp UAS answers them (seat_uas.xml), the caller SIPp
#    (caller.xml) offers RATE calls/s for SECONDS s, talk TALK_MS (default 1000).
# 2. hotlined on the ports of common.sh, exactly as tests/load/run.sh does it (same functions).
# 3. One table: completed calls/s, clean or not, failed calls, SIPp retransmissions, server CPU per call
#    (utime+stime of every process of the server, /proc), peak memory (PSS and RSS summed over the
#    server's processes, sampled each second, and the largest process's VmHWM), and hotlined / Kamailio.
#
# Env: as run.sh (HOTLINED_BIN, LOAD_PORT_BASE, LOAD_KEEP, RUST_LOG, LOAD_IDLE_WAIT; LOAD_MAX_CPS defaults
#      to max(1000, 2 × RATE) here: Kamailio has no admission limit), plus
#      KAM_SHM_MB (kamailio -m, default 1024), KAM_PKG_MB (-M, default 32), KAM_CHILDREN (UDP workers,
#      default 8), KAMAILIO_BIN (default kamailio on PATH). LOAD_MEDIA_MIN/MAX default to
#      LOAD_PORT_BASE+1000 .. +16998 (4000..19998 with the default base, as run.sh).
# Exit 2 on a setup error (nothing installed, a server that does not start, seats that do not register),
# else 0: failed calls are a result, shown in the table, not an error of the script.
set -euo pipefail

_base=${LOAD_PORT_BASE:-3000}
# The RTP range: base+1000 .. base+16998 by default (4000..19998 with the default base, as run.sh). With a
# high base keep it below the kernel's ephemeral range (ip_local_port_range, 32768.. here), or other
# processes' sockets take ports from it ("Address already in use"), e.g. LOAD_MEDIA_MIN=20000 LOAD_MEDIA_MAX=32766.
export LOAD_MEDIA_MIN=${LOAD_MEDIA_MIN:-$((_base + 1000))}
export LOAD_MEDIA_MAX=${LOAD_MEDIA_MAX:-$((_base + 16998))}
source "$(dirname "$0")/common.sh"

RATE=${1:?usage: compare-kamailio.sh RATE SECONDS [TALK_MS]}
SECONDS_=${2:?usage: compare-kamailio.sh RATE SECONDS [TALK_MS]}
TALK=${3:-1000}
SEATS=$(((RATE * (TALK + 1000) / 1000) * 3 / 2 + 10))
MAX_ACTIVE=${LOAD_MAX_ACTIVE:-20000}
# Kamailio has no admission limit: hotlined's (calls.max_calls_per_second, default 1,000) is lifted to twice
# the rate unless LOAD_MAX_CPS says otherwise, so both servers carry every offered call.
export LOAD_MAX_CPS=${LOAD_MAX_CPS:-$((RATE * 2 > 1000 ? RATE * 2 : 1000))}

KAM=${KAMAILIO_BIN:-$(command -v kamailio || true)}
[[ -n "$KAM" && -x "$KAM" ]] || die "kamailio not found: apt-get install -y kamailio"
KAMCMD=$(command -v kamcmd || echo "$(dirname "$KAM")/kamcmd")
[[ -x "$KAMCMD" ]] || die "kamcmd not found (package kamailio)"
KAM_CFG="$REPO/deploy/kamailio/kamailio.cfg"
[[ -f "$KAM_CFG" ]] || die "no $KAM_CFG"

# Kamailio's own ports (none shared with common.sh's: base+10..12, 20..31, 60, 62, 70, 80, 90, 92).
KAM_SIP=$((BASE + 50))
KAM_CALLER=$((BASE + 52))
KAM_UAS=$((BASE + 54))
KAM_CALLER_CP=$((BASE + 45))
KAM_REG_CP=$((BASE + 46))
KAM_UAS_CP=$((BASE + 47))
KAM_CALLER_MP=$((BASE + 32))
KAM_UAS_MP=$((BASE + 40))   # the registering SIPp uses UAS_MP - 4 = base+36
KAM_RUN="$WORK/kam"
KAM_SOCK="unix:$KAM_RUN/kamailio_ctl"
mkdir -p "$KAM_RUN"

kamstat() {   # kamstat NAME: one statistic's value (e.g. usrloc:registered_users), -1 if unreadable
    local v
    v=$(timeout 5 "$KAMCMD" -s "$KAM_SOCK" stats.get_statistics all 2>/dev/null | grep -F "$1 = " | head -1 | grep -oE '= *-?[0-9]+' | tr -dc '0-9-') || true
    echo "${v:--1}"
}

start_kamailio() {
    log "kamailio: $KAM -f $KAM_CFG, udp 127.0.0.1:$KAM_SIP, -m ${KAM_SHM_MB:-1024} -M ${KAM_PKG_MB:-32}, ${KAM_CHILDREN:-8} children, $SEATS seats"
    "$KAM" -f "$KAM_CFG" -DD -E -m "${KAM_SHM_MB:-1024}" -M "${KAM_PKG_MB:-32}" -l "udp:127.0.0.1:$KAM_SIP" \
        -Y "$KAM_RUN" -P "$KAM_RUN/kamailio.pid" -w "$KAM_RUN" \
        -A "SEATS=$SEATS" -A "CHILDREN=${KAM_CHILDREN:-8}" -A "CTL_SOCK=\"$KAM_SOCK\"" >"$KAM_RUN/kamailio.log" 2>&1 &
    KPID=$!
    PIDS+=("$KPID")
    local i
    for ((i = 0; i < 75; i++)); do
        if timeout 2 "$KAMCMD" -s "$KAM_SOCK" core.uptime >/dev/null 2>&1; then return 0; fi
        kill -0 "$KPID" 2>/dev/null || { tail -20 "$KAM_RUN/kamailio.log" >&2; die "kamailio exited at start"; }
        sleep 0.2
    done
    tail -20 "$KAM_RUN/kamailio.log" >&2
    die "kamailio did not answer kamcmd in 15 s"
}

stop_kamailio() {
    local kids i
    kids=$(pgrep -P "$KPID" || true)
    kill "$UAS_K" 2>/dev/null || true
    kill "$KPID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$KPID" $kids 2>/dev/null || true
    wait "$KPID" 2>/dev/null || true
}

register_kamailio_seats() {
    local n=$1 reg i
    log "registering $n seats at kamailio"
    (cd "$KAM_RUN" && timeout 120 sipp "127.0.0.1:$KAM_SIP" -sf "$LOAD_DIR/seat_register.xml" -inf "$WORK/seats.csv" \
        -m "$n" -r 400 -l 400 -i 127.0.0.1 -p "$KAM_UAS" -t u1 -nostdin -cp "$KAM_REG_CP" -mp $((KAM_UAS_MP - 4)) \
        -buff_size $BUFF -timeout 100s -trace_err -trace_stat -stf "$KAM_RUN/seat_register_stat.csv" \
        >"$KAM_RUN/seat_register.out" 2>&1) || { tail -5 "$KAM_RUN"/*register*_errors.log 2>/dev/null >&2; die "seat registration at kamailio failed (see $KAM_RUN/seat_register.out)"; }
    (cd "$KAM_RUN" && exec sipp -sf "$LOAD_DIR/seat_uas.xml" -i 127.0.0.1 -p "$KAM_UAS" -t u1 -nostdin \
        -cp "$KAM_UAS_CP" -mp "$KAM_UAS_MP" -buff_size $BUFF -key seat_rtp_port "$SINK_SEAT" \
        -trace_err -trace_stat -fd 1 -stf "$KAM_RUN/seat_uas_stat.csv" -trace_counts >"$KAM_RUN/seat_uas.out" 2>&1) &
    UAS_K=$!
    PIDS+=("$UAS_K")
    for ((i = 0; i < 60; i++)); do
        reg=$(kamstat usrloc:registered_users)
        ((reg >= n)) && break
        sleep 0.5
    done
    ((reg >= n)) || die "only $reg of $n seats registered at kamailio after 30 s"
    log "$reg seats registered at kamailio"
}

# drive_kamailio RATE SECONDS TALK_MS: the same caller run as common.sh's drive, against Kamailio.
drive_kamailio() {
    local rate=$1 seconds=$2 talk=$3
    local total=$((rate * seconds)) idle0 idle1 before after t0 t1 wall measured procs hwm uas_retrans
    idle0=$($LIB tree-snapshot "$KPID")
    sleep 3
    idle1=$($LIB tree-snapshot "$KPID")
    before=$($LIB tree-snapshot "$KPID")
    log "kamailio: calling $rate calls/s for $seconds s ($total calls), talk $talk ms"
    t0=$(date +%s.%N)
    $LIB tree-sample "$KPID" "$KAM_RUN/tree_samples.csv" 1 &
    local sampler=$!
    PIDS+=("$sampler")
    (cd "$KAM_RUN" && timeout $((seconds + talk / 1000 + 90)) sipp "127.0.0.1:$KAM_SIP" -sf "$LOAD_DIR/caller.xml" \
        -s 12345 -key caller_rtp_port "$SINK_CALLER" -r "$rate" -m "$total" -d "$talk" \
        -i 127.0.0.1 -p "$KAM_CALLER" -t u1 -nostdin -cp "$KAM_CALLER_CP" -mp "$KAM_CALLER_MP" -buff_size $BUFF \
        -timeout $((seconds + talk / 1000 + 80))s -trace_stat -fd 1 -stf "$KAM_RUN/caller_stat.csv" -trace_counts \
        -trace_err >"$KAM_RUN/caller.out" 2>&1) || log "caller sipp exited non-zero (failed calls or timeout)"
    t1=$(date +%s.%N)
    wall=$(echo "$t1 - $t0" | bc)
    # The BYE transactions of the last calls finish within a second; then the window closes.
    sleep 1
    after=$($LIB tree-snapshot "$KPID")
    measured=$(echo "$(date +%s.%N) - $t0" | bc)
    sleep 1.2
    kill "$sampler" 2>/dev/null || true
    procs=$($PY -c "import sys; sys.path.insert(0, '$LOAD_DIR'); import loadlib; print(len(loadlib.tree_pids($KPID)))")
    hwm=$($LIB tree-max-hwm-mb "$KPID")
    uas_retrans=$($PY -c "import sys; sys.path.insert(0, '$LOAD_DIR'); import loadlib; print(loadlib.last_row('$KAM_RUN/seat_uas_stat.csv').get('Retransmissions(C)', -1))" 2>/dev/null || echo -1)
    $LIB proxy-summary server=kamailio rate="$rate" seconds="$seconds" talk_ms="$talk" seats="$SEATS" \
        stat="$KAM_RUN/caller_stat.csv" counts="$KAM_RUN/caller*_counts.csv" before="$before" after="$after" \
        clk_tck="$(getconf CLK_TCK)" wall="$wall" idle0="$idle0" idle1="$idle1" measured_s="$measured" \
        samples="$KAM_RUN/tree_samples.csv" procs="$procs" uas_retrans="$uas_retrans" \
        sip_ports="$KAM_SIP,$KAM_CALLER,$KAM_UAS" kam_max_hwm_mb="$hwm" \
        kam_shm_max_used_kb=$(($(kamstat shmem:max_used_size) / 1024)) \
        kam_shm_used_after_kb=$(($(kamstat shmem:real_used_size) / 1024)) \
        kam_tm_uas_transactions="$(kamstat tmx:UAS_transactions)" \
        kam_tm_2xx="$(kamstat tmx:2xx_transactions)" \
        kam_tm_5xx="$(kamstat tmx:5xx_transactions)" \
        kam_tm_4xx="$(kamstat tmx:4xx_transactions)" \
        kam_drop_requests="$(kamstat core:drop_requests)" \
        kam_err_requests="$(kamstat core:err_requests)" \
        kam_registered_users="$(kamstat usrloc:registered_users)" >"$KAM_RUN/summary.txt"
    cat "$KAM_RUN/summary.txt"
}

log "compare: $RATE calls/s for $SECONDS_ s, talk $TALK ms, $SEATS seats, hotlined max_calls_per_second $LOAD_MAX_CPS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
build_daemon
write_config "$SEATS" "$MAX_ACTIVE"

# --- Kamailio ---------------------------------------------------------------------------------------
start_kamailio
register_kamailio_seats "$SEATS"
drive_kamailio "$RATE" "$SECONDS_" "$TALK"
stop_kamailio
log "kamailio stopped; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- hotlined (as run.sh) ---------------------------------------------------------------------------
start_daemon
start_sink
register_seats "$SEATS"
$LIB tree-sample "$DPID" "$WORK/hot_tree_samples.csv" 1 &
PIDS+=("$!")
drive "$RATE" "$SECONDS_" "$TALK" "$MAX_ACTIVE" "$SEATS" >"$WORK/hot_summary.txt"
echo "hotlined:"
cat "$WORK/hot_summary.txt"
log "hotlined run done; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table ----------------------------------------------------------------------------------------
$LIB compare kam="$KAM_RUN/summary.txt" hot="$WORK/hot_summary.txt" hot_samples="$WORK/hot_tree_samples.csv" \
    hot_uas_stat="$WORK/seat_uas_stat.csv" hot_status="$WORK/status_after.json" ||
    die "no comparison (a summary is missing)"
exit 0
