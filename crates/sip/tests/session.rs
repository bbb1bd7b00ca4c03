//! The INVITE session rules, driven without sockets and with simulated time.

use proptest::prelude::*;
use sip::session::{
    InviteSession, ReqKey, Role, SessionConfig, SessionEvent, SessionOutput, SessionTimer,
    TerminationReason, UacRequest,
};
use sip::transaction::TxEvent;
use sip::{Method, RequestBuilder, SipMessage, Uri};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
const PEER_CALL_ID: &str = "call-a@10.0.0.2";
const PEER_TAG: &str = "caller-tag";

fn cfg() -> SessionConfig {
    SessionConfig {
        contact: "<sip:12345@10.0.0.1:5060>".into(),
        via: "SIP/2.0/UDP 10.0.0.1:5060".into(),
        rng_seed: Some(42),
        ..SessionConfig::default()
    }
}

// ------------------------------------------------------------------ output helpers

fn requests(out: &[SessionOutput]) -> Vec<(ReqKey, SipMessage)> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Request { key, request } => Some((*key, request.clone())),
            _ => None,
        })
        .collect()
}

fn methods(out: &[SessionOutput]) -> Vec<Method> {
    requests(out)
        .into_iter()
        .filter_map(|(_, r)| r.method().cloned())
        .collect()
}

fn acks(out: &[SessionOutput]) -> Vec<SipMessage> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Ack { ack } => Some(ack.clone()),
            _ => None,
        })
        .collect()
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

// ------------------------------------------------------------------ UAC helpers

fn uac_req() -> UacRequest {
    UacRequest {
        request_uri: Uri::parse("sip:1001@10.0.0.9:5070").unwrap(),
        from: "<sip:13800000000@hotline.example>".into(),
        to: "<sip:1001@hotline.example>".into(),
        call_id: "leg-b@hotline.example".into(),
        sdp_offer: Some(OFFER.into()),
        extra_headers: vec![("X-Call-Key".into(), "7".into())],
    }
}

/// A UAC session and its INVITE (key, message).
fn uac_with(cfg: SessionConfig) -> (InviteSession, ReqKey, SipMessage) {
    let (s, out) = InviteSession::uac(cfg, uac_req(), 0);
    let (key, invite) = requests(&out).remove(0);
    (s, key, invite)
}

fn uac() -> (InviteSession, ReqKey, SipMessage) {
    uac_with(cfg())
}

/// The seat's response to our INVITE.
fn seat_resp(
    invite: &SipMessage,
    status: u16,
    tag: &str,
    sdp: Option<&str>,
    extra: &[(&str, &str)],
) -> SipMessage {
    let mut b = invite
        .response(status, "X")
        .to_tag(tag)
        .header("Contact", "<sip:1001@10.0.0.9:5070>");
    for (n, v) in extra {
        b = b.header(n, v);
    }
    if let Some(sdp) = sdp {
        b = b.body("application/sdp", sdp.as_bytes());
    }
    b.build_message()
}

