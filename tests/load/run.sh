#!/usr/bin/env bash
# Fixed-rate load run against hotlined on loopback.
#   tests/load/run.sh RATE SECONDS [TALK_MS]        e.g. tests/load/run.sh 200 30
# Env: HOTLINED_BIN (skip the release build), LOAD_PORT_BASE (default 3000), LOAD_MAX_ACTIVE,
#      LOAD_MAX_CPS (calls.max_calls_per_second, default the daemon's 2000: above it calls get 503),
#      LOAD_MEDIA_MIN / LOAD_MEDIA_MAX (RTP port range, default 4000..19998 = 4,000 calls),
#      LOAD_KEEP=1 (keep the work dir with daemon/SIPp logs), RUST_LOG (daemon log level, default info),
#      LOAD_IDLE_WAIT (seconds to wait for calls.active to reach 0 after the run, default 40).
# Prints one summary; exit 1 if a call record was lost or a call stayed active, 2 on a setup error.
source "$(dirname "$0")/common.sh"

RATE=${1:?usage: run.sh RATE SECONDS [TALK_MS]}
SECONDS_=${2:?usage: run.sh RATE SECONDS [TALK_MS]}
TALK=${3:-1000}
# Enough seats for RATE × (talk + 1 s) concurrent calls, × 1.5.
SEATS=$(((RATE * (TALK + 1000) / 1000) * 3 / 2 + 10))
MAX_ACTIVE=${LOAD_MAX_ACTIVE:-20000}

build_daemon
write_config "$SEATS" "$MAX_ACTIVE"
start_daemon
start_sink
register_seats "$SEATS"
drive "$RATE" "$SECONDS_" "$TALK" "$MAX_ACTIVE" "$SEATS"
exit "$SUMMARY_RC"
