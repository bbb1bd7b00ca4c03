//! Property tests: hostile input never panics the parser, and what the builders write parses back
//! to the same values.

use bytes::Bytes;
use proptest::prelude::*;
use sip::{frame, Frame, Method, NameAddr, RequestBuilder, Scheme, SipMessage, Uri};

/// A typical carrier INVITE with SDP and a few headers we act on.
const INVITE: &str = "INVITE sip:12345@10.0.0.1:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1;rport\r\n\
v: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKabc, SIP/2.0/UDP p.example.com;branch=z9hG4bKdef\r\n\
Max-Forwards: 69\r\n\
From: \"Zhang San\" <sip:13800138000@carrier.example.cn>;tag=a73kszlfl\r\n\
To: <sip:12345@gov.example.cn>\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:13800138000@192.0.2.10:5060>;expires=60\r\n\
Diversion: <sip:12315@gov.example.cn>;reason=unconditional;counter=1\r\n\
History-Info: <sip:12315@gov.example.cn>;index=1,\r\n <sip:12345@gov.example.cn>;index=1.1\r\n\
P-Asserted-Identity: \"Zhang\" <tel:+8613800138000>\r\n\
Supported: 100rel, timer\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Refer-To: <sip:1001@seat.example.cn?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n\
RAck: 1 1 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 31\r\n\
\r\n\
v=0\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n";

const RESPONSE: &str = "SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;received=192.0.2.99;rport=5070\r\n\
From: <sip:a@b.example>;tag=1\r\n\
To: <sip:c@d.example>;tag=2\r\n\
Call-ID: x@y\r\n\
CSeq: 7 INVITE\r\n\
RSeq: 9\r\n\
Require: 100rel\r\n\
l: 0\r\n\r\n";

/// Call every accessor: none may panic on any input the parser accepted.
fn exercise(m: &SipMessage) {
    let _ = (
        m.method(),
        m.request_uri(),
        m.status(),
        m.reason(),
        m.call_id(),
        m.cseq(),
    );
    let _ = (
        m.from().tag(),
        m.to().tag(),
        m.vias().len(),
        m.max_forwards(),
        m.expires(),
    );
    let _ = (
        m.content_type(),
        m.body(),
        m.contacts(),
        m.routes(),
        m.record_routes(),
    );
    let _ = (
        m.require(),
        m.supported(),
        m.diversion(),
        m.history_info(),
        m.p_asserted_identity(),
    );
    let _ = (
        m.refer_to(),
        m.referred_by(),
        m.replaces(),
        m.event(),
        m.subscription_state(),
    );
    let _ = (
        m.session_expires(),
        m.rseq(),
        m.rack(),
        m.validate_request(),
    );
    let _ = (
        m.header_all("via"),
        m.header_all("x-unknown"),
        m.header("l"),
    );
    let _: Vec<_> = m.headers().collect();
    let _: Vec<_> = m.headers_raw().collect();
    for v in m.vias() {
        let _ = (v.branch(), v.received(), v.rport(), v.to_string());
    }
    let _ = (m.from().to_string(), m.to().to_string());
    if m.is_request() {
        // The response builder must produce something parseable for any accepted request.
        let r = m.response(486, "Busy Here").to_tag("t1").build();
        let parsed = SipMessage::parse(r).expect("response to an accepted request must parse");
        assert_eq!(parsed.vias(), m.vias());
        assert_eq!(parsed.call_id(), m.call_id());
    }
}

fn config(cases: u32) -> ProptestConfig {
    // No failure persistence files: the crate's tests directory is not ours to litter.
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Seeds: the two messages above plus every corpus message (RFC 4475/5118, valid or not, and the
/// carrier-shaped ones), with the corpus markup expanded the same way as in corpus.rs.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut v = vec![INVITE.as_bytes().to_vec(), RESPONSE.as_bytes().to_vec()];
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for sub in ["rfc4475", "rfc5118", "carrier"] {
            let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                v.push(expand(&std::fs::read_to_string(f).unwrap()));
            }
        }
        v
    })
}

