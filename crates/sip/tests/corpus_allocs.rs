//! Allocation budget of one parse (not a timing test: allocation counts are deterministic).
//! A counting global allocator, so this binary holds exactly one test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use sip::SipMessage;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Same shape as the benchmark's carrier INVITE.
const INVITE: &str = "INVITE sip:12345@10.20.30.40:5060;user=phone SIP/2.0\r\n\
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
Content-Length: 4\r\n\
\r\n\
v=0\n";

#[test]
fn carrier_invite_parse_stays_within_allocation_budget() {
    let wire = Bytes::from_static(INVITE.as_bytes());
    let _warm = SipMessage::parse(wire.clone()).unwrap();
    let before = ALLOCS.load(Ordering::Relaxed);
    let m = SipMessage::parse(wire.clone()).unwrap();
    let during = ALLOCS.load(Ordering::Relaxed) - before;
    std::hint::black_box(&m);
    println!("allocations per carrier INVITE parse: {during}");
    // Eager typed headers only: Request-URI, From, To, one Via. Header access is zero-copy.
    assert!(during <= 30, "parse allocated {during} times");
    let before = ALLOCS.load(Ordering::Relaxed);
    let (cid, ct, hdr) = (m.call_id(), m.content_type(), m.header("supported"));
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed) - before,
        0,
        "zero-copy accessors allocate nothing"
    );
    assert_eq!(
        (cid.len(), ct, hdr),
        (45, Some("application/sdp"), Some("100rel, timer, replaces"))
    );
    // Cloning copies the bytes handle and the small typed parts, never the message text.
    let before = ALLOCS.load(Ordering::Relaxed);
    let c = m.clone();
    let clone_allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(std::ptr::eq(c.as_bytes().as_ptr(), m.as_bytes().as_ptr()));
    println!("allocations per clone: {clone_allocs}");
}
