//! RFC 3262 reliable provisionals and PRACK both ways, and RFC 3311 UPDATE offers in the early
//! dialog they make possible; driven without sockets, in simulated time. Also: every method the
//! session's Allow lists gets something other than 501 inside the dialog (issue 13 item 7).

use sip::capabilities::{self, DIALOG_ALLOW, DIALOG_METHODS};
use sip::session::{
    InviteSession, ReqKey, SessionConfig, SessionEvent, SessionOutput, SessionTimer,
    TerminationReason, UacRequest,
};
use sip::transaction::TxEvent;
use sip::{Method, RequestBuilder, SipMessage, Uri};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
const REOFFER: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n";
const CALL_ID: &str = "call-a@10.0.0.2";
const PEER_TAG: &str = "caller-tag";
const INVITE_KEY: ReqKey = 1000;
const T1: i64 = 500;

fn cfg() -> SessionConfig {
    SessionConfig {
        contact: "<sip:12345@10.0.0.1:5060>".into(),
        via: "SIP/2.0/UDP 10.0.0.1:5060".into(),
        rng_seed: Some(7),
        ..SessionConfig::default()
    }
}

fn responses(out: &[SessionOutput]) -> Vec<(ReqKey, SipMessage)> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Respond { key, response } => Some((*key, response.clone())),
            _ => None,
        })
        .collect()
}

fn statuses(out: &[SessionOutput]) -> Vec<(ReqKey, u16)> {
    responses(out)
        .into_iter()
        .map(|(k, r)| (k, r.status().unwrap_or(0)))
        .collect()
}

fn requests(out: &[SessionOutput]) -> Vec<(ReqKey, SipMessage)> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Request { key, request } => Some((*key, request.clone())),
            _ => None,
        })
        .collect()
}

fn events(out: &[SessionOutput]) -> Vec<SessionEvent> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn timers(out: &[SessionOutput]) -> Vec<(SessionTimer, i64)> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::StartTimer { timer, after_ms } => Some((*timer, *after_ms)),
            _ => None,
        })
        .collect()
}

fn body(m: &SipMessage) -> &str {
    std::str::from_utf8(m.body()).unwrap()
}

fn rseq(m: &SipMessage) -> u32 {
    m.header("RSeq").unwrap().parse().unwrap()
}

// ------------------------------------------------------------------ UAS helpers

