#!/usr/bin/env bash
# Media engine figures for issue 5: (a) concurrent prompt streams on time, (b) relayed packets/s
# per core, (c) CPU per three-party mixed call, plus the sans-IO hot paths (divan).
# Each benchmark runs ONCE (the box has 2 cores shared with everything else).
#
#   tests/load/media-bench.sh            # normal scheduling
#   MEDIA_BENCH_FIFO=1 tests/load/media-bench.sh   # SCHED_FIFO (root): isolates the design from
#                                                  # other load on a shared machine
# Output: the RESULT lines; full output in $OUT (default /tmp/media-bench.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="${OUT:-/tmp/media-bench.txt}"
prefix=()
if [[ "${MEDIA_BENCH_FIFO:-0}" == 1 ]]; then prefix=(chrt -f 10); fi

cargo bench -p media --no-run >/dev/null 2>&1
bin() { ls -t "$CARGO_TARGET_DIR"/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
: >"$OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
for b in pacing relay conference; do
  echo "== $b" >>"$OUT"
  # The relay bench's generator spins on purpose; under SCHED_FIFO it would freeze the box. Its
  # figure is normalised by the worker's own CPU seconds, so normal scheduling is fair there.
  p=("${prefix[@]}"); [[ $b == relay ]] && p=()
  "${p[@]}" "$(bin "$b")" 2>&1 | tee -a "$OUT" | grep -E 'RESULT|streams|pairs|calls:' || true
done
echo "== media (divan)" >>"$OUT"
"$(bin media)" --bench 2>&1 | tee -a "$OUT" | grep -E 'mixer|relay|prompt|sdp|true|false' || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
