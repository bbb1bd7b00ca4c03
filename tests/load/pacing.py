#!/usr/bin/env python3
"""Pacing error of the RTP streams in a pcap (for tests/load/threeway.sh). Standard library only.

Every RTP stream (source address, destination address, SSRC) is compared with its ideal 20-ms slots:
  * a packet's slot index k comes from its RTP timestamp, (ts - ts_first) / 160 (the daemon derives its
    timestamps from the pacing tick, so even a very late packet keeps its own slot and a skipped tick is a
    missing slot, not a shifted stream);
  * e_k = t_k - k * 20 ms is the packet's offset; the pacer never sends early, so the stream's slot phase is
    its lower envelope: the minimum of e_k, after removing a linear drift between the capture clock and the
    sender's (Theil-Sen slope through the per-second minima: robust against stalls, ~0 on one host);
  * the error is e_k minus that envelope (>= 0), so a constant offset common to the whole stream (e.g. the
    sender's fixed wake-up latency) is not visible; jitter, stalls and bursts are.
Figures: packets, missing slots, duplicates, % within the tolerance (of packets, and of packets + missing
slots), p50/p99/max error, drift estimate.

  pacing.py PCAP [--from EPOCH_S] [--to EPOCH_S] [--slot-ms 20] [--tolerance-ms 2] [--min-packets 50]
"""
import argparse
import json
import math
import struct
import sys

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LINUX_SLL, LINK_IPV4, LINK_LINUX_SLL2 = 0, 1, 101, 113, 228, 276
TS_MODULO = 1 << 32


