#!/usr/bin/env python3
"""Self-check of pacing.py (the pacing figures of tests/load/threeway.sh) on synthetic streams with known
errors, and of its pcap reader on files written here. Run by tests/run:
    python3 -m unittest discover -s tests/load -p 'test_*.py'"""
import os
import struct
import tempfile
import unittest

import pacing

SLOT = 20_000_000  # ns
T0 = 1_796_000_000 * 1_000_000_000  # an epoch in ns
TS0 = 4_294_960_000  # wraps after 45 packets


def stream(late_ns, start=T0, ts0=TS0, ppm=0.0, skip=(), seq0=65_500):
    """Packets [(t_ns, seq, ts)] of one stream whose packet k leaves late_ns[k] after slot k, on a sender clock
    running `ppm` fast against the capture's; slots in `skip` are not sent."""
    out = []
    seq = seq0
    for k, late in enumerate(late_ns):
        if k in skip:
            continue
        ideal = k * SLOT * (1 + ppm / 1e6)
        out.append((start + int(ideal) + late, seq & 0xFFFF, (ts0 + 160 * k) % (1 << 32)))
        seq += 1
    return out


class AnalyzeStream(unittest.TestCase):
    def test_known_lateness_is_recovered_relative_to_the_best_packet(self):
        # 1000 packets: every one 150 µs after its slot (invisible: the envelope), 20 of them 2.5 ms more
        # and 5 of them 30 ms more (a stall).
        late = [150_000] * 1000
        for k in range(100, 120):
            late[k] += 2_500_000
        for k in range(500, 505):
            late[k] += 30_000_000
        r = pacing.analyze_stream(stream(late))
        e = sorted(r["errors_ns"])
        self.assertEqual(len(e), 1000)
        self.assertEqual(r["missing"], 0)
        self.assertEqual(e[0], 0)
        self.assertEqual(sum(1 for x in e if x <= 2_000_000), 975)
        self.assertEqual(e[-1], 30_000_000)
        self.assertAlmostEqual(r["drift_ppm"], 0.0, places=6)

    def test_a_packet_late_by_more_than_half_a_slot_keeps_its_slot(self):
        # Slot from the RTP timestamp, not from rounding the arrival time: 15 ms late is 15 ms late.
        late = [0] * 200
        late[50] = 15_000_000
        e = pacing.analyze_stream(stream(late))["errors_ns"]
        self.assertEqual(max(e), 15_000_000)
        self.assertEqual(sorted(e)[-2], 0)

    def test_drift_is_removed(self):
        # 100 ppm fast sender over 40 s = 4 ms at the end: without the correction most packets would be
        # "late"; with it, only the two real 3-ms excursions are.
        late = [0] * 2000
        late[700] = late[1500] = 3_000_000
        r = pacing.analyze_stream(stream(late, ppm=100.0))
        self.assertAlmostEqual(r["drift_ppm"], 100.0, delta=0.5)
        e = sorted(r["errors_ns"])
        self.assertLess(e[-3], 50_000)
        self.assertAlmostEqual(e[-1], 3_000_000, delta=50_000)

    def test_missing_slots_and_duplicates_are_counted(self):
        pk = stream([0] * 300, skip={10, 11, 12, 200})
        pk.append(pk[5])  # a duplicate (same seq), e.g. captured twice
        r = pacing.analyze_stream(pk)
        self.assertEqual(r["missing"], 4)
        self.assertEqual(r["duplicates"], 1)
        self.assertEqual(len(r["errors_ns"]), 296)
        self.assertEqual(max(r["errors_ns"]), 0)

    def test_summary_percentages_and_quantiles(self):
        a = [0] * 500
        b = [0] * 500
        for k in range(0, 500, 50):  # 10 packets of b 4 ms late
            b[k] = 4_000_000
        # b's first packet is late: the envelope must come from the others, not from the first packet.
        streams = {("a",): stream(a), ("b",): stream(b, start=T0 + 7_000_000), ("tiny",): stream([0] * 10)}
        s = pacing.summarize(streams, tolerance_ns=2_000_000, min_packets=50)
        self.assertEqual(s["streams"], 2)
        self.assertEqual(s["short_streams"], 1)
        self.assertEqual(s["packets"], 1000)
        self.assertEqual(s["within_pct"], 99.0)
        self.assertEqual(s["p50_ms"], 0.0)
        self.assertEqual(s["p99_ms"], 0.0)
        self.assertEqual(s["max_ms"], 4.0)
        s = pacing.summarize({("b",): stream(b, skip={1, 2, 3, 4, 5, 6, 7, 8, 9, 10})}, min_packets=50)
        self.assertEqual(s["missing_slots"], 10)
        self.assertEqual(s["packets"], 490)
        self.assertAlmostEqual(s["within_pct_of_slots"], 100 * 480 / 500, places=3)

    def test_quantile_is_nearest_rank(self):
        xs = list(range(1, 101))
        self.assertEqual(pacing.quantile(xs, 0.5), 50)
        self.assertEqual(pacing.quantile(xs, 0.99), 99)
        self.assertEqual(pacing.quantile(xs, 1.0), 100)


