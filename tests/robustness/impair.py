#!/usr/bin/env python3
"""A netem in user space: network namespaces joined to this one by TUN pairs, with loss, delay, jitter and
the reordering that jitter brings, in both directions.

This box's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set), so `tc qdisc ... netem` is not an
option here; TUN is. Each namespace NAME gets a TUN device with PREFIX.2, its peer in this namespace has
PREFIX.1, and every packet between them passes through this process:

    impair.py --ns caller=10.77.1 --ns seat=10.77.2 --loss 5 --delay-ms 30 --jitter-ms 20 \
              --ready FILE --rtp-log FILE

Like netem's `delay 30ms 20ms` each packet's delay is drawn uniformly from [delay - jitter, delay + jitter],
independently, so packets 20 ms apart overtake each other (reordering). `--rtp-log` writes one line per UDP
packet that looks like RTP (version 2) sent from this namespace into a test namespace, timestamped when it
reached the TUN device — before any impairment — so the daemon's own pacing can be judged. It runs until
SIGTERM/SIGINT, then prints its counts as one JSON line and deletes the namespaces it made.
"""
import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def rtp_of(pkt):
    """(src, dst, sport, dport, ssrc, seq, pt) of an IPv4/UDP packet carrying RTP v2, else None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != 17:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    udp = pkt[ihl:]
    if len(udp) < 8 + 12:
        return None
    sport, dport = struct.unpack("!HH", udp[:4])
    rtp = udp[8:]
    if rtp[0] >> 6 != 2 or sport in (5060, 5080) or dport in (5060, 5080):
        return None
    seq = struct.unpack("!H", rtp[2:4])[0]
    ssrc = struct.unpack("!I", rtp[8:12])[0]
    src = ".".join(str(b) for b in pkt[12:16])
    dst = ".".join(str(b) for b in pkt[16:20])
    return src, dst, sport, dport, ssrc, seq, rtp[1] & 0x7F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", action="append", required=True, help="NAME=A.B.C (a /24 prefix)")
    ap.add_argument("--loss", type=float, default=5.0, help="percent of packets dropped, each direction")
    ap.add_argument("--delay-ms", type=float, default=30.0)
    ap.add_argument("--jitter-ms", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--ready", help="file written once the namespaces are up")
    ap.add_argument("--rtp-log", help="file of RTP packets sent into the namespaces, before impairment")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    made = []
    links = {}  # fd -> (peer fd, direction name)

    def teardown():
        for ns in made:
            subprocess.run(f"ip netns del {ns}", shell=True, check=False)

    try:
        for i, spec in enumerate(args.ns):
            name, prefix = spec.split("=")
            ns = f"h12345-{name}"
            subprocess.run(f"ip netns del {ns}", shell=True, check=False, stderr=subprocess.DEVNULL)
            sh(f"ip netns add {ns}")
            made.append(ns)
            inner, outer = f"h5in{i}", f"h5out{i}"
            fi, fo = open_tun(inner), open_tun(outer)
            sh(f"ip link set {inner} netns {ns}")
            sh(f"ip netns exec {ns} ip link set lo up")
            sh(f"ip netns exec {ns} ip addr add {prefix}.2 peer {prefix}.1 dev {inner}")
            sh(f"ip netns exec {ns} ip link set {inner} up")
            sh(f"ip netns exec {ns} ip route add default dev {inner}")
            sh(f"ip addr add {prefix}.1 peer {prefix}.2 dev {outer}")
            sh(f"ip link set {outer} up")
            links[fi] = (fo, f"{name}->host")
            links[fo] = (fi, f"host->{name}")
    except Exception:
        teardown()
        raise

    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("up\n")
    log = open(args.rtp_log, "w") if args.rtp_log else None
    counts = {d: {"in": 0, "dropped": 0, "out": 0} for _, d in links.values()}
    pending = []  # (release time, tie, fd, packet)
    tie = 0
    lo = max(0.0, args.delay_ms - args.jitter_ms) / 1000.0
    hi = (args.delay_ms + args.jitter_ms) / 1000.0
    fds = list(links)
    while not stop:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(pending)
            try:
                os.write(fd, pkt)
                counts[direction_of(links, fd)]["out"] += 1
            except OSError:
                pass
        timeout = max(0.0, pending[0][0] - now) if pending else 0.2
        try:
            ready, _, _ = select.select(fds, [], [], min(timeout, 0.2))
        except InterruptedError:
            continue
        for fd in ready:
            while True:
                try:
                    pkt = os.read(fd, 65535)
                except BlockingIOError:
                    break
                except OSError:
                    break
                peer, direction = links[fd]
                c = counts[direction]
                c["in"] += 1
                t = time.monotonic()
                if log and direction.startswith("host->"):
                    r = rtp_of(pkt)
                    if r:
                        log.write("%.6f %s %s %d %d %d %d %d\n" % ((t,) + r))
                if rng.random() * 100.0 < args.loss:
                    c["dropped"] += 1
                    continue
                tie += 1
                heapq.heappush(pending, (t + rng.uniform(lo, hi), tie, peer, pkt))
    if log:
        log.close()
    teardown()
    print(json.dumps({"impairment": counts}))


def direction_of(links, out_fd):
    """The direction whose packets are written to `out_fd` (its reading side is the peer)."""
    return links[links[out_fd][0]][1]


if __name__ == "__main__":
    sys.exit(main())
