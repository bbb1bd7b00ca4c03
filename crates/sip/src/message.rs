//! Zero-copy SIP message parsing (RFC 3261 §7, §20, §25).
//!
//! A [`SipMessage`] owns the wire bytes (`Bytes`) and keeps every header as byte ranges into them,
//! so unknown headers are printed back byte for byte and cloning is cheap. Only the headers every
//! layer needs (Via, From, To, Call-ID, CSeq, Content-Length) are parsed eagerly; the rest on access.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use crate::builder::ResponseBuilder;
use crate::header::{is_token, list_iter, split_list, Contact, NameAddr, Replaces, Via};
use crate::uri::{Scheme, Uri};

/// Why a message was refused, with the SIP status a UAS should answer (400, 413, 416, 505, 513...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub status: u16,
    pub reason: String,
}

impl ParseError {
    pub fn new(status: u16, reason: &str) -> ParseError {
        ParseError {
            status,
            reason: reason.to_owned(),
        }
    }
    pub(crate) fn bad(reason: &str) -> ParseError {
        ParseError::new(400, reason)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// A SIP method; anything that is a token but not one of ours is an `Extension` (methods are
/// case-sensitive, so `invite` is an extension).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Refer,
    Notify,
    Subscribe,
    Message,
    Publish,
    Extension(Box<str>),
}

impl Method {
    pub fn parse(s: &str) -> Result<Method, ParseError> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            _ if is_token(s) => Method::Extension(s.into()),
            _ => return Err(ParseError::bad("invalid method")),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Method, ParseError> {
        Method::parse(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
        let (num, m) = s
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or_else(|| ParseError::bad("CSeq needs a number and a method"))?;
        let seq =
            parse_u32(num).ok_or_else(|| ParseError::bad("CSeq number is not a 32-bit integer"))?;
        let method = Method::parse(m.trim_start())?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Digits only (no sign, no spaces), fitting in u32.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parser limits; every message larger or with more headers is refused, nothing grows unboundedly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message in bytes (513 above).
    pub max_message_len: usize,
    /// Largest number of header lines (400 above).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_len: 64 * 1024,
            max_headers: 256,
        }
    }
}

/// Headers we recognise by name (long and compact forms map to the same kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderKind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    Route,
    RecordRoute,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Subject,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    Allow,
    Expires,
    WwwAuthenticate,
    ProxyAuthenticate,
    Authorization,
    ProxyAuthorization,
    Diversion,
    HistoryInfo,
    PAssertedIdentity,
    ReferTo,
    ReferredBy,
    Replaces,
    Event,
    AllowEvents,
    SubscriptionState,
    SessionExpires,
    RSeq,
    RAck,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    Identity,
    IdentityInfo,
    /// Other headers whose grammar is a comma-separated list (split by `header_all`).
    OtherList,
    /// Anything else: never split on commas.
    Other,
}

impl HeaderKind {
    pub(crate) fn of(name: &[u8]) -> HeaderKind {
        use HeaderKind::*;
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'v' => Via,
                b'f' => From,
                b't' => To,
                b'i' => CallId,
                b'm' => Contact,
                b'l' => ContentLength,
                b'c' => ContentType,
                b'e' => ContentEncoding,
                b's' => Subject,
                b'k' => Supported,
                b'r' => ReferTo,
                b'b' => ReferredBy,
                b'o' => Event,
                b'u' => AllowEvents,
                b'x' => SessionExpires,
                b'a' => AcceptContact,
                b'j' => RejectContact,
                b'd' => RequestDisposition,
                b'y' => Identity,
                b'n' => IdentityInfo,
                _ => Other,
            };
        }
        let mut lower = [0u8; 24];
        if name.len() > lower.len() {
            return Other;
        }
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        match &lower[..name.len()] {
            b"via" => Via,
            b"from" => From,
            b"to" => To,
            b"call-id" => CallId,
            b"cseq" => CSeq,
            b"contact" => Contact,
            b"route" => Route,
            b"record-route" => RecordRoute,
            b"max-forwards" => MaxForwards,
            b"content-length" => ContentLength,
            b"content-type" => ContentType,
            b"content-encoding" => ContentEncoding,
            b"subject" => Subject,
            b"supported" => Supported,
            b"require" => Require,
            b"proxy-require" => ProxyRequire,
            b"unsupported" => Unsupported,
            b"allow" => Allow,
            b"expires" => Expires,
            b"www-authenticate" => WwwAuthenticate,
            b"proxy-authenticate" => ProxyAuthenticate,
            b"authorization" => Authorization,
            b"proxy-authorization" => ProxyAuthorization,
            b"diversion" => Diversion,
            b"history-info" => HistoryInfo,
            b"p-asserted-identity" => PAssertedIdentity,
            b"refer-to" => ReferTo,
            b"referred-by" => ReferredBy,
            b"replaces" => Replaces,
            b"event" => Event,
            b"allow-events" => AllowEvents,
            b"subscription-state" => SubscriptionState,
            b"session-expires" => SessionExpires,
            b"rseq" => RSeq,
            b"rack" => RAck,
            b"accept-contact" => AcceptContact,
            b"reject-contact" => RejectContact,
            b"request-disposition" => RequestDisposition,
            b"identity" => Identity,
            b"identity-info" => IdentityInfo,
            b"accept"
            | b"accept-encoding"
            | b"accept-language"
            | b"content-language"
            | b"alert-info"
            | b"call-info"
            | b"error-info"
            | b"in-reply-to"
            | b"warning"
            | b"path"
            | b"service-route"
            | b"reason"
            | b"p-preferred-identity"
            | b"p-associated-uri"
            | b"security-client"
            | b"security-server"
            | b"security-verify"
            | b"recv-info"
            | b"privacy"
            | b"p-early-media" => OtherList,
            _ => Other,
        }
    }

    /// Whether a header's grammar is `#element` so that `header_all` splits its values on commas.
    fn is_list(self) -> bool {
        use HeaderKind::*;
        matches!(
            self,
            Via | Contact
                | Route
                | RecordRoute
                | ContentEncoding
                | Supported
                | Require
                | ProxyRequire
                | Unsupported
                | Allow
                | Diversion
                | HistoryInfo
                | PAssertedIdentity
                | AllowEvents
                | AcceptContact
                | RejectContact
                | RequestDisposition
                | OtherList
        )
    }
}