def rtp(seq, ts, ssrc, pt=0):
    return struct.pack(">BBHII", 0x80, pt, seq, ts, ssrc) + bytes(160)


def ether_ipv4_udp(src, dst, payload):
    udp = struct.pack(">HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
        bytes(int(x) for x in src[0].split(".")), bytes(int(x) for x in dst[0].split(".")),
    )
    return bytes(12) + b"\x08\x00" + ip + udp


def write_pcap(path, packets, nanos=True, snaplen=96, big_endian=False):
    e = ">" if big_endian else "<"
    magic = pacing.PCAP_MAGIC_NS if nanos else pacing.PCAP_MAGIC_US
    with open(path, "wb") as f:
        f.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
        for t_ns, frame in packets:
            sec, sub = divmod(t_ns, 1_000_000_000)
            if not nanos:
                sub //= 1000
            cap = frame[:snaplen]
            f.write(struct.pack(e + "IIII", sec, sub, len(cap), len(frame)) + cap)


class Pcap(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        for n in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, n))
        os.rmdir(self.dir)

    def capture(self, nanos=True, big_endian=False):
        daemon = ("127.0.0.1", 4000)
        sipp = ("127.0.0.1", 3028)
        late = [0] * 120
        late[60] = 2_500_000
        pk = []
        for t, seq, ts in stream(late):
            pk.append((t, ether_ipv4_udp(daemon, sipp, rtp(seq, ts, 0xABCD))))
        # Noise the analysis must skip: another source port, RTCP, a non-RTP datagram.
        pk.append((T0 + 5, ether_ipv4_udp(("127.0.0.1", 3062), ("127.0.0.1", 3060), b"INVITE sip:12345 SIP/2.0")))
        pk.append((T0 + 6, ether_ipv4_udp(("127.0.0.1", 4001), sipp, struct.pack(">BBH", 0x81, 200, 1) + bytes(24))))
        pk.sort()
        path = os.path.join(self.dir, "cap.pcap")
        write_pcap(path, pk, nanos=nanos, big_endian=big_endian)
        return path

    def test_nanosecond_capture(self):
        path = self.capture()
        st = pacing.streams_from_pcap(path, src_ports=(4000, 19998))
        self.assertEqual(list(st), [(("127.0.0.1", 4000), ("127.0.0.1", 3028), 0xABCD)])
        s = pacing.summarize(st, min_packets=50)
        self.assertEqual(s["packets"], 120)
        self.assertEqual(s["max_ms"], 2.5)
        self.assertAlmostEqual(s["within_pct"], 100 * 119 / 120, places=3)

    def test_microsecond_big_endian_capture_and_window(self):
        path = self.capture(nanos=False, big_endian=True)
        # Window: slots 10..109 only.
        st = pacing.streams_from_pcap(path, T0 + 10 * SLOT, T0 + 109 * SLOT + 1_000_000, (4000, 19998))
        s = pacing.summarize(st, min_packets=50)
        self.assertEqual(s["packets"], 100)
        self.assertEqual(s["max_ms"], 2.5)


if __name__ == "__main__":
    unittest.main()
