//! Digest authentication: server verification against nonces we issued, and the client helper.

use std::time::{Duration, Instant};

use sip::auth::{Algorithm, AuthOutcome, Challenge, Credentials, DigestChallenger};

const REALM: &str = "hotline12345";
const URI: &str = "sip:127.0.0.1:5060";

fn challenger() -> DigestChallenger {
    DigestChallenger::new(REALM, [42; 32], Duration::from_secs(300))
}

/// Challenge the client with `alg` and answer it like a softphone would.
fn answer(
    c: &mut DigestChallenger,
    now: Instant,
    alg: Algorithm,
    user: &str,
    pass: &str,
    nc: u32,
) -> String {
    let hdr = c.challenge(now, false, &[alg]).remove(0);
    let ch = Challenge::parse(&hdr).unwrap();
    ch.respond("REGISTER", URI, user, pass, "0a4f113b", nc)
}

fn creds(v: &str) -> Credentials {
    Credentials::parse(v).unwrap()
}

#[test]
fn good_password_md5_and_sha256() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let mut c = challenger();
        let t0 = Instant::now();
        let a = answer(&mut c, t0, alg, "1001", "s3cret", 1);
        assert!(a.contains(&format!("algorithm={alg}")), "{a}");
        assert_eq!(
            c.verify(
                "REGISTER",
                &creds(&a),
                "s3cret",
                t0 + Duration::from_secs(1)
            ),
            AuthOutcome::Ok
        );
    }
}

#[test]
fn sess_variants_verify() {
    for alg in [Algorithm::Md5Sess, Algorithm::Sha256Sess] {
        let mut c = challenger();
        let t0 = Instant::now();
        let a = answer(&mut c, t0, alg, "1001", "pw", 1);
        assert_eq!(c.verify("REGISTER", &creds(&a), "pw", t0), AuthOutcome::Ok);
        let wrong = answer(&mut c, t0, alg, "1001", "x", 1);
        assert_eq!(
            c.verify("REGISTER", &creds(&wrong), "pw", t0),
            AuthOutcome::WrongResponse
        );
    }
}

#[test]
fn wrong_password_is_wrong_response() {
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Sha256, "1001", "guess", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "s3cret", t0),
        AuthOutcome::WrongResponse
    );
}

#[test]
fn method_is_part_of_the_hash() {
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    assert_eq!(
        c.verify("INVITE", &creds(&a), "pw", t0),
        AuthOutcome::WrongResponse
    );
}

#[test]
fn expired_nonce_is_stale_and_challenge_says_so() {
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    // Exactly at the TTL still fine; one millisecond past is stale.
    let at_ttl = t0 + Duration::from_secs(300);
    let past = at_ttl + Duration::from_millis(1);
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "pw", past),
        AuthOutcome::Stale
    );
    let b = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&b), "pw", at_ttl),
        AuthOutcome::Ok
    );
    // A stale re-challenge carries stale=true and a usable fresh nonce.
    let hdr = c.challenge(past, true, &[Algorithm::Md5]).remove(0);
    let ch = Challenge::parse(&hdr).unwrap();
    assert!(ch.stale);
    let again = ch.respond("REGISTER", URI, "1001", "pw", "c2", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&again), "pw", past),
        AuthOutcome::Ok
    );
}

#[test]
fn expired_nonce_with_wrong_password_is_not_reported_stale() {
    // Otherwise a guesser would get a free re-challenge that hides the failure.
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Md5, "1001", "bad", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "pw", t0 + Duration::from_secs(3600)),
        AuthOutcome::WrongResponse
    );
}

