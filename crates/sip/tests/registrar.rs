//! Registrar behaviour, driven with real REGISTER/OPTIONS text parsed by `SipMessage::parse`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::auth::{Algorithm, Challenge};
use sip::registrar::{
    options_response, RegisterEvent, RegisterOutcome, Registrar, RegistrarLimits,
};
use sip::SipMessage;

const REALM: &str = "hotline12345";

fn seats() -> HashMap<String, String> {
    (1001..=1012)
        .map(|n| (n.to_string(), format!("pw{n}")))
        .collect()
}

fn registrar() -> Registrar {
    Registrar::with_secret(
        REALM,
        "hotline.example",
        RegistrarLimits::default(),
        [5; 32],
    )
}

fn src() -> SocketAddr {
    "192.0.2.10:5062".parse().unwrap()
}

/// A REGISTER as a softphone sends it. `extra` lines go before Content-Length.
struct Reg<'a> {
    user: &'a str,
    call_id: &'a str,
    cseq: u32,
    contacts: Vec<String>,
    extra: Vec<String>,
}

impl<'a> Reg<'a> {
    fn new(user: &'a str) -> Self {
        Reg {
            user,
            call_id: "reg-call-1@192.0.2.10",
            cseq: 1,
            contacts: vec![format!("<sip:{user}@192.168.1.20:5062;transport=udp>")],
            extra: Vec::new(),
        }
    }
    fn contacts(mut self, c: &[&str]) -> Self {
        self.contacts = c.iter().map(|s| s.to_string()).collect();
        self
    }
    fn extra(mut self, e: &str) -> Self {
        self.extra.push(e.to_string());
        self
    }
    fn text(&self, auth: Option<&str>) -> String {
        let mut s = format!(
            "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK{}x{};rport\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsecond\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{u}@127.0.0.1>;tag=fromtag\r\n\
             To: <sip:{u}@127.0.0.1>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n",
            self.cseq,
            self.call_id.len(),
            self.call_id,
            self.cseq,
            u = self.user
        );
        for c in &self.contacts {
            s.push_str(&format!("Contact: {c}\r\n"));
        }
        for e in &self.extra {
            s.push_str(e);
            s.push_str("\r\n");
        }
        if let Some(a) = auth {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        s.push_str("User-Agent: test\r\nContent-Length: 0\r\n\r\n");
        s
    }
    fn msg(&self, auth: Option<&str>) -> SipMessage {
        SipMessage::parse(Bytes::from(self.text(auth))).unwrap()
    }
}

fn parse(out: &RegisterOutcome) -> SipMessage {
    SipMessage::parse(out.response.clone()).unwrap()
}

fn challenges(out: &RegisterOutcome) -> Vec<Challenge> {
    parse(out)
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| Challenge::parse(v).unwrap())
        .collect()
}

/// Send without credentials, answer the first challenge with `password` (cseq + 1).
fn auth_register(
    r: &mut Registrar,
    reg: &mut Reg,
    password: &str,
    source: SocketAddr,
    now: Instant,
) -> RegisterOutcome {
    let first = r.on_register(&reg.msg(None), source, "udp", &seats(), now);
    assert_eq!(
        first.status,
        401,
        "{}",
        String::from_utf8_lossy(&first.response)
    );
    let ch = &challenges(&first)[0];
    reg.cseq += 1;
    let a = ch.respond(
        "REGISTER",
        "sip:127.0.0.1:5060",
        reg.user,
        password,
        "cn0nce",
        1,
    );
    r.on_register(&reg.msg(Some(&a)), source, "udp", &seats(), now)
}

fn contact_values(out: &RegisterOutcome) -> Vec<String> {
    parse(out)
        .header_all("Contact")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn register_with_digest_then_200_with_binding() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    let first = r.on_register(&reg.msg(None), src(), "udp", &seats(), t0);
    assert_eq!(first.status, 401);
    assert_eq!(first.event, RegisterEvent::Challenged);
    let resp = parse(&first);
    assert_eq!(resp.status(), Some(401));
    assert_eq!(resp.vias().len(), 2, "all Vias copied");
    assert!(resp.to().tag().is_some(), "To tag added");
    let chs = challenges(&first);
    assert_eq!(
        chs.len(),
        1,
        "MD5 only by default, for SIPp 3.6.1 and baresip 1.0"
    );
    assert_eq!(chs[0].algorithm, Algorithm::Md5);
    assert_eq!(chs[0].realm, REALM);
    assert!(r.lookup("1001", t0).is_empty());

    reg.cseq += 1;
    let a = chs[0].respond("REGISTER", "sip:127.0.0.1:5060", "1001", "pw1001", "xyz", 1);
    let ok = r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), t0);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.response));
    assert_eq!(
        contact_values(&ok),
        vec!["<sip:1001@192.168.1.20:5062;transport=udp>;expires=3600".to_string()]
    );
    let RegisterEvent::Updated { seat, bindings } = &ok.event else {
        panic!("{:?}", ok.event)
    };
    assert_eq!(seat, "1001");
    assert_eq!(bindings.len(), 1);

    let b = r.lookup("1001", t0);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].source, src());
    assert_eq!(b[0].transport, "UDP");
    assert_eq!(b[0].call_id, "reg-call-1@192.0.2.10");
    assert_eq!(b[0].cseq, 2);
    assert_eq!(b[0].expires_in(t0), 3600);
    assert_eq!(r.registered_seats(t0), vec!["1001".to_string()]);
    // Private Contact, REGISTER from elsewhere: requests go to the source (NAT).
    assert_eq!(b[0].target(), src());
}

