#!/usr/bin/env python3
"""Junk SIP from many non-trunk addresses: INVITEs and REGISTERs with fresh Call-IDs, as a scanner or a
toll-fraud bot sends them, at RATE messages/s for SECONDS, spread over SOURCES loopback addresses
(127.0.0.2 ...). Prints {"sent": N, "sources": K} when done.

    flood.py HOST:PORT RATE SECONDS SOURCES
"""
import json
import random
import socket
import sys
import time


def junk(kind, src, port, n, host):
    branch = "z9hG4bK-flood-%d-%d" % (n, random.getrandbits(32))
    call_id = "flood-%d-%x@%s" % (n, random.getrandbits(48), src)
    if kind == "INVITE":
        uri = "sip:%d@%s" % (random.choice([12345, 900, 8001, 11, 0]), host)
        extra = "Content-Type: application/sdp\r\n"
        body = "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n" % (src, src)
    else:
        uri = "sip:%s" % host
        extra = "Expires: 3600\r\n"
        body = ""
    user = random.choice(["100", "1001", "admin", "2001", "test"])
    return (
        "%s %s SIP/2.0\r\n"
        "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
        "From: <sip:%s@%s>;tag=f%d\r\n"
        "To: <sip:%s@%s>\r\n"
        "Call-ID: %s\r\n"
        "CSeq: 1 %s\r\n"
        "Contact: <sip:%s@%s:%d>\r\n"
        "Max-Forwards: 70\r\n"
        "User-Agent: friendly-scanner\r\n"
        "%s"
        "Content-Length: %d\r\n\r\n%s"
        % (kind, uri, src, port, branch, user, host, n, user, host, call_id, kind, user, src, port, extra,
           len(body), body)
    ).encode()


def main():
    target, rate, seconds, sources = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    host, port = target.rsplit(":", 1)
    dest = (host, int(port))
    socks = []
    for i in range(sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.%d" % (2 + i), 0))
        s.setblocking(False)
        socks.append(s)
    sent = 0
    start = time.monotonic()
    n = 0
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = int((now - start) * rate)
        while sent < due:
            s = socks[n % sources]
            src, sport = s.getsockname()
            try:
                s.sendto(junk("INVITE" if n % 2 == 0 else "REGISTER", src, sport, n, host), dest)
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                pass
            n += 1
        # Drain what the daemon answered (403s, 401s) so our buffers do not fill.
        for s in socks:
            try:
                while True:
                    s.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                pass
        time.sleep(0.002)
    print(json.dumps({"sent": sent, "sources": sources, "seconds": seconds}))


if __name__ == "__main__":
    main()