#[test]
fn replayed_nonce_count_refused_and_higher_accepted() {
    let mut c = challenger();
    let t0 = Instant::now();
    let hdr = c.challenge(t0, false, &[Algorithm::Sha256]).remove(0);
    let ch = Challenge::parse(&hdr).unwrap();
    let first = ch.respond("REGISTER", URI, "1001", "pw", "abc", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&first), "pw", t0),
        AuthOutcome::Ok
    );
    assert_eq!(
        c.verify("REGISTER", &creds(&first), "pw", t0),
        AuthOutcome::Replay
    );
    let third = ch.respond("REGISTER", URI, "1001", "pw", "abc", 3);
    assert_eq!(
        c.verify("REGISTER", &creds(&third), "pw", t0),
        AuthOutcome::Ok
    );
    let second = ch.respond("REGISTER", URI, "1001", "pw", "abc", 2);
    assert_eq!(
        c.verify("REGISTER", &creds(&second), "pw", t0),
        AuthOutcome::Replay
    );
    assert_eq!(c.tracked_nonces(), 1);
}

#[test]
fn replay_state_is_bounded_and_evicted_nonces_go_stale() {
    let mut c =
        DigestChallenger::new(REALM, [1; 32], Duration::from_secs(300)).with_replay_capacity(2);
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    let b = answer(
        &mut c,
        t0 + Duration::from_millis(1),
        Algorithm::Md5,
        "1002",
        "pw",
        1,
    );
    let d = answer(
        &mut c,
        t0 + Duration::from_millis(2),
        Algorithm::Md5,
        "1003",
        "pw",
        1,
    );
    for x in [&a, &b, &d] {
        assert_eq!(
            c.verify("REGISTER", &creds(x), "pw", t0 + Duration::from_millis(3)),
            AuthOutcome::Ok
        );
    }
    assert_eq!(c.tracked_nonces(), 2);
    // `a` was evicted: its replay can no longer be proven new, so it must be refused (stale).
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "pw", t0 + Duration::from_millis(4)),
        AuthOutcome::Stale
    );
    // Still-tracked nonces keep refusing replays.
    assert_eq!(
        c.verify("REGISTER", &creds(&d), "pw", t0 + Duration::from_millis(4)),
        AuthOutcome::Replay
    );
    // A nonce issued after the eviction is fine.
    let e = answer(
        &mut c,
        t0 + Duration::from_millis(5),
        Algorithm::Md5,
        "1004",
        "pw",
        1,
    );
    assert_eq!(
        c.verify("REGISTER", &creds(&e), "pw", t0 + Duration::from_millis(5)),
        AuthOutcome::Ok
    );
}

#[test]
fn purge_expired_drops_only_expired_replay_state() {
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    assert_eq!(c.verify("REGISTER", &creds(&a), "pw", t0), AuthOutcome::Ok);
    let later = t0 + Duration::from_secs(200);
    let b = answer(&mut c, later, Algorithm::Md5, "1002", "pw", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&b), "pw", later),
        AuthOutcome::Ok
    );
    c.purge_expired(t0 + Duration::from_secs(400));
    assert_eq!(c.tracked_nonces(), 1);
    // The purged nonce is still refused, by its age.
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "pw", t0 + Duration::from_secs(400)),
        AuthOutcome::Stale
    );
    assert_eq!(
        c.verify("REGISTER", &creds(&b), "pw", t0 + Duration::from_secs(400)),
        AuthOutcome::Replay
    );
}

#[test]
fn unknown_or_forged_nonce_is_bad_nonce() {
    let mut c = challenger();
    let t0 = Instant::now();
    c.challenge(t0, false, &[]);
    let forged = Challenge {
        realm: REALM.into(),
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
        algorithm: Algorithm::Md5,
        qop: vec!["auth".into()],
        opaque: None,
        stale: false,
    };
    let a = forged.respond("REGISTER", URI, "1001", "pw", "x", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "pw", t0),
        AuthOutcome::BadNonce
    );
    // A nonce from another secret (e.g. before a restart) has the right shape but a bad MAC.
    let mut other = DigestChallenger::new(REALM, [9; 32], Duration::from_secs(300));
    let b = answer(&mut other, t0, Algorithm::Md5, "1001", "pw", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&b), "pw", t0),
        AuthOutcome::BadNonce
    );
}