/// Where a header value lives: in the wire bytes, or (for folded values) unfolded on the side.
#[derive(Clone, Copy, Debug)]
enum ValueLoc {
    Wire(u32, u32),
    Unfolded(u32),
}

#[derive(Clone, Debug)]
struct RawHeader {
    name: (u32, u32),
    /// The value exactly as on the wire (folding included).
    raw: (u32, u32),
    value: ValueLoc,
    kind: HeaderKind,
    utf8: bool,
}

#[derive(Clone, Debug)]
enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: (u32, u32) },
}

/// A parsed SIP request or response.
#[derive(Clone, Debug)]
pub struct SipMessage {
    buf: Bytes,
    start: StartLine,
    headers: Vec<RawHeader>,
    unfolded: Vec<Box<str>>,
    body: Range<usize>,
    call_id: ValueLoc,
    cseq: CSeq,
    from: NameAddr,
    to: NameAddr,
    vias: Vec<Via>,
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_wsp(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_wsp(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Offsets of `sub` inside `base` (sub must be a sub-slice of base).
fn offsets(base: &[u8], sub: &[u8]) -> (u32, u32) {
    let start = sub.as_ptr() as usize - base.as_ptr() as usize;
    (start as u32, (start + sub.len()) as u32)
}

/// Replace each `[WSP] CRLF 1*WSP` (and bare-LF variant) with a single space.
fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if b == b'\r' || b == b'\n' {
            while out.last().is_some_and(|&c| is_wsp(c)) {
                out.pop();
            }
            while i < v.len() && matches!(v[i], b'\r' | b'\n' | b' ' | b'\t') {
                i += 1;
            }
            // A value that starts on the next line has no leading space.
            if !out.is_empty() {
                out.push(b' ');
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

impl SipMessage {
    /// Parse one complete message (a UDP datagram or a frame from [`crate::frame`]) with default limits.
    pub fn parse(buf: Bytes) -> Result<SipMessage, ParseError> {
        SipMessage::parse_with(buf, &Limits::default())
    }

    pub fn parse_with(buf: Bytes, limits: &Limits) -> Result<SipMessage, ParseError> {
        if buf.len() > limits.max_message_len {
            return Err(ParseError::new(513, "Message Too Large"));
        }
        if buf.len() > u32::MAX as usize {
            return Err(ParseError::new(513, "Message Too Large"));
        }
        let b: &[u8] = &buf;
        // RFC 3261 §7.5: ignore CRLFs before the start-line.
        let mut pos = b
            .iter()
            .position(|&c| c != b'\r' && c != b'\n')
            .unwrap_or(b.len());
        if pos == b.len() {
            return Err(ParseError::bad("empty message"));
        }

        // Start line.
        let (line, next) = next_line(b, pos);
        let start = parse_start_line(b, line)?;
        pos = next;

        // Header lines, with folding.
        let mut headers: Vec<RawHeader> = Vec::with_capacity(16);
        let mut unfolded: Vec<Box<str>> = Vec::new();
        let body_start;
        // current header: (name range, value start, value end, folded)
        let mut cur: Option<(&[u8], usize, usize, bool)> = None;
        loop {
            if pos >= b.len() {
                // No empty line: most likely a truncated datagram; acting on a cut-off Call-ID
                // or Contact would be worse than refusing it.
                return Err(ParseError::bad("no empty line after the headers"));
            }
            let (line, next) = next_line(b, pos);
            if line.is_empty() {
                body_start = next;
                break;
            }
            if is_wsp(line[0]) {
                // Continuation line (folding): extends the current value.
                match cur.as_mut() {
                    Some(c) => {
                        let trimmed = trim_wsp(line);
                        let (_, end) = offsets(b, trimmed);
                        if !trimmed.is_empty() {
                            c.2 = end as usize;
                            c.3 = true;
                        }
                    }
                    None => return Err(ParseError::bad("continuation line before any header")),
                }
                pos = next;
                continue;
            }
            if let Some(c) = cur.take() {
                push_header(b, c, &mut headers, &mut unfolded, limits)?;
            }
            let colon = memchr::memchr(b':', line)
                .ok_or_else(|| ParseError::bad("header line without ':'"))?;
            let name = trim_wsp(&line[..colon]);
            if name.is_empty() || !name.iter().all(|&c| crate::header::is_token_char(c)) {
                return Err(ParseError::bad("invalid header name"));
            }
            let value = trim_wsp(&line[colon + 1..]);
            let (vs, ve) = offsets(b, value);
            cur = Some((name, vs as usize, ve as usize, false));
            pos = next;
        }
        if let Some(c) = cur.take() {
            push_header(b, c, &mut headers, &mut unfolded, limits)?;
        }

        let mut msg_vias = Vec::with_capacity(4);
        let mut from = None;
        let mut to = None;
        let mut call_id = None;
        let mut cseq = None;
        let mut content_length: Option<usize> = None;
        for h in &headers {
            let single = |seen: bool, what: &str| -> Result<(), ParseError> {
                if seen {
                    Err(ParseError::bad(&format!("more than one {what} header")))
                } else {
                    Ok(())
                }
            };
            match h.kind {
                HeaderKind::Via
                | HeaderKind::From
                | HeaderKind::To
                | HeaderKind::CallId
                | HeaderKind::CSeq
                | HeaderKind::ContentLength => {}
                _ => continue,
            }
            // Carriers do send GBK display names in From/To; RFC 3261 wants UTF-8, but refusing
            // the call is worse: parse a lossy copy (URI and tag are ASCII, only the display name
            // gets U+FFFD). Via, Call-ID, CSeq and Content-Length must be UTF-8 (in fact ASCII).
            let lossy;
            let v = match value_str(b, &unfolded, h) {
                Some(v) => v,
                None if matches!(h.kind, HeaderKind::From | HeaderKind::To) => {
                    lossy = String::from_utf8_lossy(&b[h.raw.0 as usize..h.raw.1 as usize])
                        .replace(['\r', '\n'], " ");
                    lossy.as_str()
                }
                None => return Err(ParseError::bad("header value is not UTF-8")),
            };
            match h.kind {
                HeaderKind::Via => {
                    for part in list_iter(v)? {
                        // Comma-joined Vias escape the header-line count; bound them too.
                        if msg_vias.len() >= limits.max_headers {
                            return Err(ParseError::bad("too many Via entries"));
                        }
                        msg_vias.push(Via::parse(part)?);
                    }
                }
                HeaderKind::From => {
                    single(from.is_some(), "From")?;
                    from = Some(NameAddr::parse(v)?);
                }
                HeaderKind::To => {
                    single(to.is_some(), "To")?;
                    to = Some(NameAddr::parse(v)?);
                }
                HeaderKind::CallId => {
                    single(call_id.is_some(), "Call-ID")?;
                    if v.is_empty() || v.bytes().any(|c| c.is_ascii_whitespace()) {
                        return Err(ParseError::bad("invalid Call-ID"));
                    }
                    call_id = Some(h.value);
                }
                HeaderKind::CSeq => {
                    single(cseq.is_some(), "CSeq")?;
                    cseq = Some(CSeq::parse(v)?);
                }
                HeaderKind::ContentLength => {
                    single(content_length.is_some(), "Content-Length")?;
                    let n =
                        parse_u32(v).ok_or_else(|| ParseError::bad("invalid Content-Length"))?;
                    content_length = Some(n as usize);
                }
                _ => {}
            }
        }
        if msg_vias.is_empty() {
            return Err(ParseError::bad("missing Via header"));
        }
        let from = from.ok_or_else(|| ParseError::bad("missing From header"))?;
        let to = to.ok_or_else(|| ParseError::bad("missing To header"))?;
        // tag-param = "tag" EQUAL token (§19.3): a bare or empty `;tag` would read as no tag here
        // and as a tag to a peer, and a response could not add one of its own (found by fuzzing).
        for (what, na) in [("From", &from), ("To", &to)] {
            if matches!(na.param("tag"), Some(None) | Some(Some(""))) {
                return Err(ParseError::bad(&format!("{what} tag without a value")));
            }
        }
        let call_id = call_id.ok_or_else(|| ParseError::bad("missing Call-ID header"))?;
        let cseq = cseq.ok_or_else(|| ParseError::bad("missing CSeq header"))?;

        // RFC 3261 §18.3: a datagram body longer than Content-Length is truncated; shorter is an error.
        let available = b.len() - body_start;
        let body_len = match content_length {
            Some(n) if n > available => {
                return Err(ParseError::bad(
                    "Content-Length larger than the message body",
                ));
            }
            Some(n) => n,
            None => available,
        };
        Ok(SipMessage {
            start,
            headers,
            unfolded,
            body: body_start..body_start + body_len,
            call_id,
            cseq,
            from,
            to,
            vias: msg_vias,
            buf,
        })
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The message bytes without anything after the body (e.g. a second message in the datagram).
    pub fn wire(&self) -> Bytes {
        self.buf.slice(..self.body.end)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// Reason phrase of a response (None for requests or when not UTF-8).
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => {
                std::str::from_utf8(&self.buf[reason.0 as usize..reason.1 as usize]).ok()
            }
            StartLine::Request { .. } => None,
        }
    }

    fn value_of(&self, h: &RawHeader) -> Option<&str> {
        value_str(&self.buf, &self.unfolded, h)
    }

    fn name_of(&self, h: &RawHeader) -> &str {
        // Header names were checked to be tokens (ASCII) at parse time.
        std::str::from_utf8(&self.buf[h.name.0 as usize..h.name.1 as usize]).unwrap_or("")
    }

    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RawHeader> + 'a {
        let kind = HeaderKind::of(name.as_bytes());
        self.headers.iter().filter(move |h| {
            if kind == HeaderKind::Other || kind == HeaderKind::OtherList {
                h.kind == kind && self.name_of(h).eq_ignore_ascii_case(name)
            } else {
                h.kind == kind
            }
        })
    }

    /// First value of a header (unfolded, trimmed); name case-insensitive, compact == long form.
    /// None if absent or if that value is not UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.matching(name).next().and_then(|h| self.value_of(h))
    }

    /// Every value of a header: repeated header lines and, for list headers (Via, Contact, Route,
    /// Supported, ...), comma-joined values split respecting quotes and `<>`. Non-list headers
    /// (Date, WWW-Authenticate, unknown headers...) are returned one value per line.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for h in self.matching(name) {
            let Some(v) = self.value_of(h) else { continue };
            if h.kind.is_list() {
                match split_list(v) {
                    Ok(parts) => out.extend(parts),
                    Err(_) => out.push(v),
                }
            } else {
                out.push(v);
            }
        }
        out
    }

    /// Every header as (name as on the wire, unfolded value), in order. Values that are not UTF-8
    /// are skipped.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter_map(move |h| self.value_of(h).map(|v| (self.name_of(h), v)))
    }

