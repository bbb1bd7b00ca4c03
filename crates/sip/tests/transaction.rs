//! The four RFC 3261 §17 state machines (+ RFC 6026) driven with simulated time: every timer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::transaction::{
    ack_for_non2xx, cancel_for, response_destination, ClientTxId, LayerConfig, Output, ServerTxId,
    Timers, TransactionLayer, TxId,
};
use sip::transport::TransportKind::{self, Tcp, Udp};
use sip::{Method, SipMessage};

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const T4: Duration = Duration::from_secs(5);

fn peer() -> SocketAddr {
    "10.0.0.2:5062".parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(method: &str, branch: &str, cseq: u32, to_tag: Option<&str>, rport: bool) -> SipMessage {
    let to = match to_tag {
        Some(t) => format!("<sip:12345@10.0.0.1>;tag={t}"),
        None => "<sip:12345@10.0.0.1>".to_owned(),
    };
    let rport = if rport { ";rport" } else { "" };
    let text = format!(
        "{method} sip:12345@10.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5062;branch={branch}{rport}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:13800000000@10.0.0.2>;tag=from1\r\n\
         To: {to}\r\n\
         Call-ID: call-1@10.0.0.2\r\n\
         CSeq: {cseq} {method}\r\n\
         Route: <sip:proxy.example;lr>\r\n\
         Contact: <sip:13800000000@10.0.0.2:5062>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    SipMessage::parse(Bytes::from(text)).unwrap()
}

fn invite(branch: &str) -> SipMessage {
    request("INVITE", branch, 1, None, false)
}

fn response(req: &SipMessage, status: u16, to_tag: &str) -> SipMessage {
    req.response(status, "X").to_tag(to_tag).build_message()
}

fn first_line(b: &Bytes) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines().next().unwrap_or("").to_owned()
}

/// (first line, dest, retransmission) of every Transmit.
fn sent(out: &[Output]) -> Vec<(String, SocketAddr, bool)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Transmit {
                bytes,
                dest,
                retransmission,
                ..
            } => Some((first_line(bytes), *dest, *retransmission)),
            _ => None,
        })
        .collect()
}

fn has_terminated(out: &[Output], tx: TxId) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Terminated { tx: t } if *t == tx))
}

fn server_tx(out: &[Output]) -> ServerTxId {
    out.iter()
        .find_map(|o| match o {
            Output::Request { tx: Some(tx), .. } => Some(*tx),
            _ => None,
        })
        .expect("a new request for the TU")
}

fn requests_to_tu(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Request { .. }))
        .count()
}

fn responses_to_tu(out: &[Output]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Output::Response { msg, .. } => msg.status(),
            _ => None,
        })
        .collect()
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(LayerConfig {
        timers: Timers {
            t1: T1,
            t2: T2,
            t4: T4,
        },
        auto_trying: true,
        max_transactions: 1000,
    })
}

/// Run timers from `from` to `to` in 10 ms steps, collecting outputs with their time offsets.
fn run(
    l: &mut TransactionLayer,
    t0: Instant,
    from: Duration,
    to: Duration,
) -> Vec<(Duration, Output)> {
    let mut all = Vec::new();
    let mut t = from;
    while t <= to {
        for o in l.on_timer(t0 + t) {
            all.push((t, o));
        }
        t += ms(10);
    }
    all
}

fn retransmit_times(outs: &[(Duration, Output)]) -> Vec<Duration> {
    outs.iter()
        .filter_map(|(t, o)| match o {
            Output::Transmit {
                retransmission: true,
                ..
            } => Some(*t),
            _ => None,
        })
        .collect()
}

// ------------------------------------------------------------------ client INVITE

