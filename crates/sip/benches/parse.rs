//! Parse a typical carrier INVITE with SDP (~900 bytes, 12 headers) and count heap allocations
//! per parse with a counting global allocator. Run: `cargo bench -p sip --bench parse`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use sip::SipMessage;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a carrier trunk sends us: 12 headers, SDP offer with PCMU/PCMA/telephone-event.
const CARRIER_INVITE: &str = "INVITE sip:12345@10.20.30.40:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.17:5060;branch=z9hG4bK-3f2a1c-8d7e6b5a4c3d;rport\r\n\
Max-Forwards: 68\r\n\
From: \"13800138000\" <sip:13800138000@203.0.113.17;user=phone>;tag=8a7b6c5d4e3f\r\n\
To: <sip:12345@10.20.30.40;user=phone>\r\n\
Call-ID: 5f1e2d3c4b5a69788796a5b4c3d2e1f0@203.0.113.17\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:13800138000@203.0.113.17:5060;transport=udp>\r\n\
P-Asserted-Identity: <sip:+8613800138000@carrier.example.cn;user=phone>\r\n\
Allow: INVITE, ACK, OPTIONS, BYE, CANCEL, UPDATE, PRACK, INFO\r\n\
Supported: 100rel, timer, replaces\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 330\r\n\
\r\n\
v=0\r\n\
o=CarrierSBC 1680000000 1680000001 IN IP4 203.0.113.17\r\n\
s=SIP Call\r\n\
c=IN IP4 203.0.113.18\r\n\
t=0 0\r\n\
m=audio 31234 RTP/AVP 8 0 18 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=maxptime:40\r\n\
a=sendrecv\r\n\
a=rtcp:31235\r\n";

fn main() {
    let wire = Bytes::from_static(CARRIER_INVITE.as_bytes());
    // Sanity: it parses and the body length matches Content-Length.
    let m = SipMessage::parse(wire.clone()).expect("benchmark INVITE must parse");
    assert_eq!(
        m.body().len(),
        330,
        "fix Content-Length of the benchmark INVITE"
    );
    let headers = m.headers().count();

    const N: usize = 10_000;
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    for _ in 0..N {
        let m = SipMessage::parse(wire.clone()).expect("parse");
        std::hint::black_box(&m);
    }
    let (a1, b1) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    println!(
        "carrier INVITE: {} bytes, {} headers; {:.1} allocations/parse, {:.0} bytes allocated/parse",
        wire.len(),
        headers,
        (a1 - a0) as f64 / N as f64,
        (b1 - b0) as f64 / N as f64
    );
    divan::main();
}

#[divan::bench]
fn parse_carrier_invite(bencher: divan::Bencher) {
    let wire = Bytes::from_static(CARRIER_INVITE.as_bytes());
    bencher.bench(|| SipMessage::parse(divan::black_box(wire.clone())));
}

#[divan::bench]
fn parse_and_read_dialog_fields(bencher: divan::Bencher) {
    let wire = Bytes::from_static(CARRIER_INVITE.as_bytes());
    bencher.bench(|| {
        let m = SipMessage::parse(divan::black_box(wire.clone())).expect("parse");
        divan::black_box((
            m.call_id().len(),
            m.from().tag(),
            m.vias()[0].branch(),
            m.contacts().is_ok(),
        ));
    });
}

#[divan::bench]
fn build_response_180(bencher: divan::Bencher) {
    let m = SipMessage::parse(Bytes::from_static(CARRIER_INVITE.as_bytes())).expect("parse");
    bencher.bench(|| m.response(180, "Ringing").to_tag("as7d6f5g").build());
}