    /// Every header as (name, value) bytes exactly as on the wire (folding included, trimmed),
    /// even when not UTF-8: for relaying unknown headers byte for byte.
    pub fn headers_raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers.iter().map(move |h| {
            (
                &self.buf[h.name.0 as usize..h.name.1 as usize],
                &self.buf[h.raw.0 as usize..h.raw.1 as usize],
            )
        })
    }

    pub fn call_id(&self) -> &str {
        value_loc_str(&self.buf, &self.unfolded, self.call_id).unwrap_or("")
    }
    pub fn cseq(&self) -> &CSeq {
        &self.cseq
    }
    pub fn from(&self) -> &NameAddr {
        &self.from
    }
    pub fn to(&self) -> &NameAddr {
        &self.to
    }
    /// All Via entries in order; `vias()[0]` is the top one. Never empty.
    pub fn vias(&self) -> &[Via] {
        &self.vias
    }

    pub fn max_forwards(&self) -> Option<u32> {
        self.header("max-forwards").and_then(parse_u32)
    }
    pub fn expires(&self) -> Option<u32> {
        self.header("expires").and_then(parse_u32)
    }
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }
    /// The body as a zero-copy `Bytes`.
    pub fn body_bytes(&self) -> Bytes {
        self.buf.slice(self.body.clone())
    }

    fn name_addrs(&self, name: &str) -> Result<Vec<NameAddr>, ParseError> {
        let mut out = Vec::new();
        for h in self.matching(name) {
            let v = self
                .value_of(h)
                .ok_or_else(|| ParseError::bad("header value is not UTF-8"))?;
            for part in split_list(v)? {
                out.push(NameAddr::parse(part)?);
            }
        }
        Ok(out)
    }

    pub fn contacts(&self) -> Result<Vec<Contact>, ParseError> {
        let mut out = Vec::new();
        for h in self.matching("contact") {
            let v = self
                .value_of(h)
                .ok_or_else(|| ParseError::bad("header value is not UTF-8"))?;
            for part in split_list(v)? {
                out.push(Contact::parse(part)?);
            }
        }
        if out.len() > 1 && out.contains(&Contact::Star) {
            return Err(ParseError::bad("Contact: * mixed with other contacts"));
        }
        Ok(out)
    }
    pub fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addrs("route")
    }
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addrs("record-route")
    }
    /// Option tags of Require (trimmed tokens).
    pub fn require(&self) -> Vec<&str> {
        self.header_all("require")
    }
    pub fn supported(&self) -> Vec<&str> {
        self.header_all("supported")
    }
    /// Diversion entries (RFC 5806), in order; malformed entries are skipped.
    pub fn diversion(&self) -> Vec<NameAddr> {
        self.lenient_name_addrs("diversion")
    }
    /// History-Info entries (RFC 7044), in order; malformed entries are skipped.
    pub fn history_info(&self) -> Vec<NameAddr> {
        self.lenient_name_addrs("history-info")
    }
    pub fn p_asserted_identity(&self) -> Vec<NameAddr> {
        self.lenient_name_addrs("p-asserted-identity")
    }
    /// The number originally dialled before any forwarding, for call records and merged-number
    /// routing: the bottom Diversion entry (RFC 5806 adds each new diversion on top, so the last
    /// one names the first diverting party), else the first History-Info entry (RFC 7044: the
    /// original Request-URI). None when the request was not forwarded.
    pub fn original_called(&self) -> Option<Uri> {
        if let Some(d) = self.diversion().pop() {
            return Some(d.uri);
        }
        self.history_info().into_iter().next().map(|h| h.uri)
    }

    fn lenient_name_addrs(&self, name: &str) -> Vec<NameAddr> {
        self.header_all(name)
            .into_iter()
            .filter_map(|v| NameAddr::parse(v).ok())
            .collect()
    }
    /// WWW-Authenticate values, one per header line (challenges are never comma-split here);
    /// parse each with `auth::Challenge::parse`.
    pub fn www_authenticate(&self) -> Vec<&str> {
        self.header_all("www-authenticate")
    }
    pub fn proxy_authenticate(&self) -> Vec<&str> {
        self.header_all("proxy-authenticate")
    }
    /// Authorization values, one per header line (several realms = several lines).
    pub fn authorization(&self) -> Vec<&str> {
        self.header_all("authorization")
    }
    pub fn proxy_authorization(&self) -> Vec<&str> {
        self.header_all("proxy-authorization")
    }
    /// Methods listed in Allow.
    pub fn allow(&self) -> Vec<&str> {
        self.header_all("allow")
    }
    pub fn refer_to(&self) -> Option<NameAddr> {
        self.header("refer-to")
            .and_then(|v| NameAddr::parse(v).ok())
    }
    pub fn referred_by(&self) -> Option<NameAddr> {
        self.header("referred-by")
            .and_then(|v| NameAddr::parse(v).ok())
    }
    pub fn replaces(&self) -> Option<Replaces> {
        self.header("replaces")
            .and_then(|v| Replaces::parse(v).ok())
    }
    pub fn event(&self) -> Option<&str> {
        self.header("event")
    }
    pub fn subscription_state(&self) -> Option<&str> {
        self.header("subscription-state")
    }
    /// Delta-seconds of Session-Expires (RFC 4028), parameters (`;refresher=`) ignored.
    pub fn session_expires(&self) -> Option<u32> {
        self.header("session-expires")
            .and_then(|v| parse_u32(v.split(';').next().unwrap_or("").trim()))
    }
    pub fn rseq(&self) -> Option<u32> {
        self.header("rseq").and_then(parse_u32)
    }
    /// RAck (RFC 3262): (response-num, CSeq-num, method).
    pub fn rack(&self) -> Option<(u32, u32, Method)> {
        let v = self.header("rack")?;
        let mut it = v.split_ascii_whitespace();
        let rseq = parse_u32(it.next()?)?;
        let cseq = parse_u32(it.next()?)?;
        let method = Method::parse(it.next()?).ok()?;
        if it.next().is_some() {
            return None;
        }
        Some((rseq, cseq, method))
    }

    /// Start a response to this request (RFC 3261 §8.2.6): copies every Via in order, From, To,
    /// Call-ID and CSeq.
    pub fn response(&self, status: u16, reason: &str) -> ResponseBuilder {
        ResponseBuilder::for_request(self, status, reason)
    }

    /// Values of every `name` header line in order, for copying into responses: unfolded when
    /// UTF-8, else the wire bytes (a GBK display name is copied as it came).
    pub(crate) fn raw_values(&self, name: &str) -> Vec<&[u8]> {
        self.matching(name)
            .map(|h| match self.value_of(h) {
                Some(v) => v.as_bytes(),
                None => &self.buf[h.raw.0 as usize..h.raw.1 as usize],
            })
            .collect()
    }

    /// Checks a UAS makes after parsing and before acting on a request (RFC 3261 §8.2, §16.3):
    /// CSeq method equals the request method (400), Max-Forwards is an integer 0..=255 (400).
    /// Unknown Require option tags (420) are checked with [`SipMessage::unsupported_requires`].
    pub fn validate_request(&self) -> Result<(), ParseError> {
        let Some(method) = self.method() else {
            return Ok(());
        };
        if &self.cseq.method != method {
            return Err(ParseError::bad(
                "CSeq method does not match the request method",
            ));
        }
        for h in self.matching("max-forwards") {
            match self.value_of(h).and_then(parse_u32) {
                Some(n) if n <= 255 => {}
                _ => return Err(ParseError::bad("invalid Max-Forwards")),
            }
        }
        // RFC 3261 branch with the magic cookie but no identifier (RFC 4475 badbranch).
        if self.vias.first().and_then(Via::branch) == Some("z9hG4bK") {
            return Err(ParseError::bad(
                "Via branch has the magic cookie but no identifier",
            ));
        }
        if let Some(d) = self.header("date") {
            if !is_rfc1123_gmt(d) {
                return Err(ParseError::bad("Date is not an RFC 1123 GMT date"));
            }
        }
        if self.matching("max-forwards").count() > 1 {
            return Err(ParseError::bad("more than one Max-Forwards"));
        }
        for name in ["expires", "min-expires"] {
            for h in self.matching(name) {
                if self.value_of(h).and_then(parse_u32).is_none() {
                    return Err(ParseError::bad("invalid Expires"));
                }
            }
        }
        for c in self.contacts()? {
            if let Contact::Addr(a) = c {
                if let Some(e) = a.param("expires") {
                    if e.and_then(parse_u32).is_none() {
                        return Err(ParseError::bad("invalid Contact expires"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Require option tags we do not support: non-empty means answer 420 with an Unsupported
    /// header listing them (RFC 3261 §8.2.2.3). ACK and CANCEL are never refused this way.
    pub fn unsupported_requires(&self, supported: &[&str]) -> Vec<&str> {
        if matches!(self.method(), Some(Method::Ack) | Some(Method::Cancel)) {
            return Vec::new();
        }
        self.require()
            .into_iter()
            .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect()
    }
}

/// The message as text (lossy for non-UTF-8 bytes), for logs and debugging.
impl fmt::Display for SipMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.buf[..self.body.end]))
    }
}

fn value_loc_str<'a>(buf: &'a [u8], unfolded: &'a [Box<str>], loc: ValueLoc) -> Option<&'a str> {
    match loc {
        ValueLoc::Wire(s, e) => std::str::from_utf8(buf.get(s as usize..e as usize)?).ok(),
        ValueLoc::Unfolded(i) => unfolded.get(i as usize).map(|s| &**s),
    }
}

fn value_str<'a>(buf: &'a [u8], unfolded: &'a [Box<str>], h: &RawHeader) -> Option<&'a str> {
    if !h.utf8 {
        return None;
    }
    value_loc_str(buf, unfolded, h.value)
}

fn push_header(
    b: &[u8],
    (name, vs, ve, folded): (&[u8], usize, usize, bool),
    headers: &mut Vec<RawHeader>,
    unfolded: &mut Vec<Box<str>>,
    limits: &Limits,
) -> Result<(), ParseError> {
    if headers.len() >= limits.max_headers {
        return Err(ParseError::bad("too many headers"));
    }
    let raw = &b[vs..ve.max(vs)];
    let (value, utf8) = if folded {
        let u = unfold(raw);
        match String::from_utf8(u) {
            Ok(s) => {
                unfolded.push(s.into_boxed_str());
                (ValueLoc::Unfolded((unfolded.len() - 1) as u32), true)
            }
            Err(_) => (ValueLoc::Wire(vs as u32, ve as u32), false),
        }
    } else {
        (
            ValueLoc::Wire(vs as u32, ve as u32),
            std::str::from_utf8(raw).is_ok(),
        )
    };
    headers.push(RawHeader {
        name: offsets(b, name),
        raw: (vs as u32, ve.max(vs) as u32),
        value,
        kind: HeaderKind::of(name),
        utf8,
    });
    Ok(())
}

/// The line starting at `pos` (without CRLF/LF) and the position after its terminator.
fn next_line(b: &[u8], pos: usize) -> (&[u8], usize) {
    match memchr::memchr(b'\n', &b[pos..]) {
        Some(i) => {
            let end = pos + i;
            let line_end = if end > pos && b[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            (&b[pos..line_end], end + 1)
        }
        None => (&b[pos..], b.len()),
    }
}

fn parse_start_line(b: &[u8], line: &[u8]) -> Result<StartLine, ParseError> {
    if line.starts_with(b"SIP/") || line.starts_with(b"sip/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp1 = memchr::memchr(b' ', line).ok_or_else(|| ParseError::bad("bad status line"))?;
        check_version(&line[..sp1])?;
        let rest = &line[sp1 + 1..];
        if rest.len() < 3
            || !rest[..3].iter().all(u8::is_ascii_digit)
            || (rest.len() > 3 && rest[3] != b' ')
        {
            return Err(ParseError::bad("bad status code"));
        }
        let status =
            (rest[0] - b'0') as u16 * 100 + (rest[1] - b'0') as u16 * 10 + (rest[2] - b'0') as u16;
        if !(100..=699).contains(&status) {
            return Err(ParseError::bad("status code out of range"));
        }
        let reason = if rest.len() > 4 {
            &rest[4..]
        } else {
            &rest[rest.len()..]
        };
        if reason.iter().any(|&c| c < b' ' && c != b'\t') {
            return Err(ParseError::bad("control character in reason phrase"));
        }
        return Ok(StartLine::Response {
            status,
            reason: offsets(b, reason),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (single spaces, RFC 3261 §7.1)
    let sp1 = memchr::memchr(b' ', line).ok_or_else(|| ParseError::bad("bad request line"))?;
    let sp2 = memchr::memrchr(b' ', line).ok_or_else(|| ParseError::bad("bad request line"))?;
    if sp1 == sp2 {
        return Err(ParseError::bad("bad request line"));
    }
    let method =
        std::str::from_utf8(&line[..sp1]).map_err(|_| ParseError::bad("invalid method"))?;
    let method = Method::parse(method)?;
    let uri = &line[sp1 + 1..sp2];
    check_version(&line[sp2 + 1..])?;
    if uri.is_empty() || uri.iter().any(|&c| c <= b' ' || c >= 0x7f) {
        return Err(ParseError::bad(
            "whitespace or control character in Request-URI",
        ));
    }
    let uri = std::str::from_utf8(uri).map_err(|_| ParseError::bad("invalid Request-URI"))?;
    let uri = Uri::parse(uri)?;
    if let Scheme::Other(_) = uri.scheme {
        return Err(ParseError::new(416, "Unsupported URI Scheme"));
    }
    // RFC 3261 §19.1.5: URI headers are not allowed in a Request-URI (RFC 4475 escruri).
    if !uri.headers.is_empty() {
        return Err(ParseError::bad("headers in Request-URI"));
    }
    Ok(StartLine::Request { method, uri })
}

fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    // Well-formed but another version → 505; anything else is a syntax error.
    let ok_shape = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&c| c.is_ascii_digit() || c == b'.')
        && v[4..].contains(&b'.');
    if ok_shape {
        Err(ParseError::new(505, "Version Not Supported"))
    } else {
        Err(ParseError::bad("bad SIP version"))
    }
}

/// `Sat, 13 Nov 2010 23:29:00 GMT` (RFC 3261 §25.1 SIP-date, GMT only).
fn is_rfc1123_gmt(d: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p: Vec<&str> = d.split(' ').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = |t: &str| {
        let f: Vec<&str> = t.split(':').collect();
        f.len() == 3 && f.iter().all(|x| digits(x, 2))
    };
    p.len() == 6
        && p[0].strip_suffix(',').is_some_and(|w| DAYS.contains(&w))
        && digits(p[1], 2)
        && MONTHS.contains(&p[2])
        && digits(p[3], 4)
        && time_ok(p[4])
        && p[5] == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Result<SipMessage, ParseError> {
        SipMessage::parse(Bytes::from(s.to_owned()))
    }

    const BASE: &str = "OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n";

    #[test]
    fn compact_forms_equal_long_forms() {
        let m = msg("INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n\
t: <sip:a@b>\r\ni: cid\r\nCSeq: 1 INVITE\r\nm: <sip:x@h>\r\nk: timer\r\nr: <sip:1001@h>\r\n\
b: <sip:x@y>\r\no: refer\r\nx: 90\r\nu: talk\r\nc: text/plain\r\nl: 2\r\ns: hi\r\ne: gzip\r\n\r\nab")
        .unwrap();
        assert_eq!(m.call_id(), "cid");
        assert_eq!(m.header("Call-ID"), Some("cid"));
        assert_eq!(m.header("CALL-ID"), m.header("i"));
        assert_eq!(m.contacts().unwrap().len(), 1);
        assert_eq!(m.supported(), ["timer"]);
        assert_eq!(m.refer_to().unwrap().uri.user.as_deref(), Some("1001"));
        assert!(m.referred_by().is_some());
        assert_eq!(m.event(), Some("refer"));
        assert_eq!(m.session_expires(), Some(90));
        assert_eq!(m.header("allow-events"), Some("talk"));
        assert_eq!(m.content_type(), Some("text/plain"));
        assert_eq!(m.header("subject"), Some("hi"));
        assert_eq!(m.header("content-encoding"), Some("gzip"));
        assert_eq!(m.body(), b"ab");
        // headers() keeps the names as on the wire
        assert_eq!(
            m.headers().next(),
            Some(("v", "SIP/2.0/UDP h;branch=z9hG4bK1"))
        );
    }

    #[test]
    fn repeated_and_comma_joined_values_in_order() {
        let m = msg(&format!(
            "{BASE}Route: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: \"a, b\" <sip:p3;lr>\r\nSupported: a,b\r\n\
Supported: c\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n\
X-Thing: 1, 2\r\n\r\n"
        ))
        .unwrap();
        let routes = m.routes().unwrap();
        let hosts: Vec<&str> = routes.iter().map(|r| r.uri.host.as_str()).collect();
        assert_eq!(hosts, ["p1", "p2", "p3"]);
        assert_eq!(routes[2].display.as_deref(), Some("a, b"));
        assert_eq!(m.supported(), ["a", "b", "c"]);
        // auth challenges, dates and unknown headers are never split on commas
        assert_eq!(
            m.header_all("www-authenticate"),
            ["Digest realm=\"r\", nonce=\"n\""]
        );
        assert_eq!(m.header_all("date").len(), 1);
        assert_eq!(m.header_all("x-thing"), ["1, 2"]);
        assert_eq!(m.validate_request(), Ok(()));
    }

    #[test]
    fn folded_header_values_are_unfolded() {
        let m = msg(&format!("{BASE}Subject: I know you're there,\r\n pick up the phone\r\n\tand talk to me!\r\n\r\n"))
            .unwrap();
        assert_eq!(
            m.header("subject"),
            Some("I know you're there, pick up the phone and talk to me!")
        );
        // the raw bytes still hold the folding, printed back byte for byte
        let (_, raw) = m.headers_raw().find(|(n, _)| *n == b"Subject").unwrap();
        assert_eq!(
            raw,
            b"I know you're there,\r\n pick up the phone\r\n\tand talk to me!"
        );
    }

    #[test]
    fn value_starting_on_a_continuation_line() {
        let m = msg(&format!(
            "{BASE}Route:\r\n  <sip:p1;lr>  \r\nSubject: a  \r\n\tb\t\r\n\r\n"
        ))
        .unwrap();
        assert_eq!(m.header("route"), Some("<sip:p1;lr>"));
        assert_eq!(m.header("subject"), Some("a b"));
        assert_eq!(m.routes().unwrap()[0].uri.host, "p1");
    }

    #[test]
    fn invalid_utf8_in_one_header_hides_only_that_header() {
        let mut raw = BASE.as_bytes().to_vec();
        raw.extend_from_slice(b"X-Bad: \xff\xfe\r\nX-Good: fine\r\nMax-Forwards: 70\r\n\r\n");
        let m = SipMessage::parse(Bytes::from(raw)).unwrap();
        assert_eq!(m.header("x-bad"), None);
        assert_eq!(m.header("x-good"), Some("fine"));
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.headers_raw().filter(|(n, _)| *n == b"X-Bad").count(), 1);
    }

    #[test]
    fn gbk_display_name_in_from_does_not_refuse_the_call() {
        let mut raw = BASE
            .replace("From: <sip:x@y>;tag=1", "From: \"GBK\" <sip:x@y>;tag=1")
            .into_bytes();
        let at = raw.windows(3).position(|w| w == b"GBK").unwrap();
        raw.splice(at..at + 3, *b"\xd5\xc5\xc8\xfd");
        raw.extend_from_slice(b"\r\n");
        let m = SipMessage::parse(Bytes::from(raw)).unwrap();
        assert_eq!(m.from().tag(), Some("1"));
        assert_eq!(m.from().uri.host, "y");
        assert!(m.from().display.as_deref().unwrap().contains('\u{fffd}'));
        assert_eq!(m.header("from"), None, "not UTF-8");
        // the response echoes the From bytes exactly as they came
        let resp = m.response(200, "OK").to_tag("t").build();
        let want: &[u8] = b"From: \"\xd5\xc5\xc8\xfd\" <sip:x@y>;tag=1\r\n";
        assert!(resp.windows(want.len()).any(|w| w == want));
        assert_eq!(SipMessage::parse(resp).unwrap().from().tag(), Some("1"));
        // a non-UTF-8 Call-ID is still refused
        let mut bad = BASE.as_bytes().to_vec();
        let at = bad.windows(2).position(|w| w == b"c1").unwrap();
        bad[at] = 0xff;
        bad.extend_from_slice(b"\r\n");
        assert_eq!(SipMessage::parse(Bytes::from(bad)).unwrap_err().status, 400);
    }

    #[test]
    fn content_length_rules_for_datagrams() {
        // body longer than Content-Length is truncated
        let m = msg(&format!("{BASE}Content-Length: 2\r\n\r\nabcdef")).unwrap();
        assert_eq!(m.body(), b"ab");
        assert_eq!(m.wire().len(), m.as_bytes().len() - 4);
        // larger than the datagram: 400
        assert_eq!(
            msg(&format!("{BASE}Content-Length: 20\r\n\r\nabc"))
                .unwrap_err()
                .status,
            400
        );
        // absent: the rest of the datagram
        assert_eq!(msg(&format!("{BASE}\r\nxyz")).unwrap().body(), b"xyz");
        // garbage / overflow
        for cl in ["abc", "-1", "99999999999", "1 2"] {
            assert_eq!(
                msg(&format!("{BASE}Content-Length: {cl}\r\n\r\n"))
                    .unwrap_err()
                    .status,
                400,
                "{cl}"
            );
        }
    }

    #[test]
    fn limits_refuse_large_messages_and_too_many_headers() {
        let limits = Limits {
            max_message_len: 300,
            max_headers: 8,
        };
        let big = format!("{BASE}X-Pad: {}\r\n\r\n", "p".repeat(400));
        assert_eq!(
            SipMessage::parse_with(Bytes::from(big), &limits)
                .unwrap_err()
                .status,
            513
        );
        let many = format!("{BASE}{}\r\n", "A: 1\r\n".repeat(5));
        assert_eq!(
            SipMessage::parse_with(Bytes::from(many), &limits)
                .unwrap_err()
                .status,
            400
        );
        let vias = format!("{BASE}Via: {}\r\n\r\n", ["SIP/2.0/UDP h"; 9].join(","));
        let e = SipMessage::parse_with(
            Bytes::from(vias),
            &Limits {
                max_message_len: 4096,
                max_headers: 8,
            },
        );
        assert_eq!(e.unwrap_err().reason, "too many Via entries");
        assert!(SipMessage::parse_with(Bytes::from(format!("{BASE}\r\n")), &limits).is_ok());
    }

    #[test]
    fn missing_required_headers_are_400() {
        for drop in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let s: String = BASE
                .split_inclusive("\r\n")
                .filter(|l| !l.starts_with(&format!("{drop}:")))
                .collect();
            let e = msg(&format!("{s}\r\n")).unwrap_err();
            assert_eq!(e.status, 400, "{drop}");
            assert!(e.reason.contains(drop), "{e}");
        }
    }

    #[test]
    fn a_tag_parameter_without_a_value_is_refused() {
        for (from, to) in [(";tag", ""), (";tag=1", ";tag"), (";tag=1", " ; TAG ")] {
            let m = BASE
                .replace("From: <sip:x@y>;tag=1", &format!("From: <sip:x@y>{from}"))
                .replace(
                    "To: <sip:a@b.example>",
                    &format!("To: <sip:a@b.example>{to}"),
                );
            let e = msg(&format!("{m}\r\n")).unwrap_err();
            assert!(
                e.reason.ends_with("tag without a value"),
                "{from} {to}: {e}"
            );
        }
        // `;tag=` is already a bad parameter value.
        let m = BASE.replace("From: <sip:x@y>;tag=1", "From: <sip:x@y>;tag=");
        assert_eq!(msg(&format!("{m}\r\n")).unwrap_err().status, 400);
    }

    #[test]
    fn start_line_errors() {
        let rest = &BASE[BASE.find("\r\n").unwrap()..];
        for (line, status) in [
            ("OPTIONS sip:a@b SIP/3.0", 505),
            ("OPTIONS sip:a@b HTTP/1.1", 400),
            ("OPTIONS tel:+1-555 SIP/2.0", 0),
            ("OPTIONS http://x SIP/2.0", 416),
            ("OPT\u{e9}IONS sip:a@b SIP/2.0", 400),
            ("SIP/2.0 99 Low", 400),
            ("SIP/2.0 700 High", 400),
            ("SIP/2.0 2000 Long", 400),
            ("SIP/2.0 200", 0),
        ] {
            let r = msg(&format!("{line}{rest}\r\n"));
            match status {
                0 => assert!(r.is_ok(), "{line}: {r:?}"),
                s => assert_eq!(r.unwrap_err().status, s, "{line}"),
            }
        }
    }

    #[test]
    fn typed_accessors_for_headers_we_act_on() {
        let m = msg(&format!(
            "{BASE}Diversion: <sip:12315@gov>;reason=unconditional, <sip:12366@gov>\r\n\
History-Info: <sip:a@gov>;index=1,<sip:b@gov>;index=1.1\r\nP-Asserted-Identity: \"Li\" <tel:+8610>\r\n\
Replaces: abc@h;to-tag=t;from-tag=f\r\nRSeq: 5\r\nRAck: 5 1 INVITE\r\nSubscription-State: active;expires=60\r\n\
Expires: 3600\r\nRequire: 100rel\r\nSession-Expires: 1800;refresher=uac\r\n\r\n"
        ))
        .unwrap();
        let d = m.diversion();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].param("reason"), Some(Some("unconditional")));
        assert_eq!(m.history_info()[1].param("index"), Some(Some("1.1")));
        assert_eq!(
            m.p_asserted_identity()[0].uri.user.as_deref(),
            Some("+8610")
        );
        let r = m.replaces().unwrap();
        assert_eq!(
            (r.call_id.as_str(), r.to_tag.as_str(), r.from_tag.as_str()),
            ("abc@h", "t", "f")
        );
        assert_eq!(m.rseq(), Some(5));
        assert_eq!(m.rack(), Some((5, 1, Method::Invite)));
        assert_eq!(m.subscription_state(), Some("active;expires=60"));
        assert_eq!(m.expires(), Some(3600));
        assert_eq!(m.require(), ["100rel"]);
        assert_eq!(m.unsupported_requires(&["100rel"]), Vec::<&str>::new());
        assert_eq!(m.unsupported_requires(&["timer"]), ["100rel"]);
        assert_eq!(m.session_expires(), Some(1800));
    }

    #[test]
    fn auth_headers_are_one_value_per_line() {
        let m = msg(&format!(
            "{BASE}Authorization: Digest username=\"1001\", realm=\"a\", nonce=\"n\", uri=\"sip:b\", response=\"r\"\r\n\
Authorization: Digest username=\"1001\", realm=\"b\"\r\nProxy-Authorization: Digest realm=\"p\"\r\n\
WWW-Authenticate: Digest realm=\"a\", qop=\"auth,auth-int\"\r\nAllow: INVITE, ACK,BYE\r\n\r\n"
        ))
        .unwrap();
        assert_eq!(m.authorization().len(), 2);
        assert!(m.authorization()[0].ends_with("response=\"r\""));
        assert_eq!(m.proxy_authorization(), ["Digest realm=\"p\""]);
        assert_eq!(
            m.www_authenticate(),
            ["Digest realm=\"a\", qop=\"auth,auth-int\""]
        );
        assert!(m.proxy_authenticate().is_empty());
        assert_eq!(m.allow(), ["INVITE", "ACK", "BYE"]);
    }

    #[test]
    fn original_called_number_from_diversion_or_history_info() {
        let m = msg(&format!(
            "{BASE}Diversion: <sip:12366@gov>;reason=unconditional, <sip:12315@gov>;reason=unconditional\r\n\r\n"
        ))
        .unwrap();
        assert_eq!(m.original_called().unwrap().user.as_deref(), Some("12315"));
        let m = msg(&format!(
            "{BASE}History-Info: <sip:12315@gov>;index=1, <sip:12345@gov>;index=1.1\r\n\r\n"
        ))
        .unwrap();
        assert_eq!(m.original_called().unwrap().user.as_deref(), Some("12315"));
        assert_eq!(msg(&format!("{BASE}\r\n")).unwrap().original_called(), None);
    }

    #[test]
    fn contact_star_and_mixed_star() {
        let m = msg(&format!("{BASE}Contact: *\r\nExpires: 0\r\n\r\n")).unwrap();
        assert_eq!(m.contacts().unwrap(), vec![Contact::Star]);
        let m = msg(&format!("{BASE}Contact: *, <sip:a@b>\r\n\r\n")).unwrap();
        assert!(m.contacts().is_err());
        let m = msg(&format!(
            "{BASE}Contact: <sip:a@b>;expires=60, <sip:c@d>\r\n\r\n"
        ))
        .unwrap();
        let c = m.contacts().unwrap();
        assert_eq!(c[0].expires(), Some(60));
        assert_eq!(c[1].expires(), None);
    }

    #[test]
    fn display_is_the_message_text_without_trailing_datagram_bytes() {
        let m = msg(&format!("{BASE}Content-Length: 1\r\n\r\nXtrailing")).unwrap();
        let text = m.to_string();
        assert!(text.starts_with("OPTIONS sip:a@b.example SIP/2.0\r\n"));
        assert!(text.ends_with("\r\n\r\nX"));
    }

    #[test]
    fn method_parse_and_display() {
        assert_eq!(Method::parse("INVITE"), Ok(Method::Invite));
        assert_eq!("PRACK".parse::<Method>(), Ok(Method::Prack));
        assert_eq!(
            Method::parse("invite"),
            Ok(Method::Extension("invite".into()))
        );
        assert!(Method::parse("IN VITE").is_err());
        assert!(Method::parse("").is_err());
        assert_eq!(Method::Extension("FOO".into()).to_string(), "FOO");
        assert_eq!(
            CSeq::parse("  42   BYE ").unwrap(),
            CSeq {
                seq: 42,
                method: Method::Bye
            }
        );
        assert!(CSeq::parse("4294967296 BYE").is_err());
    }

    #[test]
    fn headers_must_end_with_an_empty_line() {
        assert_eq!(msg(BASE).unwrap_err().status, 400);
        assert_eq!(msg(&BASE[..BASE.len() - 4]).unwrap_err().status, 400);
        assert!(msg(&format!("{BASE}\r\n")).is_ok());
    }

    #[test]
    fn leading_crlf_is_ignored_and_bare_lf_tolerated() {
        let m = msg(&format!("\r\n\r\n{BASE}\r\n")).unwrap();
        assert_eq!(m.call_id(), "c1");
        let lf = BASE.replace("\r\n", "\n") + "\n";
        assert_eq!(msg(&lf).unwrap().cseq().seq, 1);
        assert_eq!(msg("\r\n\r\n").unwrap_err().status, 400);
    }
}