#[test]
fn timer_a_doubles_without_cap_and_timer_b_times_out() {
    let mut l = layer();
    let t0 = Instant::now();
    let (tx, out) = l.send_request(invite("z9hG4bKa1"), peer(), Udp, t0);
    assert_eq!(
        sent(&out),
        vec![("INVITE sip:12345@10.0.0.1 SIP/2.0".into(), peer(), false)]
    );
    assert_eq!(l.next_deadline(), Some(t0 + T1));
    let outs = run(&mut l, t0, ms(0), ms(40_000));
    // Timer A: T1, then 2·T1, 4·T1 ... (no T2 cap for INVITE): at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    let want: Vec<Duration> = [500, 1500, 3500, 7500, 15500, 31500]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(retransmit_times(&outs), want);
    // Timer B: 64·T1 = 32 s.
    let timeouts: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Timeout { tx: t } if *t == tx))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(timeouts, vec![ms(32_000)]);
    assert!(outs.iter().any(|(t, o)| *t == ms(32_000)
        && matches!(o, Output::Terminated { tx: TxId::Client(c) } if *c == tx)));
    assert!(l.is_empty());
}

#[test]
fn timer_a_is_off_on_tcp_but_timer_b_runs() {
    let mut l = layer();
    let t0 = Instant::now();
    let (tx, _) = l.send_request(invite("z9hG4bKa2"), peer(), Tcp, t0);
    let outs = run(&mut l, t0, ms(0), ms(33_000));
    assert!(retransmit_times(&outs).is_empty());
    assert!(outs
        .iter()
        .any(|(t, o)| *t == ms(32_000) && matches!(o, Output::Timeout { tx: c } if *c == tx)));
}

#[test]
fn provisional_stops_timers_a_and_b() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = invite("z9hG4bKa3");
    let (tx, _) = l.send_request(req.clone(), peer(), Udp, t0);
    let out = l.on_message(response(&req, 180, "to1"), peer(), Udp, t0 + ms(100));
    assert_eq!(responses_to_tu(&out), vec![180]);
    assert!(matches!(out[0], Output::Response { tx: t, .. } if t == tx));
    let outs = run(&mut l, t0, ms(100), ms(60_000));
    assert!(
        outs.is_empty(),
        "no retransmission nor timeout in Proceeding: {outs:?}"
    );
    let (clients, _) = l.len();
    assert_eq!(clients, 1);
}

#[test]
fn non2xx_is_acked_by_the_transaction_and_timer_d_absorbs_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = invite("z9hG4bKa4");
    let (tx, _) = l.send_request(req.clone(), peer(), Udp, t0);
    let busy = response(&req, 486, "to486");
    let out = l.on_message(busy.clone(), peer(), Udp, t0 + ms(200));
    assert_eq!(responses_to_tu(&out), vec![486]);
    let ack = out
        .iter()
        .find_map(|o| match o {
            Output::Transmit { bytes, dest, .. } => {
                Some((SipMessage::parse(bytes.clone()).unwrap(), *dest))
            }
            _ => None,
        })
        .expect("ACK sent");
    assert_eq!(ack.1, peer());
    let ack = ack.0;
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri(), req.request_uri());
    assert_eq!(ack.cseq().seq, 1);
    assert_eq!(ack.cseq().method, Method::Ack);
    assert_eq!(ack.to().tag(), Some("to486"));
    assert_eq!(ack.from().tag(), Some("from1"));
    assert_eq!(ack.vias().len(), 1);
    assert_eq!(
        ack.vias()[0].branch(),
        Some("z9hG4bKa4"),
        "non-2xx ACK shares the INVITE branch"
    );
    assert_eq!(ack.header_all("Route"), vec!["<sip:proxy.example;lr>"]);

    // A retransmitted 486: the ACK goes again, the TU hears nothing.
    let out = l.on_message(busy, peer(), Udp, t0 + ms(1000));
    assert!(responses_to_tu(&out).is_empty());
    assert_eq!(sent(&out).len(), 1);
    assert!(sent(&out)[0].0.starts_with("ACK "));
    assert!(sent(&out)[0].2);

    // Timer D: 32 s on UDP.
    let outs = run(&mut l, t0, ms(210), ms(33_000));
    let ends: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Terminated { .. }))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, ms(32_200));
    assert!(matches!(ends[0].1, Output::Terminated { tx: TxId::Client(c) } if c == tx));
}

