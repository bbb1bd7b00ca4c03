//! Messages shaped like what carrier softswitches/SBCs and seat phones send us (tel: URIs with
//! phone-context, Diversion chains, PAI, 100rel, REFER with Replaces, NOTIFY sipfrag, REGISTER
//! with several contacts): every header we act on reads back through the typed accessors.

use bytes::Bytes;
use sip::{Contact, Method, Scheme, SipMessage};

fn load(name: &str) -> SipMessage {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/carrier")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let wire = Bytes::from(text.replace('\n', "\r\n"));
    SipMessage::parse(wire).unwrap_or_else(|e| panic!("{name} must parse: {e}"))
}

#[test]
fn carrier_invite_with_tel_uri_and_diversion_chain() {
    let m = load("invite-tel-diversion.txt");
    assert_eq!(m.validate_request(), Ok(()));
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.scheme, Scheme::Tel);
    assert_eq!(ruri.phone_number().as_deref(), Some("12345"));
    assert_eq!(ruri.param("phone-context"), Some(Some("+86-797")));
    // the bottom Diversion is the number the caller dialled first
    let div = m.diversion();
    assert_eq!(div.len(), 2);
    assert_eq!(div[0].param("counter"), Some(Some("1")));
    assert_eq!(
        m.original_called().and_then(|u| u.phone_number()),
        Some("12315".to_owned())
    );
    let pai = m.p_asserted_identity();
    assert_eq!(pai.len(), 2);
    assert_eq!(pai[0].uri.phone_number().as_deref(), Some("+8613807970000"));
    assert_eq!(pai[1].display.as_deref(), Some("13807970000"));
    assert_eq!(m.from().display.as_deref(), Some("13807970000"));
    assert_eq!(m.from().tag(), Some("hw-1a2b3c"));
    assert_eq!(m.supported(), ["100rel", "timer", "histinfo"]);
    assert_eq!(m.session_expires(), Some(1800));
    assert_eq!(m.allow().len(), 10);
    assert_eq!(m.vias().len(), 2);
    assert_eq!(m.vias()[0].rport(), Some(None));
    assert_eq!(m.vias()[1].received(), Some("10.66.0.4"));
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!("star")
    };
    assert_eq!(
        c.param("+g.3gpp.icsi-ref"),
        Some(Some("\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\""))
    );
    assert_eq!(
        m.header("p-charging-vector"),
        Some("icid-value=ZTE-0a4201140-1700000000-123;orig-ioi=jx.chinamobile.example")
    );
    assert!(std::str::from_utf8(m.body())
        .unwrap()
        .contains("a=rtpmap:8 PCMA/8000"));

    // Our answer copies both Vias in order and adds our tag once.
    let ok = m.response(200, "OK").to_tag("hl-1").build_message();
    assert_eq!(ok.vias(), m.vias());
    assert_eq!(ok.to().uri, m.to().uri);
    assert_eq!(ok.to().tag(), Some("hl-1"));
}

#[test]
fn reliable_provisional_and_prack() {
    let r = load("183-reliable.txt");
    assert_eq!(r.status(), Some(183));
    assert_eq!(r.require(), ["100rel"]);
    assert_eq!(r.rseq(), Some(4711));
    assert_eq!(r.vias()[0].rport(), Some(Some(5060)));
    let p = load("prack.txt");
    assert_eq!(p.method(), Some(&Method::Prack));
    let (rseq, cseq, method) = p.rack().unwrap();
    assert_eq!((rseq, cseq), (r.rseq().unwrap(), r.cseq().seq));
    assert_eq!(method, r.cseq().method);
    assert_eq!(p.validate_request(), Ok(()));
}

#[test]
fn refer_with_replaces_in_refer_to() {
    let m = load("refer-replaces.txt");
    assert_eq!(m.method(), Some(&Method::Refer));
    assert_eq!(m.vias()[0].transport, "TCP");
    assert_eq!(m.vias()[0].param("alias"), Some(None));
    let to = m.refer_to().unwrap();
    assert_eq!(to.uri.user.as_deref(), Some("1002"));
    let replaces = sip::Replaces::parse(to.uri.header("replaces").unwrap()).unwrap();
    assert_eq!(replaces.call_id, "hl-77aa@10.20.30.40");
    assert_eq!(replaces.to_tag, "seat-88");
    assert_eq!(replaces.from_tag, "hl-1234");
    assert!(!replaces.early_only);
    assert_eq!(
        m.referred_by().unwrap().display.as_deref(),
        Some("Seat 1001")
    );
    assert_eq!(m.event(), Some("refer"));
}

#[test]
fn notify_with_sipfrag_and_compact_headers() {
    let m = load("notify-sipfrag.txt");
    assert_eq!(m.event(), Some("refer;id=3"));
    assert_eq!(m.subscription_state(), Some("terminated;reason=noresource"));
    assert_eq!(m.content_type(), Some("message/sipfrag;version=2.0"));
    assert_eq!(m.body(), b"SIP/2.0 200 OK\r\n");
}

#[test]
fn register_with_two_contacts_and_digest() {
    let m = load("register-two-contacts.txt");
    assert_eq!(m.method(), Some(&Method::Register));
    assert_eq!(m.validate_request(), Ok(()));
    assert_eq!(m.expires(), Some(3600));
    let contacts = m.contacts().unwrap();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].expires(), Some(600));
    assert_eq!(contacts[1].expires(), Some(300));
    let Contact::Addr(second) = &contacts[1] else {
        panic!("star")
    };
    assert_eq!(second.uri.host, "2001:db8::21");
    assert_eq!(second.uri.host_port(), "[2001:db8::21]:5062");
    assert_eq!(second.param("q"), Some(Some("0.5")));
    let Contact::Addr(first) = &contacts[0] else {
        panic!("star")
    };
    assert_eq!(first.param("reg-id"), Some(Some("1")));
    assert_eq!(first.uri.param("ob"), Some(None));
    assert_eq!(m.authorization().len(), 1);
    assert!(m.authorization()[0].starts_with("Digest username=\"1001\""));
    assert_eq!(
        m.header("user-agent"),
        Some("Linphone/5.2 (Ubuntu) LinphoneCore/5.2")
    );
}
