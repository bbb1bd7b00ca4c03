#!/usr/bin/env bash
# A fuzzing campaign, off CI: builds the AFL++ binaries, runs every target (or those named in
# $TARGETS) for MINUTES each, one after another on one core under `nice -n 19` (the machine is
# shared), and prints execs, paths (corpus entries), edge coverage, crashes and hangs per target.
#
#   fuzz/campaign.sh [MINUTES]            default 5 minutes per target
#   TARGETS="sip_message sdp" fuzz/campaign.sh 2
#   fuzz/campaign.sh --minimize           after a campaign: corpus ∪ new queue → afl-cmin → corpus/
#
# Findings stay in fuzz/out/<target>/default/{crashes,hangs}/: triage each into
# fuzz/regressions/<target>/ (replayed by `tests/run`) with a fix and a unit test (README.md).
set -euo pipefail
cd "$(dirname "$0")"

ALL="sip_message sip_stream sdp digest rtp rtcp rfc4733 wav dialplan config"
TARGETS=${TARGETS:-$ALL}

dict_for() {
  case $1 in
    sip_message | sip_stream) echo dict/sip.dict ;;
    sdp) echo dict/sdp.dict ;;
    digest) echo dict/digest.dict ;;
    dialplan | config) echo dict/toml.dict ;;
    *) echo "" ;;
  esac
}

# Milliseconds per input before AFL calls it a hang: the dial plan writes and loads two files.
timeout_for() {
  case $1 in
    dialplan) echo 2000 ;;
    *) echo 500 ;;
  esac
}

command -v cargo-afl >/dev/null 2>&1 || cargo install cargo-afl
# AFL++ itself is built once per toolchain; "already built" is not an error.
cargo afl config --build >/dev/null 2>&1 || true

# Shared machine: one core, lowest priority, no CPU pinning, no frequency or core-dump checks.
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_UI=1 AFL_SKIP_CRASHES=1

nice -n 19 cargo afl build --release --quiet

if [ "${1:-}" = "--minimize" ]; then
  AFL_BIN=$(dirname "$(find ~/.local/share/afl.rs -path '*/afl/bin/afl-cmin.bash' | head -1)")
  export AFL_PATH=$AFL_BIN PATH=$AFL_BIN:$PATH
  for t in $TARGETS; do
    queue=out/$t/default/queue
    [ -d "$queue" ] || { echo "$t: no campaign output, skipped"; continue; }
    pool=$(mktemp -d)
    cp corpus/"$t"/* "$pool"/ 2>/dev/null || true
    cp "$queue"/id:* "$pool"/ 2>/dev/null || true
    rm -rf "corpus/$t.min"
    # The bash afl-cmin: AFL++ 4.40c's Python one (what `cargo afl cmin` runs) records no tuples
    # for these persistent-mode binaries and would "minimise" every corpus to nothing.
    nice -n 19 "$AFL_BIN/afl-cmin.bash" -t "$(timeout_for "$t")" -i "$pool" -o "corpus/$t.min" \
      -- "target/release/$t" >/dev/null 2>&1 || true
    if [ -z "$(ls -A "corpus/$t.min" 2>/dev/null)" ]; then
      echo "$t: afl-cmin kept nothing; corpus left as it was"
      rm -rf "corpus/$t.min" "$pool"
      continue
    fi
    # Short stable names instead of AFL's long ones; content hashes keep them unique.
    rm -rf "corpus/$t" && mkdir -p "corpus/$t"
    for f in "corpus/$t.min"/*; do
      cp "$f" "corpus/$t/$(sha1sum "$f" | cut -c1-16)"
    done
    rm -rf "corpus/$t.min" "$pool"
    echo "$t: $(ls "corpus/$t" | wc -l) inputs, $(du -sk "corpus/$t" | cut -f1) KiB"
  done
  exit 0
fi

MINUTES=${1:-5}
mkdir -p out
printf '%-12s %12s %9s %7s %9s %8s %6s\n' target execs exec/s paths coverage crashes hangs
for t in $TARGETS; do
  rm -rf "out/$t"
  dict=$(dict_for "$t")
  # No terminal: AFL never touches the tty of the shell that started the campaign.
  setsid -w nice -n 19 cargo afl fuzz -V $((MINUTES * 60)) -t "$(timeout_for "$t")" \
    ${dict:+-x "$dict"} -i "corpus/$t" -o "out/$t" "target/release/$t" </dev/null >"out/$t.log" 2>&1 || true
  stats=out/$t/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    echo "$t: AFL did not start, see fuzz/out/$t.log"
    continue
  fi
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  printf '%-12s %12s %9s %7s %9s %8s %6s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" \
    "$(get corpus_count)" "$(get bitmap_cvg)" "$(get saved_crashes)" "$(get saved_hangs)"
done