#[test]
fn timer_d_is_zero_on_tcp() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = invite("z9hG4bKa5");
    let (tx, _) = l.send_request(req.clone(), peer(), Tcp, t0);
    let out = l.on_message(response(&req, 603, "t"), peer(), Tcp, t0 + ms(50));
    assert_eq!(responses_to_tu(&out), vec![603]);
    assert!(has_terminated(&out, TxId::Client(tx)));
    assert!(l.is_empty());
}

#[test]
fn accepted_passes_2xx_retransmissions_up_until_timer_m() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = invite("z9hG4bKa6");
    let (tx, _) = l.send_request(req.clone(), peer(), Udp, t0);
    let ok = response(&req, 200, "to200");
    let out = l.on_message(ok.clone(), peer(), Udp, t0 + ms(300));
    assert_eq!(responses_to_tu(&out), vec![200]);
    assert!(
        sent(&out).is_empty(),
        "the TU, not the transaction, ACKs a 2xx"
    );
    // A retransmitted 200 (our ACK was lost) goes to the TU again so it re-sends the ACK.
    let out = l.on_message(ok.clone(), peer(), Udp, t0 + ms(800));
    assert_eq!(responses_to_tu(&out), vec![200]);
    // No retransmission of the INVITE in Accepted, and Timer M ends it at 64·T1.
    let outs = run(&mut l, t0, ms(300), ms(40_000));
    assert!(retransmit_times(&outs).is_empty());
    let ends: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Terminated { tx: TxId::Client(c) } if *c == tx))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, ms(32_300));
    // After Timer M the 200 is stray.
    let out = l.on_message(ok, peer(), Udp, t0 + ms(40_000));
    assert!(matches!(out[..], [Output::StrayResponse { .. }]));
    assert_eq!(l.stats().stray_responses, 1);
}

#[test]
fn transport_error_reports_and_terminates() {
    let mut l = layer();
    let t0 = Instant::now();
    let (tx, _) = l.send_request(invite("z9hG4bKa7"), peer(), Tcp, t0);
    let out = l.transport_error(tx);
    assert!(matches!(out[0], Output::TransportError { tx: t } if t == tx));
    assert!(has_terminated(&out, TxId::Client(tx)));
    assert!(l.transport_error(tx).is_empty(), "reported once");
}

// ------------------------------------------------------------------ client non-INVITE

fn bye(branch: &str) -> SipMessage {
    request("BYE", branch, 2, Some("totag"), false)
}

#[test]
fn timer_e_doubles_capped_at_t2_and_timer_f_times_out() {
    let mut l = layer();
    let t0 = Instant::now();
    let (tx, _) = l.send_request(bye("z9hG4bKe1"), peer(), Udp, t0);
    let outs = run(&mut l, t0, ms(0), ms(40_000));
    // Intervals 0.5, 1, 2, 4, 4, 4 ... s (capped at T2): 0.5, 1.5, 3.5, 7.5, 11.5, ... 31.5 s.
    let want: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(retransmit_times(&outs), want);
    let timeout_at: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Timeout { tx: t } if *t == tx))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(timeout_at, vec![ms(32_000)], "Timer F = 64·T1");
    assert!(l.is_empty());
}

#[test]
fn timer_e_uses_t2_in_proceeding() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = bye("z9hG4bKe2");
    l.send_request(req.clone(), peer(), Udp, t0);
    // First retransmission at 0.5 s; then a 100 Trying at 0.6 s.
    let first = run(&mut l, t0, ms(0), ms(600));
    assert_eq!(retransmit_times(&first), vec![ms(500)]);
    let out = l.on_message(response(&req, 100, "totag"), peer(), Udp, t0 + ms(600));
    assert_eq!(responses_to_tu(&out), vec![100]);
    // Next one was already armed for 1.5 s; after it, every T2 (5.5, 9.5 ...); F still at 32 s.
    let outs = run(&mut l, t0, ms(610), ms(14_000));
    assert_eq!(
        retransmit_times(&outs),
        vec![ms(1500), ms(5500), ms(9500), ms(13_500)]
    );
}

