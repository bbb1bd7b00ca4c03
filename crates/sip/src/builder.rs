//! Writing SIP messages: text goes straight into one buffer; `Content-Length` is always added at
//! `build()` so a message can never disagree with its body.

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::{Method, SipMessage};
use crate::uri::Uri;

fn put_header(buf: &mut BytesMut, name: &str, value: &str) {
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        put_raw_header(buf, name, value.as_bytes());
        return;
    }
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    buf.put_slice(value.as_bytes());
    buf.put_slice(b"\r\n");
}

fn put_raw_header(buf: &mut BytesMut, name: &str, value: &[u8]) {
    // A value must stay on its own line: CR/LF that is not folding would inject headers.
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    for &b in value {
        buf.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    buf.put_slice(b"\r\n");
}

fn finish(mut buf: BytesMut, body: Option<(String, Vec<u8>)>) -> Bytes {
    match body {
        Some((ct, b)) => {
            put_header(&mut buf, "Content-Type", &ct);
            put_header(&mut buf, "Content-Length", &b.len().to_string());
            buf.put_slice(b"\r\n");
            buf.put_slice(&b);
        }
        None => buf.put_slice(b"Content-Length: 0\r\n\r\n"),
    }
    buf.freeze()
}

/// Builds a response to a parsed request (see [`SipMessage::response`]).
#[derive(Clone, Debug)]
pub struct ResponseBuilder {
    head: BytesMut,
    /// The request's To value (bytes: it may not be UTF-8); written at build() so that `to_tag`
    /// can still add a tag.
    to: Vec<u8>,
    /// Length of the request's To value in `to`: a tag we add goes after it.
    to_len: usize,
    to_has_tag: bool,
    extra: BytesMut,
    body: Option<(String, Vec<u8>)>,
}

impl ResponseBuilder {
    pub(crate) fn for_request(req: &SipMessage, status: u16, reason: &str) -> ResponseBuilder {
        let mut head = BytesMut::with_capacity(512);
        head.put_slice(b"SIP/2.0 ");
        head.put_slice(status.to_string().as_bytes());
        head.put_slice(b" ");
        // A reason phrase cannot contain CR/LF; drop them rather than emit a broken message.
        let reason: String = reason
            .chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .collect();
        head.put_slice(reason.as_bytes());
        head.put_slice(b"\r\n");
        for v in req.raw_values("via") {
            put_raw_header(&mut head, "Via", v);
        }
        let first = |name| req.raw_values(name).first().copied().unwrap_or_default();
        put_raw_header(&mut head, "From", first("from"));
        let to = first("to").to_vec();
        ResponseBuilder {
            head,
            to_len: to.len(),
            to,
            to_has_tag: req.to().tag().is_some(),
            extra: BytesMut::new(),
            body: None,
        }
        .with_tail(req, status)
    }

    fn with_tail(mut self, req: &SipMessage, status: u16) -> ResponseBuilder {
        // Call-ID and CSeq go after To; keep them in `extra` ahead of user headers.
        put_header(&mut self.extra, "Call-ID", req.call_id());
        put_header(&mut self.extra, "CSeq", &req.cseq().to_string());
        // RFC 3261 §12.1.1: a response that creates a dialog (18x/2xx to an INVITE outside one) carries the
        // request's Record-Route values in order, so the caller's ACK, BYE and re-INVITEs come back through
        // the proxies that asked to stay in the path (a Kamailio dispatcher in front, docs/scale-out.md).
        let dialog_creating = (101..300).contains(&status)
            && req.method() == Some(&crate::Method::Invite)
            && req.to().tag().is_none();
        if dialog_creating {
            for v in req.raw_values("record-route") {
                put_raw_header(&mut self.extra, "Record-Route", v);
            }
        }
        self
    }

    /// Add `;tag=` to To, only if the request's To has no tag (RFC 3261 §8.2.6.2); a second call
    /// replaces the first tag.
    pub fn to_tag(mut self, tag: &str) -> Self {
        if !self.to_has_tag {
            // Only a tag of ours is replaced: ";tag=" may also sit inside the request's URI or
            // display name (`<tel:123;tag=x>`), and cutting there broke the response (found by
            // fuzzing).
            self.to.truncate(self.to_len);
            self.to.extend_from_slice(b";tag=");
            self.to.extend_from_slice(tag.as_bytes());
        }
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        put_header(&mut self.extra, name, value);
        self
    }

    /// Copy a header value byte for byte (e.g. an unknown header relayed from the other leg, as
    /// given by [`SipMessage::headers_raw`]); CR/LF inside become spaces.
    pub fn raw_header(mut self, name: &str, value: &[u8]) -> Self {
        put_raw_header(&mut self.extra, name, value);
        self
    }

    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self.body = Some((content_type.to_owned(), body.to_vec()));
        self
    }

    pub fn build(self) -> Bytes {
        let mut buf = self.head;
        put_raw_header(&mut buf, "To", &self.to);
        buf.put_slice(&self.extra);
        finish(buf, self.body)
    }

    /// Parse of `build()`; for tests and for handing a locally generated response to the same code
    /// path as received ones. Panics only if the builder produced an unparsable message (a bug).
    pub fn build_message(self) -> SipMessage {
        SipMessage::parse(self.build()).expect("ResponseBuilder produced an unparsable message")
    }

    /// Parse of `build()` without a panic path, for production code.
    pub fn try_build_message(self) -> Result<SipMessage, crate::ParseError> {
        SipMessage::parse(self.build())
    }
}