fn answered_uac(
    extra: &[(&str, &str)],
    cfg: SessionConfig,
) -> (InviteSession, ReqKey, SipMessage, Vec<SessionOutput>) {
    let (mut s, key, invite) = uac_with(cfg);
    let ok = seat_resp(&invite, 200, "seat-tag", Some(ANSWER), extra);
    let out = s.on_tx_event(key, TxEvent::Final(ok), 100);
    (s, key, invite, out)
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
        .header("Call-ID", PEER_CALL_ID)
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

/// A request from the peer in the dialog whose tags are (`from_tag` theirs, `to_tag` ours).
#[allow(clippy::too_many_arguments)]
fn in_dialog(
    method: &str,
    call_id: &str,
    from_tag: &str,
    to_tag: &str,
    cseq: u32,
    extra: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> SipMessage {
    let m = Method::parse(method).unwrap();
    let mut b = RequestBuilder::new(m, &Uri::parse("sip:12345@10.0.0.1:5060").unwrap())
        .header(
            "Via",
            &format!("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{method}{cseq}"),
        )
        .header("Max-Forwards", "70")
        .header("From", &format!("<sip:peer@10.0.0.2>;tag={from_tag}"))
        .header("To", &format!("<sip:us@10.0.0.1>;tag={to_tag}"))
        .header("Call-ID", call_id)
        .header("CSeq", &format!("{cseq} {method}"))
        .header("Contact", "<sip:peer@10.0.0.2:5060>");
    for (n, v) in extra {
        b = b.header(n, v);
    }
    if let Some((ct, text)) = body {
        b = b.body(ct, text.as_bytes());
    }
    b.build_message()
}

/// A request from the caller to a UAS session.
fn from_caller(
    s: &InviteSession,
    method: &str,
    cseq: u32,
    extra: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> SipMessage {
    in_dialog(
        method,
        PEER_CALL_ID,
        PEER_TAG,
        s.local_tag(),
        cseq,
        extra,
        body,
    )
}

/// A request from the seat to a UAC session (after `answered_uac`).
fn from_seat(
    s: &InviteSession,
    method: &str,
    cseq: u32,
    extra: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> SipMessage {
    in_dialog(
        method,
        s.call_id(),
        "seat-tag",
        s.local_tag(),
        cseq,
        extra,
        body,
    )
}

fn ack_from_caller(s: &InviteSession) -> SipMessage {
    let mut m = from_caller(s, "ACK", 10, &[], None);
    m = SipMessage::parse(m.wire()).unwrap();
    m
}

const INVITE_KEY: ReqKey = 1000;

fn answered_uas(extra: &[(&str, &str)]) -> (InviteSession, Vec<SessionOutput>) {
    let mut s = InviteSession::uas(cfg(), peer_invite(extra, Some(OFFER)), INVITE_KEY, 0);
    let out = s.answer(ANSWER, 0);
    (s, out)
}

fn confirmed_uas(extra: &[(&str, &str)]) -> InviteSession {
    let (mut s, _) = answered_uas(extra);
    let ack = ack_from_caller(&s);
    assert_eq!(
        events(&s.on_request(0, &ack, 10)),
        vec![SessionEvent::Confirmed { sdp: None }]
    );
    s
}

// ================================================================== UAC

#[test]
fn uac_invite_carries_contact_allow_offer_and_session_timer_offer() {
    let (s, _, invite) = uac_with(SessionConfig {
        session_expires_s: Some(1800),
        ..cfg()
    });
    assert_eq!(s.role(), Role::Uac);
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert_eq!(invite.call_id(), "leg-b@hotline.example");
    assert_eq!(invite.from().tag(), Some(s.local_tag()));
    assert!(invite.to().tag().is_none());
    assert_eq!(invite.header("Contact"), Some("<sip:12345@10.0.0.1:5060>"));
    assert_eq!(
        invite.header("Allow"),
        Some(sip::capabilities::DIALOG_ALLOW)
    );
    assert_eq!(invite.header("X-Call-Key"), Some("7"));
    assert_eq!(invite.session_expires(), Some(1800));
    assert!(invite.supported().contains(&"timer"));
    let via = &invite.vias()[0];
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert!(via.rport().is_some());
    assert_eq!(body(&invite), OFFER);
    assert_eq!(s.local_sdp(), Some(OFFER));
    // Without session_expires_s: no timer offer.
    let (_, _, plain) = uac();
    assert!(plain.header("Session-Expires").is_none());
}

#[test]
fn uac_provisionals_ring_except_100() {
    let (mut s, key, invite) = uac();
    let trying = invite.response(100, "Trying").build_message();
    assert!(s
        .on_tx_event(key, TxEvent::Provisional(trying), 1)
        .is_empty());
    let ringing = seat_resp(&invite, 180, "seat-tag", None, &[]);
    assert_eq!(
        events(&s.on_tx_event(key, TxEvent::Provisional(ringing), 2)),
        vec![SessionEvent::Ringing {
            status: 180,
            sdp: None
        }]
    );
    let progress = seat_resp(&invite, 183, "seat-tag", Some(ANSWER), &[]);
    assert_eq!(
        events(&s.on_tx_event(key, TxEvent::Provisional(progress), 3)),
        vec![SessionEvent::Ringing {
            status: 183,
            sdp: Some(ANSWER.into())
        }]
    );
}

#[test]
fn uac_hangup_before_any_provisional_waits_for_one_then_cancels() {
    let (mut s, key, invite) = uac();
    let out = s.hangup(5);
    assert!(
        out.is_empty(),
        "RFC 3261 §9.1: no CANCEL before a provisional: {out:?}"
    );
    assert!(s.is_terminated());
    let trying = invite.response(100, "Trying").build_message();
    let out = s.on_tx_event(key, TxEvent::Provisional(trying), 6);
    let reqs = requests(&out);
    assert_eq!(reqs.len(), 1);
    let cancel = &reqs[0].1;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.cseq().seq, invite.cseq().seq);
    assert_eq!(cancel.vias()[0].branch(), invite.vias()[0].branch());
    assert!(events(&out).is_empty(), "the TU asked for it: no event");
    // A second provisional does not CANCEL twice; the 487 ends it quietly.
    let ringing = seat_resp(&invite, 180, "seat-tag", None, &[]);
    assert!(s
        .on_tx_event(key, TxEvent::Provisional(ringing), 7)
        .is_empty());
    let terminated = seat_resp(&invite, 487, "seat-tag", None, &[]);
    assert!(s.on_tx_event(key, TxEvent::Final(terminated), 8).is_empty());
}

#[test]
fn uac_hangup_after_provisional_cancels_at_once() {
    let (mut s, key, invite) = uac();
    s.on_tx_event(
        key,
        TxEvent::Provisional(seat_resp(&invite, 180, "t", None, &[])),
        1,
    );
    assert_eq!(methods(&s.hangup(2)), vec![Method::Cancel]);
    assert!(s.hangup(3).is_empty(), "idempotent");
}

#[test]
fn uac_2xx_after_our_cancel_gets_ack_and_bye_and_no_answered() {
    let (mut s, key, invite) = uac();
    s.on_tx_event(
        key,
        TxEvent::Provisional(seat_resp(&invite, 180, "seat-tag", None, &[])),
        1,
    );
    s.hangup(2);
    let ok = seat_resp(&invite, 200, "seat-tag", Some(ANSWER), &[]);
    let out = s.on_tx_event(key, TxEvent::Final(ok.clone()), 3);
    assert_eq!(acks(&out).len(), 1);
    assert_eq!(acks(&out)[0].cseq().seq, invite.cseq().seq);
    assert_eq!(methods(&out), vec![Method::Bye]);
    assert!(events(&out).is_empty());
    // Its retransmission: ACK again, no second BYE.
    let out = s.on_tx_event(key, TxEvent::Final(ok), 4);
    assert_eq!(acks(&out).len(), 1);
    assert!(requests(&out).is_empty());
}

#[test]
fn uac_answered_acks_every_retransmitted_2xx() {
    let (mut s, key, invite, out) = answered_uac(&[], cfg());
    assert_eq!(
        events(&out),
        vec![SessionEvent::Answered {
            sdp: Some(ANSWER.into())
        }]
    );
    let ack = &acks(&out)[0];
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.cseq().seq, invite.cseq().seq);
    assert_eq!(ack.to().tag(), Some("seat-tag"));
    assert_eq!(
        ack.request_uri().unwrap().port,
        Some(5070),
        "to the remote target"
    );
    assert_ne!(
        ack.vias()[0].branch(),
        invite.vias()[0].branch(),
        "§17.1.1.3: own branch"
    );
    let ok = seat_resp(&invite, 200, "seat-tag", Some(ANSWER), &[]);
    for n in 0..3 {
        let out = s.on_tx_event(key, TxEvent::Final(ok.clone()), 200 + n);
        assert_eq!(acks(&out).len(), 1);
        assert!(events(&out).is_empty() && requests(&out).is_empty());
    }
}

#[test]
fn uac_forked_2xx_gets_ack_and_bye_on_its_own_dialog() {
    let (mut s, key, invite, _) = answered_uac(&[], cfg());
    let fork = seat_resp(&invite, 200, "fork-tag", Some(ANSWER), &[]);
    let out = s.on_tx_event(key, TxEvent::Final(fork.clone()), 300);
    assert_eq!(acks(&out).len(), 1);
    assert_eq!(acks(&out)[0].to().tag(), Some("fork-tag"));
    let reqs = requests(&out);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].1.method(), Some(&Method::Bye));
    assert_eq!(reqs[0].1.to().tag(), Some("fork-tag"));
    assert!(events(&out).is_empty());
    let out = s.on_tx_event(key, TxEvent::Final(fork), 301);
    assert_eq!(
        (acks(&out).len(), requests(&out).len()),
        (1, 0),
        "retransmitted fork: ACK only"
    );
    assert_eq!(
        s.dialog().unwrap().remote_tag,
        "seat-tag",
        "the first dialog stays"
    );
    assert!(!s.is_terminated());
}