#[test]
fn timer_k_absorbs_retransmitted_finals() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = bye("z9hG4bKe3");
    let (tx, _) = l.send_request(req.clone(), peer(), Udp, t0);
    let ok = response(&req, 200, "totag");
    let out = l.on_message(ok.clone(), peer(), Udp, t0 + ms(100));
    assert_eq!(responses_to_tu(&out), vec![200]);
    let out = l.on_message(ok, peer(), Udp, t0 + ms(2000));
    assert!(out.is_empty(), "retransmitted final absorbed in Completed");
    let outs = run(&mut l, t0, ms(100), ms(6000));
    assert!(retransmit_times(&outs).is_empty());
    let ends: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Terminated { .. }))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, ms(5100), "Timer K = T4");
    assert!(matches!(ends[0].1, Output::Terminated { tx: TxId::Client(c) } if c == tx));
}

#[test]
fn timer_k_is_zero_on_tcp() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = bye("z9hG4bKe4");
    let (tx, _) = l.send_request(req.clone(), peer(), Tcp, t0);
    let out = l.on_message(response(&req, 200, "totag"), peer(), Tcp, t0);
    assert!(has_terminated(&out, TxId::Client(tx)));
}

#[test]
fn response_matching_uses_branch_and_cseq_method() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = invite("z9hG4bKm1");
    let (tx, _) = l.send_request(req.clone(), peer(), Udp, t0);
    // Same branch, but a response to a CANCEL: not ours (no CANCEL transaction exists).
    let cancel = SipMessage::parse(cancel_for(&req).unwrap()).unwrap();
    let out = l.on_message(response(&cancel, 200, "x"), peer(), Udp, t0);
    assert!(matches!(out[..], [Output::StrayResponse { .. }]));
    // The CANCEL as its own transaction gets its own 200; the INVITE its 487.
    let (ctx, _) = l.send_request(cancel.clone(), peer(), Udp, t0);
    assert_ne!(ctx, tx);
    let out = l.on_message(response(&cancel, 200, "x"), peer(), Udp, t0);
    assert!(matches!(out[0], Output::Response { tx: t, .. } if t == ctx));
    let out = l.on_message(response(&req, 487, "x"), peer(), Udp, t0);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Response { tx: t, .. } if *t == tx)));
}

// ------------------------------------------------------------------ server INVITE

fn new_invite(
    l: &mut TransactionLayer,
    branch: &str,
    transport: TransportKind,
    t0: Instant,
) -> (SipMessage, ServerTxId) {
    let req = invite(branch);
    let out = l.on_message(req.clone(), peer(), transport, t0);
    assert_eq!(
        sent(&out),
        vec![("SIP/2.0 100 Trying".into(), peer(), false)]
    );
    (req, server_tx(&out))
}

#[test]
fn retransmitted_invite_is_absorbed_and_repeats_the_last_provisional() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs1", Udp, t0);
    let out = l.on_message(req.clone(), peer(), Udp, t0 + ms(500));
    assert_eq!(
        requests_to_tu(&out),
        0,
        "retransmission not passed to the TU"
    );
    assert_eq!(
        sent(&out),
        vec![("SIP/2.0 100 Trying".into(), peer(), true)]
    );
    let out = l.send_response(tx, response(&req, 180, "uas1"), t0 + ms(600));
    assert_eq!(sent(&out), vec![("SIP/2.0 180 X".into(), peer(), false)]);
    let out = l.on_message(req, peer(), Udp, t0 + ms(1500));
    assert_eq!(sent(&out), vec![("SIP/2.0 180 X".into(), peer(), true)]);
    assert_eq!(l.stats().absorbed_requests, 2);
    // Proceeding has no timers of its own.
    assert!(run(&mut l, t0, ms(1500), ms(60_000)).is_empty());
}

#[test]
fn timer_g_retransmits_non2xx_capped_at_t2_and_timer_h_gives_up() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs2", Udp, t0);
    let out = l.send_response(tx, response(&req, 486, "uas2"), t0);
    assert_eq!(sent(&out).len(), 1);
    let outs = run(&mut l, t0, ms(0), ms(40_000));
    // G: 0.5, 1.5, 3.5, 7.5, then every T2 up to H at 32 s.
    let want: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(retransmit_times(&outs), want);
    let at: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::AckTimeout { tx: t } if *t == tx))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(at, vec![ms(32_000)], "Timer H = 64·T1");
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Output::Terminated { tx: TxId::Server(s) } if *s == tx)));
    assert!(l.is_empty());
}