fn peer_invite(extra: &[(&str, &str)], sdp: Option<&str>) -> SipMessage {
    let mut b = RequestBuilder::new(Method::Invite, &Uri::parse("sip:12345@10.0.0.1").unwrap())
        .header("Via", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKinv")
        .header("Max-Forwards", "70")
        .header(
            "From",
            &format!("<sip:13800000000@carrier.example>;tag={PEER_TAG}"),
        )
        .header("To", "<sip:12345@hotline.example>")
        .header("Call-ID", CALL_ID)
        .header("CSeq", "10 INVITE")
        .header("Contact", "<sip:13800000000@10.0.0.2:5060>");
    for (n, v) in extra {
        b = b.header(n, v);
    }
    if let Some(sdp) = sdp {
        b = b.body("application/sdp", sdp.as_bytes());
    }
    b.build_message()
}

fn from_caller(
    s: &InviteSession,
    method: &str,
    cseq: u32,
    extra: &[(&str, &str)],
    sdp: Option<&str>,
) -> SipMessage {
    let m = Method::parse(method).unwrap();
    let mut b = RequestBuilder::new(m, &Uri::parse("sip:12345@10.0.0.1:5060").unwrap())
        .header(
            "Via",
            &format!("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{method}{cseq}"),
        )
        .header("Max-Forwards", "70")
        .header("From", &format!("<sip:peer@10.0.0.2>;tag={PEER_TAG}"))
        .header("To", &format!("<sip:us@10.0.0.1>;tag={}", s.local_tag()))
        .header("Call-ID", CALL_ID)
        .header("CSeq", &format!("{cseq} {method}"))
        .header("Contact", "<sip:peer@10.0.0.2:5060>");
    for (n, v) in extra {
        b = b.header(n, v);
    }
    if let Some(sdp) = sdp {
        b = b.body("application/sdp", sdp.as_bytes());
    }
    b.build_message()
}

fn prack(s: &InviteSession, cseq: u32, rack: &str, sdp: Option<&str>) -> SipMessage {
    from_caller(s, "PRACK", cseq, &[("RAck", rack)], sdp)
}

/// A UAS session for an INVITE that requires 100rel, and its reliable 183 with our answer.
fn reliable_183() -> (InviteSession, SipMessage, Vec<SessionOutput>) {
    let mut s = InviteSession::uas(
        cfg(),
        peer_invite(&[("Require", "100rel")], Some(OFFER)),
        INVITE_KEY,
        0,
    );
    let out = s.provisional(183, "Session Progress", Some(ANSWER));
    let (key, resp) = responses(&out).remove(0);
    assert_eq!(key, INVITE_KEY);
    (s, resp, out)
}

// ================================================================== UAS

#[test]
fn required_100rel_makes_the_183_reliable_resent_at_t1_doubling_until_its_prack() {
    let (mut s, r183, out) = reliable_183();
    // RFC 3262 §3: Require: 100rel and an RSeq in 1..2^31-1; the answer in it.
    assert_eq!(r183.status(), Some(183));
    assert_eq!(r183.require(), ["100rel"]);
    let n = rseq(&r183);
    assert!((1..(1u32 << 31)).contains(&n));
    assert_eq!(body(&r183), ANSWER);
    assert_eq!(r183.to().tag(), Some(s.local_tag()));
    assert_eq!(timers(&out), vec![(SessionTimer::Reliable { rseq: n }, T1)]);
    // Resent at T1, then 2·T1, 4·T1: the same response each time.
    let mut now = 0;
    for want_next in [2 * T1, 4 * T1, 8 * T1] {
        now += want_next / 2;
        let out = s.on_timer(SessionTimer::Reliable { rseq: n }, now);
        let (key, again) = responses(&out).remove(0);
        assert_eq!((key, again.wire()), (INVITE_KEY, r183.wire()));
        assert_eq!(
            timers(&out),
            vec![(SessionTimer::Reliable { rseq: n }, want_next)]
        );
    }
    // The PRACK: RAck names the RSeq and the INVITE's CSeq (§7.2); it gets 200 and no event.
    let out = s.on_request(1, &prack(&s, 11, &format!("{n} 10 INVITE"), None), now);
    assert_eq!(statuses(&out), vec![(1, 200)]);
    assert!(events(&out).is_empty());
    // The retransmission timer is stale now.
    assert!(s
        .on_timer(SessionTimer::Reliable { rseq: n }, now + 4000)
        .is_empty());
    // The answer went reliably: the 2xx carries no SDP (RFC 3261 §13.2.1).
    let out = s.answer(ANSWER, now + 5000);
    let (_, ok) = responses(&out).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert!(ok.body().is_empty());
    assert_eq!(s.local_sdp(), Some(ANSWER));
}

#[test]
fn no_prack_in_64_t1_ends_the_invite_with_500() {
    let (mut s, r183, _) = reliable_183();
    let n = rseq(&r183);
    let (mut now, mut interval, mut resent) = (0, T1, 0);
    loop {
        now += interval;
        let out = s.on_timer(SessionTimer::Reliable { rseq: n }, now);
        if let Some((SessionTimer::Reliable { .. }, next)) = timers(&out).first().copied() {
            assert_eq!(statuses(&out), vec![(INVITE_KEY, 183)]);
            resent += 1;
            interval = next;
            continue;
        }
        // §3: after 64·T1 without a PRACK, a 5xx to the INVITE.
        assert_eq!(now, 64 * T1);
        assert_eq!(statuses(&out), vec![(INVITE_KEY, 500)]);
        assert_eq!(
            events(&out),
            vec![SessionEvent::Terminated {
                reason: TerminationReason::PrackTimeout
            }]
        );
        break;
    }
    assert_eq!(resent, 6, "at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s");
    assert!(s.is_terminated());
}

#[test]
fn a_prack_matching_nothing_gets_481_and_a_2xx_waits_for_the_prack_of_an_sdp_183() {
    let (mut s, r183, _) = reliable_183();
    let n = rseq(&r183);
    // §3: the 2xx may not go while a reliable provisional with SDP is unacknowledged.
    assert!(s.answer(ANSWER, 100).is_empty());
    for (cseq, rack) in [
        (11, format!("{} 10 INVITE", n + 1)),
        (12, format!("{n} 9 INVITE")),
        (13, format!("{n} 10 UPDATE")),
        (14, "garbage".to_string()),
    ] {
        let out = s.on_request(cseq as u64, &prack(&s, cseq, &rack, None), 200);
        assert_eq!(statuses(&out), vec![(cseq as u64, 481)], "RAck {rack}");
    }
    // The right PRACK: its 200, then the held-back 2xx (without SDP).
    let out = s.on_request(20, &prack(&s, 20, &format!("{n} 10 INVITE"), None), 300);
    assert_eq!(statuses(&out), vec![(20, 200), (INVITE_KEY, 200)]);
    assert!(responses(&out)[1].1.body().is_empty());
    // A PRACK again for the same provisional: nothing unacknowledged matches it.
    let out = s.on_request(21, &prack(&s, 21, &format!("{n} 10 INVITE"), None), 400);
    assert_eq!(statuses(&out), vec![(21, 481)]);
}

#[test]
fn supported_100rel_is_used_when_it_helps_only_for_sdp_and_not_at_all_without_it() {
    let invite = peer_invite(&[("Supported", "100rel, timer")], Some(OFFER));
    let mut s = InviteSession::uas(cfg(), invite.clone(), INVITE_KEY, 0);
    let out = s.provisional(180, "Ringing", None);
    let (_, r180) = responses(&out).remove(0);
    assert!(r180.header("RSeq").is_none(), "no SDP: nothing to gain");
    assert!(timers(&out).is_empty());
    let out = s.provisional(183, "Session Progress", Some(ANSWER));
    let (_, r183) = responses(&out).remove(0);
    assert!(
        r183.header("RSeq").is_some(),
        "the early answer becomes the answer"
    );

    // use_100rel off: only Require makes provisionals reliable.
    let off = SessionConfig {
        use_100rel: false,
        ..cfg()
    };
    let mut s = InviteSession::uas(off, invite, INVITE_KEY, 0);
    let (_, r) = responses(&s.provisional(183, "Session Progress", Some(ANSWER))).remove(0);
    assert!(r.header("RSeq").is_none());

    // A peer that knows nothing of 100rel gets plain provisionals, as before.
    let mut s = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    let (_, r) = responses(&s.provisional(183, "Session Progress", Some(ANSWER))).remove(0);
    assert!(r.header("RSeq").is_none() && r.header("Require").is_none());
    assert_eq!(body(&r), ANSWER);
}

#[test]
fn one_reliable_provisional_at_a_time_the_next_goes_with_the_prack() {
    let mut s = InviteSession::uas(
        cfg(),
        peer_invite(&[("Require", "100rel")], Some(OFFER)),
        INVITE_KEY,
        0,
    );
    let out = s.provisional(180, "Ringing", None);
    let (_, r180) = responses(&out).remove(0);
    let n = rseq(&r180);
    assert!(r180.body().is_empty());
    // §3: no second reliable provisional before the first is PRACKed.
    assert!(s
        .provisional(183, "Session Progress", Some(ANSWER))
        .is_empty());
    let out = s.on_request(1, &prack(&s, 11, &format!("{n} 10 INVITE"), None), 100);
    let r = responses(&out);
    assert_eq!(r[0].1.status(), Some(200));
    assert_eq!((r[1].0, r[1].1.status()), (INVITE_KEY, Some(183)));
    assert_eq!(rseq(&r[1].1), n + 1, "RSeq counts up by one");
    assert_eq!(body(&r[1].1), ANSWER);
    // That one carries SDP: the 2xx waits for its PRACK.
    assert!(s.answer(ANSWER, 200).is_empty());

    // A 2xx while the unacked reliable provisional has no SDP goes at once; resending stops (§3).
    let mut s = InviteSession::uas(
        cfg(),
        peer_invite(&[("Require", "100rel")], Some(OFFER)),
        INVITE_KEY,
        0,
    );
    let (_, r180) = responses(&s.provisional(180, "Ringing", None)).remove(0);
    let out = s.answer(ANSWER, 200);
    assert_eq!(statuses(&out), vec![(INVITE_KEY, 200)]);
    assert_eq!(
        body(&responses(&out)[0].1),
        ANSWER,
        "the answer is in the 2xx"
    );
    assert!(s
        .on_timer(SessionTimer::Reliable { rseq: rseq(&r180) }, 500)
        .is_empty());
}

#[test]
fn update_with_an_offer_in_the_early_dialog_is_answered_once_the_183_answered_reliably() {
    // Unreliable 183: the INVITE's offer is not answered yet (RFC 3311 §5.2: 500 + Retry-After).
    let mut plain = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    plain.provisional(183, "Session Progress", Some(ANSWER));
    let out = plain.on_request(5, &from_caller(&plain, "UPDATE", 11, &[], Some(REOFFER)), 1);
    let (_, r) = responses(&out).remove(0);
    assert_eq!(r.status(), Some(500));
    assert!(r.header("Retry-After").is_some());

    // Reliable 183 with the answer, PRACKed: the UPDATE's offer goes to the TU, the answer back.
    let (mut s, r183, _) = reliable_183();
    let n = rseq(&r183);
    s.on_request(1, &prack(&s, 11, &format!("{n} 10 INVITE"), None), 10);
    let out = s.on_request(2, &from_caller(&s, "UPDATE", 12, &[], Some(REOFFER)), 20);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Offer {
            key: 2,
            sdp: REOFFER.into()
        }]
    );
    let out = s.accept_offer(2, ANSWER, 30);
    let (key, ok) = responses(&out).remove(0);
    assert_eq!((key, ok.status()), (2, Some(200)));
    assert_eq!(body(&ok), ANSWER);
    assert!(
        ok.header("Contact").is_some(),
        "a target refresh (RFC 3311 §5.2)"
    );
    // Then the call is answered; the 2xx has no SDP, the ACK confirms.
    let out = s.answer(ANSWER, 40);
    assert!(responses(&out)[0].1.body().is_empty());
    let ack = from_caller(&s, "ACK", 10, &[], None);
    assert_eq!(
        events(&s.on_request(0, &ack, 50)),
        vec![SessionEvent::Confirmed { sdp: None }]
    );
    // And in the confirmed dialog an UPDATE offer is answered the same way.
    let out = s.on_request(3, &from_caller(&s, "UPDATE", 13, &[], Some(OFFER)), 60);
    assert!(matches!(
        events(&out)[..],
        [SessionEvent::Offer { key: 3, .. }]
    ));
    assert_eq!(
        body(&responses(&s.accept_offer(3, ANSWER, 61))[0].1),
        ANSWER
    );
}