/// Builds a request. The caller adds Via, From, To, Call-ID, CSeq, Max-Forwards, Contact...
#[derive(Clone, Debug)]
pub struct RequestBuilder {
    buf: BytesMut,
    body: Option<(String, Vec<u8>)>,
}

impl RequestBuilder {
    /// URI headers (`?Replaces=...`) are not allowed in a Request-URI (RFC 3261 §19.1.5) and are
    /// left out; the caller turns them into real headers.
    pub fn new(method: Method, uri: &Uri) -> Self {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(method.as_str().as_bytes());
        buf.put_slice(b" ");
        if uri.headers.is_empty() {
            buf.put_slice(uri.to_string().as_bytes());
        } else {
            let mut bare = uri.clone();
            bare.headers.clear();
            buf.put_slice(bare.to_string().as_bytes());
        }
        buf.put_slice(b" SIP/2.0\r\n");
        RequestBuilder { buf, body: None }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        put_header(&mut self.buf, name, value);
        self
    }

    /// Copy a header value byte for byte; CR/LF inside become spaces.
    pub fn raw_header(mut self, name: &str, value: &[u8]) -> Self {
        put_raw_header(&mut self.buf, name, value);
        self
    }

    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self.body = Some((content_type.to_owned(), body.to_vec()));
        self
    }

    pub fn build(self) -> Bytes {
        finish(self.buf, self.body)
    }

    /// Parse of `build()`; panics if the caller left out a required header (tests only).
    pub fn build_message(self) -> SipMessage {
        SipMessage::parse(self.build()).expect("RequestBuilder produced an unparsable message")
    }

    /// Parse of `build()` for production code (e.g. to hand the request to the transaction
    /// layer): a missing Via/From/To/Call-ID/CSeq or a malformed value is an error, not a panic.
    pub fn try_build_message(self) -> Result<SipMessage, crate::ParseError> {
        SipMessage::parse(self.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:12345@gov.example SIP/2.0\r\n\
Via: SIP/2.0/UDP p1.example;branch=z9hG4bK1, SIP/2.0/UDP p2.example;branch=z9hG4bK2\r\n\
v: SIP/2.0/TCP [2001:db8::1]:5062;branch=z9hG4bK3;received=192.0.2.1\r\n\
From: \"Caller\" <sip:138@carrier.example>;tag=abc\r\nTo: <sip:12345@gov.example>\r\n\
Call-ID: call-1@carrier\r\nCSeq: 10 INVITE\r\nMax-Forwards: 70\r\nX-Other: drop me\r\n\
Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

    fn invite() -> SipMessage {
        SipMessage::parse(Bytes::from_static(INVITE.as_bytes())).unwrap()
    }

    #[test]
    fn to_tag_goes_after_the_whole_to_value_even_with_tag_inside_its_uri_or_name() {
        for to in [
            "<tel:123;tag=one-context=+86-797>",
            "\"a;tag=b\" <sip:12345@gov.example>",
            "sip:12345@gov.example;user=phone",
        ] {
            let req = INVITE.replace("To: <sip:12345@gov.example>", &format!("To: {to}"));
            let req = SipMessage::parse(Bytes::from(req)).unwrap();
            let resp = req.response(486, "Busy Here").to_tag("t1").to_tag("t2");
            let resp = SipMessage::parse(resp.build()).unwrap_or_else(|e| panic!("{to}: {e}"));
            assert_eq!(resp.to().tag(), Some("t2"), "{to}");
            assert_eq!(resp.to().uri, req.to().uri, "{to}");
        }
    }

    #[test]
    fn response_copies_vias_in_order_and_dialog_headers() {
        let req = invite();
        let resp = req.response(180, "Ringing").to_tag("srv").build_message();
        assert_eq!(resp.status(), Some(180));
        assert_eq!(resp.reason(), Some("Ringing"));
        assert_eq!(resp.vias(), req.vias());
        let branches: Vec<_> = resp.vias().iter().filter_map(|v| v.branch()).collect();
        assert_eq!(branches, ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]);
        assert_eq!(resp.from(), req.from());
        assert_eq!(resp.to().tag(), Some("srv"));
        assert_eq!(resp.call_id(), "call-1@carrier");
        assert_eq!(resp.cseq(), req.cseq());
        assert_eq!(resp.header("x-other"), None);
        assert_eq!(resp.header("content-length"), Some("0"));
        assert!(resp.body().is_empty());
    }

    #[test]
    fn dialog_creating_responses_carry_the_record_route_and_others_do_not() {
        let rr = "Record-Route: <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:10.0.0.2;lr;ftag=x>\r\n";
        let req = INVITE.replace("Max-Forwards:", &format!("{rr}Max-Forwards:"));
        let req = SipMessage::parse(Bytes::from(req)).unwrap();
        for status in [180, 183, 200] {
            let resp = req.response(status, "X").to_tag("t").build_message();
            let routes: Vec<String> = resp
                .record_routes()
                .unwrap()
                .iter()
                .map(|r| r.uri.to_string())
                .collect();
            assert_eq!(routes.len(), 2, "{status}: in the request's order");
            assert!(routes[0].contains("10.0.0.1") && routes[1].contains("10.0.0.2"));
        }
        // 100 Trying and failures create no dialog (RFC 3261 §12.1.1).
        for status in [100, 486] {
            let resp = req.response(status, "X").build_message();
            assert!(resp.record_routes().unwrap().is_empty(), "{status}");
        }
    }

    #[test]
    fn to_tag_added_once_and_never_over_an_existing_tag() {
        let req = invite();
        let wire = req.response(200, "OK").to_tag("a").to_tag("b").build();
        let text = std::str::from_utf8(&wire).unwrap();
        assert_eq!(
            text.matches(";tag=").count(),
            2,
            "From tag + one To tag: {text}"
        );
        assert!(text.contains("To: <sip:12345@gov.example>;tag=b\r\n"));

        let in_dialog = SipMessage::parse(Bytes::from(INVITE.replace(
            "To: <sip:12345@gov.example>",
            "To: <sip:12345@gov.example>;tag=existing",
        )))
        .unwrap();
        let resp = in_dialog.response(200, "OK").to_tag("new").build_message();
        assert_eq!(resp.to().tag(), Some("existing"));
    }

    #[test]
    fn response_with_body_and_headers() {
        let resp = invite()
            .response(200, "OK")
            .to_tag("t")
            .header("Contact", "<sip:hotline@10.0.0.1>")
            .body("application/sdp", b"v=0\r\n")
            .build_message();
        assert_eq!(resp.content_type(), Some("application/sdp"));
        assert_eq!(resp.header("content-length"), Some("5"));
        assert_eq!(resp.body(), b"v=0\r\n");
        assert_eq!(resp.contacts().unwrap().len(), 1);
    }

    #[test]
    fn reason_phrase_cannot_break_the_message() {
        let resp = invite().response(500, "Bad\r\nInjected: 1").build_message();
        assert_eq!(resp.reason(), Some("BadInjected: 1"));
        assert_eq!(resp.header("injected"), None);
    }

    #[test]
    fn raw_headers_are_copied_byte_for_byte_without_injection() {
        let mut raw = INVITE.as_bytes().to_vec();
        let at = raw.windows(9).position(|w| w == b"X-Other: ").unwrap() + 9;
        raw.splice(at..at + 7, b"caf\xe9 \xff".iter().copied());
        let req = SipMessage::parse(Bytes::from(raw)).unwrap();
        let (name, value) = req.headers_raw().find(|(n, _)| *n == b"X-Other").unwrap();
        assert_eq!(value, b"caf\xe9 \xff");
        let wire = req
            .response(200, "OK")
            .raw_header(std::str::from_utf8(name).unwrap(), value)
            .header("X-Evil", "a\r\nInjected: 1")
            .build();
        let resp = SipMessage::parse(wire.clone()).unwrap();
        let want: &[u8] = b"X-Other: caf\xe9 \xff\r\n";
        assert!(wire.windows(want.len()).any(|w| w == want));
        assert_eq!(resp.header("x-evil"), Some("a  Injected: 1"));
        assert_eq!(resp.header("injected"), None);
    }

    #[test]
    fn request_builder_always_writes_content_length() {
        let uri = Uri::parse("sip:1001@10.0.0.5:5070;transport=tcp").unwrap();
        let b = RequestBuilder::new(Method::Bye, &uri)
            .header("Via", "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx")
            .header("From", "<sip:a@b>;tag=1")
            .header("To", "<sip:1001@10.0.0.5>;tag=2")
            .header("Call-ID", "c")
            .header("CSeq", "2 BYE");
        let m = b.clone().build_message();
        assert_eq!(m.method(), Some(&Method::Bye));
        assert_eq!(m.request_uri(), Some(&uri));
        assert_eq!(m.header("content-length"), Some("0"));
        let missing_cseq = RequestBuilder::new(Method::Bye, &uri)
            .header("Via", "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx")
            .header("From", "<sip:a@b>;tag=1")
            .header("To", "<sip:1001@10.0.0.5>;tag=2")
            .header("Call-ID", "c");
        assert_eq!(missing_cseq.try_build_message().unwrap_err().status, 400);
        let with_body = b.body("text/plain", b"hi").build_message();
        assert_eq!(with_body.body(), b"hi");
        assert_eq!(with_body.header("content-length"), Some("2"));
    }
}