#[test]
fn wrong_password_gets_403_and_no_binding() {
    let mut r = registrar();
    let t0 = Instant::now();
    let out = auth_register(&mut r, &mut Reg::new("1001"), "guess", src(), t0);
    assert_eq!(out.status, 403);
    assert!(matches!(out.event, RegisterEvent::Refused { .. }));
    assert!(r.lookup("1001", t0).is_empty());
}

/// Strip what legitimately differs between two answers (nonce, tag, user) so the rest can be compared.
fn normalise(out: &RegisterOutcome, user: &str) -> String {
    let m = parse(out);
    let mut lines = vec![format!("{} {:?}", m.status().unwrap(), m.reason())];
    for (n, v) in m.headers() {
        let v = match n.to_ascii_lowercase().as_str() {
            "www-authenticate" => {
                let c = Challenge::parse(v).unwrap();
                format!(
                    "{} {} {:?} {:?} {}",
                    c.realm, c.algorithm, c.qop, c.opaque, c.stale
                )
            }
            "to" | "from" => v
                .replace(user, "USER")
                .split(";tag=")
                .next()
                .unwrap()
                .to_string(),
            _ => v.replace(user, "USER"),
        };
        lines.push(format!("{n}: {v}"));
    }
    lines.join("\n")
}

#[test]
fn unknown_extension_is_not_revealed() {
    let mut r = registrar();
    let t0 = Instant::now();
    // Challenge: same for a seat and a non-seat.
    let seat = r.on_register(&Reg::new("1001").msg(None), src(), "udp", &seats(), t0);
    let other = r.on_register(&Reg::new("2999").msg(None), src(), "udp", &seats(), t0);
    assert_eq!(seat.status, 401);
    assert_eq!(normalise(&seat, "1001"), normalise(&other, "2999"));
    assert_eq!(seat.event, other.event);
    // Wrong password: same 403.
    let s = auth_register(&mut r, &mut Reg::new("1001"), "nope", src(), t0);
    let o = auth_register(
        &mut r,
        &mut Reg::new("2999"),
        "nope",
        "192.0.2.99:5060".parse().unwrap(),
        t0,
    );
    assert_eq!(s.status, 403);
    assert_eq!(normalise(&s, "1001"), normalise(&o, "2999"));
    assert_eq!(s.event, o.event);
    assert!(r.registered_seats(t0).is_empty());
}

#[test]
fn stale_nonce_gets_401_with_stale_true_then_succeeds() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1002");
    let ch = challenges(&r.on_register(&reg.msg(None), src(), "udp", &seats(), t0))[0].clone();
    let late = t0 + Duration::from_secs(301);
    reg.cseq += 1;
    let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1002", "pw1002", "c", 1);
    let out = r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), late);
    assert_eq!(out.status, 401);
    let fresh = &challenges(&out)[0];
    assert!(fresh.stale);
    assert_ne!(fresh.nonce, ch.nonce);
    reg.cseq += 1;
    let a2 = fresh.respond("REGISTER", "sip:127.0.0.1:5060", "1002", "pw1002", "c", 1);
    assert_eq!(
        r.on_register(&reg.msg(Some(&a2)), src(), "udp", &seats(), late)
            .status,
        200
    );
}

#[test]
fn replayed_authorization_is_rechallenged() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1003");
    let ch = challenges(&r.on_register(&reg.msg(None), src(), "udp", &seats(), t0))[0].clone();
    let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1003", "pw1003", "c", 1);
    reg.cseq = 2;
    assert_eq!(
        r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), t0)
            .status,
        200
    );
    // An attacker replays the same credentials in a new REGISTER (new CSeq, own contact).
    reg.cseq = 3;
    let replay = reg.contacts(&["<sip:1003@203.0.113.66:5060>"]);
    let out = r.on_register(&replay.msg(Some(&a)), src(), "udp", &seats(), t0);
    assert_eq!(out.status, 401);
    assert_eq!(r.lookup("1003", t0).len(), 1);
}

#[test]
fn svcrack_style_credentials_get_400_not_a_panic() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    let ch = challenges(&r.on_register(&reg.msg(None), src(), "udp", &seats(), t0))[0].clone();
    reg.cseq += 1;
    let a = format!(
        "Digest username=\"1001\",realm=\"{REALM}\",nonce=\"{}\",uri=\"sip:127.0.0.1\",response=\"{}\",algorithm=MD5,qop=auth",
        ch.nonce,
        "0".repeat(32)
    );
    let out = r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), t0);
    assert_eq!(out.status, 400);
    // Syntactically broken Authorization too.
    let out = r.on_register(
        &reg.msg(Some("Digest username=\"1001")),
        src(),
        "udp",
        &seats(),
        t0,
    );
    assert_eq!(out.status, 400);
}

#[test]
fn credentials_for_another_realm_are_rechallenged() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    let mut ch = challenges(&r.on_register(&reg.msg(None), src(), "udp", &seats(), t0))[0].clone();
    ch.realm = "asterisk".into();
    reg.cseq += 1;
    let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1001", "pw1001", "c", 1);
    assert_eq!(
        r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), t0)
            .status,
        401
    );
}

