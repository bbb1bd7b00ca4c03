//! Heap held per retained transaction (issue 12 item 1): a real [`Endpoint`] on loopback runs
//! CALLS calls of the daemon's shape — per call a UAS INVITE (100, 200, ACK) and BYE from the
//! trunk side, and a UAC INVITE (200, ACK) and BYE towards a seat — then, with every call over
//! and every transaction still lingering (64·T1 after a 2xx or a non-INVITE final, §17 and
//! RFC 6026), prints the heap the endpoint holds divided by its live transactions.
//!
//! The heap is counted by a wrapping global allocator (bytes requested, not RSS), so the figure
//! is the same on every run. `cargo bench -p sip --bench retained_memory` (CALLS=N to change).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sip::dialog::new_branch;
use sip::endpoint::{Endpoint, EndpointConfig, TxEvent};
use sip::transport::TransportKind;
use sip::SipMessage;
use tokio::net::UdpSocket;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

/// A carrier's INVITE, ACK or BYE as the trunk sends them (with SDP on the INVITE).
fn trunk_request(
    method: &str,
    n: u64,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    ep: SocketAddr,
) -> Vec<u8> {
    let to = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let body = if method == "INVITE" { SDP } else { "" };
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:12345@{ep} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"13800000000\" <sip:13800000000@127.0.0.1>;tag=f{n}\r\n\
         To: <sip:12345@{ep}>{to}\r\n\
         Call-ID: trunk-{n}-a84b4c76e66710@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:13800000000@127.0.0.1:5999>\r\n\
         User-Agent: carrier-sbc/1.0\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The seat side: answers every request at once (INVITE → 200 with SDP, BYE → 200).
async fn seat(sock: UdpSocket) {
    let mut buf = vec![0u8; 65535];
    while let Ok((n, from)) = sock.recv_from(&mut buf).await {
        let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])) else {
            continue;
        };
        if !msg.is_request() || msg.method().map(|m| m.as_str()) == Some("ACK") {
            continue;
        }
        let resp = msg.response(200, "OK").to_tag("seat").build();
        let _ = sock.send_to(&resp, from).await;
    }
}

async fn recv(sock: &UdpSocket) -> Option<SipMessage> {
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).ok()
}

fn main() {
    let calls: u64 = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let cfg = EndpointConfig { udp: "127.0.0.1:0".parse().expect("addr"), ..EndpointConfig::default() };
        let (ep, mut incoming) = Endpoint::bind(cfg).await.expect("bind");
        let ep_addr = ep.local_addr();
        let trunk = UdpSocket::bind("127.0.0.1:0").await.expect("trunk");
        let seat_sock = UdpSocket::bind("127.0.0.1:0").await.expect("seat");
        let seat_addr = seat_sock.local_addr().expect("seat addr");
        tokio::spawn(seat(seat_sock));
        // The TU: answers what the trunk sends.
        tokio::spawn(async move {
            while let Some(inc) = incoming.recv().await {
                if let Some(tx) = inc.tx {
                    tx.respond(inc.msg.response(200, "OK").to_tag("b2bua").build_message());
                }
            }
        });
        // Warm up (first allocations of the runtime and the maps), then take the baseline.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let base = LIVE.load(Ordering::Relaxed);
        for n in 0..calls {
            // Trunk → us: INVITE, 100 + 200, ACK (own branch, RFC 3261 §17.1.1.3), BYE, 200.
            let inv = format!("z9hG4bKi{n}");
            trunk.send_to(&trunk_request("INVITE", n, &inv, 1, None, ep_addr), ep_addr).await.expect("send");
            while let Some(m) = recv(&trunk).await {
                if m.status() == Some(200) {
                    break;
                }
            }
            let ack = trunk_request("ACK", n, &format!("z9hG4bKa{n}"), 1, Some("b2bua"), ep_addr);
            trunk.send_to(&ack, ep_addr).await.expect("send");
            trunk.send_to(&trunk_request("BYE", n, &format!("z9hG4bKb{n}"), 2, Some("b2bua"), ep_addr), ep_addr).await.expect("send");
            let _ = recv(&trunk).await;
            // Us → seat: INVITE with SDP, 200, ACK, BYE, 200.
            for (method, cseq) in [("INVITE", 1u32), ("BYE", 2)] {
                let via = ep.via(TransportKind::Udp, &new_branch());
                let body = if method == "INVITE" { SDP } else { "" };
                let req = format!(
                    "{method} sip:{}@{seat_addr} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
                     From: <sip:13800000000@{ep_addr}>;tag=o{n}\r\nTo: <sip:2000@{seat_addr}>{}\r\n\
                     Call-ID: seat-{n}@{ep_addr}\r\nCSeq: {cseq} {method}\r\nContact: <sip:b2bua@{ep_addr}>\r\n\
                     {}Content-Length: {}\r\n\r\n{body}",
                    20000 + n % 100,
                    if method == "BYE" { ";tag=seat" } else { "" },
                    if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" },
                    body.len()
                );
                let msg = SipMessage::parse(Bytes::from(req)).expect("request");
                let mut tx = ep.request(msg, seat_addr, TransportKind::Udp);
                while let Some(ev) = tx.next().await {
                    if matches!(ev, TxEvent::Final(_) | TxEvent::Timeout | TxEvent::TransportError) {
                        break;
                    }
                }
                // The ClientTx is dropped here, as a finished call drops its legs.
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let held = LIVE.load(Ordering::Relaxed) - base;
        let st = ep.stats();
        let live = st.live_client_transactions + st.live_server_transactions;
        println!("calls                        {calls}");
        println!("live client transactions     {}", st.live_client_transactions);
        println!("live server transactions     {}", st.live_server_transactions);
        println!("heap held by the endpoint    {:.1} MB", held as f64 / 1e6);
        println!("per retained transaction     {:.2} KB (target <= 4 KB)", held as f64 / live.max(1) as f64 / 1024.0);
        println!("per finished call            {:.2} KB", held as f64 / calls as f64 / 1024.0);
    });
}
