//! RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests): every message has an asserted
//! outcome. The files under tests/data keep the RFCs' markup (`<allOneLine>`, `<hex>`, `<repeat>`)
//! with LF line ends; `expand` turns them into wire bytes with CRLF exactly as the RFCs define.
//! `malformed/` adds the RFC 4475 §3.3.1 (insuf) and §3.3.9 (multi01) cases one header at a time,
//! each checked down to the stateless 400 the transport sends back.

use std::path::PathBuf;

use bytes::Bytes;
use sip::stateless::error_reply;
use sip::{Contact, Method, Scheme, SipMessage};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Expand RFC 4475 §2 markup: `<allOneLine>` joins its lines, every remaining LF becomes CRLF,
/// `<repeat count=N>s</repeat>` repeats `s`, and `<hex>..</hex>` becomes the raw bytes.
fn expand(text: &str) -> Vec<u8> {
    let mut joined = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("<allOneLine>\n") {
        joined.push_str(&rest[..i]);
        let after = &rest[i + "<allOneLine>\n".len()..];
        let end = after
            .find("\n</allOneLine>")
            .expect("unterminated allOneLine");
        joined.push_str(&after[..end].replace('\n', ""));
        rest = &after[end + "\n</allOneLine>".len()..];
    }
    joined.push_str(rest);
    let crlf = joined.replace('\n', "\r\n");

    let mut repeated = String::new();
    let mut rest = crlf.as_str();
    while let Some(i) = rest.find("<repeat count=") {
        repeated.push_str(&rest[..i]);
        let after = &rest[i + "<repeat count=".len()..];
        let gt = after.find('>').unwrap();
        let n: usize = after[..gt].parse().unwrap();
        let end = after.find("</repeat>").unwrap();
        repeated.push_str(&after[gt + 1..end].repeat(n));
        rest = &after[end + "</repeat>".len()..];
    }
    repeated.push_str(rest);

    let mut out = Vec::new();
    let mut rest = repeated.as_str();
    while let Some(i) = rest.find("<hex>") {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let after = &rest[i + 5..];
        let end = after.find("</hex>").unwrap();
        let hex: String = after[..end]
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        for k in (0..hex.len()).step_by(2) {
            out.push(u8::from_str_radix(&hex[k..k + 2], 16).unwrap());
        }
        rest = &after[end + 6..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

fn load(rel: &str) -> Bytes {
    let text =
        std::fs::read_to_string(data_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Bytes::from(expand(&text))
}

fn ok(rel: &str) -> SipMessage {
    match SipMessage::parse(load(rel)) {
        Ok(m) => m,
        Err(e) => panic!("{rel} must parse, got {e}"),
    }
}

fn refused(rel: &str) -> u16 {
    match SipMessage::parse(load(rel)) {
        Ok(_) => panic!("{rel} must be refused by the parser"),
        Err(e) => e.status,
    }
}

fn validate_status(m: &SipMessage) -> Option<u16> {
    m.validate_request().err().map(|e| e.status)
}

// ---------- RFC 4475 §3.1.1: valid messages ----------

#[test]
fn wsinv_short_tortuous_invite() {
    let m = ok("rfc4475/wsinv.txt");
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.request_uri().unwrap().param("unknownparam"), Some(None));
    assert_eq!(m.to().tag(), Some("1918181833n"));
    // folded values read as one line, without the folding whitespace
    assert_eq!(
        m.header("to"),
        Some("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    );
    assert_eq!(m.header("cseq"), Some("0009 INVITE"));
    assert_eq!(m.from().display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(m.from().tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.call_id(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(m.cseq().seq, 9);
    assert_eq!(m.cseq().method, Method::Invite);
    let vias = m.vias();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport.as_str(), vias[0].host.as_str()),
        ("UDP", "192.0.2.2")
    );
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(
        (vias[1].transport.as_str(), vias[1].host.as_str()),
        ("TCP", "spindle.example.com")
    );
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(m.header("subject"), Some(""));
    assert_eq!(
        m.header("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(m.header("unknownheaderwithunusualvalue"), Some(";;,,;;,;"));
    let routes = m.routes().unwrap();
    assert_eq!(routes[0].uri.host, "services.example.com");
    assert_eq!(routes[0].uri.param("lr"), Some(None));
    let contacts = m.contacts().unwrap();
    let Contact::Addr(c) = &contacts[0] else {
        panic!("star")
    };
    assert_eq!(c.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(c.param("newparam"), Some(Some("newvalue")));
    assert_eq!(c.param("secondparam"), Some(None));
    assert_eq!(c.param("q"), Some(Some("0.33")));
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.body().len(), 150);
    assert!(m.body().starts_with(b"v=0\r\n"));
    assert_eq!(validate_status(&m), None);
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    let m = ok("rfc4475/intmeth.txt");
    let method = Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into());
    assert_eq!(m.method(), Some(&method));
    assert_eq!(m.cseq().method, method);
    let ruri = m.request_uri().unwrap();
    assert_eq!(
        ruri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        ruri.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(ruri.host, "example.com");
    assert_eq!(m.to().display.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    assert_eq!(
        m.from().display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(m.from().tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        m.from().param("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(m.vias()[0].branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        m.header("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
    assert_eq!(m.max_forwards(), Some(255));
    assert_eq!(validate_status(&m), None);
}

#[test]
fn esc01_valid_percent_escapes() {
    let m = ok("rfc4475/esc01.txt");
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.scheme, Scheme::Sip);
    assert_eq!(ruri.user.as_deref(), Some("sips:user@example.com"));
    assert_eq!(ruri.host, "example.net");
    assert_eq!(m.to().uri.user.as_deref(), Some("user"));
    assert_eq!(m.from().uri.user.as_deref(), Some("I have spaces"));
    assert_eq!(m.call_id(), "esc01.239409asdfakjkn23onasd0-3234");
    assert_eq!(m.content_type(), Some("application/sdp"));
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.user.as_deref(), Some("caller"));
    assert_eq!(c.uri.param("%6C%72"), Some(None));
    // re-printing gives an equivalent URI
    let again = sip::Uri::parse(&ruri.to_string()).unwrap();
    assert_eq!(&again, ruri);
    assert_eq!(validate_status(&m), None);
}

#[test]
fn escnull_escaped_nulls() {
    let m = ok("rfc4475/escnull.txt");
    assert_eq!(m.to().uri.user.as_deref(), Some("null-\0-null"));
    let contacts = m.contacts().unwrap();
    assert_eq!(contacts.len(), 2);
    let Contact::Addr(c) = &contacts[1] else {
        panic!()
    };
    assert_eq!(c.uri.user.as_deref(), Some("\0\0"));
    assert_eq!(validate_status(&m), None);
}

#[test]
fn esc02_percent_that_is_not_an_escape() {
    let m = ok("rfc4475/esc02.txt");
    // The method is not unescaped: it is an extension method, not REGISTER.
    assert_eq!(m.method(), Some(&Method::Extension("RE%47IST%45R".into())));
    assert_eq!(m.to().display.as_deref(), Some("%Z%45"));
    assert_eq!(m.vias()[0].branch(), Some("z9hG4bK209%fzsnel234"));
    // "C%6Fntact" is an unknown header, not Contact.
    assert_eq!(m.contacts().unwrap().len(), 2);
    assert_eq!(
        m.header("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
    assert_eq!(validate_status(&m), None);
}

#[test]
fn lwsdisp_no_lws_before_angle() {
    let m = ok("rfc4475/lwsdisp.txt");
    assert_eq!(m.from().display.as_deref(), Some("caller"));
    assert_eq!(m.from().tag(), Some("323"));
}

#[test]
fn longreq_long_values() {
    let m = ok("rfc4475/longreq.txt");
    assert_eq!(m.vias().len(), 34);
    assert_eq!(m.vias()[0].host, "sip33.example.com");
    assert_eq!(m.vias()[33].host, "host.example.com");
    assert_eq!(m.vias()[33].received(), Some("192.0.2.5"));
    assert_eq!(
        m.vias()[33].branch().unwrap().len(),
        "very".len() + 200 + "branchvalue".len()
    );
    assert_eq!(m.from().tag().unwrap().len(), 2 + 150 + 3);
    assert_eq!(m.to().uri.port, Some(6000));
    assert!(m
        .to()
        .display
        .as_deref()
        .unwrap()
        .contains("extremeextreme"));
    assert!(m.call_id().starts_with("longreq.onereallyreally"));
    assert_eq!(m.header_all("via").len(), 34);
    assert_eq!(m.body().len(), 150);
}

#[test]
fn dblreq_only_first_message_counts() {
    let m = ok("rfc4475/dblreq.txt");
    assert_eq!(m.method(), Some(&Method::Register));
    assert_eq!(m.call_id(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
    assert!(m.body().is_empty());
    assert!(m.wire().ends_with(b"Content-Length: 0\r\n\r\n"));
}

#[test]
fn semiuri_semicolon_in_user_part() {
    let m = ok("rfc4475/semiuri.txt");
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user.as_deref(), Some("user;par=u@example.net"));
    assert_eq!(ruri.host, "example.com");
    assert!(ruri.params.is_empty());
    assert_eq!(m.header_all("accept").len(), 6);
    assert_eq!(m.header_all("accept")[5], "message/sipfrag");
}

#[test]
fn transports_varied_and_unknown() {
    let m = ok("rfc4475/transports.txt");
    let t: Vec<&str> = m.vias().iter().map(|v| v.transport.as_str()).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(m.call_id(), "transports.kijh4akdnaqjkwendsasfdj");
}

#[test]
fn mpart01_multipart_with_binary_body() {
    let m = ok("rfc4475/mpart01.txt");
    assert_eq!(m.method(), Some(&Method::Message));
    assert_eq!(m.body().len(), 553);
    assert!(m.body().contains(&0u8));
    assert!(m.body().ends_with(b"--7a9cbec02ceef655--\r\n"));
    assert_eq!(
        m.content_type(),
        Some("multipart/mixed;boundary=7a9cbec02ceef655")
    );
    assert_eq!(m.vias()[0].rport(), Some(None));
    assert_eq!(validate_status(&m), None);
}

#[test]
fn unreason_unusual_reason_phrase() {
    let m = ok("rfc4475/unreason.txt");
    assert_eq!(m.status(), Some(200));
    assert_eq!(
        m.reason(),
        Some("= 2**3 * 5**2 но сто девяносто девять - простое")
    );
    assert_eq!(m.body().len(), 154);
}

#[test]
fn noreason_empty_reason_phrase() {
    let m = ok("rfc4475/noreason.txt");
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(""));
}

// ---------- RFC 4475 §3.1.2: invalid messages ----------

#[test]
fn badinv01_extraneous_separators() {
    assert_eq!(refused("rfc4475/badinv01.txt"), 400);
}

#[test]
fn clerr_content_length_larger_than_message() {
    assert_eq!(refused("rfc4475/clerr.txt"), 400);
}

#[test]
fn ncl_negative_content_length() {
    assert_eq!(refused("rfc4475/ncl.txt"), 400);
}

#[test]
fn scalar02_overlarge_request_scalars() {
    assert_eq!(refused("rfc4475/scalar02.txt"), 400);
}

#[test]
fn scalarlg_overlarge_response_scalars() {
    // A response: the RFC says drop it; the parser refuses it (the caller drops responses).
    assert_eq!(refused("rfc4475/scalarlg.txt"), 400);
}

#[test]
fn quotbal_unterminated_quote() {
    assert_eq!(refused("rfc4475/quotbal.txt"), 400);
}

#[test]
fn ltgtruri_request_uri_in_angle_brackets() {
    assert_eq!(refused("rfc4475/ltgtruri.txt"), 400);
}

#[test]
fn lwsruri_embedded_lws_in_request_uri() {
    assert_eq!(refused("rfc4475/lwsruri.txt"), 400);
}

#[test]
fn lwsstart_multiple_spaces_in_request_line() {
    assert_eq!(refused("rfc4475/lwsstart.txt"), 400);
}

#[test]
fn trws_trailing_spaces_after_version() {
    assert_eq!(refused("rfc4475/trws.txt"), 400);
}

#[test]
fn escruri_headers_in_request_uri() {
    assert_eq!(refused("rfc4475/escruri.txt"), 400);
}

#[test]
fn baddate_non_gmt_date_refused_by_validation() {
    // Parsing must not depend on Date; the UAS-side check refuses it with 400.
    let m = ok("rfc4475/baddate.txt");
    assert_eq!(m.header("date"), Some("Fri, 01 Jan 2010 16:00:00 EST"));
    assert_eq!(validate_status(&m), Some(400));
    let good = ok("rfc4475/mpart01.txt");
    assert_eq!(validate_status(&good), None, "a GMT Date passes");
}

#[test]
fn regbadct_contact_with_headers_not_in_angle_brackets() {
    let m = ok("rfc4475/regbadct.txt");
    assert_eq!(m.contacts().map_err(|e| e.status), Err(400));
    assert_eq!(validate_status(&m), Some(400));
}

#[test]
fn badaspec_spaces_inside_addr_spec() {
    assert_eq!(refused("rfc4475/badaspec.txt"), 400);
}

#[test]
fn baddn_non_token_display_name() {
    assert_eq!(refused("rfc4475/baddn.txt"), 400);
}

#[test]
fn badvers_unknown_protocol_version() {
    assert_eq!(refused("rfc4475/badvers.txt"), 505);
}

#[test]
fn mismatch01_cseq_method_mismatch() {
    let m = ok("rfc4475/mismatch01.txt");
    assert_eq!(validate_status(&m), Some(400));
}

#[test]
fn mismatch02_unknown_method_with_cseq_mismatch() {
    let m = ok("rfc4475/mismatch02.txt");
    assert_eq!(m.method(), Some(&Method::Extension("NEWMETHOD".into())));
    // RFC 4475 accepts 400 or 501; validation says 400 before any method dispatch.
    assert_eq!(validate_status(&m), Some(400));
}

#[test]
fn bigcode_overlarge_status_code() {
    assert_eq!(refused("rfc4475/bigcode.txt"), 400);
}

// ---------- RFC 4475 §3.2: transaction layer ----------

#[test]
fn badbranch_magic_cookie_without_identifier() {
    let m = ok("rfc4475/badbranch.txt");
    assert_eq!(m.vias()[0].branch(), Some("z9hG4bK"));
    assert_eq!(validate_status(&m), Some(400));
}

// ---------- RFC 4475 §3.3: application layer ----------

#[test]
fn insuf_missing_required_headers() {
    assert_eq!(refused("rfc4475/insuf.txt"), 400);
    // Its Via is readable: the 400 goes back, naming the first missing header.
    let raw = load("rfc4475/insuf.txt");
    let err = SipMessage::parse(raw.clone()).unwrap_err();
    let answer = error_reply(&raw, &err).expect("a 400 is sent");
    assert!(answer
        .bytes
        .starts_with(b"SIP/2.0 400 missing From header\r\n"));
    assert_eq!(answer.top_via.branch(), Some("z9hG4bKkdj.insuf"));
}

#[test]
fn unkscm_unknown_request_uri_scheme() {
    assert_eq!(refused("rfc4475/unkscm.txt"), 416);
}

#[test]
fn novelsc_known_but_atypical_scheme() {
    assert_eq!(refused("rfc4475/novelsc.txt"), 416);
}

#[test]
fn unksm2_unknown_schemes_in_headers() {
    let m = ok("rfc4475/unksm2.txt");
    assert_eq!(m.to().uri.scheme, Scheme::Other("isbn".into()));
    assert_eq!(m.from().uri.scheme, Scheme::Other("http".into()));
    assert_eq!(m.from().tag(), Some("3234233"));
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.to_string(), "name:John_Smith");
    assert_eq!(validate_status(&m), None);
}

#[test]
fn bext01_unknown_require_is_420() {
    let m = ok("rfc4475/bext01.txt");
    assert_eq!(validate_status(&m), None);
    assert_eq!(
        m.require(),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(
        m.unsupported_requires(&["replaces", "timer"]),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(m.header_all("proxy-require").len(), 2);
}

#[test]
fn invut_unknown_content_type_reaches_the_application() {
    let m = ok("rfc4475/invut.txt");
    assert_eq!(m.content_type(), Some("application/unknownformat"));
    assert_eq!(m.body().len(), 40);
}

#[test]
fn regaut01_unknown_authorization_scheme_reaches_auth() {
    let m = ok("rfc4475/regaut01.txt");
    assert_eq!(
        m.header("authorization"),
        Some("NoOneKnowsThisScheme opaque-data=here")
    );
}

#[test]
fn multi01_multiple_single_value_headers() {
    assert_eq!(refused("rfc4475/multi01.txt"), 400);
    let raw = load("rfc4475/multi01.txt");
    let err = SipMessage::parse(raw.clone()).unwrap_err();
    let answer = error_reply(&raw, &err).expect("a 400 is sent");
    let m = SipMessage::parse(answer.bytes).unwrap();
    assert_eq!(m.reason(), Some("more than one CSeq header"));
    assert_eq!(m.call_id(), "multi01.98asdh@192.0.2.1");
    assert_eq!(m.cseq().seq, 5);
}

#[test]
fn mcl01_multiple_content_lengths() {
    assert_eq!(refused("rfc4475/mcl01.txt"), 400);
}

#[test]
fn bcast_broadcast_via_parses() {
    // Dropping it is the transaction layer's job (no matching client transaction).
    let m = ok("rfc4475/bcast.txt");
    assert_eq!(m.vias()[1].host, "255.255.255.255");
}

#[test]
fn zeromf_max_forwards_zero() {
    let m = ok("rfc4475/zeromf.txt");
    assert_eq!(m.max_forwards(), Some(0));
    assert_eq!(validate_status(&m), None);
}

#[test]
fn cparam01_contact_header_param() {
    let m = ok("rfc4475/cparam01.txt");
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.param("unknownparam"), Some(None));
    assert!(c.uri.params.is_empty());
}

#[test]
fn cparam02_contact_uri_param() {
    let m = ok("rfc4475/cparam02.txt");
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.param("unknownparam"), Some(None));
    assert!(c.params.is_empty());
}

#[test]
fn regescrt_escaped_header_in_contact() {
    let m = ok("rfc4475/regescrt.txt");
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.header("route"), Some("<sip:sip.example.com>"));
    assert_eq!(validate_status(&m), None);
}

#[test]
fn sdp01_unacceptable_accept_reaches_application() {
    let m = ok("rfc4475/sdp01.txt");
    assert_eq!(m.header_all("accept"), ["text/nobodyKnowsThis"]);
}

#[test]
fn inv2543_rfc2543_syntax() {
    let m = ok("rfc4475/inv2543.txt");
    assert_eq!(m.vias()[0].branch(), None);
    assert_eq!(m.max_forwards(), None);
    // addr-spec form: ;user=phone belongs to the To header, not to the URI (RFC 3261 §20.10)
    assert_eq!(m.to().param("user"), Some(Some("phone")));
    assert!(m.to().uri.params.is_empty());
    // no Content-Length on UDP: the body runs to the end of the datagram
    assert!(m.body().starts_with(b"v=0"));
    assert_eq!(
        m.record_routes().unwrap()[0].uri.param("maddr"),
        Some(Some("ss1.example.com"))
    );
}

// ---------- one required header missing or repeated (RFC 4475 §3.3.1, §3.3.9) ----------

/// The parser's refusal of `rel` and the stateless answer the transport sends for it, as text.
fn refused_with_answer(rel: &str) -> (u16, String, Option<String>) {
    let raw = load(rel);
    let err = match SipMessage::parse(raw.clone()) {
        Ok(_) => panic!("{rel} must be refused by the parser"),
        Err(e) => e,
    };
    let answer = error_reply(&raw, &err).map(|r| {
        let branch = rel
            .trim_start_matches("malformed/")
            .trim_end_matches(".txt");
        assert_eq!(
            r.top_via.branch(),
            Some(format!("z9hG4bK{branch}").as_str())
        );
        String::from_utf8(r.bytes.to_vec()).unwrap()
    });
    (err.status, err.reason, answer)
}

#[test]
fn a_missing_from_to_call_id_or_cseq_is_answered_400_naming_it() {
    for (file, header) in [
        ("nofrom", "From"),
        ("noto", "To"),
        ("nocallid", "Call-ID"),
        ("nocseq", "CSeq"),
    ] {
        let (status, reason, answer) = refused_with_answer(&format!("malformed/{file}.txt"));
        assert_eq!(
            (status, reason.as_str()),
            (400, format!("missing {header} header").as_str())
        );
        let answer = answer.unwrap_or_else(|| panic!("{file}: a 400 is sent"));
        assert!(
            answer.starts_with(&format!("SIP/2.0 400 missing {header} header\r\n")),
            "{answer}"
        );
        assert!(answer.contains(&format!(
            "\r\nVia: SIP/2.0/UDP 192.0.2.77:5060;branch=z9hG4bK{file};rport\r\n"
        )));
        if header != "CSeq" {
            assert!(!answer.contains(&format!("\r\n{header}: ")), "{answer}");
        }
        let want_cseq = if header == "CSeq" {
            "0 OPTIONS"
        } else {
            "1 OPTIONS"
        };
        assert!(
            answer.contains(&format!("\r\nCSeq: {want_cseq}\r\n")),
            "{answer}"
        );
    }
}

#[test]
fn without_a_via_there_is_nowhere_to_answer() {
    let (status, reason, answer) = refused_with_answer("malformed/novia.txt");
    assert_eq!((status, reason.as_str()), (400, "missing Via header"));
    assert_eq!(answer, None);
}

#[test]
fn two_call_ids_cseqs_froms_or_tos_are_400_even_across_compact_forms() {
    for (file, header) in [
        ("dupcallid", "Call-ID"),
        ("dupcseq", "CSeq"),
        ("dupfrom", "From"),
        ("dupto", "To"),
    ] {
        let (status, reason, answer) = refused_with_answer(&format!("malformed/{file}.txt"));
        assert_eq!(
            (status, reason.as_str()),
            (400, format!("more than one {header} header").as_str())
        );
        let answer = answer.unwrap_or_else(|| panic!("{file}: a 400 is sent"));
        let m = SipMessage::parse(bytes::Bytes::from(answer.clone())).expect("complete answer");
        assert_eq!(m.status(), Some(400));
        assert_eq!(
            m.reason(),
            Some(format!("more than one {header} header").as_str())
        );
        // The first of each is echoed, and the To gets our tag (RFC 3261 §8.2.6.2).
        assert_eq!(m.call_id(), format!("{file}.a3f8@192.0.2.77"));
        assert_eq!(m.cseq().seq, 1);
        assert_eq!(m.from().tag(), Some(format!("sc{file}").as_str()));
        assert_eq!(m.to().uri.user.as_deref(), Some("12345"));
        assert!(m.to().tag().is_some());
    }
}

// ---------- RFC 5118: IPv6 ----------

#[test]
fn rfc5118_ipv6_good() {
    let m = ok("rfc5118/ipv6-good.txt");
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.host, "2001:db8::10");
    assert_eq!(ruri.port, None);
    assert_eq!(ruri.host_port(), "[2001:db8::10]");
    assert_eq!(m.vias()[0].host, "2001:db8::9:1");
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.host, "2001:db8::1");
}

#[test]
fn rfc5118_ipv6_without_brackets_is_invalid() {
    assert_eq!(refused("rfc5118/ipv6-bad.txt"), 400);
}

#[test]
fn rfc5118_port_ambiguous() {
    let m = ok("rfc5118/port-ambiguous.txt");
    assert_eq!(m.request_uri().unwrap().host, "2001:db8::10:5070");
    assert_eq!(m.request_uri().unwrap().port, None);
}

#[test]
fn rfc5118_port_unambiguous() {
    let m = ok("rfc5118/port-unambiguous.txt");
    assert_eq!(m.request_uri().unwrap().host, "2001:db8::10");
    assert_eq!(m.request_uri().unwrap().port, Some(5070));
}

#[test]
fn rfc5118_via_received_with_and_without_brackets() {
    let a = ok("rfc5118/via-received-param-with-delim.txt");
    assert_eq!(a.vias()[0].received(), Some("[2001:db8::9:255]"));
    let b = ok("rfc5118/via-received-param-no-delim.txt");
    assert_eq!(b.vias()[0].received(), Some("2001:db8::9:255"));
}

#[test]
fn rfc5118_ipv6_in_sdp() {
    let m = ok("rfc5118/ipv6-in-sdp.txt");
    assert_eq!(m.to().uri.host, "2001:db8::10");
    assert!(std::str::from_utf8(m.body())
        .unwrap()
        .contains("c=IN IP6 2001:db8::20"));
}

#[test]
fn rfc5118_multiple_ip_in_headers() {
    let m = ok("rfc5118/mult-ip-in-header.txt");
    let v = m.vias();
    assert_eq!(
        (v[0].host.as_str(), v[0].port),
        ("2001:db8::9:1", Some(6050))
    );
    assert_eq!(v[0].sent_by(), "[2001:db8::9:1]:6050");
    assert_eq!(v[1].host, "192.0.2.1");
    assert_eq!(v[2].received(), Some("192.0.2.200"));
}

#[test]
fn rfc5118_multiple_ip_in_sdp() {
    let m = ok("rfc5118/mult-ip-in-sdp.txt");
    assert!(std::str::from_utf8(m.body())
        .unwrap()
        .contains("c=IN IP6 2001:db8::1"));
}

#[test]
fn rfc5118_ipv4_mapped() {
    let m = ok("rfc5118/ipv4-mapped-ipv6.txt");
    assert_eq!(m.vias()[0].host, "::ffff:192.0.2.10");
    assert_eq!(m.vias()[0].port, Some(19823));
    let Contact::Addr(c) = &m.contacts().unwrap()[0] else {
        panic!()
    };
    assert_eq!(c.uri.host, "::ffff:192.0.2.2");
}

#[test]
fn rfc5118_abnf_bug_three_colons_accepted_liberally() {
    let m = ok("rfc5118/ipv6-bug-abnf-3-colons.txt");
    assert_eq!(m.request_uri().unwrap().host, "2001:db8:::192.0.2.1");
    let m = ok("rfc5118/ipv6-correct-abnf-2-colons.txt");
    assert_eq!(m.request_uri().unwrap().host, "2001:db8::192.0.2.1");
}

/// Every corpus file, whatever its verdict: parsing and every accessor never panic, and valid
/// messages survive a build → parse round trip of their key fields.
#[test]
fn whole_corpus_never_panics() {
    let mut n = 0;
    for dir in ["rfc4475", "rfc5118", "malformed"] {
        for entry in std::fs::read_dir(data_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let rel = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            n += 1;
            let Ok(m) = SipMessage::parse(load(&rel)) else {
                continue;
            };
            let _ = m.validate_request();
            let _ = (
                m.contacts(),
                m.routes(),
                m.record_routes(),
                m.diversion(),
                m.history_info(),
            );
            let _ = (
                m.p_asserted_identity(),
                m.refer_to(),
                m.referred_by(),
                m.replaces(),
                m.rack(),
            );
            let _ = (
                m.expires(),
                m.session_expires(),
                m.rseq(),
                m.event(),
                m.subscription_state(),
            );
            let _: Vec<_> = m.headers().collect();
            if m.is_request() {
                let resp = m.response(200, "OK").to_tag("x").build_message();
                assert_eq!(resp.call_id(), m.call_id(), "{rel}");
                assert_eq!(resp.vias(), m.vias(), "{rel}");
                assert_eq!(resp.cseq(), m.cseq(), "{rel}");
            }
        }
    }
    assert_eq!(n, 49 + 12 + 9);
}
