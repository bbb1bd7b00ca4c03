#!/usr/bin/env bash
# Overload run: far more calls than the daemon may hold (max_active), bounded in time.
#   tests/load/overload.sh [RATE] [SECONDS] [MAX_ACTIVE] [TALK_MS]     defaults: 1000 20 200 2000
# Asserts: every call ends (calls.active back to 0), a record for every answered call, the excess refused
# with 503 + a numeric Retry-After (counted by SIPp and by the daemon's refused_overload), and at most 1% of
# calls timing out instead. Env as for run.sh. Exit 1 if an assertion fails, 2 on a setup error.
source "$(dirname "$0")/common.sh"

RATE=${1:-1000}
SECONDS_=${2:-20}
MAX_ACTIVE=${3:-200}
TALK=${4:-2000}
# A seat for every admitted call, so refusals come from max_active and not from a long queue.
SEATS=$((MAX_ACTIVE * 3 / 2 + 10))

build_daemon
write_config "$SEATS" "$MAX_ACTIVE"
start_daemon
start_sink
register_seats "$SEATS"
DRIVE_MODE=overload drive "$RATE" "$SECONDS_" "$TALK" "$MAX_ACTIVE" "$SEATS"
exit "$SUMMARY_RC"