#[test]
fn seat_cannot_register_another_seats_aor() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1002");
    let ch = challenges(&r.on_register(&reg.msg(None), src(), "udp", &seats(), t0))[0].clone();
    reg.cseq += 1;
    // Valid credentials of 1001 used to claim 1002.
    let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1001", "pw1001", "c", 1);
    assert_eq!(
        r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), t0)
            .status,
        403
    );
    assert!(r.registered_seats(t0).is_empty());
}

#[test]
fn brute_force_locks_the_source_out_then_recovers() {
    let mut r = registrar();
    let t0 = Instant::now();
    for i in 0..5 {
        let out = auth_register(
            &mut r,
            &mut Reg::new("1004"),
            &format!("guess{i}"),
            src(),
            t0,
        );
        assert_eq!(out.status, 403);
    }
    assert_eq!(r.locked_out_sources(t0), 1);
    // Locked: even no credentials, or the right password, get 403.
    let out = r.on_register(&Reg::new("1004").msg(None), src(), "udp", &seats(), t0);
    assert_eq!(out.status, 403);
    // Another source is unaffected.
    let other: SocketAddr = "198.51.100.7:5060".parse().unwrap();
    assert_eq!(
        auth_register(&mut r, &mut Reg::new("1005"), "pw1005", other, t0).status,
        200
    );
    // After the lockout the right password works again.
    let later = t0 + Duration::from_secs(301);
    assert_eq!(r.locked_out_sources(later), 0);
    assert_eq!(
        auth_register(&mut r, &mut Reg::new("1004"), "pw1004", src(), later).status,
        200
    );
}

#[test]
fn a_seat_guessing_wrong_behind_a_nat_does_not_lock_out_the_other_seats_there() {
    let mut r = registrar();
    let t0 = Instant::now();
    // One NAT address: 1004 is misconfigured (or attacked), 1005 is honest.
    for i in 0..5 {
        let out = auth_register(
            &mut r,
            &mut Reg::new("1004"),
            &format!("guess{i}"),
            src(),
            t0,
        );
        assert_eq!(out.status, 403);
    }
    assert_eq!(r.locked_out_sources(t0), 1);
    assert_eq!(
        auth_register(&mut r, &mut Reg::new("1005"), "pw1005", src(), t0).status,
        200,
        "the lockout keys on source + user"
    );
    // 1004 itself stays locked from that address.
    let out = r.on_register(&Reg::new("1004").msg(None), src(), "udp", &seats(), t0);
    assert_eq!(out.status, 403);
}

#[test]
fn failures_outside_the_window_do_not_lock() {
    let mut r = registrar();
    let t0 = Instant::now();
    for i in 0..8u64 {
        let at = t0 + Duration::from_secs(i * 20); // 3 per minute
        let out = auth_register(&mut r, &mut Reg::new("1004"), "bad", src(), at);
        assert_eq!(out.status, 403);
        if i % 3 == 2 {
            // A success resets the count as well.
            let mut reg = Reg::new("1004");
            reg.cseq = 10 * i as u32; // same Call-ID: CSeq must grow
            let ok = auth_register(&mut r, &mut reg, "pw1004", src(), at);
            assert_eq!(ok.status, 200, "round {i}");
        }
    }
}

#[test]
fn interval_too_brief_gets_423_with_min_expires() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001").contacts(&["<sip:1001@192.168.1.20:5062>;expires=30"]);
    let out = auth_register(&mut r, &mut reg, "pw1001", src(), t0);
    assert_eq!(out.status, 423);
    assert_eq!(parse(&out).header("Min-Expires"), Some("60"));
    assert!(r.lookup("1001", t0).is_empty());
    // Same via the Expires header.
    let mut reg = Reg::new("1001").extra("Expires: 59");
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        423
    );
}

#[test]
fn expires_from_param_header_default_and_clamped() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001")
        .contacts(&[
            "<sip:1001@192.168.1.20:5062>;expires=120",
            "<sip:1001@192.168.1.21:5062>",
            "<sip:1001@192.168.1.22:5062>;expires=999999999999",
        ])
        .extra("Expires: 600");
    let out = auth_register(&mut r, &mut reg, "pw1001", src(), t0);
    assert_eq!(out.status, 200);
    let mut got = contact_values(&out);
    got.sort();
    assert_eq!(
        got,
        vec![
            "<sip:1001@192.168.1.20:5062>;expires=120".to_string(),
            "<sip:1001@192.168.1.21:5062>;expires=600".to_string(),
            "<sip:1001@192.168.1.22:5062>;expires=3600".to_string(),
        ]
    );
    // No Expires anywhere → default.
    let mut reg = Reg::new("1002").contacts(&["<sip:1002@192.168.1.30>"]);
    let out = auth_register(&mut r, &mut reg, "pw1002", src(), t0);
    assert_eq!(
        contact_values(&out),
        vec!["<sip:1002@192.168.1.30>;expires=3600".to_string()]
    );
}

