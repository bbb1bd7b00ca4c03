//! Attended transfer at the SIP layer, without sockets: a REFER whose Refer-To carries an escaped
//! `Replaces` (RFC 3515 + RFC 3891), its 202 and NOTIFYs, and which dialogs a `Replaces` may take over
//! (RFC 3891 §3).

use sip::session::{InviteSession, ReqKey, SessionConfig, SessionEvent, SessionOutput};
use sip::{Method, Replaces, RequestBuilder, Uri};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
/// The operator's consult call (its softphone is the UAC, we are its UAS).
const CONSULT_CALL_ID: &str = "consult-7@10.0.0.2";
const OPERATOR_TAG: &str = "op-tag";

fn cfg() -> SessionConfig {
    SessionConfig {
        contact: "<sip:12345@10.0.0.1:5060>".into(),
        via: "SIP/2.0/UDP 10.0.0.1:5060".into(),
        rng_seed: Some(7),
        ..SessionConfig::default()
    }
}

fn request(method: Method, call_id: &str, to_tag: Option<&str>, cseq: u32) -> RequestBuilder {
    let m = method.as_str().to_string();
    let to = match to_tag {
        Some(t) => format!("<sip:12348@10.0.0.1>;tag={t}"),
        None => "<sip:12348@10.0.0.1>".to_string(),
    };
    RequestBuilder::new(method, &Uri::parse("sip:12348@10.0.0.1:5060").unwrap())
        .header(
            "Via",
            &format!("SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK{m}{cseq}"),
        )
        .header("Max-Forwards", "70")
        .header("From", &format!("<sip:1001@10.0.0.1>;tag={OPERATOR_TAG}"))
        .header("To", &to)
        .header("Call-ID", call_id)
        .header("CSeq", &format!("{cseq} {m}"))
        .header("Contact", "<sip:1001@10.0.0.2:5062>")
}

/// The consult INVITE as our UAS session sees it.
fn consult() -> InviteSession {
    let invite = request(Method::Invite, CONSULT_CALL_ID, None, 1)
        .body("application/sdp", OFFER.as_bytes())
        .build_message();
    InviteSession::uas(cfg(), invite, 1, 0)
}

fn statuses(out: &[SessionOutput]) -> Vec<(ReqKey, u16)> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Respond { key, response } => Some((*key, response.status()?)),
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

/// (sipfrag body, Subscription-State) of every NOTIFY in `out`.
fn notifies(out: &[SessionOutput]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::Request { request, .. } if request.method() == Some(&Method::Notify) => {
                Some((
                    String::from_utf8_lossy(request.body()).into_owned(),
                    request
                        .header("subscription-state")
                        .unwrap_or("")
                        .to_string(),
                ))
            }
            _ => None,
        })
        .collect()
}

/// The caller's call as our UAS session, answered and ACKed; REFERs come from the operator in it.
struct Talking {
    s: InviteSession,
    call_id: &'static str,
}

fn talking() -> Talking {
    let call_id = "call-a@10.0.0.2";
    let invite = request(Method::Invite, call_id, None, 1)
        .body("application/sdp", OFFER.as_bytes())
        .build_message();
    let mut s = InviteSession::uas(cfg(), invite, 1, 0);
    s.answer(ANSWER, 0);
    let ack = request(Method::Ack, call_id, Some(s.local_tag()), 1).build_message();
    assert_eq!(
        events(&s.on_request(2, &ack, 10)),
        vec![SessionEvent::Confirmed { sdp: None }]
    );
    Talking { s, call_id }
}

impl Talking {
    fn refer(&mut self, key: ReqKey, cseq: u32, refer_to: &str) -> Vec<SessionOutput> {
        let refer = request(Method::Refer, self.call_id, Some(self.s.local_tag()), cseq)
            .header("Refer-To", refer_to)
            .header("Referred-By", "<sip:1001@10.0.0.1>")
            .build_message();
        self.s.on_request(key, &refer, 1_000)
    }
}