#[test]
fn timer_g_is_off_on_tcp_but_h_runs() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs3", Tcp, t0);
    l.send_response(tx, response(&req, 404, "uas3"), t0);
    let outs = run(&mut l, t0, ms(0), ms(33_000));
    assert!(retransmit_times(&outs).is_empty());
    assert!(outs
        .iter()
        .any(|(t, o)| *t == ms(32_000) && matches!(o, Output::AckTimeout { tx: s } if *s == tx)));
}

#[test]
fn ack_confirms_and_timer_i_absorbs_ack_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs4", Udp, t0);
    let resp = response(&req, 486, "uas4");
    l.send_response(tx, resp.clone(), t0);
    let ack = SipMessage::parse(ack_for_non2xx(&req, &resp).unwrap()).unwrap();
    let out = l.on_message(ack.clone(), peer(), Udp, t0 + ms(700));
    assert!(
        out.is_empty(),
        "the ACK of a non-2xx stays inside the transaction: {out:?}"
    );
    // Timer G stopped (the one armed for 1.5 s finds nothing to do); a repeated ACK is absorbed.
    let out = l.on_message(ack, peer(), Udp, t0 + ms(900));
    assert!(out.is_empty());
    let outs = run(&mut l, t0, ms(700), ms(10_000));
    assert!(retransmit_times(&outs).is_empty());
    assert!(!outs
        .iter()
        .any(|(_, o)| matches!(o, Output::AckTimeout { .. })));
    let ends: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Terminated { .. }))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, ms(5700), "Timer I = T4 after the ACK");
}

#[test]
fn timer_i_is_zero_on_tcp() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs5", Tcp, t0);
    let resp = response(&req, 486, "uas5");
    l.send_response(tx, resp.clone(), t0);
    let ack = SipMessage::parse(ack_for_non2xx(&req, &resp).unwrap()).unwrap();
    let out = l.on_message(ack, peer(), Tcp, t0 + ms(10));
    assert!(has_terminated(&out, TxId::Server(tx)));
}

fn ack_2xx(branch: &str, to_tag: &str) -> SipMessage {
    request("ACK", branch, 1, Some(to_tag), false)
}

#[test]
fn ok_to_invite_is_retransmitted_until_the_ack_then_timer_l_ends_it() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs6", Udp, t0);
    let out = l.send_response(tx, response(&req, 200, "uas6"), t0);
    assert_eq!(sent(&out), vec![("SIP/2.0 200 X".into(), peer(), false)]);
    // Retransmitted at T1, 2·T1, 4·T1 (0.5, 1.5, 3.5 s) while no ACK comes.
    let outs = run(&mut l, t0, ms(0), ms(4000));
    assert_eq!(retransmit_times(&outs), vec![ms(500), ms(1500), ms(3500)]);
    // A retransmitted INVITE in Accepted is absorbed silently (RFC 6026 §7.1).
    let out = l.on_message(req.clone(), peer(), Udp, t0 + ms(4000));
    assert!(out.is_empty());
    // The ACK has its own branch; it matches by Call-ID, CSeq and To tag, and goes to the TU.
    let out = l.on_message(ack_2xx("z9hG4bKother", "uas6"), peer(), Udp, t0 + ms(4100));
    assert!(matches!(out[..], [Output::Request { tx: None, .. }]));
    let outs = run(&mut l, t0, ms(4100), ms(40_000));
    assert!(
        retransmit_times(&outs).is_empty(),
        "no 2xx retransmission after the ACK"
    );
    assert!(!outs
        .iter()
        .any(|(_, o)| matches!(o, Output::AckTimeout { .. })));
    let ends: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Terminated { .. }))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, ms(32_000), "Timer L = 64·T1");
}