#[test]
fn several_contacts_newest_first_and_unregister_one() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut desk = Reg::new("1001").contacts(&["<sip:1001@192.168.1.20:5062>"]);
    desk.call_id = "desk";
    assert_eq!(
        auth_register(&mut r, &mut desk, "pw1001", src(), t0).status,
        200
    );
    let t1 = t0 + Duration::from_secs(5);
    let mut mobile = Reg::new("1001").contacts(&["<sip:1001@10.8.0.5:5070;transport=tcp>"]);
    mobile.call_id = "mobile";
    let msrc: SocketAddr = "203.0.113.9:40000".parse().unwrap();
    let first = r.on_register(&mobile.msg(None), msrc, "tcp", &seats(), t1);
    let ch = &challenges(&first)[0];
    mobile.cseq += 1;
    let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1001", "pw1001", "c", 1);
    let out = r.on_register(&mobile.msg(Some(&a)), msrc, "tcp", &seats(), t1);
    assert_eq!(out.status, 200);
    assert_eq!(
        contact_values(&out).len(),
        2,
        "200 lists all current bindings"
    );

    let b = r.lookup("1001", t1);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].contact.uri.host, "10.8.0.5", "newest first");
    assert_eq!(b[0].transport, "TCP");
    assert_eq!(b[0].target(), msrc);
    assert_eq!(b[1].contact.uri.host, "192.168.1.20");
    assert_eq!(b[1].expires_in(t1), 3595);

    // The desk phone unregisters its own contact (same Call-ID, higher CSeq).
    let mut bye = Reg::new("1001").contacts(&["<sip:1001@192.168.1.20:5062>;expires=0"]);
    bye.call_id = "desk";
    bye.cseq = 10;
    let out = auth_register(&mut r, &mut bye, "pw1001", src(), t1);
    assert_eq!(out.status, 200);
    assert_eq!(
        contact_values(&out),
        vec!["<sip:1001@10.8.0.5:5070;transport=tcp>;expires=3600".to_string()]
    );
    assert_eq!(r.lookup("1001", t1).len(), 1);
}

#[test]
fn star_with_expires_zero_removes_all() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001").contacts(&[
        "<sip:1001@192.168.1.20:5062>",
        "<sip:1001@192.168.1.21:5062>",
    ]);
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        200
    );
    assert_eq!(r.lookup("1001", t0).len(), 2);

    // `*` without Expires: 0 is malformed.
    let mut bad = Reg::new("1001").contacts(&["*"]);
    bad.cseq = 20;
    assert_eq!(
        auth_register(&mut r, &mut bad, "pw1001", src(), t0).status,
        400
    );
    assert_eq!(r.lookup("1001", t0).len(), 2);

    let mut all = Reg::new("1001").contacts(&["*"]).extra("Expires: 0");
    all.cseq = 30;
    let out = auth_register(&mut r, &mut all, "pw1001", src(), t0);
    assert_eq!(out.status, 200);
    assert!(contact_values(&out).is_empty());
    assert_eq!(
        out.event,
        RegisterEvent::Updated {
            seat: "1001".into(),
            bindings: vec![]
        }
    );
    assert!(r.lookup("1001", t0).is_empty());
    assert!(r.registered_seats(t0).is_empty());
}

#[test]
fn out_of_order_register_gets_500() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    reg.cseq = 50;
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        200
    );
    // Same Call-ID, lower CSeq (a delayed older REGISTER that would unregister).
    let mut old =
        Reg::new("1001").contacts(&["<sip:1001@192.168.1.20:5062;transport=udp>;expires=0"]);
    old.cseq = 20;
    let out = auth_register(&mut r, &mut old, "pw1001", src(), t0);
    assert_eq!(out.status, 500);
    assert_eq!(r.lookup("1001", t0).len(), 1, "binding untouched");
    // A different Call-ID may update regardless of CSeq.
    let mut other =
        Reg::new("1001").contacts(&["<sip:1001@192.168.1.20:5062;transport=udp>;expires=0"]);
    other.call_id = "another";
    assert_eq!(
        auth_register(&mut r, &mut other, "pw1001", src(), t0).status,
        200
    );
    assert!(r.lookup("1001", t0).is_empty());
}

#[test]
fn contact_limit_drops_oldest() {
    let mut r = registrar();
    let t0 = Instant::now();
    for i in 0..7u64 {
        let c = format!("<sip:1001@192.168.1.{}:5062>", 100 + i);
        let mut reg = Reg::new("1001").contacts(&[&c]);
        let cid = format!("phone-{i}");
        reg.call_id = &cid;
        let out = auth_register(
            &mut r,
            &mut reg,
            "pw1001",
            src(),
            t0 + Duration::from_secs(i),
        );
        assert_eq!(out.status, 200);
    }
    let b = r.lookup("1001", t0 + Duration::from_secs(7));
    assert_eq!(b.len(), 5);
    let hosts: Vec<&str> = b.iter().map(|b| b.contact.uri.host.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "192.168.1.106",
            "192.168.1.105",
            "192.168.1.104",
            "192.168.1.103",
            "192.168.1.102"
        ]
    );
    // Six contacts in a single REGISTER: refused outright.
    let many: Vec<String> = (0..6)
        .map(|i| format!("<sip:1002@192.168.2.{i}>"))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut reg = Reg::new("1002").contacts(&refs);
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1002", src(), t0).status,
        403
    );
    assert!(r.lookup("1002", t0).is_empty());
}

