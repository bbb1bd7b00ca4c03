//! The stateless 4xx for unparseable requests: never panics, and whatever it sends is a valid
//! response that carries the request's Call-ID.

use bytes::Bytes;
use proptest::prelude::*;
use sip::transport::error_response;
use sip::{ParseError, SipMessage};

const REQUEST: &str = "INVITE sip:12345@10.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKprop;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Caller\" <sip:13800000000@10.0.0.2>;tag=f1\r\n\
To: <sip:12345@10.0.0.1>\r\n\
Call-ID: prop-call@10.0.0.2\r\n\
CSeq: 1 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b':'),
        Just(b';'),
        Just(b'<'),
        Just(b'"'),
        Just(0u8),
        Just(0xff),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), interesting).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), 1..20usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut buf: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if buf.is_empty() {
            break;
        }
        match *m {
            Mutation::Flip { at, byte } => {
                let i = at % buf.len();
                buf[i] = byte;
            }
            Mutation::Insert { at, byte } => {
                let i = at % (buf.len() + 1);
                buf.insert(i, byte);
            }
            Mutation::Delete { at, len } => {
                let i = at % buf.len();
                let end = (i + len).min(buf.len());
                buf.drain(i..end);
            }
            Mutation::Truncate { at } => buf.truncate(at % buf.len()),
        }
    }
    buf
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn error_responses_are_valid_or_absent(muts in proptest::collection::vec(mutation(), 1..6)) {
        let raw = apply(REQUEST.as_bytes().to_vec(), &muts);
        if let Err(err) = SipMessage::parse(Bytes::from(raw.clone())) {
            if let Some(resp) = error_response(&raw, &err) {
                let parsed = SipMessage::parse(resp).expect("our 4xx parses");
                let status = parsed.status().unwrap();
                prop_assert!((400..700).contains(&status));
                prop_assert!(!parsed.is_request());
                prop_assert!(!parsed.vias().is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
        let err = ParseError::new(400, "x");
        if let Some(resp) = error_response(&raw, &err) {
            prop_assert!(SipMessage::parse(resp).is_ok());
        }
    }
}

#[test]
fn a_broken_cseq_still_gets_a_matching_400() {
    let raw = REQUEST.replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    let err = SipMessage::parse(Bytes::from(raw.clone())).unwrap_err();
    let resp = SipMessage::parse(error_response(raw.as_bytes(), &err).unwrap()).unwrap();
    assert_eq!(resp.status(), Some(err.status));
    assert_eq!(resp.call_id(), "prop-call@10.0.0.2");
    assert_eq!(resp.vias()[0].branch(), Some("z9hG4bKprop"));
    assert_eq!(resp.cseq().method, sip::Method::Invite);
    // Responses and ACKs never get one.
    assert!(error_response(b"SIP/2.0 200 OK\r\n\r\n", &err).is_none());
    let ack = REQUEST.replace("INVITE sip:", "ACK sip:");
    assert!(error_response(ack.as_bytes(), &err).is_none());
}