#[test]
fn an_offer_in_a_prack_gets_its_answer_in_the_prack_200() {
    let (mut s, r183, _) = reliable_183();
    let n = rseq(&r183);
    let out = s.on_request(
        4,
        &prack(&s, 11, &format!("{n} 10 INVITE"), Some(REOFFER)),
        10,
    );
    assert_eq!(
        events(&out),
        vec![SessionEvent::Offer {
            key: 4,
            sdp: REOFFER.into()
        }]
    );
    assert!(
        statuses(&out).is_empty(),
        "the 200 waits for the TU's answer"
    );
    let (key, ok) = responses(&s.accept_offer(4, ANSWER, 11)).remove(0);
    assert_eq!((key, ok.status(), body(&ok)), (4, Some(200), ANSWER));
}

#[test]
fn offerless_invite_our_offer_in_the_reliable_183_is_answered_in_the_prack() {
    let mut s = InviteSession::uas(
        cfg(),
        peer_invite(&[("Supported", "100rel")], None),
        INVITE_KEY,
        0,
    );
    let out = s.provisional(183, "Session Progress", Some(OFFER));
    let (_, r183) = responses(&out).remove(0);
    let n = rseq(&r183);
    assert_eq!(body(&r183), OFFER);
    // Meanwhile an UPDATE offer crosses ours: 491 (RFC 3311 §5.2).
    let out = s.on_request(2, &from_caller(&s, "UPDATE", 11, &[], Some(REOFFER)), 5);
    assert_eq!(statuses(&out), vec![(2, 491)]);
    // RFC 3262 §5: the PRACK carries the answer.
    let out = s.on_request(
        3,
        &prack(&s, 12, &format!("{n} 10 INVITE"), Some(ANSWER)),
        10,
    );
    assert_eq!(statuses(&out), vec![(3, 200)]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::OfferAnswered {
            sdp: Some(ANSWER.into())
        }]
    );
    let (_, ok) = responses(&s.answer(OFFER, 20)).remove(0);
    assert!(ok.body().is_empty(), "offer/answer is done");
    assert_eq!(s.local_sdp(), Some(OFFER));
}