#[test]
fn uac_failures_map_to_statuses() {
    let (mut s, key, invite) = uac();
    let busy = seat_resp(&invite, 486, "t", None, &[]);
    assert_eq!(
        events(&s.on_tx_event(key, TxEvent::Final(busy.clone()), 1)),
        vec![SessionEvent::Failed { status: 486 }]
    );
    assert!(s.is_terminated());
    assert!(
        s.on_tx_event(key, TxEvent::Final(busy), 2).is_empty(),
        "once"
    );
    let (mut s, key, _) = uac();
    assert_eq!(
        events(&s.on_tx_event(key, TxEvent::Timeout, 1)),
        vec![SessionEvent::Failed { status: 408 }]
    );
    let (mut s, key, _) = uac();
    assert_eq!(
        events(&s.on_tx_event(key, TxEvent::TransportError, 1)),
        vec![SessionEvent::Failed { status: 503 }]
    );
}

#[test]
fn uac_2xx_without_contact_fails_502() {
    let (mut s, key, invite) = uac();
    let ok = invite.response(200, "OK").to_tag("t").build_message();
    let out = s.on_tx_event(key, TxEvent::Final(ok), 1);
    assert_eq!(events(&out), vec![SessionEvent::Failed { status: 502 }]);
    assert!(s.is_terminated());
    assert_eq!(s.dropped(), 1);
}

#[test]
fn uac_hangup_when_answered_sends_bye_with_fresh_branch() {
    let (mut s, _, invite, _) = answered_uac(&[], cfg());
    let out = s.hangup(500);
    let reqs = requests(&out);
    assert_eq!(reqs.len(), 1);
    let bye = &reqs[0].1;
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.cseq().seq, invite.cseq().seq + 1);
    assert_eq!(bye.to().tag(), Some("seat-tag"));
    let via = &bye.vias()[0];
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert_ne!(via.branch(), invite.vias()[0].branch());
    assert!(via.rport().is_some());
    assert!(events(&out).is_empty(), "local hangup: no event");
    assert!(s.is_terminated());
    // Its own 200 needs nothing.
    let ok = bye.response(200, "OK").build_message();
    assert!(s.on_tx_event(reqs[0].0, TxEvent::Final(ok), 501).is_empty());
    // Further requests: 481.
    let info = from_seat(&s, "INFO", 5, &[], None);
    assert_eq!(statuses(&s.on_request(9, &info, 502)), vec![(9, 481)]);
}

#[test]
fn uac_in_dialog_bye_from_seat_terminates() {
    let (mut s, _, _, _) = answered_uac(&[], cfg());
    let bye = from_seat(&s, "BYE", 1, &[], None);
    let out = s.on_request(3, &bye, 10);
    assert_eq!(statuses(&out), vec![(3, 200)]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::RemoteHangup
        }]
    );
}

// ================================================================== UAS

#[test]
fn uas_provisional_and_answer_carry_tag_contact_allow_and_sdp() {
    let mut s = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    assert_eq!(s.role(), Role::Uas);
    let out = s.provisional(183, "Session Progress", Some(ANSWER));
    let (key, r183) = responses(&out).remove(0);
    assert_eq!(key, INVITE_KEY);
    assert_eq!(r183.status(), Some(183));
    assert_eq!(r183.to().tag(), Some(s.local_tag()));
    assert_eq!(r183.header("Contact"), Some("<sip:12345@10.0.0.1:5060>"));
    assert_eq!(body(&r183), ANSWER);
    let out = s.answer(ANSWER, 1);
    let rs = responses(&out);
    assert_eq!(rs.len(), 1, "once: the transaction layer retransmits it");
    let ok = &rs[0].1;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.to().tag(), Some(s.local_tag()));
    assert_eq!(ok.header("Contact"), Some("<sip:12345@10.0.0.1:5060>"));
    assert_eq!(ok.header("Allow"), Some(sip::capabilities::DIALOG_ALLOW));
    assert!(
        ok.header("Session-Expires").is_none(),
        "the peer did not ask"
    );
    assert_eq!(body(ok), ANSWER);
    assert_eq!(s.local_sdp(), Some(ANSWER));
    assert!(s.answer(ANSWER, 2).is_empty() && s.reject(486, "Busy", &[]).is_empty());
    assert!(
        s.provisional(180, "Ringing", None).is_empty(),
        "no 1xx after the final"
    );
}

#[test]
fn uas_ack_confirms() {
    let (mut s, _) = answered_uas(&[]);
    let ack = ack_from_caller(&s);
    assert_eq!(
        events(&s.on_request(0, &ack, 5)),
        vec![SessionEvent::Confirmed { sdp: None }]
    );
    assert!(
        s.on_request(0, &ack, 6).is_empty(),
        "a duplicate ACK is nothing"
    );
}

#[test]
fn uas_cancel_before_final_answers_200_and_reports_cancelled() {
    let invite = peer_invite(&[], Some(OFFER));
    let mut s = InviteSession::uas(cfg(), invite.clone(), INVITE_KEY, 0);
    let cancel = SipMessage::parse(sip::transaction::cancel_for(&invite).unwrap()).unwrap();
    let out = s.on_request(55, &cancel, 1);
    assert_eq!(statuses(&out), vec![(55, 200)]);
    assert_eq!(events(&out), vec![SessionEvent::Cancelled]);
    assert!(s.answer(ANSWER, 2).is_empty(), "no answer after a CANCEL");
    let out = s.reject(487, "Request Terminated", &[]);
    assert_eq!(statuses(&out), vec![(INVITE_KEY, 487)]);
    assert_eq!(responses(&out)[0].1.to().tag(), Some(s.local_tag()));
    assert!(s.is_terminated());
}

#[test]
fn uas_cancel_after_200_is_too_late() {
    let invite = peer_invite(&[], Some(OFFER));
    let (mut s, _) = answered_uas(&[]);
    let cancel = SipMessage::parse(sip::transaction::cancel_for(&invite).unwrap()).unwrap();
    let out = s.on_request(56, &cancel, 1);
    assert_eq!(statuses(&out), vec![(56, 200)]);
    assert!(events(&out).is_empty());
    assert!(!s.is_terminated());
}

#[test]
fn uas_reject_with_extra_headers() {
    let mut s = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    let out = s.reject(503, "Service Unavailable", &[("Retry-After", "30")]);
    let r = &responses(&out)[0].1;
    assert_eq!(r.status(), Some(503));
    assert_eq!(r.header("Retry-After"), Some("30"));
    assert!(s.is_terminated());
}

#[test]
fn uas_bye_answers_200_terminates_then_481() {
    let mut s = confirmed_uas(&[]);
    let bye = from_caller(&s, "BYE", 11, &[], None);
    let out = s.on_request(7, &bye, 10);
    assert_eq!(statuses(&out), vec![(7, 200)]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::RemoteHangup
        }]
    );
    assert!(s.is_terminated());
    for (i, m) in ["BYE", "INVITE", "INFO", "OPTIONS", "UPDATE"]
        .iter()
        .enumerate()
    {
        let req = from_caller(&s, m, 20 + i as u32, &[], None);
        assert_eq!(statuses(&s.on_request(8, &req, 11)), vec![(8, 481)], "{m}");
    }
}