def read_pcap(path):
    """Yield (t_ns, src, dst, udp_payload) for each IPv4/UDP packet of a classic pcap file; src/dst are
    (ip, port). Truncated or non-UDP frames are skipped."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic_le = struct.unpack_from("<I", data, 0)[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        end = "<"
        magic = magic_le
    else:
        magic = struct.unpack_from(">I", data, 0)[0]
        end = ">"
        if magic not in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            raise ValueError(f"{path}: not a classic pcap file")
    frac_ns = 1 if magic == PCAP_MAGIC_NS else 1000
    linktype = struct.unpack_from(end + "I", data, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(end + "IIII")
    off = 24
    n = len(data)
    while off + 16 <= n:
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += 16
        frame = data[off : off + incl]
        off += incl
        t_ns = sec * 1_000_000_000 + frac * frac_ns
        ip = _ip_offset(linktype, frame)
        if ip is None or len(frame) < ip + 20 or frame[ip] >> 4 != 4:
            continue
        ihl = (frame[ip] & 0x0F) * 4
        if frame[ip + 9] != 17 or len(frame) < ip + ihl + 8:
            continue
        src_ip = ".".join(str(b) for b in frame[ip + 12 : ip + 16])
        dst_ip = ".".join(str(b) for b in frame[ip + 16 : ip + 20])
        sport, dport = struct.unpack_from(">HH", frame, ip + ihl)
        yield t_ns, (src_ip, sport), (dst_ip, dport), frame[ip + ihl + 8 :]


def _ip_offset(linktype, frame):
    if linktype == LINK_ETHERNET:
        at, etype = 12, None
        while len(frame) >= at + 2:
            etype = struct.unpack_from(">H", frame, at)[0]
            if etype in (0x8100, 0x88A8):  # VLAN tags
                at += 4
                continue
            break
        return at + 2 if etype == 0x0800 else None
    if linktype == LINK_LINUX_SLL:
        return 16 if len(frame) >= 16 and struct.unpack_from(">H", frame, 14)[0] == 0x0800 else None
    if linktype == LINK_LINUX_SLL2:
        return 20 if len(frame) >= 20 and struct.unpack_from(">H", frame, 0)[0] == 0x0800 else None
    if linktype == LINK_NULL:
        return 4
    if linktype in (LINK_RAW, LINK_IPV4):
        return 0
    return None


def rtp_header(payload):
    """(pt, seq, ts, ssrc) of an RTP packet (version 2, not RTCP), else None."""
    if len(payload) < 12 or payload[0] >> 6 != 2:
        return None
    pt = payload[1] & 0x7F
    if 72 <= pt <= 79:  # RTCP 200..207 with the marker bit read as part of the PT
        return None
    seq, ts, ssrc = struct.unpack_from(">HII", payload, 2)
    return pt, seq, ts, ssrc


def streams_from_pcap(path, t_from_ns=None, t_to_ns=None, src_ports=None):
    """{(src, dst, ssrc): [(t_ns, seq, ts), ...]} for the RTP packets in the window [t_from, t_to]."""
    out = {}
    for t_ns, src, dst, payload in read_pcap(path):
        if t_from_ns is not None and t_ns < t_from_ns:
            continue
        if t_to_ns is not None and t_ns > t_to_ns:
            continue
        if src_ports is not None and not (src_ports[0] <= src[1] <= src_ports[1]):
            continue
        h = rtp_header(payload)
        if h is None:
            continue
        out.setdefault((src, dst, h[3]), []).append((t_ns, h[1], h[2]))
    return out


def _median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def analyze_stream(packets, slot_ns=20_000_000, samples_per_slot=160, bucket_slots=50):
    """Errors (ns, >= 0) of one stream's packets [(t_ns, seq, ts)] against their slots, plus counts.

    Returns a dict: errors_ns (list), missing (slots without a packet between the first and the last),
    duplicates (same RTP seq again), misaligned (timestamp step not a multiple of a slot: rounded),
    drift_ppm (the slope removed)."""
    pk = sorted(packets)
    seen = set()
    uniq = []
    dups = 0
    for t, seq, ts in pk:
        if seq in seen:
            dups += 1
            continue
        seen.add(seq)
        uniq.append((t, ts))
    if not uniq:
        return {"errors_ns": [], "missing": 0, "duplicates": dups, "misaligned": 0, "drift_ppm": 0.0}
    t0, ts0 = uniq[0]
    ks = []
    misaligned = 0
    for t, ts in uniq:
        d = (ts - ts0) % TS_MODULO
        if d >= TS_MODULO // 2:
            d -= TS_MODULO  # before the first packet (reordered)
        k, r = divmod(d, samples_per_slot)
        if r:
            misaligned += 1
            k = round(d / samples_per_slot)
        ks.append(k)
    # Offsets from the nominal grid, relative to the first packet (keeps the numbers small).
    xs = [k * slot_ns for k in ks]
    es = [(t - t0) - x for (t, _), x in zip(uniq, xs)]
    # Lower envelope per bucket of `bucket_slots` slots: (x at the bucket's minimum, minimum).
    buckets = {}
    for x, e, k in zip(xs, es, ks):
        b = k // bucket_slots
        if b not in buckets or e < buckets[b][1]:
            buckets[b] = (x, e)
    pts = sorted(buckets.values())
    slope = 0.0
    if len(pts) >= 3:
        slopes = [
            (pts[j][1] - pts[i][1]) / (pts[j][0] - pts[i][0])
            for i in range(len(pts))
            for j in range(i + 1, len(pts))
            if pts[j][0] != pts[i][0]
        ]
        if slopes:
            slope = _median(slopes)
    resid = [e - slope * x for x, e in zip(xs, es)]
    base = min(resid)
    errors = [r - base for r in resid]
    distinct = len(set(ks))
    missing = (max(ks) - min(ks) + 1) - distinct
    return {
        "errors_ns": errors,
        "missing": missing,
        "duplicates": dups,
        "misaligned": misaligned,
        "drift_ppm": slope * 1e6,
    }


def quantile(sorted_xs, q):
    """Nearest-rank quantile of an ascending list (q in [0, 1])."""
    if not sorted_xs:
        return float("nan")
    i = max(0, min(len(sorted_xs) - 1, math.ceil(q * len(sorted_xs)) - 1))
    return sorted_xs[i]


def summarize(streams, tolerance_ns=2_000_000, min_packets=50, slot_ns=20_000_000):
    """Figures over every stream with at least `min_packets` packets (shorter ones are only counted)."""
    errors = []
    missing = dups = misaligned = short = 0
    drifts = []
    used = 0
    for pk in streams.values():
        if len(pk) < min_packets:
            short += 1
            continue
        r = analyze_stream(pk, slot_ns=slot_ns)
        used += 1
        errors.extend(r["errors_ns"])
        missing += r["missing"]
        dups += r["duplicates"]
        misaligned += r["misaligned"]
        drifts.append(r["drift_ppm"])
    errors.sort()
    within = sum(1 for e in errors if e <= tolerance_ns)
    n = len(errors)
    return {
        "streams": used,
        "short_streams": short,
        "packets": n,
        "missing_slots": missing,
        "duplicates": dups,
        "misaligned_ts": misaligned,
        "within_pct": round(100.0 * within / n, 3) if n else float("nan"),
        "within_pct_of_slots": round(100.0 * within / (n + missing), 3) if n else float("nan"),
        "p50_ms": round(quantile(errors, 0.50) / 1e6, 3),
        "p99_ms": round(quantile(errors, 0.99) / 1e6, 3),
        "p999_ms": round(quantile(errors, 0.999) / 1e6, 3),
        "max_ms": round(errors[-1] / 1e6, 3) if errors else float("nan"),
        "drift_ppm_median_abs": round(_median([abs(d) for d in drifts]), 2) if drifts else 0.0,
        "drift_ppm_max_abs": round(max((abs(d) for d in drifts), default=0.0), 2),
        "tolerance_ms": tolerance_ns / 1e6,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pcap")
    ap.add_argument("--from", dest="t_from", type=float, help="window start, seconds since the epoch")
    ap.add_argument("--to", dest="t_to", type=float, help="window end, seconds since the epoch")
    ap.add_argument("--src-ports", help="only packets from this source port range, e.g. 4000-19998")
    ap.add_argument("--slot-ms", type=float, default=20.0)
    ap.add_argument("--tolerance-ms", type=float, default=2.0)
    ap.add_argument("--min-packets", type=int, default=50)
    a = ap.parse_args(argv)
    ports = None
    if a.src_ports:
        lo, hi = a.src_ports.split("-")
        ports = (int(lo), int(hi))
    streams = streams_from_pcap(
        a.pcap,
        None if a.t_from is None else int(a.t_from * 1e9),
        None if a.t_to is None else int(a.t_to * 1e9),
        ports,
    )
    res = summarize(streams, int(a.tolerance_ms * 1e6), a.min_packets, int(a.slot_ms * 1e6))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
