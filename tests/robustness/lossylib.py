#!/usr/bin/env python3
"""Figures of tests/robustness/lossy.sh: media pacing from impair.py's RTP log, setup-time percentiles
from SIPp's -trace_rtt file. `python3 lossylib.py selftest` checks the arithmetic on synthetic data.

    lossylib.py pacing RTP_LOG          -> JSON {streams, packets, within_2ms_pct, p50_ms, p99_ms, max_ms}
    lossylib.py setup RTT_CSV [RTD]     -> JSON {calls, p50_ms, p90_ms, p99_ms, max_ms}
"""
import json
import math
import sys

SLOT_S = 0.020


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def pacing_errors(packets):
    """|send time - slot| in seconds for each packet of one stream [(t, seq)], in send order.

    The slot of a packet is the stream's first send time plus 20 ms per RTP sequence step, with the
    reference moved to the earliest packet seen so far (a packet that left early says the grid is
    earlier; a late one is the error we measure). A gap in sequence numbers (a new prompt, a source
    switch) keeps the grid, since the daemon paces on one clock."""
    errors = []
    base_t = base_seq = None
    for t, seq in packets:
        if base_t is None:
            base_t, base_seq = t, seq
            errors.append(0.0)
            continue
        steps = (seq - base_seq) & 0xFFFF
        if steps >= 0x8000:  # an old packet (wrapped backwards): not ours to judge
            continue
        slot = base_t + steps * SLOT_S
        if t < slot:
            # Earlier than the grid: the grid was late; re-anchor on this packet.
            base_t, base_seq = t, seq
            slot = t
        errors.append(t - slot)
    return errors


def pacing(path):
    streams = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 8:
                continue
            t, src, dst, sport, dport, ssrc, seq = (
                float(parts[0]), parts[1], parts[2], parts[3], parts[4], parts[5], int(parts[6]))
            streams.setdefault((src, dst, sport, dport, ssrc), []).append((t, seq))
    errors = []
    for pkts in streams.values():
        errors.extend(pacing_errors(pkts))
    errors.sort()
    n = len(errors)
    within = sum(1 for e in errors if e <= 0.002)
    ms = lambda v: None if v is None else round(v * 1000.0, 3)
    return {
        "streams": len(streams),
        "packets": n,
        "within_2ms_pct": round(100.0 * within / n, 3) if n else None,
        "p50_ms": ms(percentile(errors, 50)),
        "p99_ms": ms(percentile(errors, 99)),
        "max_ms": ms(errors[-1] if errors else None),
    }


def setup(path, rtd="setup"):
    """SIPp -trace_rtt lines: Date_ms;response_time_ms;rtd_no (header first)."""
    values = []
    with open(path) as f:
        for line in f:
            parts = line.strip().split(";")
            if len(parts) < 3 or not parts[1].replace(".", "", 1).isdigit():
                continue
            if parts[2] in (rtd, "1"):
                values.append(float(parts[1]))
    values.sort()
    return {
        "calls": len(values),
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else None,
    }


def selftest():
    # On the grid: no error.
    assert max(pacing_errors([(1.0 + 0.02 * k, 100 + k) for k in range(10)])) < 1e-9
    # One packet 3 ms late, the next back on the grid.
    e = pacing_errors([(1.0, 1), (1.023, 2), (1.040, 3)])
    assert abs(e[1] - 0.003) < 1e-9 and abs(e[2]) < 1e-9, e
    # A packet early re-anchors the grid: later ones are judged from it.
    e = pacing_errors([(1.0, 1), (1.015, 2), (1.035, 3), (1.060, 4)])
    assert abs(e[1]) < 1e-9 and abs(e[2]) < 1e-9 and abs(e[3] - 0.005) < 1e-9, e
    # A sequence gap keeps the grid (silence between prompts).
    e = pacing_errors([(1.0, 1), (1.1, 6), (1.121, 7)])
    assert abs(e[1]) < 1e-9 and abs(e[2] - 0.001) < 1e-9, e
    # Sequence wrap.
    e = pacing_errors([(1.0, 65535), (1.02, 0)])
    assert abs(e[1]) < 1e-9, e
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99) == 10
    print("lossylib selftest ok")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "selftest"
    if cmd == "pacing":
        print(json.dumps(pacing(sys.argv[2])))
    elif cmd == "setup":
        print(json.dumps(setup(sys.argv[2], *(sys.argv[3:4]))))
    else:
        selftest()