#[test]
fn uas_reinvite_with_offer_is_answered_by_the_tu() {
    let mut s = confirmed_uas(&[("Supported", "timer"), ("Session-Expires", "1800")]);
    let reinvite = from_caller(
        &s,
        "INVITE",
        11,
        &[
            ("Supported", "timer"),
            ("Session-Expires", "1800;refresher=uac"),
        ],
        Some(("application/sdp", OFFER)),
    );
    let out = s.on_request(21, &reinvite, 100);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Offer {
            key: 21,
            sdp: OFFER.into()
        }]
    );
    assert!(responses(&out).is_empty());
    let answer2 = ANSWER.replace("5000", "5002");
    let out = s.accept_offer(21, &answer2, 101);
    let (key, ok) = responses(&out).remove(0);
    assert_eq!((key, ok.status()), (21, Some(200)));
    assert_eq!(body(&ok), answer2);
    assert_eq!(ok.header("Contact"), Some("<sip:12345@10.0.0.1:5060>"));
    assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    assert_eq!(s.local_sdp(), Some(answer2.as_str()));
    assert!(
        matches!(timers(&out)[..], [(SessionTimer::Expiry { .. }, _)]),
        "a refresh re-arms"
    );
    assert!(s.accept_offer(21, ANSWER, 102).is_empty(), "answered once");
}

#[test]
fn uas_reinvite_offer_rejected() {
    let mut s = confirmed_uas(&[]);
    let reinvite = from_caller(&s, "INVITE", 11, &[], Some(("application/sdp", "v=0 bad")));
    s.on_request(22, &reinvite, 100);
    assert_eq!(statuses(&s.reject_offer(22, 488)), vec![(22, 488)]);
    assert_eq!(
        s.local_sdp(),
        Some(ANSWER),
        "the description in force stays"
    );
}

#[test]
fn reinvite_without_sdp_gets_the_description_in_force_never_488() {
    let mut s = confirmed_uas(&[]);
    let reinvite = from_caller(&s, "INVITE", 11, &[], None);
    let out = s.on_request(23, &reinvite, 100);
    let (key, ok) = responses(&out).remove(0);
    assert_eq!((key, ok.status()), (23, Some(200)));
    assert_eq!(body(&ok), ANSWER);
    assert!(events(&out).is_empty());
}

#[test]
fn update_with_offer_asks_the_tu_without_offer_gets_plain_200() {
    let mut s = confirmed_uas(&[]);
    let update = from_caller(&s, "UPDATE", 11, &[], None);
    let out = s.on_request(24, &update, 100);
    let (_, ok) = responses(&out).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert!(ok.body().is_empty(), "RFC 3311 §5.2: no offer, no answer");
    let update = from_caller(&s, "UPDATE", 12, &[], Some(("application/sdp", OFFER)));
    assert_eq!(
        events(&s.on_request(25, &update, 101)),
        vec![SessionEvent::Offer {
            key: 25,
            sdp: OFFER.into()
        }]
    );
    let out = s.accept_offer(25, ANSWER, 102);
    assert_eq!(body(&responses(&out)[0].1), ANSWER);
}

#[test]
fn info_with_dtmf_reports_the_digit() {
    let mut s = confirmed_uas(&[]);
    let relay = from_caller(
        &s,
        "INFO",
        11,
        &[],
        Some(("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")),
    );
    let out = s.on_request(30, &relay, 1);
    assert_eq!(statuses(&out), vec![(30, 200)]);
    assert_eq!(events(&out), vec![SessionEvent::Dtmf { digit: '5' }]);
    let plain = from_caller(&s, "INFO", 12, &[], Some(("application/dtmf", "11")));
    assert_eq!(
        events(&s.on_request(31, &plain, 2)),
        vec![SessionEvent::Dtmf { digit: '#' }]
    );
    let star = from_caller(
        &s,
        "INFO",
        13,
        &[],
        Some(("application/dtmf-relay", "signal= *")),
    );
    assert_eq!(
        events(&s.on_request(32, &star, 3)),
        vec![SessionEvent::Dtmf { digit: '*' }]
    );
    let absurd = from_caller(
        &s,
        "INFO",
        15,
        &[],
        Some(("application/dtmf-relay", "Signal=5\r\nDuration=0\r\n")),
    );
    assert!(
        events(&s.on_request(34, &absurd, 5)).is_empty(),
        "same rule as media::parse_info_body"
    );
    let other = from_caller(&s, "INFO", 16, &[], Some(("text/plain", "5")));
    let out = s.on_request(33, &other, 4);
    assert_eq!((statuses(&out), events(&out)), (vec![(33, 200)], vec![]));
}

/// A caller in early media (our 183 out, no 2xx yet).
fn early_uas() -> InviteSession {
    let mut s = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    let out = s.provisional(183, "Session Progress", Some(ANSWER));
    assert_eq!(statuses(&out), vec![(INVITE_KEY, 183)]);
    s
}

#[test]
fn early_dialog_serves_info_digits_and_update_before_the_2xx() {
    // Before any tagged response there is no dialog at all.
    let mut fresh = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    let info = from_caller(&fresh, "INFO", 11, &[], Some(("application/dtmf", "9")));
    assert_eq!(statuses(&fresh.on_request(40, &info, 1)), vec![(40, 481)]);

    // A menu in early media: the caller's INFO digits count (RFC 6086 allows INFO in the early dialog).
    let mut s = early_uas();
    let info = from_caller(&s, "INFO", 11, &[], Some(("application/dtmf", "9")));
    let out = s.on_request(41, &info, 1);
    assert_eq!(statuses(&out), vec![(41, 200)]);
    assert_eq!(events(&out), vec![SessionEvent::Dtmf { digit: '9' }]);
    // RFC 3311: UPDATE works in the early dialog too (an offerless one is a plain 200).
    let update = from_caller(&s, "UPDATE", 12, &[], None);
    assert_eq!(statuses(&s.on_request(42, &update, 2)), vec![(42, 200)]);
    // §14.2: a re-INVITE before our final response to the INVITE gets 500 + Retry-After.
    let reinvite = from_caller(&s, "INVITE", 13, &[], Some(("application/sdp", OFFER)));
    let out = s.on_request(43, &reinvite, 3);
    let (_, resp) = responses(&out).remove(0);
    assert_eq!(resp.status(), Some(500));
    assert!(resp.header("retry-after").is_some());
    assert!(!s.is_terminated());
}