#[test]
fn bindings_expire() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut a = Reg::new("1001").contacts(&["<sip:1001@192.168.1.20>;expires=60"]);
    assert_eq!(
        auth_register(&mut r, &mut a, "pw1001", src(), t0).status,
        200
    );
    let mut b = Reg::new("1002").contacts(&["<sip:1002@192.168.1.21>;expires=120"]);
    assert_eq!(
        auth_register(&mut r, &mut b, "pw1002", src(), t0).status,
        200
    );
    let t59 = t0 + Duration::from_millis(59_500);
    assert_eq!(r.lookup("1001", t59)[0].expires_in(t59), 1, "rounded up");
    let t60 = t0 + Duration::from_secs(60);
    assert!(
        r.lookup("1001", t60).is_empty(),
        "expired exactly at its time"
    );
    assert_eq!(r.registered_seats(t60), vec!["1002".to_string()]);
    assert_eq!(r.binding_count(t60), 1);
    assert_eq!(r.expire(t60), vec!["1001".to_string()]);
    assert_eq!(r.expire(t60), Vec::<String>::new());
    assert_eq!(
        r.expire(t0 + Duration::from_secs(121)),
        vec!["1002".to_string()]
    );
}

#[test]
fn query_without_contact_lists_bindings() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        200
    );
    let mut q = Reg::new("1001").contacts(&[]);
    q.call_id = "query";
    let t1 = t0 + Duration::from_secs(100);
    let out = auth_register(&mut r, &mut q, "pw1001", src(), t1);
    assert_eq!(out.status, 200);
    assert_eq!(
        out.event,
        RegisterEvent::Queried {
            seat: "1001".into()
        }
    );
    assert_eq!(
        contact_values(&out),
        vec!["<sip:1001@192.168.1.20:5062;transport=udp>;expires=3500".to_string()]
    );
}

#[test]
fn outbound_instance_and_reg_id_identify_the_binding() {
    let mut r = registrar();
    let t0 = Instant::now();
    let inst = "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1";
    let c1 = format!("<sip:1001@192.168.1.20:5062>;{inst}");
    let mut reg = Reg::new("1001").contacts(&[&c1]);
    let out = auth_register(&mut r, &mut reg, "pw1001", src(), t0);
    assert_eq!(out.status, 200);
    assert_eq!(
        contact_values(&out),
        vec![format!("<sip:1001@192.168.1.20:5062>;{inst};expires=3600")]
    );
    // The phone moved networks: new Contact URI, same instance and reg-id → replaces.
    let c2 = format!("<sip:1001@172.16.0.9:5062>;{inst}");
    let mut moved = Reg::new("1001").contacts(&[&c2]);
    moved.call_id = "after-move";
    assert_eq!(
        auth_register(&mut r, &mut moved, "pw1001", src(), t0).status,
        200
    );
    let b = r.lookup("1001", t0);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].contact.uri.host, "172.16.0.9");
    assert_eq!(
        b[0].instance.as_deref(),
        Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"")
    );
    assert_eq!(b[0].reg_id, Some(1));
}

#[test]
fn no_gruu_is_ever_issued() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001")
        .contacts(&["<sip:1001@192.168.1.20:5062>;+sip.instance=\"<urn:uuid:1>\""])
        .extra("Supported: gruu, outbound, path");
    let out = auth_register(&mut r, &mut reg, "pw1001", src(), t0);
    assert_eq!(out.status, 200);
    let text = String::from_utf8_lossy(&out.response).to_ascii_lowercase();
    assert!(!text.contains("gruu"), "{text}");
}

#[test]
fn contact_equal_to_source_is_used_directly() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001").contacts(&["<sip:1001@192.0.2.10:5062>"]);
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        200
    );
    assert_eq!(r.lookup("1001", t0)[0].target(), src());
    let mut reg = Reg::new("1002").contacts(&["<sip:1002@192.0.2.10>"]); // port 5060 ≠ source port
    let s2: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1002", s2, t0).status,
        200
    );
    assert_eq!(r.lookup("1002", t0)[0].target(), s2);
}

#[test]
fn foreign_domain_refused_and_alias_accepted() {
    let mut r = registrar();
    let t0 = Instant::now();
    let text = Reg::new("1001")
        .text(None)
        .replace("sip:127.0.0.1:5060 SIP/2.0", "sip:evil.example SIP/2.0")
        .replace("To: <sip:1001@127.0.0.1>", "To: <sip:1001@evil.example>");
    let m = SipMessage::parse(Bytes::from(text.clone())).unwrap();
    assert_eq!(r.on_register(&m, src(), "udp", &seats(), t0).status, 403);
    let ours = text.replace("evil.example", "hotline.example");
    let m = SipMessage::parse(Bytes::from(ours)).unwrap();
    assert_eq!(r.on_register(&m, src(), "udp", &seats(), t0).status, 401);
    r.add_alias("evil.example");
    let m = SipMessage::parse(Bytes::from(text)).unwrap();
    assert_eq!(r.on_register(&m, src(), "udp", &seats(), t0).status, 401);
}

#[test]
fn require_gets_420_with_unsupported() {
    let mut r = registrar();
    let t0 = Instant::now();
    let m = Reg::new("1001").extra("Require: outbound, foo").msg(None);
    let out = r.on_register(&m, src(), "udp", &seats(), t0);
    assert_eq!(out.status, 420);
    assert_eq!(parse(&out).header("Unsupported"), Some("outbound, foo"));
}

#[test]
fn malformed_contact_gets_400() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001").contacts(&["<sip:1001@192.168.1.20"]);
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        400
    );
    let mut reg = Reg::new("1001").contacts(&["<mailto:a@b.c>"]);
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        400
    );
}