#[test]
fn an_attended_refer_unescapes_the_replaces_of_its_refer_to_then_gets_202_and_notifies() {
    let mut a = talking();
    // What PJSUA2 sends (pjsua_call_xfer_replaces): the consult's remote target, with its dialog escaped.
    let out = a.refer(
        20,
        2,
        "<sip:12345@10.0.0.1:5060?Replaces=consult-7%4010.0.0.2%3Bto-tag%3Dd4e5%3Bfrom-tag%3Dop-tag>",
    );
    assert!(statuses(&out).is_empty(), "the TU decides");
    assert_eq!(
        events(&out),
        vec![SessionEvent::AttendedRefer {
            key: 20,
            replaces: Replaces {
                call_id: CONSULT_CALL_ID.into(),
                to_tag: "d4e5".into(),
                from_tag: OPERATOR_TAG.into(),
                early_only: false,
            },
        }]
    );
    // Accepted like a blind one: 202, NOTIFY 100 Trying, later the outcome, which ends the subscription.
    let out = a.s.accept_refer(20);
    assert_eq!(statuses(&out), vec![(20, 202)]);
    assert_eq!(
        notifies(&out),
        vec![(
            "SIP/2.0 100 Trying\r\n".to_string(),
            "active;expires=60".to_string()
        )]
    );
    let again = a.refer(
        21,
        3,
        "<sip:12345@10.0.0.1?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2>",
    );
    assert_eq!(statuses(&again), vec![(21, 491)], "one transfer at a time");
    let out = a.s.notify_refer(200, "OK");
    assert_eq!(
        notifies(&out),
        vec![(
            "SIP/2.0 200 OK\r\n".to_string(),
            "terminated;reason=noresource".to_string()
        )]
    );
}

#[test]
fn an_attended_refer_the_tu_cannot_join_reports_481_in_its_final_notify() {
    let mut a = talking();
    let out = a.refer(
        30,
        2,
        "\"Dept\" <sip:12345@10.0.0.1;transport=udp?replaces=gone%40x%3Bfrom-tag%3Df%3Bto-tag%3Dt%3Bearly-only>;x=1",
    );
    let evs = events(&out);
    let [SessionEvent::AttendedRefer { key, replaces }] = evs.as_slice() else {
        panic!("{out:?}")
    };
    let (key, replaces) = (*key, replaces.clone());
    assert_eq!(
        (key, replaces.call_id.as_str(), replaces.early_only),
        (30, "gone@x", true)
    );
    a.s.accept_refer(30);
    let out = a.s.notify_refer(481, "Call/Transaction Does Not Exist");
    assert_eq!(
        notifies(&out)[0].0,
        "SIP/2.0 481 Call/Transaction Does Not Exist\r\n"
    );
    // A blind REFER still names its target.
    let out = a.refer(31, 3, "<sip:12348@10.0.0.1>");
    assert_eq!(
        events(&out),
        vec![SessionEvent::Refer {
            key: 31,
            target: "12348".into()
        }]
    );
}

#[test]
fn malformed_replaces_in_a_refer_to_is_a_bad_request() {
    let mut a = talking();
    for (key, bad) in [
        (40, "<sip:12345@10.0.0.1?Replaces=abc%3Bto-tag%3D1>"), // no from-tag (§6.1)
        (
            41,
            "<sip:12345@10.0.0.1?Replaces=%3Bto-tag%3D1%3Bfrom-tag%3D2>",
        ), // no call-id
        (42, "<sip:12345@10.0.0.1?Replaces=a%ZZb>"),            // broken escape
    ] {
        let out = a.refer(key, key as u32, bad);
        assert_eq!(statuses(&out), vec![(key, 400)], "{bad}");
        assert!(events(&out).is_empty());
    }
}

fn naming(s: &InviteSession, early_only: bool) -> Replaces {
    Replaces {
        call_id: CONSULT_CALL_ID.into(),
        to_tag: s.local_tag().into(),
        from_tag: OPERATOR_TAG.into(),
        early_only,
    }
}

#[test]
fn a_replaces_takes_over_only_a_confirmed_dialog_it_names_exactly() {
    let mut b = consult();
    // Before any tagged response the operator cannot know our tag; ringing (183) is an early dialog the
    // operator created: §3 says 481 and the dialog stays as it is.
    assert_eq!(b.replaceable_by(&naming(&b, false)), Err(481));
    b.provisional(183, "Session Progress", Some(ANSWER));
    assert_eq!(b.replaceable_by(&naming(&b, false)), Err(481));
    assert!(!b.is_terminated());
    // Answered: replaceable, unless early-only (486); wrong tags or Call-ID name no dialog (481).
    b.answer(ANSWER, 5_000);
    assert_eq!(b.replaceable_by(&naming(&b, false)), Ok(()));
    assert_eq!(b.replaceable_by(&naming(&b, true)), Err(486));
    let swapped = Replaces {
        to_tag: OPERATOR_TAG.into(),
        from_tag: b.local_tag().into(),
        ..naming(&b, false)
    };
    assert_eq!(b.replaceable_by(&swapped), Err(481));
    let other = Replaces {
        call_id: "other@10.0.0.2".into(),
        ..naming(&b, false)
    };
    assert_eq!(b.replaceable_by(&other), Err(481));
    // Ended: 603.
    let bye = request(Method::Bye, CONSULT_CALL_ID, Some(b.local_tag()), 2).build_message();
    b.on_request(9, &bye, 6_000);
    assert_eq!(b.replaceable_by(&naming(&b, false)), Err(603));
}
