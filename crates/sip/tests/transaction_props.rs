//! Property: whatever order messages, TU actions and time come in, the layer never panics, and
//! once every transaction has had its final response and the longest timer has run out, nothing
//! is left — no transaction, no matching key, no timer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use sip::transaction::{Output, ServerTxId, TransactionLayer};
use sip::transport::TransportKind;
use sip::SipMessage;

fn peer() -> SocketAddr {
    "10.0.0.2:5060".parse().unwrap()
}

const METHODS: [&str; 4] = ["INVITE", "BYE", "OPTIONS", "CANCEL"];

fn request(method: &str, branch: u8, to_tag: Option<&str>) -> SipMessage {
    let to = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let cseq_method = method;
    SipMessage::parse(Bytes::from(format!(
        "{method} sip:12345@10.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:a@10.0.0.2>;tag=f\r\n\
         To: <sip:12345@10.0.0.1>{to}\r\n\
         Call-ID: prop-{branch}\r\n\
         CSeq: 1 {cseq_method}\r\n\
         Content-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    /// A request arrives from the network (new or retransmitted).
    Inbound {
        method: usize,
        branch: u8,
        tcp: bool,
    },
    /// An ACK arrives (for a non-2xx: same branch; for a 2xx: other branch + To tag "t").
    Ack {
        branch: u8,
        same_branch: bool,
    },
    /// The TU answers the n-th server transaction it was given.
    Respond {
        which: usize,
        status: u16,
    },
    /// We send a request.
    Send {
        method: usize,
        branch: u8,
        tcp: bool,
    },
    /// A response for one of our requests arrives.
    Response {
        method: usize,
        branch: u8,
        status: u16,
    },
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let status = prop_oneof![Just(100u16), Just(180), Just(200), Just(486), Just(503)];
    prop_oneof![
        (0..4usize, 0..6u8, any::<bool>()).prop_map(|(method, branch, tcp)| Op::Inbound {
            method,
            branch,
            tcp
        }),
        (0..6u8, any::<bool>()).prop_map(|(branch, same_branch)| Op::Ack {
            branch,
            same_branch
        }),
        (0..8usize, status.clone()).prop_map(|(which, status)| Op::Respond { which, status }),
        (0..4usize, 100..106u8, any::<bool>()).prop_map(|(method, branch, tcp)| Op::Send {
            method,
            branch,
            tcp
        }),
        (0..4usize, 100..106u8, status).prop_map(|(method, branch, status)| Op::Response {
            method,
            branch,
            status
        }),
        (0..40_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

struct Sim {
    l: TransactionLayer,
    now: Instant,
    /// Server transactions handed to the TU, with their request.
    given: Vec<(ServerTxId, SipMessage)>,
    sent: Vec<SipMessage>,
}

impl Sim {
    fn absorb(&mut self, out: Vec<Output>) {
        for o in out {
            if let Output::Request {
                tx: Some(tx), msg, ..
            } = o
            {
                self.given.push((tx, msg));
            }
        }
    }
}

fn kind(tcp: bool) -> TransportKind {
    if tcp {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn transactions_always_drain(ops in proptest::collection::vec(op(), 1..60)) {
        let mut sim = Sim { l: TransactionLayer::default(), now: Instant::now(), given: Vec::new(), sent: Vec::new() };
        for op in ops {
            let now = sim.now;
            match op {
                Op::Inbound { method, branch, tcp } => {
                    let out = sim.l.on_message(request(METHODS[method], branch, None), peer(), kind(tcp), now);
                    sim.absorb(out);
                }
                Op::Ack { branch, same_branch } => {
                    let msg = if same_branch {
                        request("ACK", branch, Some("t"))
                    } else {
                        request("ACK", branch + 50, Some("t"))
                    };
                    let out = sim.l.on_message(msg, peer(), TransportKind::Udp, now);
                    sim.absorb(out);
                }
                Op::Respond { which, status } => {
                    if let Some((tx, req)) = sim.given.get(which).cloned() {
                        let resp = req.response(status, "X").to_tag("t").build_message();
                        let out = sim.l.send_response(tx, resp, now);
                        sim.absorb(out);
                    }
                }
                Op::Send { method, branch, tcp } => {
                    let req = request(METHODS[method], branch, None);
                    sim.sent.push(req.clone());
                    let (_, out) = sim.l.send_request(req, peer(), kind(tcp), now);
                    sim.absorb(out);
                }
                Op::Response { method, branch, status } => {
                    let req = request(METHODS[method], branch, None);
                    let resp = req.response(status, "X").to_tag("t").build_message();
                    let out = sim.l.on_message(resp, peer(), TransportKind::Udp, now);
                    sim.absorb(out);
                }
                Op::Advance { ms } => {
                    sim.now += Duration::from_millis(ms);
                    let out = sim.l.on_timer(sim.now);
                    sim.absorb(out);
                }
            }
        }
        // Wind down: the TU gives every server transaction a final answer, every request we sent
        // gets a final response, then time runs past the longest timer (Timer D, 32 s; L/M/H 32 s).
        let now = sim.now;
        for (tx, req) in sim.given.clone() {
            let resp = req.response(486, "X").to_tag("t").build_message();
            let out = sim.l.send_response(tx, resp, now);
            sim.absorb(out);
        }
        for req in sim.sent.clone() {
            let resp = req.response(486, "X").to_tag("t").build_message();
            let out = sim.l.on_message(resp, peer(), TransportKind::Udp, now);
            sim.absorb(out);
        }
        for s in 1..=80 {
            let out = sim.l.on_timer(now + Duration::from_secs(s));
            sim.absorb(out);
        }
        prop_assert_eq!(sim.l.footprint(), (0, 0, 0));
        prop_assert_eq!(sim.l.next_deadline(), None);
    }
}