#[test]
fn tag_is_stable_for_a_retransmitted_register() {
    let mut r = registrar();
    let t0 = Instant::now();
    let m = Reg::new("1001").msg(None);
    let a = parse(&r.on_register(&m, src(), "udp", &seats(), t0));
    let b = parse(&r.on_register(&m, src(), "udp", &seats(), t0));
    assert_eq!(a.to().tag(), b.to().tag());
}

#[test]
fn options_answered_with_capabilities() {
    let req = SipMessage::parse(Bytes::from_static(
        b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n\
          Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-opt;rport\r\n\
          Max-Forwards: 70\r\n\
          From: <sip:sipsak@127.0.0.1:5070>;tag=1\r\n\
          To: <sip:127.0.0.1:5060>\r\n\
          Call-ID: opt-1@127.0.0.1\r\n\
          CSeq: 7 OPTIONS\r\n\
          Accept: application/sdp\r\n\
          Content-Length: 0\r\n\r\n",
    ))
    .unwrap();
    let resp = SipMessage::parse(options_response(&req)).unwrap();
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.call_id(), "opt-1@127.0.0.1");
    assert_eq!(resp.cseq().seq, 7);
    assert_eq!(resp.vias()[0].branch(), Some("z9hG4bK-opt"));
    assert!(resp.to().tag().is_some());
    let allow = resp.header_all("Allow");
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"] {
        assert!(allow.contains(&m), "{allow:?}");
    }
    assert_eq!(resp.header("Accept"), Some("application/sdp"));
    assert!(resp.supported().contains(&"replaces"));
}

#[test]
fn non_register_is_405() {
    let mut r = registrar();
    let text = Reg::new("1001")
        .text(None)
        .replace("REGISTER sip:", "PUBLISH sip:")
        .replace("1 REGISTER", "1 PUBLISH");
    let m = SipMessage::parse(Bytes::from(text)).unwrap();
    let out = r.on_register(&m, src(), "udp", &seats(), Instant::now());
    assert_eq!(out.status, 405);
    assert!(parse(&out).header("Allow").is_some());
}

fn invite(from_user: &str, auth: Option<(&str, &str)>) -> SipMessage {
    let mut s = format!(
        "INVITE sip:12345@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from_user}@127.0.0.1>;tag=a1\r\n\
         To: <sip:12345@127.0.0.1>\r\n\
         Call-ID: inv-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:{from_user}@192.168.1.20:5062>\r\n"
    );
    if let Some((name, value)) = auth {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    SipMessage::parse(Bytes::from(s)).unwrap()
}

#[test]
fn seat_requests_authenticated_as_uas_and_as_proxy() {
    use sip::registrar::AuthCheck;
    let mut r = registrar();
    let t0 = Instant::now();
    for (proxy, status, chal, cred) in [
        (false, 401, "WWW-Authenticate", "Authorization"),
        (true, 407, "Proxy-Authenticate", "Proxy-Authorization"),
    ] {
        let AuthCheck::Respond(out) =
            r.authenticate_request(&invite("1001", None), src(), &seats(), t0, proxy)
        else {
            panic!("unauthenticated INVITE accepted")
        };
        assert_eq!(out.status, status);
        let m = parse(&out);
        let ch = Challenge::parse(m.header(chal).unwrap()).unwrap();
        let a = ch.respond("INVITE", "sip:12345@127.0.0.1", "1001", "pw1001", "c", 1);
        match r.authenticate_request(
            &invite("1001", Some((cred, &a))),
            src(),
            &seats(),
            t0,
            proxy,
        ) {
            AuthCheck::Authenticated { seat } => assert_eq!(seat, "1001"),
            AuthCheck::Respond(o) => panic!("{}", String::from_utf8_lossy(&o.response)),
        }
        // Credentials computed for REGISTER do not authenticate an INVITE.
        let wrong_method = ch.respond("REGISTER", "sip:12345@127.0.0.1", "1001", "pw1001", "c", 2);
        let AuthCheck::Respond(o) = r.authenticate_request(
            &invite("1001", Some((cred, &wrong_method))),
            src(),
            &seats(),
            t0,
            proxy,
        ) else {
            panic!("method not bound")
        };
        assert_eq!(o.status, 403);
        // Valid credentials of 1001 in an INVITE claiming to be from 1002.
        let other = ch.respond("INVITE", "sip:12345@127.0.0.1", "1001", "pw1001", "c", 3);
        let AuthCheck::Respond(o) = r.authenticate_request(
            &invite("1002", Some((cred, &other))),
            src(),
            &seats(),
            t0,
            proxy,
        ) else {
            panic!("From not bound")
        };
        assert_eq!(o.status, 403);
    }
}

#[test]
fn ipv6_lockout_covers_the_whole_slash_64() {
    let mut r = registrar();
    let t0 = Instant::now();
    for i in 0..5 {
        let s: SocketAddr = format!("[2001:db8:1:2::{i:x}]:5060").parse().unwrap();
        assert_eq!(
            auth_register(&mut r, &mut Reg::new("1001"), "bad", s, t0).status,
            403
        );
    }
    let same64: SocketAddr = "[2001:db8:1:2:ffff::9]:5060".parse().unwrap();
    let out = r.on_register(&Reg::new("1001").msg(None), same64, "udp", &seats(), t0);
    assert_eq!(out.status, 403, "rotating inside the /64 does not escape");
    let other64: SocketAddr = "[2001:db8:1:3::1]:5060".parse().unwrap();
    assert_eq!(
        auth_register(&mut r, &mut Reg::new("1001"), "pw1001", other64, t0).status,
        200
    );
}

#[test]
fn failure_table_is_bounded() {
    let limits = RegistrarLimits {
        max_tracked_sources: 3,
        max_auth_failures: 2,
        ..RegistrarLimits::default()
    };
    let mut r = Registrar::with_secret(REALM, "hotline.example", limits, [5; 32]);
    let t0 = Instant::now();
    let bad = |r: &mut Registrar, s: SocketAddr, at: Instant| {
        auth_register(r, &mut Reg::new("1001"), "bad", s, at).status
    };
    let unauth = |r: &mut Registrar, s: SocketAddr, at: Instant| {
        r.on_register(&Reg::new("1001").msg(None), s, "udp", &seats(), at)
            .status
    };
    // Four sources fail once each: the table keeps at most three, the oldest is forgotten.
    for i in 1..=4u64 {
        let s: SocketAddr = format!("198.51.100.{i}:5060").parse().unwrap();
        assert_eq!(bad(&mut r, s, t0 + Duration::from_millis(i)), 403);
    }
    let t1 = t0 + Duration::from_millis(10);
    let first: SocketAddr = "198.51.100.1:5060".parse().unwrap();
    // Its second failure starts a new count, so it is not locked out yet…
    assert_eq!(bad(&mut r, first, t1), 403);
    assert_eq!(unauth(&mut r, first, t1), 401);
    // …while the most recent source's second failure locks it.
    let last: SocketAddr = "198.51.100.4:5060".parse().unwrap();
    assert_eq!(bad(&mut r, last, t1), 403);
    assert_eq!(unauth(&mut r, last, t1), 403);
}

#[test]
fn sha256_offered_in_the_configured_order_and_verified() {
    let mut r = registrar();
    r.set_algorithms(&[Algorithm::Sha256, Algorithm::Md5]);
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    let first = r.on_register(&reg.msg(None), src(), "udp", &seats(), t0);
    let chs = challenges(&first);
    let algs: Vec<Algorithm> = chs.iter().map(|c| c.algorithm).collect();
    assert_eq!(algs, [Algorithm::Sha256, Algorithm::Md5]);
    assert_eq!(chs[0].nonce, chs[1].nonce);
    reg.cseq += 1;
    let a = chs[0].respond("REGISTER", "sip:127.0.0.1:5060", "1001", "pw1001", "x", 1);
    assert!(a.contains("algorithm=SHA-256"));
    assert_eq!(
        r.on_register(&reg.msg(Some(&a)), src(), "udp", &seats(), t0)
            .status,
        200
    );
    // MD5 credentials are still verified when SHA-256 is preferred.
    reg.cseq += 1;
    let b = chs[1].respond("REGISTER", "sip:127.0.0.1:5060", "1001", "pw1001", "x", 2);
    assert_eq!(
        r.on_register(&reg.msg(Some(&b)), src(), "udp", &seats(), t0)
            .status,
        200
    );
}

#[test]
fn unregister_removes_all_bindings_of_a_seat() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001");
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        200
    );
    assert!(r.unregister("1001"));
    assert!(!r.unregister("1001"));
    assert!(r.lookup("1001", t0).is_empty());
    assert_eq!(r.binding_count(t0), 0);
}

