//! Writing SIP messages: text goes straight into one buffer; `Content-Length` is always added at
//! `build()` so a message can never disagree with its body.

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::{Method, SipMessage};
use crate::uri::Uri;

fn put_header(buf: &mut BytesMut, name: &str, value: &str) {
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    buf.put_slice(value.as_bytes());
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
    /// The request's To value; written at build() so that `to_tag` can still add a tag.
    to: String,
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
        let reason: String = reason.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        head.put_slice(reason.as_bytes());
        head.put_slice(b"\r\n");
        for v in req.raw_values("via") {
            put_header(&mut head, "Via", v);
        }
        put_header(&mut head, "From", req.header("from").unwrap_or_default());
        let to = req.header("to").unwrap_or_default().to_owned();
        ResponseBuilder {
            head,
            to,
            to_has_tag: req.to().tag().is_some(),
            extra: BytesMut::new(),
            body: None,
        }
        .with_tail(req)
    }

    fn with_tail(mut self, req: &SipMessage) -> ResponseBuilder {
        // Call-ID and CSeq go after To; keep them in `extra` ahead of user headers.
        put_header(&mut self.extra, "Call-ID", req.call_id());
        put_header(&mut self.extra, "CSeq", &req.cseq().to_string());
        self
    }

    /// Add `;tag=` to To, only if the request's To has no tag (RFC 3261 §8.2.6.2); a second call
    /// replaces the first tag.
    pub fn to_tag(mut self, tag: &str) -> Self {
        if !self.to_has_tag {
            if let Some(i) = self.to.find(";tag=") {
                self.to.truncate(i);
            }
            self.to.push_str(";tag=");
            self.to.push_str(tag);
        }
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        put_header(&mut self.extra, name, value);
        self
    }

    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self.body = Some((content_type.to_owned(), body.to_vec()));
        self
    }

    pub fn build(self) -> Bytes {
        let mut buf = self.head;
        put_header(&mut buf, "To", &self.to);
        buf.put_slice(&self.extra);
        finish(buf, self.body)
    }

    /// Parse of `build()`; for tests and for handing a locally generated response to the same code
    /// path as received ones. Panics only if the builder produced an unparsable message (a bug).
    pub fn build_message(self) -> SipMessage {
        SipMessage::parse(self.build()).expect("ResponseBuilder produced an unparsable message")
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
}