#[test]
fn bye_on_the_early_dialog_ends_it_and_the_invite_gets_487() {
    let mut s = early_uas();
    let bye = from_caller(&s, "BYE", 11, &[], None);
    let out = s.on_request(50, &bye, 1);
    assert_eq!(statuses(&out), vec![(50, 200), (INVITE_KEY, 487)]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::RemoteHangup
        }]
    );
    // The TU's own reject afterwards sends nothing more: the INVITE has its final.
    assert!(s.reject(487, "Request Terminated", &[]).is_empty());
    assert!(s.answer(ANSWER, 2).is_empty());
}

#[test]
fn options_200_unknown_501_out_of_order_500() {
    let mut s = confirmed_uas(&[]);
    let options = from_caller(&s, "OPTIONS", 11, &[], None);
    assert_eq!(statuses(&s.on_request(40, &options, 1)), vec![(40, 200)]);
    let message = from_caller(&s, "MESSAGE", 12, &[], None);
    assert_eq!(statuses(&s.on_request(41, &message, 2)), vec![(41, 501)]);
    let old = from_caller(&s, "INFO", 5, &[], None);
    assert_eq!(statuses(&s.on_request(42, &old, 3)), vec![(42, 500)]);
}

#[test]
fn request_for_another_dialog_gets_481() {
    let mut s = confirmed_uas(&[]);
    let wrong_tag = in_dialog("BYE", PEER_CALL_ID, PEER_TAG, "not-ours", 11, &[], None);
    assert_eq!(statuses(&s.on_request(50, &wrong_tag, 1)), vec![(50, 481)]);
    let wrong_call = in_dialog("BYE", "other@x", PEER_TAG, s.local_tag(), 11, &[], None);
    assert_eq!(statuses(&s.on_request(51, &wrong_call, 2)), vec![(51, 481)]);
    assert!(!s.is_terminated());
    // Before the answer there is no confirmed dialog either.
    let mut early = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    let bye = from_caller(&early, "BYE", 11, &[], None);
    assert_eq!(statuses(&early.on_request(52, &bye, 3)), vec![(52, 481)]);
}

#[test]
fn uas_bye_before_the_ack_then_late_ack_is_quiet() {
    let (mut s, _) = answered_uas(&[]);
    let bye = from_caller(&s, "BYE", 11, &[], None);
    s.on_request(7, &bye, 1);
    let ack = ack_from_caller(&s);
    assert!(s.on_request(0, &ack, 2).is_empty());
}

#[test]
fn uas_ack_timeout_sends_bye() {
    let (mut s, _) = answered_uas(&[]);
    let out = s.on_ack_timeout(32_000);
    assert_eq!(methods(&out), vec![Method::Bye]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::AckTimeout
        }]
    );
    assert!(s.on_ack_timeout(32_001).is_empty());
}

#[test]
fn uas_hangup_before_the_ack_waits_for_it() {
    let (mut s, _) = answered_uas(&[]);
    assert!(s.hangup(1).is_empty(), "§15: no BYE before the ACK");
    assert!(s.is_terminated());
    let ack = ack_from_caller(&s);
    let out = s.on_request(0, &ack, 2);
    assert_eq!(methods(&out), vec![Method::Bye]);
    assert!(events(&out).is_empty());
    let mut s = confirmed_uas(&[]);
    let bye = &requests(&s.hangup(3))[0].1;
    assert_eq!(bye.to().tag(), Some(PEER_TAG));
    assert_eq!(bye.from().tag(), Some(s.local_tag()));
}

// ================================================================== glare

#[test]
fn uas_reinvite_before_the_ack_waits_for_it() {
    let mut unanswered = InviteSession::uas(cfg(), peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
    assert!(unanswered.reinvite(OFFER, 0).is_empty(), "no dialog yet");
    let (mut s, _) = answered_uas(&[]);
    assert!(
        s.reinvite(OFFER, 1).is_empty(),
        "§14.1: the INVITE transaction is still in progress"
    );
    let ack = ack_from_caller(&s);
    let out = s.on_request(0, &ack, 2);
    assert_eq!(events(&out), vec![SessionEvent::Confirmed { sdp: None }]);
    assert_eq!(methods(&out), vec![Method::Invite]);
}

#[test]
fn incoming_reinvite_while_ours_is_pending_gets_491() {
    let mut s = confirmed_uas(&[]);
    let out = s.reinvite(OFFER, 1);
    assert_eq!(methods(&out), vec![Method::Invite]);
    let theirs = from_caller(&s, "INVITE", 11, &[], Some(("application/sdp", OFFER)));
    assert_eq!(statuses(&s.on_request(60, &theirs, 2)), vec![(60, 491)]);
    assert!(
        s.reinvite(ANSWER, 3).is_empty(),
        "§14.1: one INVITE at a time; queued"
    );
}

fn glare_delays(role: Role) -> Vec<i64> {
    let mut delays = Vec::new();
    for seed in 0..200u64 {
        let c = SessionConfig {
            rng_seed: Some(seed),
            ..cfg()
        };
        let mut s = match role {
            Role::Uac => {
                let (mut s, key, invite) = uac_with(c);
                s.on_tx_event(
                    key,
                    TxEvent::Final(seat_resp(&invite, 200, "seat-tag", Some(ANSWER), &[])),
                    0,
                );
                s
            }
            Role::Uas => {
                let mut s = InviteSession::uas(c, peer_invite(&[], Some(OFFER)), INVITE_KEY, 0);
                s.answer(ANSWER, 0);
                let ack = ack_from_caller(&s);
                s.on_request(0, &ack, 0);
                s
            }
        };
        let (key, reinvite) = requests(&s.reinvite(OFFER, 1)).remove(0);
        let pending = reinvite.response(491, "Request Pending").build_message();
        let out = s.on_tx_event(key, TxEvent::Final(pending), 2);
        let t = timers(&out);
        assert_eq!(t.len(), 1);
        assert!(matches!(t[0].0, SessionTimer::GlareRetry { .. }));
        delays.push(t[0].1);
        // On expiry the re-INVITE goes out again with a new CSeq.
        let out = s.on_timer(t[0].0, 2 + t[0].1);
        let (_, again) = requests(&out).remove(0);
        assert_eq!(again.method(), Some(&Method::Invite));
        assert!(again.cseq().seq > reinvite.cseq().seq);
        assert_eq!(body(&again), OFFER);
    }
    delays
}

#[test]
fn our_reinvite_491_retries_after_the_rfc_3261_glare_interval() {
    let uac = glare_delays(Role::Uac);
    assert!(
        uac.iter().all(|d| (2100..=4000).contains(d) && d % 10 == 0),
        "{uac:?}"
    );
    let uas = glare_delays(Role::Uas);
    assert!(
        uas.iter().all(|d| (0..=2000).contains(d) && d % 10 == 0),
        "{uas:?}"
    );
    // Not one constant.
    assert!(uac.iter().any(|d| *d != uac[0]) && uas.iter().any(|d| *d != uas[0]));
}

#[test]
fn reinvite_answered_acks_and_reports_the_answer() {
    let (mut s, _, _, _) = answered_uac(&[], cfg());
    let hold = OFFER.replace("m=audio", "a=sendonly\r\nm=audio");
    let (key, reinvite) = requests(&s.reinvite(&hold, 1)).remove(0);
    let ok = reinvite
        .response(200, "OK")
        .header("Contact", "<sip:1001@10.0.0.9:5071>")
        .body("application/sdp", ANSWER.as_bytes())
        .build_message();
    let out = s.on_tx_event(key, TxEvent::Final(ok.clone()), 2);
    assert_eq!(acks(&out).len(), 1);
    assert_eq!(acks(&out)[0].cseq().seq, reinvite.cseq().seq);
    assert_eq!(
        events(&out),
        vec![SessionEvent::OfferAnswered {
            sdp: Some(ANSWER.into())
        }]
    );
    assert_eq!(s.local_sdp(), Some(hold.as_str()));
    assert_eq!(
        s.dialog().unwrap().remote_target.port,
        Some(5071),
        "target refresh"
    );
    let out = s.on_tx_event(key, TxEvent::Final(ok), 3);
    assert_eq!(
        (acks(&out).len(), events(&out).len()),
        (1, 0),
        "retransmitted 2xx: ACK only"
    );
    // A refused re-INVITE keeps the session.
    let (key, reinvite) = requests(&s.reinvite(OFFER, 4)).remove(0);
    let nah = reinvite
        .response(488, "Not Acceptable Here")
        .build_message();
    assert_eq!(
        events(&s.on_tx_event(key, TxEvent::Final(nah), 5)),
        vec![SessionEvent::OfferRejected { status: 488 }]
    );
    assert_eq!(s.local_sdp(), Some(hold.as_str()));
    // 481 ends it.
    let (key, reinvite) = requests(&s.reinvite(OFFER, 6)).remove(0);
    let gone = reinvite.response(481, "Gone").build_message();
    let out = s.on_tx_event(key, TxEvent::Final(gone), 7);
    assert_eq!(methods(&out), vec![Method::Bye]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::ReinviteFailed { status: 481 }
        }]
    );
}