#[test]
fn registrar_can_move_into_a_task() {
    fn send_and_sync<T: Send + Sync + 'static>() {}
    send_and_sync::<Registrar>();
    send_and_sync::<sip::auth::DigestChallenger>();
    send_and_sync::<sip::registrar::Binding>();
}

#[test]
fn same_contact_twice_in_one_register_is_one_binding() {
    let mut r = registrar();
    let t0 = Instant::now();
    let mut reg = Reg::new("1001").contacts(&[
        "<sip:1001@192.168.1.20:5062>;expires=600",
        "<sip:1001@192.168.1.20:5062>;expires=900",
    ]);
    let out = auth_register(&mut r, &mut reg, "pw1001", src(), t0);
    assert_eq!(out.status, 200, "not out of order with itself");
    assert_eq!(
        contact_values(&out),
        vec!["<sip:1001@192.168.1.20:5062>;expires=900".to_string()]
    );
}

#[test]
fn the_register_just_accepted_is_never_the_one_evicted() {
    // Found by the property test: all bindings registered in the same instant, limit reached.
    let mut r = registrar();
    let t0 = Instant::now();
    let five: Vec<String> = (0..5).map(|i| format!("<sip:1001@10.0.0.{i}>")).collect();
    let refs: Vec<&str> = five.iter().map(String::as_str).collect();
    let mut reg = Reg::new("1001").contacts(&refs);
    assert_eq!(
        auth_register(&mut r, &mut reg, "pw1001", src(), t0).status,
        200
    );
    let mut sixth = Reg::new("1001").contacts(&["<sip:1001@10.0.0.9>"]);
    sixth.call_id = "other";
    let out = auth_register(&mut r, &mut sixth, "pw1001", src(), t0);
    assert_eq!(out.status, 200);
    let b = r.lookup("1001", t0);
    assert_eq!(b.len(), 5);
    assert_eq!(b[0].contact.uri.host, "10.0.0.9");
}