#[test]
fn ok_to_invite_retransmission_caps_at_t2_and_timer_l_reports_missing_ack() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs7", Tcp, t0);
    l.send_response(tx, response(&req, 200, "uas7"), t0);
    // Even on TCP the 2xx is retransmitted (§13.3.1.4: hops behind us may be UDP).
    let outs = run(&mut l, t0, ms(0), ms(40_000));
    let want: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(retransmit_times(&outs), want);
    let at: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::AckTimeout { tx: t } if *t == tx))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(at, vec![ms(32_000)]);
    assert!(l.is_empty());
}

#[test]
fn ack_with_a_wrong_to_tag_does_not_stop_2xx_retransmission() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs8", Udp, t0);
    l.send_response(tx, response(&req, 200, "uas8"), t0);
    let out = l.on_message(
        ack_2xx("z9hG4bKx", "someone-else"),
        peer(),
        Udp,
        t0 + ms(100),
    );
    assert!(
        matches!(out[..], [Output::Request { tx: None, .. }]),
        "stray ACK still goes up"
    );
    let outs = run(&mut l, t0, ms(100), ms(2000));
    assert_eq!(retransmit_times(&outs), vec![ms(500), ms(1500)]);
}

#[test]
fn second_final_response_is_ignored() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, tx) = new_invite(&mut l, "z9hG4bKs9", Udp, t0);
    assert_eq!(
        sent(&l.send_response(tx, response(&req, 486, "a"), t0)).len(),
        1
    );
    assert!(l.send_response(tx, response(&req, 200, "a"), t0).is_empty());
    assert!(l
        .send_response(ServerTxId(9999), response(&req, 200, "a"), t0)
        .is_empty());
    // And a TU-sent 100 after our automatic one is not sent twice.
    let (req2, tx2) = new_invite(&mut l, "z9hG4bKs10", Udp, t0);
    assert!(l
        .send_response(tx2, response(&req2, 100, "b"), t0)
        .is_empty());
}

// ------------------------------------------------------------------ server non-INVITE

#[test]
fn non_invite_server_absorbs_retransmissions_and_timer_j_ends_it() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = bye("z9hG4bKn1");
    let out = l.on_message(req.clone(), peer(), Udp, t0);
    assert!(sent(&out).is_empty(), "no automatic 100 for non-INVITE");
    let tx = server_tx(&out);
    // Trying: a retransmission is absorbed without any answer.
    let out = l.on_message(req.clone(), peer(), Udp, t0 + ms(500));
    assert!(out.is_empty());
    let out = l.send_response(tx, response(&req, 200, "totag"), t0 + ms(600));
    assert_eq!(sent(&out).len(), 1);
    // Completed: a retransmission gets the 200 again.
    let out = l.on_message(req, peer(), Udp, t0 + ms(1500));
    assert_eq!(sent(&out), vec![("SIP/2.0 200 X".into(), peer(), true)]);
    let outs = run(&mut l, t0, ms(600), ms(40_000));
    let ends: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Terminated { .. }))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].0, ms(32_600), "Timer J = 64·T1 on UDP");
    assert!(
        retransmit_times(&outs).is_empty(),
        "non-INVITE responses are not retransmitted on timers"
    );
}

#[test]
fn non_invite_provisional_is_repeated_for_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKn2", 5, None, false);
    let tx = server_tx(&l.on_message(req.clone(), peer(), Udp, t0));
    l.send_response(tx, response(&req, 100, "x"), t0);
    let out = l.on_message(req, peer(), Udp, t0 + ms(500));
    assert_eq!(sent(&out), vec![("SIP/2.0 100 X".into(), peer(), true)]);
}

#[test]
fn timer_j_is_zero_on_tcp() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = bye("z9hG4bKn3");
    let tx = server_tx(&l.on_message(req.clone(), peer(), Tcp, t0));
    let out = l.send_response(tx, response(&req, 200, "totag"), t0);
    assert!(has_terminated(&out, TxId::Server(tx)));
    // A late retransmission is then a new transaction again (the TU sees it and answers 481/200).
    let out = l.on_message(req, peer(), Tcp, t0 + ms(10));
    assert_eq!(requests_to_tu(&out), 1);
}

