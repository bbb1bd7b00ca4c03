#!/usr/bin/env python3
"""Seed fuzz/corpus/<target>/ from what the repository already holds: the RFC 4475 / RFC 5118 and
carrier SIP fixtures, the messages of the SIPp scenarios, the dial plans, the prompts (cut to a few
hundred bytes of audio behind a valid header) and deploy/hotlined.toml. Run once before the first
campaign; afterwards the committed, minimised corpus is the starting point (campaign.sh).

Usage: fuzz/seed.py            (writes seed-* files; existing corpus files are kept)
"""
import hashlib
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    (d / f"seed-{name}").write_bytes(data)


def expand_rfc4475(text):
    """RFC 4475 §2 markup, as crates/sip/tests/corpus.rs expands it."""
    out, rest = "", text
    while "<allOneLine>\n" in rest:
        i = rest.index("<allOneLine>\n")
        out += rest[:i]
        after = rest[i + len("<allOneLine>\n"):]
        end = after.index("\n</allOneLine>")
        out += after[:end].replace("\n", "")
        rest = after[end + len("\n</allOneLine>"):]
    text = (out + rest).replace("\n", "\r\n")
    text = re.sub(r"<repeat count=(\d+)>(.*?)</repeat>",
                  lambda m: m.group(2) * int(m.group(1)), text, flags=re.S)
    data = bytearray()
    rest = text
    while "<hex>" in rest:
        i = rest.index("<hex>")
        data += rest[:i].encode()
        after = rest[i + 5:]
        end = after.index("</hex>")
        data += bytes.fromhex("".join(c for c in after[:end] if c in "0123456789abcdefABCDEF"))
        rest = after[end + 6:]
    data += rest.encode()
    return bytes(data)


SIPP_KEYS = {
    "service": "12345", "remote_ip": "127.0.0.1", "remote_port": "5060", "transport": "UDP",
    "local_ip": "127.0.0.1", "local_port": "5070", "branch": "z9hG4bK-seed-1", "pid": "4242",
    "call_number": "1", "call_id": "1-4242@127.0.0.1", "local_ip_type": "4", "media_ip_type": "4",
    "media_ip": "127.0.0.1", "media_port": "6000", "caller_rtp_port": "6000", "seat_rtp_port": "6002",
    "seat": "1001", "next_url": "sip:1001@127.0.0.1:5070", "routes": "", "talk_ms": "1000",
    "expect_status": "404", "original": "12396", "last_To:": "To: <sip:12345@127.0.0.1>;tag=t1",
    "last_From:": "From: <sip:13800001234@127.0.0.1>;tag=f1",
    "last_Via:": "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-srv",
    "last_Call-ID:": "Call-ID: 1-4242@127.0.0.1", "last_CSeq:": "CSeq: 1 INVITE",
    "authentication": 'Authorization: Digest username="1001", realm="127.0.0.1", nonce="00", '
                      'uri="sip:127.0.0.1", response="00000000000000000000000000000000", '
                      'algorithm=MD5, qop=auth, nc=00000001, cnonce="c"',
}