#[test]
fn limits_from_config_file() {
    let l: RegistrarLimits = toml::from_str("min_expires = 120\nmax_auth_failures = 0\n").unwrap();
    assert_eq!(l.min_expires, 120);
    assert_eq!(l.max_auth_failures, 0);
    assert_eq!(
        l.max_expires,
        RegistrarLimits::default().max_expires,
        "missing keys default"
    );
    assert_eq!(l.digest_algorithms, [Algorithm::Md5]);
    let l: RegistrarLimits = toml::from_str("digest_algorithms = [\"sha-256\", \"MD5\"]").unwrap();
    assert_eq!(l.digest_algorithms, [Algorithm::Sha256, Algorithm::Md5]);
    let mut r = Registrar::with_secret(REALM, "hotline.example", l, [5; 32]);
    let out = r.on_register(
        &Reg::new("1001").msg(None),
        src(),
        "udp",
        &seats(),
        Instant::now(),
    );
    let algs: Vec<Algorithm> = challenges(&out).iter().map(|c| c.algorithm).collect();
    assert_eq!(algs, [Algorithm::Sha256, Algorithm::Md5]);
    assert!(toml::from_str::<RegistrarLimits>("digest_algorithms = [\"SHA-512\"]").is_err());
    let err = toml::from_str::<RegistrarLimits>("min_expire = 1\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn zero_max_auth_failures_disables_the_lockout() {
    let limits = RegistrarLimits {
        max_auth_failures: 0,
        ..RegistrarLimits::default()
    };
    let mut r = Registrar::with_secret(REALM, "hotline.example", limits, [5; 32]);
    let t0 = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            auth_register(&mut r, &mut Reg::new("1001"), "bad", src(), t0).status,
            403
        );
    }
    assert_eq!(r.locked_out_sources(t0), 0);
    assert_eq!(
        auth_register(&mut r, &mut Reg::new("1001"), "pw1001", src(), t0).status,
        200
    );
}

#[test]
fn bindings_exported_before_a_crash_come_back_with_what_is_left_of_their_lifetime() {
    let mut r = registrar();
    let t0 = Instant::now();
    assert_eq!(
        auth_register(&mut r, &mut Reg::new("1001"), "pw1001", src(), t0).status,
        200
    );
    let stored = r.export(t0);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].seat, "1001");
    // Through JSON, as the daemon keeps them on disk.
    let json = serde_json::to_string(&stored).unwrap();
    let back: Vec<sip::registrar::StoredBinding> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stored);

    // The next run, 30 s later: bound at once, with 30 s less to live.
    let mut next = registrar();
    let t1 = Instant::now();
    let seats_back = next.import(back.clone(), Duration::from_secs(30), &seats(), t1);
    assert_eq!(seats_back, vec!["1001".to_string()]);
    let b = next.lookup("1001", t1);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].source, src());
    assert_eq!(b[0].contact.to_string(), stored[0].contact);
    let left = b[0].expires_in(t1);
    let was = (stored[0].expires_in_ms / 1000) as u32;
    assert!(left <= was - 29 && left >= was - 31, "{left} of {was}");

    // A binding that expired while the daemon was down does not come back, nor one of a removed seat.
    let mut late = registrar();
    assert!(late
        .import(
            back.clone(),
            Duration::from_millis(stored[0].expires_in_ms + 1),
            &seats(),
            t1
        )
        .is_empty());
    let mut gone = back;
    gone[0].seat = "9999".into();
    assert!(registrar()
        .import(gone, Duration::ZERO, &seats(), t1)
        .is_empty());
}

#[test]
fn tls_only_seat_is_refused_on_udp_and_tcp_and_registers_over_tls() {
    let mut r = registrar();
    r.set_tls_only(["1002".to_string()]);
    let t0 = Instant::now();
    let out = auth_register(&mut r, &mut Reg::new("1002"), "pw1002", src(), t0);
    assert_eq!(out.status, 403);
    assert_eq!(parse(&out).reason(), Some("TLS Required"));
    assert!(r.lookup("1002", t0).is_empty());
    // A stranger gets the usual challenge for the TLS-only account: nothing tells it apart.
    let first = r.on_register(&Reg::new("1002").msg(None), src(), "udp", &seats(), t0);
    assert_eq!(first.status, 401);

    // The same seat over TLS (and the other seats anywhere) register as before.
    let mut reg = Reg::new("1002");
    let first = r.on_register(&reg.msg(None), src(), "TLS", &seats(), t0);
    let ch = &challenges(&first)[0];
    reg.cseq += 1;
    let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1002", "pw1002", "c", 1);
    let ok = r.on_register(&reg.msg(Some(&a)), src(), "TLS", &seats(), t0);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.response));
    assert_eq!(r.lookup("1002", t0)[0].transport, "TLS");
    let tcp = {
        let mut reg = Reg::new("1002");
        let first = r.on_register(&reg.msg(None), src(), "tcp", &seats(), t0);
        let ch = &challenges(&first)[0];
        reg.cseq += 1;
        let a = ch.respond("REGISTER", "sip:127.0.0.1:5060", "1002", "pw1002", "d", 1);
        r.on_register(&reg.msg(Some(&a)), src(), "tcp", &seats(), t0)
    };
    assert_eq!(tcp.status, 403);
    assert_eq!(
        r.lookup("1002", t0)[0].transport,
        "TLS",
        "the TLS binding stays"
    );
    let other = auth_register(&mut r, &mut Reg::new("1001"), "pw1001", src(), t0);
    assert_eq!(other.status, 200);
}