#[test]
fn same_branch_different_sent_by_are_different_transactions() {
    let mut l = layer();
    let t0 = Instant::now();
    let a = bye("z9hG4bKn4");
    let text = String::from_utf8(a.as_bytes().to_vec())
        .unwrap()
        .replace("10.0.0.2:5062;", "10.0.0.9:5062;");
    let b = SipMessage::parse(Bytes::from(text)).unwrap();
    assert_eq!(requests_to_tu(&l.on_message(a, peer(), Udp, t0)), 1);
    assert_eq!(requests_to_tu(&l.on_message(b, peer(), Udp, t0)), 1);
}

// ------------------------------------------------------------------ CANCEL, ACK, routing

#[test]
fn cancel_finds_the_invite_server_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    let (req, invite_tx) = new_invite(&mut l, "z9hG4bKc1", Udp, t0);
    let cancel = SipMessage::parse(cancel_for(&req).unwrap()).unwrap();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.cseq().seq, req.cseq().seq);
    let out = l.on_message(cancel.clone(), peer(), Udp, t0 + ms(100));
    let (cancel_tx, cancels) = out
        .iter()
        .find_map(|o| match o {
            Output::Request {
                tx: Some(t),
                cancels,
                ..
            } => Some((*t, *cancels)),
            _ => None,
        })
        .unwrap();
    assert_ne!(cancel_tx, invite_tx);
    assert_eq!(cancels, Some(invite_tx));
    // The TU answers 200 to the CANCEL and 487 to the INVITE, each on its own transaction.
    assert_eq!(
        sent(&l.send_response(cancel_tx, response(&cancel, 200, "t"), t0)).len(),
        1
    );
    assert_eq!(
        sent(&l.send_response(invite_tx, response(&req, 487, "t"), t0))[0].0,
        "SIP/2.0 487 X"
    );
    // A CANCEL for an unknown INVITE: no match, the TU answers 481.
    let other = SipMessage::parse(cancel_for(&invite("z9hG4bKc2")).unwrap()).unwrap();
    let out = l.on_message(other, peer(), Udp, t0);
    assert!(matches!(
        out[..],
        [Output::Request {
            tx: Some(_),
            cancels: None,
            ..
        }]
    ));
}

#[test]
fn stray_ack_goes_to_the_tu_without_transaction() {
    let mut l = layer();
    let out = l.on_message(ack_2xx("z9hG4bKnone", "t"), peer(), Udp, Instant::now());
    assert!(matches!(out[..], [Output::Request { tx: None, .. }]));
    assert!(l.is_empty());
}