#[test]
fn cancel_while_the_2xx_waits_for_a_prack_ends_the_call_with_487() {
    let (mut s, _, _) = reliable_183();
    assert!(s.answer(ANSWER, 10).is_empty());
    let cancel = RequestBuilder::new(Method::Cancel, &Uri::parse("sip:12345@10.0.0.1").unwrap())
        .header("Via", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKinv")
        .header("Max-Forwards", "70")
        .header(
            "From",
            &format!("<sip:13800000000@carrier.example>;tag={PEER_TAG}"),
        )
        .header("To", "<sip:12345@hotline.example>")
        .header("Call-ID", CALL_ID)
        .header("CSeq", "10 CANCEL")
        .build_message();
    let out = s.on_request(9, &cancel, 20);
    assert_eq!(statuses(&out), vec![(9, 200), (INVITE_KEY, 487)]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::RemoteHangup
        }]
    );
}

#[test]
fn the_420_names_only_extensions_we_lack() {
    let invite = peer_invite(&[("Require", "100rel, timer, replaces, foo")], Some(OFFER));
    assert_eq!(capabilities::unsupported_requires(&invite), ["foo"]);
}

// ================================================================== UAC

fn uac() -> (InviteSession, ReqKey, SipMessage) {
    let req = UacRequest {
        request_uri: Uri::parse("sip:110@10.0.0.9:5070").unwrap(),
        from: "<sip:13800000000@hotline.example>".into(),
        to: "<sip:110@hotline.example>".into(),
        call_id: "leg-b@hotline.example".into(),
        sdp_offer: Some(OFFER.into()),
        extra_headers: Vec::new(),
    };
    let (s, out) = InviteSession::uac(cfg(), req, 0);
    let (key, invite) = requests(&out).remove(0);
    (s, key, invite)
}