#[test]
fn realm_mismatch() {
    let mut c = challenger();
    let t0 = Instant::now();
    let hdr = c.challenge(t0, false, &[Algorithm::Md5]).remove(0);
    let mut ch = Challenge::parse(&hdr).unwrap();
    ch.realm = "asterisk".into();
    let a = ch.respond("REGISTER", URI, "1001", "pw", "x", 1);
    assert_eq!(
        c.verify("REGISTER", &creds(&a), "pw", t0),
        AuthOutcome::WrongRealm
    );
}

#[test]
fn svcrack_qop_without_cnonce_and_nc_is_malformed() {
    let mut c = challenger();
    let t0 = Instant::now();
    let hdr = c.challenge(t0, false, &[Algorithm::Md5]).remove(0);
    let nonce = Challenge::parse(&hdr).unwrap().nonce;
    // The shape sipvicious 0.3.3 svcrack sends: no spaces, qop=auth, no cnonce, no nc.
    let v = format!(
        "Digest username=\"1001\",realm=\"{REALM}\",nonce=\"{nonce}\",uri=\"sip:1001@127.0.0.1\",response=\"6629fae49393a05397450978507c4ef1\",algorithm=MD5,qop=auth"
    );
    assert!(
        matches!(c.verify("REGISTER", &creds(&v), "pw", t0), AuthOutcome::Malformed(r) if r.contains("cnonce"))
    );
    let v2 = format!("{v},cnonce=\"abc\"");
    assert!(
        matches!(c.verify("REGISTER", &creds(&v2), "pw", t0), AuthOutcome::Malformed(r) if r.contains("nc"))
    );
    let v3 = format!("{v},cnonce=\"abc\",nc=zz");
    assert!(matches!(
        c.verify("REGISTER", &creds(&v3), "pw", t0),
        AuthOutcome::Malformed(_)
    ));
}

#[test]
fn other_malformed_credentials() {
    let mut c = challenger();
    let t0 = Instant::now();
    let good = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    let cases = [
        // RFC 2069 style (no qop) although we offered qop=auth.
        good.replace(", qop=auth", ""),
        good.replace("algorithm=MD5", "algorithm=SHA-512-256"),
        good.replace(", qop=auth", ", qop=auth-int"),
        good.replace("username=\"1001\", ", ""),
        // A 64-digit response with algorithm MD5.
        good.replacen(
            "response=\"",
            "response=\"00000000000000000000000000000000",
            1,
        ),
    ];
    for v in cases {
        assert!(
            matches!(
                c.verify("REGISTER", &creds(&v), "pw", t0),
                AuthOutcome::Malformed(_)
            ),
            "{v}"
        );
    }
}

#[test]
fn parse_rejects_garbage_without_panicking() {
    for v in [
        "",
        "Digest",
        "Digest ",
        "Basic dXNlcjpwYXNz",
        "Digest username=\"unterminated",
        "Digest username=",
        "Digest username",
        "Digest username=\"a\" realm=\"b\"",
        "Digest username=\"a\", username=\"b\"",
        "Digest =x",
        "Digest a=\"\\",
        "Digest ,,,",
    ] {
        assert!(Credentials::parse(v).is_err(), "{v:?}");
        assert!(Challenge::parse(v).is_err(), "{v:?}");
    }
}

