//! Cost of the transaction layer per call (messages pre-parsed: parsing has its own bench).
//! Each iteration is one call's worth of transactions, with time advancing 1 ms per call so that
//! timers fire and the layer holds a steady state of ~32 s of finished calls, as in production.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use divan::Bencher;
use sip::transaction::{Output, TransactionLayer};
use sip::transport::TransportKind;
use sip::SipMessage;

fn main() {
    divan::main();
}

fn peer() -> SocketAddr {
    "10.0.0.2:5060".parse().unwrap()
}

fn req(method: &str, branch: &str, call: u64, cseq: u32, to_tag: Option<&str>) -> SipMessage {
    let to = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    SipMessage::parse(Bytes::from(format!(
        "{method} sip:12345@10.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:13800000000@10.0.0.2>;tag=f{call}\r\n\
         To: <sip:12345@10.0.0.1>{to}\r\n\
         Call-ID: bench-{call}@10.0.0.2\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:13800000000@10.0.0.2>\r\n\
         Content-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

struct UasCall {
    invite: SipMessage,
    ringing: SipMessage,
    ok: SipMessage,
    ack: SipMessage,
    bye: SipMessage,
    bye_ok: SipMessage,
}

fn uas_call(n: u64) -> UasCall {
    let invite = req("INVITE", &format!("z9hG4bKi{n}"), n, 1, None);
    let tag = format!("t{n}");
    let bye = req("BYE", &format!("z9hG4bKb{n}"), n, 2, Some(&tag));
    UasCall {
        ringing: invite.response(180, "Ringing").to_tag(&tag).build_message(),
        ok: invite.response(200, "OK").to_tag(&tag).build_message(),
        ack: req("ACK", &format!("z9hG4bKa{n}"), n, 1, Some(&tag)),
        bye_ok: bye.response(200, "OK").build_message(),
        invite,
        bye,
    }
}

fn server_tx(out: &[Output]) -> sip::transaction::ServerTxId {
    out.iter()
        .find_map(|o| match o {
            Output::Request { tx: Some(t), .. } => Some(*t),
            _ => None,
        })
        .unwrap()
}

/// INVITE in (auto 100) → 180 → 200 → ACK in → BYE in → 200: the UAS side of one call.
#[divan::bench]
fn uas_call_invite_ack_bye(bencher: Bencher) {
    let layer = RefCell::new(TransactionLayer::default());
    let t0 = Instant::now();
    let n = Cell::new(0u64);
    bencher
        .with_inputs(|| {
            n.set(n.get() + 1);
            (n.get(), uas_call(n.get()))
        })
        .bench_local_values(|(i, c)| {
            let mut l = layer.borrow_mut();
            let now = t0 + Duration::from_millis(i);
            let mut count = l.on_timer(now).len();
            let out = l.on_message(c.invite, peer(), TransportKind::Udp, now);
            let tx = server_tx(&out);
            count += out.len();
            count += l.send_response(tx, c.ringing, now).len();
            count += l.send_response(tx, c.ok, now).len();
            count += l.on_message(c.ack, peer(), TransportKind::Udp, now).len();
            let out = l.on_message(c.bye, peer(), TransportKind::Udp, now);
            let btx = server_tx(&out);
            count += l.send_response(btx, c.bye_ok, now).len();
            count
        });
}

/// INVITE out → 100/180/200 in → BYE out → 200 in: the UAC side of one call (a seat leg).
#[divan::bench]
fn uac_call_invite_bye(bencher: Bencher) {
    let layer = RefCell::new(TransactionLayer::default());
    let t0 = Instant::now();
    let n = Cell::new(0u64);
    bencher
        .with_inputs(|| {
            n.set(n.get() + 1);
            let c = uas_call(n.get());
            let trying = c.invite.response(100, "Trying").build_message();
            (n.get(), c, trying)
        })
        .bench_local_values(|(i, c, trying)| {
            let mut l = layer.borrow_mut();
            let now = t0 + Duration::from_millis(i);
            let mut count = l.on_timer(now).len();
            count += l
                .send_request(c.invite, peer(), TransportKind::Udp, now)
                .1
                .len();
            count += l.on_message(trying, peer(), TransportKind::Udp, now).len();
            count += l
                .on_message(c.ringing, peer(), TransportKind::Udp, now)
                .len();
            count += l.on_message(c.ok, peer(), TransportKind::Udp, now).len();
            count += l
                .send_request(c.bye, peer(), TransportKind::Udp, now)
                .1
                .len();
            count += l
                .on_message(c.bye_ok, peer(), TransportKind::Udp, now)
                .len();
            count
        });
}
