//! Cost of digest verification and of a whole REGISTER through the registrar.
//! `cargo bench -p sip --bench auth`

use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::auth::{Algorithm, Challenge, Credentials, DigestChallenger};
use sip::registrar::{Registrar, RegistrarLimits};
use sip::SipMessage;

fn main() {
    divan::main();
}

const URI: &str = "sip:127.0.0.1:5060";

fn verify_bench(bencher: divan::Bencher, alg: Algorithm) {
    let t0 = Instant::now();
    let mut c = DigestChallenger::new("hotline12345", [3; 32], Duration::from_secs(300));
    let ch = Challenge::parse(&c.challenge(t0, false, &[alg])[0]).unwrap();
    let nc = Cell::new(0u32);
    bencher
        .with_inputs(|| {
            nc.set(nc.get() + 1);
            Credentials::parse(&ch.respond("REGISTER", URI, "1001", "pw1001", "cn", nc.get()))
                .unwrap()
        })
        .bench_local_refs(|cr| c.verify("REGISTER", cr, "pw1001", t0));
}

#[divan::bench]
fn verify_md5(bencher: divan::Bencher) {
    verify_bench(bencher, Algorithm::Md5);
}

#[divan::bench]
fn verify_sha256(bencher: divan::Bencher) {
    verify_bench(bencher, Algorithm::Sha256);
}

#[divan::bench]
fn parse_credentials(bencher: divan::Bencher) {
    let v = "Digest username=\"1001\", realm=\"hotline12345\", nonce=\"000000000000000a9f86d081884c7d65b1c2e3f4a5b6c7d8e9f0a1b2c3d4e5f6\", uri=\"sip:127.0.0.1:5060\", response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv\"";
    bencher.bench(|| Credentials::parse(divan::black_box(v)));
}

fn register_text(cseq: u32, auth: Option<&str>) -> String {
    let mut s = format!(
        "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@127.0.0.1>;tag=f\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: bench-reg\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:1001@192.168.1.20:5062;transport=udp>;expires=3600\r\n"
    );
    if let Some(a) = auth {
        s.push_str(&format!("Authorization: {a}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

/// Parsed, authenticated REGISTER → 200 OK bytes (refresh of an existing binding).
#[divan::bench]
fn register_authenticated_200(bencher: divan::Bencher) {
    let seats: HashMap<String, String> = [("1001".to_string(), "pw1001".to_string())].into();
    let src: SocketAddr = "192.0.2.10:5062".parse().unwrap();
    let t0 = Instant::now();
    let mut r = Registrar::with_secret("hotline12345", "h", RegistrarLimits::default(), [4; 32]);
    let first = SipMessage::parse(Bytes::from(register_text(1, None))).unwrap();
    let out = r.on_register(&first, src, "UDP", &seats, t0);
    let resp = SipMessage::parse(out.response).unwrap();
    let ch = Challenge::parse(resp.header("WWW-Authenticate").unwrap()).unwrap();
    let n = Cell::new(1u32);
    bencher
        .with_inputs(|| {
            n.set(n.get() + 1);
            let a = ch.respond("REGISTER", URI, "1001", "pw1001", "cn", n.get());
            SipMessage::parse(Bytes::from(register_text(n.get(), Some(&a)))).unwrap()
        })
        .bench_local_refs(|m| {
            let out = r.on_register(m, src, "UDP", &seats, t0);
            assert_eq!(out.status, 200);
            out
        });
}

/// REGISTER without credentials → 401 with two challenges.
#[divan::bench]
fn register_challenge_401(bencher: divan::Bencher) {
    let seats: HashMap<String, String> = HashMap::new();
    let src: SocketAddr = "192.0.2.10:5062".parse().unwrap();
    let t0 = Instant::now();
    let mut r = Registrar::with_secret("hotline12345", "h", RegistrarLimits::default(), [4; 32]);
    let m = SipMessage::parse(Bytes::from(register_text(1, None))).unwrap();
    bencher.bench_local(|| r.on_register(&m, src, "UDP", &seats, t0));
}