#[test]
fn parse_escapes_case_and_whitespace() {
    let c = Credentials::parse(
        "digest  USERNAME = \"10\\\"01\" ,\tRealm=\"hot\\\\line\",NONCE=abc, uri=\"sip:x\", response=\"r\", QOP=auth, NC=00000001, CNonce=\"c\", Opaque=\"o\", AlGoRiThm=sha-256, newparam=1",
    )
    .unwrap();
    assert_eq!(c.username.as_deref(), Some("10\"01"));
    assert_eq!(c.realm.as_deref(), Some("hot\\line"));
    assert_eq!(c.nonce.as_deref(), Some("abc"));
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(c.nc.as_deref(), Some("00000001"));
    assert_eq!(c.cnonce.as_deref(), Some("c"));
    assert_eq!(c.opaque.as_deref(), Some("o"));
    assert_eq!(c.algorithm.as_deref(), Some("sha-256"));
    assert_eq!(Algorithm::parse("sha-256"), Some(Algorithm::Sha256));
}

#[test]
fn quoted_username_round_trips_through_verify() {
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Sha256, "we\"ird\\user", "pw", 1);
    let cr = creds(&a);
    assert_eq!(cr.username.as_deref(), Some("we\"ird\\user"));
    assert_eq!(c.verify("REGISTER", &cr, "pw", t0), AuthOutcome::Ok);
}

#[test]
fn uppercase_hex_response_accepted() {
    let mut c = challenger();
    let t0 = Instant::now();
    let a = answer(&mut c, t0, Algorithm::Md5, "1001", "pw", 1);
    let mut cr = creds(&a);
    cr.response = cr.response.map(|r| r.to_ascii_uppercase());
    assert_eq!(c.verify("REGISTER", &cr, "pw", t0), AuthOutcome::Ok);
}

#[test]
fn challenge_keeps_the_callers_order_with_one_nonce() {
    let mut c = challenger();
    let t0 = Instant::now();
    let hs = c.challenge(
        t0,
        false,
        &[Algorithm::Sha256, Algorithm::Md5, Algorithm::Sha256],
    );
    assert_eq!(hs.len(), 2, "duplicates dropped");
    let a = Challenge::parse(&hs[0]).unwrap();
    let b = Challenge::parse(&hs[1]).unwrap();
    assert_eq!(
        (a.algorithm, b.algorithm),
        (Algorithm::Sha256, Algorithm::Md5)
    );
    assert_eq!(a.nonce, b.nonce);
    assert_eq!(a.realm, REALM);
    assert_eq!(a.qop, vec!["auth".to_string()]);
    assert!(!a.stale);
    assert!(!hs[0].contains("stale"));
    // Default set is the same two in RFC 8760 order; an explicit order is kept.
    let d = c.challenge(t0, false, &[]);
    assert_eq!(d.len(), 2);
    assert!(d[0].contains("algorithm=SHA-256"), "{}", d[0]);
    let md5_first = c.challenge(t0, false, &[Algorithm::Md5, Algorithm::Sha256]);
    assert!(md5_first[0].contains("algorithm=MD5"), "{}", md5_first[0]);
    // Consecutive challenges get distinct nonces.
    let n1 = Challenge::parse(&c.challenge(t0, false, &[])[0])
        .unwrap()
        .nonce;
    let n2 = Challenge::parse(&c.challenge(t0, false, &[])[0])
        .unwrap()
        .nonce;
    assert_ne!(n1, n2);
}