fn gw_resp(invite: &SipMessage, status: u16, rseq: Option<u32>, sdp: Option<&str>) -> SipMessage {
    let mut b = invite
        .response(status, "X")
        .to_tag("gw-tag")
        .header("Contact", "<sip:110@10.0.0.9:5070>");
    if let Some(n) = rseq {
        b = b.header("Require", "100rel").header("RSeq", &n.to_string());
    }
    if let Some(sdp) = sdp {
        b = b.body("application/sdp", sdp.as_bytes());
    }
    b.build_message()
}

#[test]
fn uac_offers_100rel_pracks_each_reliable_provisional_once_and_in_order() {
    let (mut s, key, invite) = uac();
    assert!(invite.supported().contains(&"100rel"));
    let r = gw_resp(&invite, 183, Some(7), Some(ANSWER));
    let out = s.on_tx_event(key, TxEvent::Provisional(r.clone()), 10);
    let (_, prack) = requests(&out).remove(0);
    // RFC 3262 §7.2: RAck = RSeq, the INVITE's CSeq number and method; in the early dialog.
    assert_eq!(prack.method(), Some(&Method::Prack));
    assert_eq!(prack.header("RAck"), Some("7 1 INVITE"));
    assert_eq!(prack.to().tag(), Some("gw-tag"));
    assert_eq!(prack.from().tag(), Some(s.local_tag()));
    assert_eq!(
        prack.request_uri().unwrap().to_string(),
        "sip:110@10.0.0.9:5070"
    );
    assert_eq!(
        events(&out),
        vec![SessionEvent::Ringing {
            status: 183,
            sdp: Some(ANSWER.into())
        }]
    );
    // A retransmission (same RSeq) and one out of order (RSeq 9): no PRACK, no event (§4).
    assert!(s.on_tx_event(key, TxEvent::Provisional(r), 600).is_empty());
    let skip = gw_resp(&invite, 180, Some(9), None);
    assert!(s
        .on_tx_event(key, TxEvent::Provisional(skip), 700)
        .is_empty());
    let next = gw_resp(&invite, 180, Some(8), None);
    let out = s.on_tx_event(key, TxEvent::Provisional(next), 800);
    let (_, prack2) = requests(&out).remove(0);
    assert_eq!(prack2.header("RAck"), Some("8 1 INVITE"));
    assert!(prack2.cseq().seq > prack.cseq().seq);
    // The 2xx without SDP: the answer is the one of the reliable 183 (RFC 3261 §13.2.1).
    let ok = gw_resp(&invite, 200, None, None);
    let out = s.on_tx_event(key, TxEvent::Final(ok), 900);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Answered {
            sdp: Some(ANSWER.into())
        }]
    );
    // The confirmed dialog's CSeq goes on after the PRACKs.
    let bye = requests(&s.hangup(1000)).remove(0).1;
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert!(bye.cseq().seq > prack2.cseq().seq);
}