// ================================================================== RFC 4028

#[test]
fn uas_session_timer_expiry_with_refreshes_and_stale_timers() {
    let (mut s, out) = answered_uas(&[("Supported", "timer"), ("Session-Expires", "1800")]);
    let ok = &responses(&out)[0].1;
    assert_eq!(ok.header("Session-Expires"), Some("1800;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    let t = timers(&out);
    assert_eq!(t.len(), 1);
    let (first, after) = t[0];
    assert!(matches!(first, SessionTimer::Expiry { .. }));
    assert_eq!(after, (1800 - 32) * 1000, "§10: min(32, N/3) before expiry");
    let ack = ack_from_caller(&s);
    s.on_request(0, &ack, 1);
    // An offerless UPDATE refresh re-arms; the first timer becomes stale.
    let update = from_caller(
        &s,
        "UPDATE",
        11,
        &[("Supported", "timer"), ("Session-Expires", "90")],
        None,
    );
    let out = s.on_request(70, &update, 1000);
    let t = timers(&out);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].1, (90 - 30) * 1000, "N/3 when below 96 s");
    assert_eq!(
        responses(&out)[0].1.header("Session-Expires"),
        Some("90;refresher=uac")
    );
    assert!(s.on_timer(first, 1_800_000).is_empty(), "stale generation");
    // An offerless re-INVITE refresh re-arms too.
    let reinvite = from_caller(
        &s,
        "INVITE",
        12,
        &[("Supported", "timer"), ("Session-Expires", "90")],
        None,
    );
    let out = s.on_request(71, &reinvite, 2000);
    let second = t[0].0;
    let third = timers(&out)[0].0;
    assert_ne!(second, third);
    assert!(s.on_timer(second, 62_000).is_empty());
    let out = s.on_timer(third, 62_000);
    assert_eq!(methods(&out), vec![Method::Bye]);
    assert_eq!(
        events(&out),
        vec![SessionEvent::Terminated {
            reason: TerminationReason::SessionExpired
        }]
    );
    assert!(s.is_terminated());
}

fn timer_uac(refresher: &str) -> (InviteSession, Vec<SessionOutput>) {
    let (s, _, _, out) = answered_uac(
        &[
            ("Require", "timer"),
            ("Session-Expires", &format!("600{refresher}")),
        ],
        SessionConfig {
            session_expires_s: Some(600),
            ..cfg()
        },
    );
    (s, out)
}

#[test]
fn uac_refresher_sends_reinvite_refresh_at_half_interval() {
    for refresher in [";refresher=uac", ""] {
        let (mut s, out) = timer_uac(refresher);
        let t = timers(&out);
        assert!(
            matches!(t[..], [(SessionTimer::Refresh { .. }, 300_000)]),
            "{refresher}: {t:?}"
        );
        let out = s.on_timer(t[0].0, 300_100);
        let (key, refresh) = requests(&out).remove(0);
        assert_eq!(refresh.method(), Some(&Method::Invite));
        assert_eq!(body(&refresh), OFFER, "the description in force");
        assert_eq!(refresh.header("Session-Expires"), Some("600;refresher=uac"));
        let ok = refresh
            .response(200, "OK")
            .header("Contact", "<sip:1001@10.0.0.9:5070>")
            .header("Session-Expires", "600;refresher=uac")
            .body("application/sdp", ANSWER.as_bytes())
            .build_message();
        let out = s.on_tx_event(key, TxEvent::Final(ok), 300_200);
        assert_eq!(acks(&out).len(), 1);
        assert!(events(&out).is_empty(), "our own refresh: no event");
        assert!(matches!(
            timers(&out)[..],
            [(SessionTimer::Refresh { .. }, 300_000)]
        ));
    }
}

#[test]
fn uac_refresh_failure_ends_the_session() {
    for (ev, status) in [(Some(481u16), 481u16), (Some(408), 408), (None, 408)] {
        let (mut s, out) = timer_uac(";refresher=uac");
        let out = s.on_timer(timers(&out)[0].0, 300_000);
        let (key, refresh) = requests(&out).remove(0);
        let ev = match ev {
            Some(st) => TxEvent::Final(refresh.response(st, "X").build_message()),
            None => TxEvent::Timeout,
        };
        let out = s.on_tx_event(key, ev, 300_100);
        assert_eq!(methods(&out), vec![Method::Bye]);
        assert_eq!(
            events(&out),
            vec![SessionEvent::Terminated {
                reason: TerminationReason::RefreshFailed { status }
            }]
        );
    }
}