#[test]
fn client_without_qop_uses_rfc2069_form() {
    let ch = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
    assert_eq!(ch.algorithm, Algorithm::Md5);
    let v = ch.respond("INVITE", "sip:a@b", "u", "p", "c", 1);
    assert!(!v.contains("qop"), "{v}");
    assert!(!v.contains("cnonce"), "{v}");
    let cr = creds(&v);
    assert_eq!(cr.response.unwrap().len(), 32);
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn digestish() -> impl Strategy<Value = String> {
        // Mostly well-shaped parameter lists with hostile characters mixed in.
        let name = prop::sample::select(vec![
            "username",
            "realm",
            "nonce",
            "uri",
            "response",
            "algorithm",
            "cnonce",
            "qop",
            "nc",
            "opaque",
            "USERNAME",
            "x",
        ]);
        let value = "[a-zA-Z0-9\"\\\\,= \t:/@.-]{0,40}";
        prop::collection::vec((name, value, any::<bool>()), 0..12).prop_map(|ps| {
            let mut s = String::from("Digest ");
            for (i, (n, v, quoted)) in ps.into_iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                if quoted {
                    s.push_str(&format!("{n}=\"{v}\""));
                } else {
                    s.push_str(&format!("{n}={v}"));
                }
            }
            s
        })
    }

    proptest! {
        #[test]
        fn parse_and_verify_arbitrary_input(s in "\\PC{0,200}") {
            let _ = Challenge::parse(&s);
            if let Ok(c) = Credentials::parse(&s) {
                let mut ch = challenger();
                let _ = ch.verify("REGISTER", &c, "pw", Instant::now());
            }
        }

        #[test]
        fn parse_and_verify_digest_shaped_input(s in digestish()) {
            let _ = Challenge::parse(&s);
            if let Ok(c) = Credentials::parse(&s) {
                let mut ch = challenger();
                let _ = ch.verify("REGISTER", &c, "pw", Instant::now());
            }
        }

        #[test]
        fn mutated_valid_credentials_never_verify_as_another_nc(flip in 0usize..400, byte in any::<u8>()) {
            let mut c = challenger();
            let t0 = Instant::now();
            let a = answer(&mut c, t0, Algorithm::Sha256, "1001", "pw", 1);
            let mut bytes = a.clone().into_bytes();
            let i = flip % bytes.len();
            bytes[i] = byte;
            if let Ok(s) = String::from_utf8(bytes) {
                if let Ok(cr) = Credentials::parse(&s) {
                    let out = c.verify("REGISTER", &cr, "pw", t0);
                    // A changed credential only verifies if the change means nothing (case of a
                    // hex digit or parameter name, whitespace).
                    if out == AuthOutcome::Ok {
                        let orig = Credentials::parse(&a).unwrap();
                        let norm = |c: &Credentials| {
                            (
                                c.username.clone(),
                                c.realm.clone(),
                                c.nonce.clone(),
                                c.uri.clone(),
                                c.cnonce.clone(),
                                c.response.as_deref().map(str::to_ascii_lowercase),
                                c.algorithm.as_deref().map(str::to_ascii_lowercase),
                                c.qop.as_deref().map(str::to_ascii_lowercase),
                                c.nc.as_deref().map(str::to_ascii_lowercase),
                            )
                        };
                        prop_assert_eq!(norm(&cr), norm(&orig), "{}", s);
                    }
                }
            }
        }
    }
}

#[test]
fn client_picks_the_first_challenge_it_can_answer() {
    let values = [
        "Basic realm=\"x\"",
        "Digest realm=\"r\", nonce=\"n1\", algorithm=SHA-512-256, qop=\"auth\"",
        "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth-int\"",
        "Digest realm=\"r\", nonce=\"n3\", algorithm=SHA-256, qop=\"auth-int,auth\"",
        "Digest realm=\"r\", nonce=\"n4\", algorithm=MD5, qop=\"auth\"",
    ];
    let c = Challenge::first_supported(values).unwrap();
    assert_eq!((c.nonce.as_str(), c.algorithm), ("n3", Algorithm::Sha256));
    assert!(Challenge::first_supported(values[..3].iter().copied()).is_none());
    // A trunk challenging us: our answer verifies on a server of our own.
    let mut server = challenger();
    let t0 = Instant::now();
    let hs = server.challenge(t0, false, &[Algorithm::Md5, Algorithm::Sha256]);
    let c = Challenge::first_supported(hs.iter().map(String::as_str)).unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    let a = c.respond("INVITE", "sip:12345@trunk", "hotline", "trunkpw", "cn", 1);
    assert_eq!(
        server.verify("INVITE", &creds(&a), "trunkpw", t0),
        AuthOutcome::Ok
    );
}
