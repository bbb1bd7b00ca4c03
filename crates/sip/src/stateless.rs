//! The stateless answer to a request the parser refused (RFC 3261 §8.2, §21.4.1): no transaction
//! exists for it, so the transport sends it straight back with whatever of Via, From, To, Call-ID
//! and CSeq could be read.
//!
//! The top Via is the one thing it cannot do without: it is how the answer is routed (§18.2.2) and
//! how the peer's client transaction matches it (§17.1.3). A request missing From, To, Call-ID or
//! CSeq, or carrying two of them, still gets its 400 naming the header; the missing ones are
//! simply not echoed.

use bytes::Bytes;

use crate::header::{list_iter, NameAddr, Via};
use crate::message::HeaderKind;
use crate::{CSeq, ParseError, SipMessage};

/// A stateless 4xx/5xx ready to send, and the top Via that routes it.
#[derive(Debug, Clone)]
pub struct StatelessError {
    pub bytes: Bytes,
    pub top_via: Via,
}

/// Reason phrases are TEXT-UTF8 (§25.1), but an attacker-controlled one must stay printable and
/// short in our logs and in the peer's.
const MAX_REASON: usize = 120;

/// Build the answer to `raw`, refused with `err`. None for responses, ACKs (§17.2.1: never
/// answered), unreadable garbage and requests without a usable top Via: the caller drops and
/// counts those.
pub fn error_reply(raw: &[u8], err: &ParseError) -> Option<StatelessError> {
    let first_end = memchr::memchr(b'\n', raw)?;
    let first = std::str::from_utf8(&raw[..first_end]).ok()?.trim_end();
    let method = first.split(' ').next()?;
    if method.is_empty()
        || method.starts_with("SIP/")
        || method.eq_ignore_ascii_case("ACK")
        || !crate::header::is_token(method)
    {
        return None;
    }

    let mut vias: Vec<String> = Vec::new();
    let mut vias_usable = true;
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for (name, value) in lenient_headers(&raw[first_end + 1..]) {
        let Some(value) = value else { continue };
        // Compact and long forms are one header (§7.3.3): `i` and `Call-ID` are both Call-ID.
        match HeaderKind::of(name) {
            HeaderKind::Via if vias_usable => {
                // Echo Via lines in order up to the first unreadable one; the top one must be readable.
                // Empty list elements (`Via: , SIP/2.0/UDP …`) are read past but not echoed: the
                // answer keeps to the grammar (RFC 3261 §25.1, `Via = … via-parm *(COMMA via-parm)`).
                let parts: Option<Vec<&str>> = list_iter(&value).ok().map(Iterator::collect);
                match parts {
                    Some(parts)
                        if !parts.is_empty() && parts.iter().all(|p| Via::parse(p).is_ok()) =>
                    {
                        vias.push(parts.join(", "))
                    }
                    _ => vias_usable = false,
                }
            }
            // With two of a single-valued header, the first is echoed: it is the one a peer's
            // own parser would most likely have kept.
            HeaderKind::From if from.is_none() => from = Some(value),
            HeaderKind::To if to.is_none() => to = Some(value),
            HeaderKind::CallId if call_id.is_none() => call_id = Some(value),
            HeaderKind::CSeq if cseq.is_none() => cseq = Some(value),
            _ => {}
        }
    }
    let top = vias.first()?;
    let top_via = Via::parse(list_iter(top).ok()?.next()?).ok()?;

    let mut echoed = String::with_capacity(256);
    for v in &vias {
        push_header(&mut echoed, "Via", v);
    }
    let from = from.filter(|f| NameAddr::parse(f).is_ok());
    if let Some(f) = &from {
        push_header(&mut echoed, "From", f);
    }
    let to = to.and_then(|t| with_to_tag(&t, raw));
    if let Some(t) = &to {
        push_header(&mut echoed, "To", t);
    }
    let call_id = call_id.filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_graphic()));
    if let Some(c) = &call_id {
        push_header(&mut echoed, "Call-ID", c);
    }
    // The peer matches a response to its transaction by branch and CSeq method (§17.1.3): an
    // unreadable or missing CSeq is replaced by one that keeps the request's method.
    let cseq = match cseq.as_deref().map(CSeq::parse) {
        Some(Ok(c)) => c.to_string(),
        _ => format!("0 {method}"),
    };
    push_header(&mut echoed, "CSeq", &cseq);

    let status = if (400..700).contains(&err.status) {
        err.status
    } else {
        400
    };
    let reason: String = err
        .reason
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_REASON)
        .collect();
    let reason = match reason.trim() {
        "" => "Bad Request",
        r => r,
    };
    let bytes = Bytes::from(format!(
        "SIP/2.0 {status} {reason}\r\n{echoed}Content-Length: 0\r\n\r\n"
    ));
    // Every echoed value was checked on its own; when all five are there, the whole must parse too.
    if from.is_some() && to.is_some() && call_id.is_some() {
        SipMessage::parse(bytes.clone()).ok()?;
    }
    Some(StatelessError { bytes, top_via })
}

