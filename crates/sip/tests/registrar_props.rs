//! Property test: random sequences of authenticated REGISTERs (contacts, expiries, Call-IDs,
//! CSeqs, `*`, time passing) keep the registrar's invariants.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use sip::auth::Challenge;
use sip::registrar::{Registrar, RegistrarLimits};
use sip::SipMessage;

#[derive(Debug, Clone)]
struct Op {
    /// Contacts in this REGISTER: (host index, expires param).
    contacts: Vec<(u8, Option<u32>)>,
    star: bool,
    header_expires: Option<u32>,
    call_id: u8,
    /// CSeq step from the last one used with this Call-ID (0 = repeat: out of order).
    cseq_step: u32,
    advance_secs: u64,
}

fn op() -> impl Strategy<Value = Op> {
    let expires = prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(30)),
        Just(Some(60)),
        Just(Some(600)),
        Just(Some(100_000)),
    ];
    (
        prop::collection::vec((0u8..8, expires.clone()), 0..4),
        prop::bool::weighted(0.1),
        expires,
        0u8..3,
        0u32..3,
        prop_oneof![Just(0u64), 1u64..120, 500u64..4000],
    )
        .prop_map(
            |(contacts, star, header_expires, call_id, cseq_step, advance_secs)| Op {
                contacts,
                star,
                header_expires,
                call_id,
                cseq_step,
                advance_secs,
            },
        )
}

fn text(op: &Op, cseq: u32, auth: Option<&str>) -> String {
    let mut s = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{cseq}c{}\r\n\
         From: <sip:1001@127.0.0.1>;tag=t\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: cid-{}\r\n\
         CSeq: {cseq} REGISTER\r\n",
        op.call_id, op.call_id
    );
    if op.star {
        s.push_str("Contact: *\r\n");
    } else {
        for (h, e) in &op.contacts {
            match e {
                Some(e) => s.push_str(&format!(
                    "Contact: <sip:1001@10.0.0.{h}:5060>;expires={e}\r\n"
                )),
                None => s.push_str(&format!("Contact: <sip:1001@10.0.0.{h}:5060>\r\n")),
            }
        }
    }
    if let Some(e) = op.header_expires {
        s.push_str(&format!("Expires: {e}\r\n"));
    }
    if let Some(a) = auth {
        s.push_str(&format!("Authorization: {a}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(ops in prop::collection::vec(op(), 1..25)) {
        let seats: HashMap<String, String> = [("1001".to_string(), "pw".to_string())].into();
        let limits = RegistrarLimits::default();
        let mut r = Registrar::with_secret("realm", "127.0.0.1", limits.clone(), [1; 32]);
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut now = Instant::now();
        let mut cseqs = [1u32; 3];
        for op in ops {
            now += Duration::from_secs(op.advance_secs);
            let before = r.lookup("1001", now);
            // Challenge with an unauthenticated copy (its CSeq is never stored).
            let c = cseqs[op.call_id as usize];
            let m = SipMessage::parse(Bytes::from(text(&op, c, None))).unwrap();
            let out = r.on_register(&m, src, "UDP", &seats, now);
            prop_assert_eq!(out.status, 401);
            let resp = SipMessage::parse(out.response).unwrap();
            let ch = Challenge::parse(resp.header("WWW-Authenticate").unwrap()).unwrap();
            let cseq = c + op.cseq_step;
            cseqs[op.call_id as usize] = cseq.max(c);
            let a = ch.respond("REGISTER", "sip:127.0.0.1", "1001", "pw", "cn", 1);
            let m = SipMessage::parse(Bytes::from(text(&op, cseq, Some(&a)))).unwrap();
            let out = r.on_register(&m, src, "UDP", &seats, now);
            let after = r.lookup("1001", now);

            prop_assert!(matches!(out.status, 200 | 400 | 403 | 423 | 500), "{}", out.status);
            prop_assert!(after.len() <= limits.max_contacts_per_seat);
            for w in after.windows(2) {
                prop_assert!(w[0].updated_at >= w[1].updated_at, "newest first");
            }
            for b in &after {
                let left = b.expires_in(now);
                prop_assert!(left > 0 && left <= limits.max_expires, "{}", left);
            }
            let resp = SipMessage::parse(out.response.clone()).unwrap();
            match out.status {
                200 => {
                    prop_assert_eq!(resp.header_all("Contact").len(), after.len());
                    if !op.star {
                        for (h, e) in &op.contacts {
                            let last = op.contacts.iter().rev().find(|(h2, _)| h2 == h).map(|(_, e)| *e);
                            if last != Some(*e) { continue; } // a later duplicate decides
                            let eff = e.or(op.header_expires).unwrap_or(limits.default_expires);
                            let host = format!("10.0.0.{h}");
                            let present = after.iter().any(|b| b.contact.uri.host == host);
                            if eff == 0 {
                                prop_assert!(!present, "{} should be gone", host);
                            } else if op.contacts.iter().filter(|(_, e)| e.or(op.header_expires).unwrap_or(3600) != 0).count() <= limits.max_contacts_per_seat {
                                prop_assert!(present, "{} should be bound", host);
                            }
                        }
                    } else {
                        prop_assert!(after.is_empty());
                    }
                }
                423 => {
                    prop_assert_eq!(resp.header("Min-Expires"), Some("60"));
                    prop_assert_eq!(&after, &before, "423 changes nothing");
                }
                400 | 403 | 500 => prop_assert_eq!(&after, &before, "a refusal changes nothing"),
                _ => {}
            }
        }
    }
}

proptest! {
    /// Hostile header values in an otherwise valid REGISTER: never a panic, always a response
    /// that parses, and never a binding without valid credentials.
    #[test]
    fn hostile_headers_never_panic(
        contact in "[ -~]{0,60}",
        expires in "[ -~]{0,12}",
        auth in prop_oneof![
            "[ -~]{0,120}",
            "Digest [a-z]{1,8}=\"[ -~]{0,20}\"(, [a-z]{1,8}=[ -~]{0,12}){0,8}",
        ],
        to_user in "[a-zA-Z0-9%]{0,8}",
    ) {
        let seats: HashMap<String, String> = [("1001".to_string(), "pw".to_string())].into();
        let mut r = Registrar::with_secret("realm", "127.0.0.1", RegistrarLimits::default(), [1; 32]);
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let text = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\n\
             From: <sip:{to_user}@127.0.0.1>;tag=t\r\n\
             To: <sip:{to_user}@127.0.0.1>\r\n\
             Call-ID: c\r\n\
             CSeq: 1 REGISTER\r\n\
             Contact: {contact}\r\n\
             Expires: {expires}\r\n\
             Authorization: {auth}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        if let Ok(m) = SipMessage::parse(Bytes::from(text)) {
            let out = r.on_register(&m, src, "UDP", &seats, Instant::now());
            prop_assert!(SipMessage::parse(out.response).is_ok());
            prop_assert!(out.status != 200);
            prop_assert!(r.registered_seats(Instant::now()).is_empty());
        }
    }
}