/// RFC 4475 §2 markup expansion (same rules as corpus.rs).
fn expand(text: &str) -> Vec<u8> {
    let mut joined = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("<allOneLine>\n") {
        joined.push_str(&rest[..i]);
        let after = &rest[i + "<allOneLine>\n".len()..];
        let end = after.find("\n</allOneLine>").unwrap();
        joined.push_str(&after[..end].replace('\n', ""));
        rest = &after[end + "\n</allOneLine>".len()..];
    }
    joined.push_str(rest);
    let mut text = joined.replace('\n', "\r\n");
    while let Some(i) = text.find("<repeat count=") {
        let gt = i + text[i..].find('>').unwrap();
        let n: usize = text[i + "<repeat count=".len()..gt].parse().unwrap();
        let end = gt + text[gt..].find("</repeat>").unwrap();
        let rep = text[gt + 1..end].repeat(n);
        text.replace_range(i..end + "</repeat>".len(), &rep);
    }
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("<hex>") {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let end = rest.find("</hex>").unwrap();
        let hex: String = rest[i + 5..end]
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        for k in (0..hex.len()).step_by(2) {
            out.push(u8::from_str_radix(&hex[k..k + 2], 16).unwrap());
        }
        rest = &rest[end + 6..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b'\r', b'\n', b':', 0u8, b',', b';', b'"', b'<', b'>', b' ', b'\t', b'\\', b'%', b'[',
        b']', b'@', 0xff,
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(buf: &mut Vec<u8>, m: &Mutation) {
    if buf.is_empty() {
        return;
    }
    match *m {
        Mutation::Flip(i, b) => {
            let i = i % buf.len();
            buf[i] ^= b;
        }
        Mutation::Insert(i, b) => {
            let i = i % (buf.len() + 1);
            buf.insert(i, b);
        }
        Mutation::Delete(i) => {
            let i = i % buf.len();
            buf.remove(i);
        }
        Mutation::DuplicateLine(i) => {
            let lines: Vec<usize> = buf
                .iter()
                .enumerate()
                .filter(|(_, &c)| c == b'\n')
                .map(|(k, _)| k + 1)
                .collect();
            if lines.len() < 2 {
                return;
            }
            let k = i % (lines.len() - 1);
            let (s, e) = (lines[k], lines[k + 1]);
            let line = buf[s..e].to_vec();
            buf.splice(e..e, line);
        }
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn truncated_messages_never_panic(seed in any::<usize>(), cut in any::<usize>()) {
        let src = &seeds()[seed % seeds().len()];
        let cut = cut % (src.len() + 1);
        if let Ok(m) = SipMessage::parse(Bytes::copy_from_slice(&src[..cut])) {
            exercise(&m);
        }
        let _ = frame(&src[..cut], 65536);
    }

    #[test]
    fn mutated_messages_never_panic(seed in any::<usize>(), muts in prop::collection::vec(mutation(), 1..8)) {
        let mut buf = seeds()[seed % seeds().len()].clone();
        for m in &muts {
            apply(&mut buf, m);
        }
        if let Ok(m) = SipMessage::parse(Bytes::from(buf.clone())) {
            exercise(&m);
        }
        let _ = frame(&buf, 65536);
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = SipMessage::parse(Bytes::from(buf.clone())) {
            exercise(&m);
        }
        let _ = frame(&buf, 65536);
        let _ = Uri::parse(&String::from_utf8_lossy(&buf));
        let _ = NameAddr::parse(&String::from_utf8_lossy(&buf));
    }
}

// ---------- round trips of generated messages ----------

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn hostname() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string()),
    ]
}

fn uri() -> impl Strategy<Value = Uri> {
    (
        prop::bool::ANY,
        prop::option::of("\\PC{1,12}"),
        hostname(),
        prop::option::of(any::<u16>()),
        prop::collection::vec((token(), prop::option::of(token())), 0..3),
        prop::collection::vec((token(), "\\PC{0,10}"), 0..2),
    )
        .prop_map(|(sips, user, host, port, params, headers)| Uri {
            scheme: if sips { Scheme::Sips } else { Scheme::Sip },
            user,
            password: None,
            host,
            port,
            params,
            headers,
        })
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (
        prop::option::of("[^\r\n]{0,12}"),
        uri(),
        prop::collection::vec((token(), prop::option::of(token())), 0..3),
    )
        .prop_map(|(display, uri, params)| NameAddr {
            display,
            uri,
            params,
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Bye),
        Just(Method::Register),
        Just(Method::Refer),
        "[A-Z][A-Z0-9_.-]{0,12}".prop_map(|s| Method::parse(&s).unwrap()),
    ]
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn uri_display_parse_round_trip(u in uri()) {
        let printed = u.to_string();
        let back = Uri::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(back, u);
    }

    #[test]
    fn name_addr_round_trip(a in name_addr()) {
        let printed = a.to_string();
        let back = NameAddr::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(back, a);
    }

    #[test]
    fn request_build_parse_round_trip(
        m in method(),
        ruri in uri(),
        from in name_addr(),
        to in name_addr(),
        from_tag in token(),
        call_id in "[A-Za-z0-9.!%*_+`'~@:-]{1,40}",
        seq in any::<u32>(),
        branches in prop::collection::vec(token(), 1..4),
        body in prop::collection::vec(any::<u8>(), 0..200),
        extra in prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,30}"), 0..4),
    ) {
        let mut from = from;
        from.set_param("tag", Some(&from_tag));
        let mut b = RequestBuilder::new(m.clone(), &ruri);
        for (i, br) in branches.iter().enumerate() {
            b = b.header("Via", &format!("SIP/2.0/UDP h{i}.example.com:5060;branch=z9hG4bK{br}"));
        }
        b = b
            .header("From", &from.to_string())
            .header("To", &to.to_string())
            .header("Call-ID", &call_id)
            .header("CSeq", &format!("{seq} {m}"))
            .header("Max-Forwards", "70");
        for (n, v) in &extra {
            b = b.header(n, v);
        }
        if !body.is_empty() {
            b = b.body("application/octet-stream", &body);
        }
        let wire = b.build();
        let msg = SipMessage::parse(wire.clone()).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(&wire))))?;
        prop_assert_eq!(msg.method(), Some(&m));
        let mut bare = ruri.clone();
        bare.headers.clear();
        prop_assert_eq!(msg.request_uri(), Some(&bare));
        prop_assert_eq!(msg.from(), &from);
        prop_assert_eq!(msg.to(), &to);
        prop_assert_eq!(msg.call_id(), call_id.as_str());
        prop_assert_eq!(msg.cseq().seq, seq);
        prop_assert_eq!(&msg.cseq().method, &m);
        prop_assert_eq!(msg.vias().len(), branches.len());
        for (v, br) in msg.vias().iter().zip(&branches) {
            prop_assert_eq!(v.branch().map(str::to_owned), Some(format!("z9hG4bK{br}")));
        }
        prop_assert_eq!(msg.body(), &body[..]);
        for (n, v) in &extra {
            prop_assert!(msg.header_all(n).contains(&v.trim()));
        }
        prop_assert_eq!(msg.validate_request(), Ok(()));

        // and the response to it
        let resp = msg.response(200, "OK").to_tag("srv1").build_message();
        prop_assert_eq!(resp.vias(), msg.vias());
        prop_assert_eq!(resp.from(), msg.from());
        prop_assert_eq!(resp.to().tag(), to.tag().or(Some("srv1")));
        prop_assert_eq!(resp.cseq(), msg.cseq());
    }

    /// A TCP stream of several messages, with keep-alive CRLFs, cut into arbitrary chunks, is
    /// framed back into exactly those messages.
    #[test]
    fn stream_framing_recovers_messages(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..5),
        keepalives in prop::collection::vec(0usize..3, 5),
        chunk in 1usize..97,
    ) {
        let uri = Uri::parse("sip:seat@10.0.0.2").unwrap();
        let msgs: Vec<Bytes> = bodies.iter().enumerate().map(|(i, body)| {
            RequestBuilder::new(Method::Message, &uri)
                .header("Via", &format!("SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK{i}"))
                .header("From", "<sip:a@b>;tag=1")
                .header("To", "<sip:c@d>")
                .header("Call-ID", &format!("c{i}"))
                .header("CSeq", &format!("{} MESSAGE", i + 1))
                .body("text/plain", body)
                .build()
        }).collect();
        let mut stream = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            stream.extend(std::iter::repeat_n(b"\r\n".as_slice(), keepalives[i]).flatten());
            stream.extend_from_slice(m);
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match frame(&buf, 65536) {
                    Frame::Incomplete => break,
                    Frame::Complete { skip, len } => {
                        got.push(buf[skip..skip + len].to_vec());
                        buf.drain(..skip + len);
                    }
                    Frame::Invalid(e) => return Err(TestCaseError::fail(format!("invalid: {e}"))),
                }
            }
        }
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(&g[..], &m[..]);
        }
    }
}