#[test]
fn uac_without_an_offer_does_not_offer_100rel_and_unreliable_ones_are_not_pracked() {
    let req = UacRequest {
        request_uri: Uri::parse("sip:110@10.0.0.9:5070").unwrap(),
        from: "<sip:1@h>".into(),
        to: "<sip:110@h>".into(),
        call_id: "x@h".into(),
        sdp_offer: None,
        extra_headers: Vec::new(),
    };
    let (_, out) = InviteSession::uac(cfg(), req, 0);
    let invite = requests(&out).remove(0).1;
    assert!(!invite.supported().contains(&"100rel"));

    let (mut s, key, invite) = uac();
    let out = s.on_tx_event(
        key,
        TxEvent::Provisional(gw_resp(&invite, 180, None, None)),
        1,
    );
    assert!(requests(&out).is_empty());
    assert_eq!(events(&out).len(), 1);
}

// ================================================================== Allow is true

#[test]
fn every_method_the_dialog_allows_gets_something_other_than_501() {
    let (mut s, r183, _) = reliable_183();
    let n = rseq(&r183);
    s.on_request(1, &prack(&s, 11, &format!("{n} 10 INVITE"), None), 1);
    s.answer(ANSWER, 2);
    s.on_request(0, &from_caller(&s, "ACK", 10, &[], None), 3);
    let mut cseq = 20;
    // BYE last: it ends the dialog.
    let mut methods: Vec<&Method> = DIALOG_METHODS
        .iter()
        .filter(|m| **m != Method::Bye)
        .collect();
    methods.push(&Method::Bye);
    let mut check_not_listed = true;
    for m in methods {
        if *m == Method::Ack {
            continue; // never answered
        }
        if *m == Method::Bye && std::mem::take(&mut check_not_listed) {
            not_listed_get_501(&mut s, &mut cseq);
        }
        cseq += 1;
        let extra: &[(&str, &str)] = match m {
            Method::Refer => &[("Refer-To", "<sip:12348@hotline.example>")],
            Method::Prack => &[("RAck", "1 10 INVITE")],
            _ => &[],
        };
        let req = from_caller(&s, m.as_str(), cseq, extra, None);
        let out = s.on_request(cseq as u64, &req, 10 + cseq as i64);
        let st = statuses(&out);
        let evs = events(&out);
        assert!(
            st.iter().all(|(_, st)| *st != 501) && (!st.is_empty() || !evs.is_empty()),
            "{m}: {st:?} {evs:?}"
        );
        if let [SessionEvent::Refer { key, .. }] = evs[..] {
            s.reject_refer(key, 403);
        }
    }
    assert!(s.is_terminated(), "the BYE ended it");
}