#[test]
fn uac_with_uas_refresher_arms_expiry() {
    let (mut s, out) = timer_uac(";refresher=uas");
    let t = timers(&out);
    assert!(
        matches!(t[..], [(SessionTimer::Expiry { .. }, 568_000)]),
        "{t:?}"
    );
    // A refresh from the seat re-arms it.
    let update = from_seat(
        &s,
        "UPDATE",
        1,
        &[
            ("Supported", "timer"),
            ("Session-Expires", "600;refresher=uac"),
        ],
        None,
    );
    let out = s.on_request(80, &update, 1000);
    assert_eq!(statuses(&out), vec![(80, 200)]);
    let fresh = timers(&out)[0].0;
    assert!(s.on_timer(t[0].0, 568_000).is_empty(), "stale");
    assert_eq!(methods(&s.on_timer(fresh, 569_000)), vec![Method::Bye]);
}

// ================================================================== robustness

#[test]
fn malformed_inputs_are_dropped_not_panics() {
    let (mut s, key, invite) = uac();
    // A response where a request is expected.
    let resp = seat_resp(&invite, 180, "t", None, &[]);
    assert!(s.on_request(1, &resp, 0).is_empty());
    // A request where a response is expected.
    assert!(s
        .on_tx_event(key, TxEvent::Final(invite.clone()), 0)
        .is_empty());
    assert!(s
        .on_tx_event(key, TxEvent::Provisional(invite.clone()), 0)
        .is_empty());
    // Unknown keys and timers.
    assert!(s.on_tx_event(999, TxEvent::Timeout, 0).is_empty());
    assert!(s
        .on_timer(SessionTimer::Expiry { generation: 77 }, 0)
        .is_empty());
    assert!(s.dropped() >= 2);
    // Bad TU values: the leg fails instead of panicking.
    let mut bad = uac_req();
    bad.from = "<<<".into();
    let (s, out) = InviteSession::uac(cfg(), bad, 0);
    assert!(s.is_terminated());
    assert_eq!(events(&out), vec![SessionEvent::Failed { status: 400 }]);
    // An INVITE without Contact: answerable, but no dialog.
    let no_contact = SipMessage::parse(bytes::Bytes::from_static(
        b"INVITE sip:12345@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKx\r\n\
From: <sip:a@b>;tag=1\r\nTo: <sip:12345@10.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n",
    ))
    .unwrap();
    let mut s = InviteSession::uas(cfg(), no_contact, 1, 0);
    assert_eq!(statuses(&s.answer(ANSWER, 0)), vec![(1, 200)]);
    assert!(s.hangup(1).is_empty() || s.is_terminated());
}

#[derive(Debug, Clone)]
enum Step {
    Tx {
        which: u8,
        status: u16,
    },
    Timeout {
        which: u8,
    },
    TransportError {
        which: u8,
    },
    Req {
        method: u8,
        ours: bool,
        cseq: u32,
        sdp: bool,
    },
    Timer {
        kind: u8,
        generation: u32,
    },
    Answer,
    Reject(u16),
    Provisional(u16),
    Hangup,
    Reinvite,
    AcceptOffer(u64),
    RejectOffer(u64),
    AckTimeout,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4, 100u16..700).prop_map(|(which, status)| Step::Tx { which, status }),
        (0u8..4).prop_map(|which| Step::Timeout { which }),
        (0u8..4).prop_map(|which| Step::TransportError { which }),
        (0u8..10, any::<bool>(), 0u32..40, any::<bool>()).prop_map(|(method, ours, cseq, sdp)| {
            Step::Req {
                method,
                ours,
                cseq,
                sdp,
            }
        }),
        (0u8..4, 0u32..6).prop_map(|(kind, generation)| Step::Timer { kind, generation }),
        Just(Step::Answer),
        (300u16..700).prop_map(Step::Reject),
        (100u16..200).prop_map(Step::Provisional),
        Just(Step::Hangup),
        Just(Step::Reinvite),
        (0u64..200).prop_map(Step::AcceptOffer),
        (0u64..200).prop_map(Step::RejectOffer),
        Just(Step::AckTimeout),
    ]
}

const METHODS: [&str; 10] = [
    "ACK", "BYE", "CANCEL", "INVITE", "UPDATE", "INFO", "OPTIONS", "MESSAGE", "REFER", "PRACK",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_event_sequences_never_panic_and_end_in_481(uac_role in any::<bool>(), rel in any::<bool>(), steps in prop::collection::vec(step(), 0..40)) {
        let (mut s, mut sent): (InviteSession, Vec<(ReqKey, SipMessage)>) = if uac_role {
            let (s, out) = InviteSession::uac(cfg(), uac_req(), 0);
            (s, requests(&out))
        } else {
            // RFC 3262 half the time: reliable provisionals, PRACKs and their timers in the mix.
            let require = if rel { "100rel" } else { "x-none" };
            let extra = [("Supported", "timer, x-none"), ("Session-Expires", "120"), ("Require", require)];
            (InviteSession::uas(cfg(), peer_invite(&extra, Some(OFFER)), INVITE_KEY, 0), Vec::new())
        };
        // The RSeq of the last reliable provisional we sent (UAS), to PRACK it or a neighbour.
        let mut last_rseq: u32 = 1;
        let (peer_call, peer_tag) = if uac_role { (s.call_id().to_owned(), "seat-tag") } else { (PEER_CALL_ID.to_owned(), PEER_TAG) };
        let mut key = 100;
        for (now, st) in steps.into_iter().enumerate() {
            let now = now as i64 * 1000;
            let out = match st {
                Step::Tx { which, status } => match sent.get(which as usize).cloned() {
                    Some((k, req)) => {
                        let mut b = req.response(status, "X").to_tag(peer_tag);
                        if status < 300 { b = b.header("Contact", "<sip:seat@10.0.0.9>").header("Session-Expires", "120"); }
                        if rel && (101..200).contains(&status) {
                            b = b.header("Require", "100rel").header("RSeq", &(status % 4).to_string());
                        }
                        let resp = b.build_message();
                        let ev = if status < 200 { TxEvent::Provisional(resp) } else { TxEvent::Final(resp) };
                        s.on_tx_event(k, ev, now)
                    }
                    None => Vec::new(),
                },
                Step::Timeout { which } => sent.get(which as usize).map(|(k, _)| s.on_tx_event(*k, TxEvent::Timeout, now)).unwrap_or_default(),
                Step::TransportError { which } => sent.get(which as usize).map(|(k, _)| s.on_tx_event(*k, TxEvent::TransportError, now)).unwrap_or_default(),
                Step::Req { method, ours, cseq, sdp } => {
                    key += 1;
                    let to_tag = if ours { s.local_tag().to_owned() } else { "zzz".to_owned() };
                    let body = sdp.then_some(("application/sdp", OFFER));
                    let rack = format!("{} 10 INVITE", last_rseq.wrapping_add(cseq % 2));
                    let extra: &[(&str, &str)] = if METHODS[method as usize] == "PRACK" { &[("RAck", &rack)] } else { &[] };
                    let req = in_dialog(METHODS[method as usize], &peer_call, peer_tag, &to_tag, cseq, extra, body);
                    s.on_request(key, &req, now)
                }
                Step::Timer { kind, generation } => {
                    let t = match kind { 0 => SessionTimer::GlareRetry { generation }, 1 => SessionTimer::Refresh { generation }, 2 => SessionTimer::Expiry { generation }, _ => SessionTimer::Reliable { rseq: last_rseq.wrapping_add(generation % 2) } };
                    s.on_timer(t, now)
                }
                Step::Answer => s.answer(ANSWER, now),
                Step::Reject(st) => s.reject(st, "", &[]),
                Step::Provisional(st) => s.provisional(st, "P", (st % 2 == 0).then_some(ANSWER)),
                Step::Hangup => s.hangup(now),
                Step::Reinvite => s.reinvite(OFFER, now),
                Step::AcceptOffer(k) => s.accept_offer(k, ANSWER, now),
                Step::RejectOffer(k) => s.reject_offer(k, 488),
                Step::AckTimeout => s.on_ack_timeout(now),
            };
            // Requests the session sent become targets for later responses (a few at most).
            sent.extend(requests(&out));
            sent.truncate(4);
            // Every Respond answers a request we fed, never our own keys.
            for (k, r) in responses(&out) {
                prop_assert!(k >= 100 || k == INVITE_KEY, "respond key {k}");
                prop_assert!(r.status().is_some());
                if let Some(n) = r.header("RSeq").and_then(|v| v.parse::<u32>().ok()) {
                    prop_assert!(rel, "RFC 3262 §3: reliable only when the INVITE asked for it");
                    last_rseq = n;
                }
            }
        }
        // Whatever happened, a terminated session answers 481 to any in-dialog request.
        s.hangup(1_000_000);
        s.reject(487, "", &[]);
        prop_assert!(s.is_terminated());
        {
            for m in ["BYE", "INFO", "INVITE", "UPDATE", "OPTIONS", "PRACK"] {
                let req = in_dialog(m, &peer_call, peer_tag, s.local_tag(), 1000, &[], None);
                let out = s.on_request(9999, &req, 1_000_001);
                prop_assert_eq!(statuses(&out), vec![(9999, 481)]);
            }
        }
    }
}