#[test]
fn responses_follow_via_rport_received_or_connection() {
    let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let with_rport = request("OPTIONS", "z9hG4bKr1", 1, None, true);
    let without = request("OPTIONS", "z9hG4bKr2", 1, None, false);
    assert_eq!(response_destination(&with_rport, src, Udp), src);
    assert_eq!(
        response_destination(&without, src, Udp),
        "192.0.2.7:5062".parse().unwrap()
    );
    assert_eq!(response_destination(&without, src, Tcp), src);
    // And the layer sends there.
    let mut l = layer();
    let out = l.on_message(with_rport, src, Udp, Instant::now());
    assert!(requests_to_tu(&out) == 1);
    let out = l.on_message(invite("z9hG4bKr3"), src, Udp, Instant::now());
    assert_eq!(
        sent(&out)[0].1,
        "192.0.2.7:5062".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn overload_gets_a_stateless_503() {
    let mut l = TransactionLayer::new(LayerConfig {
        max_transactions: 1,
        ..LayerConfig::default()
    });
    let t0 = Instant::now();
    assert_eq!(
        requests_to_tu(&l.on_message(bye("z9hG4bKo1"), peer(), Udp, t0)),
        1
    );
    let out = l.on_message(bye("z9hG4bKo2"), peer(), Udp, t0);
    assert_eq!(sent(&out)[0].0, "SIP/2.0 503 Service Unavailable");
    assert!(matches!(out[1], Output::Rejected { status: 503, .. }));
    assert_eq!(l.len(), (0, 1));
}

#[test]
fn next_deadline_tracks_the_earliest_timer() {
    let mut l = layer();
    let t0 = Instant::now();
    assert_eq!(l.next_deadline(), None);
    l.send_request(bye("z9hG4bKd1"), peer(), Tcp, t0);
    assert_eq!(l.next_deadline(), Some(t0 + T1 * 64));
    l.send_request(bye("z9hG4bKd2"), peer(), Udp, t0 + ms(100));
    assert_eq!(l.next_deadline(), Some(t0 + ms(600)));
    assert!(l.on_timer(t0 + ms(599)).is_empty());
    assert_eq!(sent(&l.on_timer(t0 + ms(600))).len(), 1);
}

#[test]
fn client_ids_are_unique() {
    let mut l = layer();
    let t0 = Instant::now();
    let (a, _) = l.send_request(bye("z9hG4bKu1"), peer(), Udp, t0);
    let (b, _) = l.send_request(bye("z9hG4bKu2"), peer(), Udp, t0);
    assert_ne!(a, b);
    let _: ClientTxId = a;
}

#[test]
fn responses_on_tcp_carry_the_sent_by_fallback() {
    use sip::transaction::response_fallback;
    let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let req = request("OPTIONS", "z9hG4bKf1", 1, None, false);
    let want: SocketAddr = "192.0.2.7:5062".parse().unwrap();
    assert_eq!(response_fallback(&req, src, Tcp), Some(want));
    assert_eq!(response_fallback(&req, src, Udp), None);
    assert_eq!(
        response_fallback(&req, want, Tcp),
        None,
        "already the sent-by port"
    );
    let mut l = layer();
    let t0 = Instant::now();
    let (inv, tx) = {
        let req = invite("z9hG4bKf2");
        let out = l.on_message(req.clone(), src, Tcp, t0);
        assert!(matches!(
            out[0],
            Output::Transmit { dest, fallback: Some(f), .. } if dest == src && f == want
        ));
        (req, server_tx(&out))
    };
    let out = l.send_response(tx, response(&inv, 200, "f"), t0);
    assert!(matches!(out[0], Output::Transmit { fallback: Some(f), .. } if f == want));
    // Our own requests have no fallback.
    let (_, out) = l.send_request(bye("z9hG4bKf3"), peer(), Tcp, t0);
    assert!(matches!(out[0], Output::Transmit { fallback: None, .. }));
}

#[test]
fn a_reused_live_branch_is_refused_not_orphaned() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = invite("z9hG4bKdup");
    let (first, _) = l.send_request(req.clone(), peer(), Udp, t0);
    let (second, out) = l.send_request(req.clone(), peer(), Udp, t0);
    assert!(sent(&out).is_empty());
    assert!(matches!(out[0], Output::TransportError { tx } if tx == second));
    // The first still gets its responses.
    let out = l.on_message(response(&req, 180, "x"), peer(), Udp, t0);
    assert!(matches!(out[0], Output::Response { tx, .. } if tx == first));
}

#[test]
fn a_non_invite_server_transaction_ends_at_timer_j_without_an_ack_timeout() {
    // A REGISTER, INFO or BYE is never ACKed: leaving Completed at Timer J is the normal end, not the
    // "final response never acknowledged" of an INVITE (RFC 3261 §17.2.2).
    let mut l = layer();
    let t0 = Instant::now();
    let req = bye("z9hG4bKnj1");
    let out = l.on_message(req.clone(), peer(), Udp, t0);
    let tx = server_tx(&out);
    l.send_response(tx, response(&req, 200, "totag"), t0);
    let outs = run(&mut l, t0, ms(0), ms(40_000));
    assert!(
        !outs
            .iter()
            .any(|(_, o)| matches!(o, Output::AckTimeout { .. })),
        "no AckTimeout for a non-INVITE: {outs:?}"
    );
    assert!(outs
        .iter()
        .any(|(_, o)| matches!(o, Output::Terminated { tx: TxId::Server(s) } if *s == tx)));
    assert!(l.is_empty());
}