def sipp_messages():
    for xml in sorted((ROOT / "tests" / "sipp").glob("*.xml")):
        text = xml.read_text(encoding="latin-1")
        for block in re.findall(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", text, flags=re.S):
            lines = [l.strip() for l in block.strip("\n").split("\n")]
            while lines and lines[0] == "":
                lines.pop(0)
            msg = "\r\n".join(l for l in lines)
            msg = re.sub(r"\[([^\]]+)\]", lambda m: SIPP_KEYS.get(m.group(1), "x"), msg)
            # Blank lines left by empty keys ([routes]) inside the head are dropped.
            head, _, body = msg.partition("\r\n\r\n")
            head = "\r\n".join(l for l in head.split("\r\n") if l)
            body = body.strip("\r\n")
            body = body + "\r\n" if body else ""
            head = re.sub(r"Content-Length: x", f"Content-Length: {len(body.encode())}", head)
            yield xml.stem, (head + "\r\n\r\n" + body).encode()


def main():
    sip = []
    for path in sorted((ROOT / "crates" / "sip" / "tests" / "data").rglob("*.txt")):
        sip.append((path.stem, expand_rfc4475(path.read_text(encoding="utf-8"))))
    sip += list(sipp_messages())
    for i, (name, data) in enumerate(sip):
        put("sip_message", data, f"{i:03}-{name}")
    # Streams: messages with a Content-Length, with keep-alives and two in one read.
    framed = [d for _, d in sip if b"Content-Length" in d or b"\r\nl:" in d]
    for i, data in enumerate(framed):
        put("sip_stream", b"\r\n\r\n" + data + framed[(i + 1) % len(framed)], f"pair{i}")
    for _, data in sip:
        body = data.partition(b"\r\n\r\n")[2]
        if body.startswith(b"v=0"):
            put("sdp", body)

    digests = [
        'Digest username="1001", realm="127.0.0.1", nonce="0123456789abcdef", uri="sip:127.0.0.1", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"',
        'Digest realm="gov.example", nonce="abc", algorithm=SHA-256, qop="auth,auth-int", opaque="5ccc", stale=true',
        'Digest realm="a", nonce="n"',
        'Digest username="a\\"b\\\\c", realm="r", nonce="n", uri="sip:x", response="r", cnonce="x", nc=1, qop=auth',
        'Digest username=1001,realm=r,nonce=n,uri="sip:x;a=b",response=00,algorithm=MD5-sess',
        'NoOneKnowsThisScheme opaque-data=here',
        'Digest username="", realm="", nonce="", uri="", response=""',
        'Digest realm="gov.example", nonce="n", algorithm=SHA-512-256, qop="auth"',
    ]
    for i, d in enumerate(digests):
        put("digest", d, f"hand{i}")
    for name, data in sip:
        for m in re.finditer(rb"\r\n(?:Proxy-)?(?:Authorization|WWW-Authenticate|Proxy-Authenticate): ([^\r\n]*)", data, re.I):
            put("digest", m.group(1))

    def rtp(pt, seq, ts, ssrc, payload, marker=False, csrc=(), ext=None, pad=0):
        b0 = 0x80 | len(csrc) | (0x10 if ext is not None else 0) | (0x20 if pad else 0)
        b = struct.pack("!BBHII", b0, pt | (0x80 if marker else 0), seq, ts, ssrc)
        for c in csrc:
            b += struct.pack("!I", c)
        if ext is not None:
            b += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
        b += payload
        if pad:
            b += b"\0" * (pad - 1) + bytes([pad])
        return b
    put("rtp", rtp(0, 1, 160, 0x11223344, b"\xff" * 160), "pcmu")
    put("rtp", rtp(8, 2, 320, 0x11223344, b"\xd5" * 160, marker=True), "pcma-marker")
    put("rtp", rtp(101, 3, 480, 1, b"\x05\x8a\x03\x20"), "event")
    put("rtp", rtp(0, 4, 640, 1, b"\xff" * 20, csrc=(1, 2)), "csrc")
    put("rtp", rtp(0, 5, 800, 1, b"\xff" * 20, ext=b"\x10\x01\x02\x03"), "ext")
    put("rtp", rtp(0, 6, 960, 1, b"\xff" * 20, pad=4), "pad")
    put("rtp", struct.pack("!BBHI", 0x80, 200, 6, 1) + b"\0" * 20, "rtcp-sr")

    def rtcp_pkt(pt, count, body, pad=0):
        body += b"\0" * ((-len(body)) % 4)
        if pad:
            body += b"\0" * (pad - 1) + bytes([pad])
        return struct.pack("!BBH", 0x80 | (0x20 if pad else 0) | count, pt, len(body) // 4) + body
    block = struct.pack("!IIIIII", 0x11223344, (64 << 24) | 7, 0x0001_0010, 40, 0x12345678, 0x8000)
    sr = rtcp_pkt(200, 1, struct.pack("!IQIII", 0x55667788, 0xE8F0_0000_8000_0000, 160, 50, 8000) + block)
    rr = rtcp_pkt(201, 1, struct.pack("!I", 0x55667788) + block)
    sdes = rtcp_pkt(202, 1, struct.pack("!I", 0x55667788) + bytes([1, 9]) + b"a@1.2.3.4" + b"\0")
    bye = rtcp_pkt(203, 1, struct.pack("!I", 0x55667788) + bytes([4]) + b"done")
    put("rtcp", sr + sdes, "sr-sdes")
    put("rtcp", rr + sdes + bye, "rr-sdes-bye")
    put("rtcp", rtcp_pkt(201, 0, struct.pack("!I", 1), pad=4), "rr-padded")
    put("rtcp", rtcp_pkt(205, 1, struct.pack("!II", 1, 2)), "rtpfb")

    def event(e, end, vol, dur):
        return bytes([e, (0x80 if end else 0) | vol]) + struct.pack("!H", dur)
    for digit in (1, 5, 10, 11):
        recs = b""
        for i, dur in enumerate((160, 320, 480)):
            recs += bytes([1 if i == 0 else 0]) + event(digit, False, 10, dur)
        recs += bytes([0]) + event(digit, True, 10, 800)
        recs += bytes([0]) + event(digit, True, 10, 800)
        put("rfc4733", recs, f"digit{digit}")
    put("rfc4733", "Signal=5\r\nDuration=160\r\n", "info-relay")
    put("rfc4733", "#", "info-dtmf")

    for wav in sorted((ROOT / "dialplans" / "prompts").glob("*.wav")):
        b = wav.read_bytes()
        at, out = 12, bytearray(b[:12])
        while at + 8 <= len(b):
            cid, ln = b[at:at + 4], struct.unpack("<I", b[at + 4:at + 8])[0]
            body = b[at + 8:at + 8 + ln]
            if cid == b"data":
                body = body[:400]
                out += cid + struct.pack("<I", len(body)) + body
                break
            out += b[at:at + 8] + body + (b"\0" if ln & 1 else b"")
            at += 8 + ln + (ln & 1)
        out[4:8] = struct.pack("<I", len(out) - 8)
        put("wav", bytes(out), wav.stem)

    def plan_text(path):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r'"(?:\.\./)+dialplans/calendars/', '"../calendars/', text)
        return re.sub(r'"(?:\.\./)+dialplans/prompts/', '"../prompts/', text)
    for d in sorted((ROOT / "dialplans").iterdir()):
        center = d / "center.toml"
        if center.is_file():
            for numbers in sorted(d.glob("*.toml")):
                if numbers.name != "center.toml":
                    put("dialplan", plan_text(center) + "\0" + plan_text(numbers),
                        f"{d.name}-{numbers.stem}")
    for d in sorted((ROOT / "tests" / "dialplans" / "broken").iterdir()):
        center, numbers = d / "center.toml", d / "numbers.toml"
        if center.is_file():
            rest = plan_text(numbers) if numbers.is_file() else ""
            put("dialplan", plan_text(center) + "\0" + rest, d.name)

    cfg = (ROOT / "deploy" / "hotlined.toml").read_text(encoding="utf-8")
    put("config", cfg, "deploy")
    minimal = "\n".join(l for l in cfg.split("\n") if not l.startswith("#"))
    minimal = re.sub(r"\[\[seats\]\].*", "", minimal, flags=re.S)
    put("config", minimal, "no-seats")
    put("config", cfg.replace('allow = ["127.0.0.1/32"]', 'allow = ["10.0.0.0/8", "::1", "2001:db8::/32"]'), "acl")


if __name__ == "__main__":
    main()