// ================================================================== REFER (RFC 3515)

fn refer_events(out: &[SessionOutput]) -> Vec<(ReqKey, String)> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Refer { key, target } => Some((key, target)),
            _ => None,
        })
        .collect()
}

fn notify_fragments(out: &[SessionOutput]) -> Vec<(String, String)> {
    requests(out)
        .into_iter()
        .filter(|(_, r)| r.method() == Some(&Method::Notify))
        .map(|(_, r)| {
            (
                body(&r).to_string(),
                r.header("subscription-state").unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_blind_refer_is_accepted_and_its_progress_notified_until_the_final() {
    let mut s = confirmed_uas(&[]);
    let refer = from_caller(
        &s,
        "REFER",
        11,
        &[("Refer-To", "<sip:8121135@10.0.0.1>")],
        None,
    );
    let out = s.on_request(60, &refer, 1);
    assert!(statuses(&out).is_empty(), "the TU decides");
    assert_eq!(refer_events(&out), vec![(60, "8121135".to_string())]);
    let out = s.accept_refer(60);
    assert_eq!(statuses(&out), vec![(60, 202)]);
    let n = notify_fragments(&out);
    assert_eq!(n[0].0, "SIP/2.0 100 Trying\r\n");
    assert!(n[0].1.starts_with("active"));
    let notify = &requests(&out)[0].1;
    assert_eq!(notify.header("event"), Some("refer"));
    assert!(notify
        .content_type()
        .unwrap_or("")
        .starts_with("message/sipfrag"));
    // A second REFER while this one runs is refused; the final NOTIFY ends the subscription.
    let again = from_caller(&s, "REFER", 12, &[("Refer-To", "<sip:12348@x>")], None);
    assert_eq!(statuses(&s.on_request(61, &again, 2)), vec![(61, 491)]);
    let out = s.notify_refer(200, "OK");
    let n = notify_fragments(&out);
    assert_eq!(n[0].0, "SIP/2.0 200 OK\r\n");
    assert!(n[0].1.starts_with("terminated"));
    assert!(
        s.notify_refer(180, "Ringing").is_empty(),
        "no NOTIFY after the final"
    );
}

#[test]
fn refers_the_tu_refuses_or_cannot_serve() {
    let mut s = confirmed_uas(&[]);
    let refer = from_caller(&s, "REFER", 11, &[("Refer-To", "<sip:110@x>")], None);
    let out = s.on_request(70, &refer, 1);
    assert_eq!(refer_events(&out).len(), 1);
    assert_eq!(statuses(&s.reject_refer(70, 403)), vec![(70, 403)]);
    // No Refer-To → 400; a Replaces without its from-tag (RFC 3891 §6.1) → 400.
    let bare = from_caller(&s, "REFER", 12, &[], None);
    assert_eq!(statuses(&s.on_request(71, &bare, 2)), vec![(71, 400)]);
    let attended = from_caller(
        &s,
        "REFER",
        13,
        &[("Refer-To", "<sip:2001@x?Replaces=abc%3Bto-tag%3D1>")],
        None,
    );
    assert_eq!(statuses(&s.on_request(72, &attended, 3)), vec![(72, 400)]);
}

/// RFC 3261 §13.2.1 / RFC 3264 §5: an INVITE without an offer gets ours in the 2xx; the answer comes in the
/// ACK and is handed to the TU with the confirmation.
#[test]
fn a_delayed_offer_is_answered_in_the_ack_and_reported_with_the_confirmation() {
    let mut s = InviteSession::uas(cfg(), peer_invite(&[], None), INVITE_KEY, 0);
    let out = s.answer(OFFER, 0);
    let ok = out
        .iter()
        .find_map(|o| match o {
            SessionOutput::Respond { response, .. } => Some(response.clone()),
            _ => None,
        })
        .expect("the 200");
    assert!(
        String::from_utf8_lossy(ok.body()).contains("m=audio"),
        "our offer in the 200"
    );
    let ack = from_caller(&s, "ACK", 10, &[], Some(("application/sdp", ANSWER)));
    let ack = SipMessage::parse(ack.wire()).unwrap();
    assert_eq!(
        events(&s.on_request(0, &ack, 10)),
        vec![SessionEvent::Confirmed {
            sdp: Some(ANSWER.trim().to_string())
        }]
    );
}