/// [`error_reply`]'s bytes alone.
pub fn error_response(raw: &[u8], err: &ParseError) -> Option<Bytes> {
    error_reply(raw, err).map(|e| e.bytes)
}

fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// The To value with a tag: a UAS adds one to every response but 100 (§8.2.6.2). Derived from the
/// request bytes so a retransmission gets the same tag. None when the value does not parse.
fn with_to_tag(to: &str, raw: &[u8]) -> Option<String> {
    let parsed = NameAddr::parse(to).ok()?;
    if parsed.tag().is_some() {
        return Some(to.to_owned());
    }
    // FNV-1a: stable, cheap, and nothing here needs to be unguessable.
    let hash = raw.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let tagged = format!("{to};tag=e{hash:x}");
    NameAddr::parse(&tagged)
        .ok()
        .filter(|n| n.tag().is_some())
        .map(|_| tagged)
}

/// The header lines of a message head as (name, unfolded value), tolerant of what the parser
/// refused: a line without a colon is skipped, a value that is not UTF-8 is `None`. Stops at the
/// empty line that ends the head.
fn lenient_headers(head: &[u8]) -> Vec<(&[u8], Option<String>)> {
    let mut out: Vec<(&[u8], Vec<u8>)> = Vec::new();
    // Whether the last line started a header we keep (continuations of a skipped line are skipped).
    let mut open = false;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            // §7.3.1 folding: the continuation joins the value with one space.
            if let (true, Some((_, v))) = (open, out.last_mut()) {
                let more = line.trim_ascii();
                if !more.is_empty() {
                    if !v.is_empty() {
                        v.push(b' ');
                    }
                    v.extend_from_slice(more);
                }
            }
            continue;
        }
        open = false;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.is_empty() || !name.iter().all(|&c| crate::header::is_token_char(c)) {
            continue;
        }
        out.push((name, line[colon + 1..].trim_ascii().to_vec()));
        open = true;
    }
    out.into_iter()
        .map(|(n, v)| (n, String::from_utf8(v).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "OPTIONS sip:12345@gov.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKst1\r\n\
From: <sip:scan@192.0.2.9>;tag=f\r\nTo: <sip:12345@gov.example>\r\nCall-ID: st1@192.0.2.9\r\n\
CSeq: 3 OPTIONS\r\nMax-Forwards: 70\r\n";

    fn refusal(req: &str) -> (ParseError, Option<StatelessError>) {
        let raw = format!("{req}Content-Length: 0\r\n\r\n");
        let err = SipMessage::parse(Bytes::from(raw.clone())).unwrap_err();
        let reply = error_reply(raw.as_bytes(), &err);
        (err, reply)
    }

    fn status_line(reply: &StatelessError) -> &str {
        let text = std::str::from_utf8(&reply.bytes).unwrap();
        text.split("\r\n").next().unwrap()
    }

    fn without(line_start: &str) -> String {
        REQ.split_inclusive("\r\n")
            .filter(|l| !l.starts_with(line_start))
            .collect()
    }

    #[test]
    fn missing_from_to_call_id_or_cseq_gets_a_400_naming_it() {
        for (drop, name) in [
            ("From:", "From"),
            ("To:", "To"),
            ("Call-ID:", "Call-ID"),
            ("CSeq:", "CSeq"),
        ] {
            let (err, reply) = refusal(&without(drop));
            let reply = reply.unwrap_or_else(|| panic!("{name}: answered"));
            assert_eq!(status_line(&reply), format!("SIP/2.0 400 {}", err.reason));
            assert!(err.reason.contains(name), "{name}: {}", err.reason);
            let text = std::str::from_utf8(&reply.bytes).unwrap();
            assert!(text.contains("Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKst1\r\n"));
            assert_eq!(reply.top_via.branch(), Some("z9hG4bKst1"));
            assert_eq!(text.contains("\r\nFrom: "), name != "From", "{text}");
            assert_eq!(text.contains("\r\nCall-ID: "), name != "Call-ID", "{text}");
            // Always a CSeq with the request's method, so the peer can match it (§17.1.3).
            let want = if name == "CSeq" {
                "CSeq: 0 OPTIONS"
            } else {
                "CSeq: 3 OPTIONS"
            };
            assert!(text.contains(want), "{text}");
        }
    }

    #[test]
    fn duplicates_across_compact_and_long_forms_get_a_400_echoing_the_first() {
        for (extra, name) in [
            ("i: other@192.0.2.9\r\n", "Call-ID"),
            ("CSeq: 4 OPTIONS\r\n", "CSeq"),
            ("f: <sip:other@192.0.2.9>;tag=g\r\n", "From"),
            ("t: <sip:other@gov.example>\r\n", "To"),
            ("TO: <sip:other@gov.example>\r\n", "To"),
        ] {
            let (err, reply) = refusal(&format!("{REQ}{extra}"));
            assert_eq!(err.reason, format!("more than one {name} header"));
            let reply = reply.unwrap_or_else(|| panic!("{name}: answered"));
            assert_eq!(
                status_line(&reply),
                format!("SIP/2.0 400 more than one {name} header")
            );
            let resp = SipMessage::parse(reply.bytes.clone()).expect("complete answer parses");
            assert_eq!(resp.call_id(), "st1@192.0.2.9");
            assert_eq!(resp.cseq().seq, 3);
            assert_eq!(resp.from().uri.user.as_deref(), Some("scan"));
            assert_eq!(resp.to().uri.user.as_deref(), Some("12345"));
            assert!(resp.to().tag().is_some(), "§8.2.6.2 To tag");
        }
    }

    #[test]
    fn no_usable_top_via_is_not_answered() {
        assert!(refusal(&without("Via:")).1.is_none());
        let broken = REQ.replace("SIP/2.0/UDP 192.0.2.9:5062", "SIP/2.0/UDP");
        let raw = format!("{broken}Content-Length: 0\r\n\r\n");
        let err = ParseError::new(400, "bad Via sent-by");
        assert!(error_reply(raw.as_bytes(), &err).is_none());
    }

    #[test]
    fn folded_via_is_echoed_whole_and_a_bad_lower_via_is_left_out() {
        let folded = REQ.replace(
            "Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKst1\r\n",
            "v: SIP/2.0/UDP 192.0.2.9:5062\r\n ;branch=z9hG4bKst1;rport\r\nVia: SIP/2.0/TCP\r\n",
        );
        let (_, reply) = refusal(&format!("{}X\r\n", without_line(&folded, "Call-ID:")));
        let reply = reply.unwrap();
        let text = std::str::from_utf8(&reply.bytes).unwrap();
        assert!(
            text.contains("Via: SIP/2.0/UDP 192.0.2.9:5062 ;branch=z9hG4bKst1;rport\r\n"),
            "{text}"
        );
        assert!(!text.contains("SIP/2.0/TCP"), "{text}");
        assert_eq!(reply.top_via.rport(), Some(None));
    }

    fn without_line(s: &str, start: &str) -> String {
        s.split_inclusive("\r\n")
            .filter(|l| !l.starts_with(start))
            .collect()
    }

    #[test]
    fn responses_acks_and_garbage_are_never_answered() {
        let err = ParseError::new(400, "x");
        let ack = REQ.replace("OPTIONS sip:", "ACK sip:") + "\r\n";
        assert!(error_reply(ack.as_bytes(), &err).is_none());
        assert!(error_reply(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", &err).is_none());
        assert!(error_reply(b"\x00\xff\r\nVia: SIP/2.0/UDP h\r\n\r\n", &err).is_none());
        for raw in [
            &b"INVITE\r\n\r\n"[..],
            b"INVITE\n",
            b"X\r\n\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert!(error_reply(raw, &err).is_none());
        }
    }

    #[test]
    fn reason_is_printable_and_bounded_and_the_to_tag_is_stable() {
        let raw = format!("{}\r\n", without("From:"));
        let err = ParseError::new(400, &format!("bad\r\n\u{7f}{}", "x".repeat(500)));
        let a = error_reply(raw.as_bytes(), &err).unwrap();
        let line = status_line(&a).to_owned();
        assert!(line.starts_with("SIP/2.0 400 bad???x"), "{line}");
        assert!(line.len() <= "SIP/2.0 400 ".len() + MAX_REASON);
        let b = error_reply(raw.as_bytes(), &err).unwrap();
        assert_eq!(a.bytes, b.bytes, "a retransmission gets the same answer");
        let odd = ParseError::new(200, "");
        let c = error_reply(raw.as_bytes(), &odd).unwrap();
        assert_eq!(status_line(&c), "SIP/2.0 400 Bad Request");
    }
}