fn not_listed_get_501(s: &mut InviteSession, cseq: &mut u32) {
    // What the dialog does not list, it does not serve.
    for m in ["REGISTER", "NOTIFY", "SUBSCRIBE", "MESSAGE"] {
        assert!(!DIALOG_ALLOW.contains(m));
        *cseq += 1;
        let out = s.on_request(*cseq as u64, &from_caller(s, m, *cseq, &[], None), 100);
        assert_eq!(statuses(&out), vec![(*cseq as u64, 501)], "{m}");
    }
    // In-dialog OPTIONS says the same.
    *cseq += 1;
    let out = s.on_request(99, &from_caller(s, "OPTIONS", *cseq, &[], None), 200);
    let (_, ok) = responses(&out).remove(0);
    assert_eq!(ok.header("Allow"), Some(DIALOG_ALLOW));
    assert_eq!(ok.header("Supported"), Some(capabilities::SUPPORTED));
}

#[test]
fn uac_serves_an_update_offer_on_the_early_dialog_of_a_reliable_183() {
    let (mut s, key, invite) = uac();
    let gw_update = |s: &InviteSession, cseq: u32, sdp: Option<&str>| {
        let mut b = RequestBuilder::new(
            Method::Update,
            &Uri::parse("sip:12345@10.0.0.1:5060").unwrap(),
        )
        .header(
            "Via",
            &format!("SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKup{cseq}"),
        )
        .header("Max-Forwards", "70")
        .header("From", "<sip:110@hotline.example>;tag=gw-tag")
        .header(
            "To",
            &format!("<sip:13800000000@hotline.example>;tag={}", s.local_tag()),
        )
        .header("Call-ID", s.call_id())
        .header("CSeq", &format!("{cseq} UPDATE"))
        .header("Contact", "<sip:110@10.0.0.9:5070>");
        if let Some(sdp) = sdp {
            b = b.body("application/sdp", sdp.as_bytes());
        }
        b.build_message()
    };
    // Before any reliable provisional there is no early dialog to serve it on.
    let out = s.on_request(1, &gw_update(&s, 1, Some(REOFFER)), 1);
    assert_eq!(statuses(&out), vec![(1, 481)]);
    // A reliable 183 without SDP: the INVITE's offer is still unanswered (RFC 3311 §5.2).
    let r = gw_resp(&invite, 183, Some(1), None);
    s.on_tx_event(key, TxEvent::Provisional(r), 2);
    let out = s.on_request(2, &gw_update(&s, 2, Some(REOFFER)), 3);
    let (_, refused) = responses(&out).remove(0);
    assert_eq!(refused.status(), Some(500));
    assert!(refused.header("Retry-After").is_some());
    // The next one answers it; now the UPDATE's offer goes to the TU and its answer back.
    let r = gw_resp(&invite, 183, Some(2), Some(ANSWER));
    s.on_tx_event(key, TxEvent::Provisional(r), 4);
    let out = s.on_request(3, &gw_update(&s, 3, Some(REOFFER)), 5);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Offer {
            key: 3,
            sdp: REOFFER.into()
        }]
    );
    let (k, ok) = responses(&s.accept_offer(3, OFFER, 6)).remove(0);
    assert_eq!((k, ok.status(), body(&ok)), (3, Some(200), OFFER));
    // An offerless UPDATE is a plain 200; an old CSeq gets 500.
    assert_eq!(
        statuses(&s.on_request(4, &gw_update(&s, 4, None), 7)),
        vec![(4, 200)]
    );
    assert_eq!(
        statuses(&s.on_request(5, &gw_update(&s, 3, None), 8)),
        vec![(5, 500)]
    );
    // The 2xx without SDP: the description in force is the UPDATE's.
    let out = s.on_tx_event(key, TxEvent::Final(gw_resp(&invite, 200, None, None)), 9);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Answered {
            sdp: Some(REOFFER.into())
        }]
    );
}
