//! Typed header values we act on (RFC 3261 §20, §25.1) and the comma/semicolon splitting rules
//! shared by all of them.

use std::fmt;

use crate::message::ParseError;
use crate::uri::{find_param, parse_hostport, push_host, Uri};

/// A generic parameter: `(name, value)`; `value` is `None` for a bare flag like `;lr`. Values are
/// kept as on the wire (a quoted-string keeps its quotes) so printing round-trips.
pub type Param = (String, Option<String>);

fn err(reason: &str) -> ParseError {
    ParseError::new(400, reason)
}

pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Check that quotes and `<...>` in `s` are balanced, so that splitting cannot go astray.
fn check_balanced(s: &str) -> Result<(), ParseError> {
    let mut it = Splitter::new(s, 0);
    while it.next().is_some() {}
    if it.in_quote {
        return Err(err("unterminated quoted-string"));
    }
    if it.in_angle {
        return Err(err("unterminated <...>"));
    }
    Ok(())
}

/// Iterator over the pieces of `s` between `sep` bytes that are outside quoted-strings and `<>`
/// (no allocation; the parser's hot path uses it for Via lists and parameters).
pub(crate) struct Splitter<'a> {
    s: &'a str,
    pos: usize,
    sep: u8,
    done: bool,
    in_quote: bool,
    in_angle: bool,
    /// Neither '"' nor '<' in `s`: split with memchr.
    plain: bool,
}

impl<'a> Splitter<'a> {
    fn new(s: &'a str, sep: u8) -> Splitter<'a> {
        Splitter {
            s,
            pos: 0,
            sep,
            done: false,
            in_quote: false,
            in_angle: false,
            plain: false,
        }
    }
}

impl<'a> Iterator for Splitter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        if self.plain {
            // No quotes and no '<' anywhere: a plain memchr split.
            return Some(match memchr::memchr(self.sep, &b[start.min(b.len())..]) {
                Some(k) if self.sep != 0 => {
                    self.pos = start + k + 1;
                    &self.s[start..start + k]
                }
                _ => {
                    self.done = true;
                    &self.s[start.min(b.len())..]
                }
            });
        }
        let mut i = start;
        while i < b.len() {
            let c = b[i];
            if self.in_quote {
                match c {
                    b'\\' => i += 1,
                    b'"' => self.in_quote = false,
                    _ => {}
                }
            } else if self.in_angle {
                if c == b'>' {
                    self.in_angle = false;
                }
            } else if c == b'"' {
                self.in_quote = true;
            } else if c == b'<' {
                self.in_angle = true;
            } else if c == self.sep && self.sep != 0 {
                self.pos = i + 1;
                return Some(&self.s[start..i]);
            }
            i += 1;
        }
        self.done = true;
        Some(&self.s[start.min(b.len())..])
    }
}

/// Split at `sep` outside quotes and `<>`; unbalanced input is an error rather than a mis-split.
pub(crate) fn split_iter(s: &str, sep: u8) -> Result<Splitter<'_>, ParseError> {
    let mut it = Splitter::new(s, sep);
    if memchr::memchr2(b'"', b'<', s.as_bytes()).is_none() {
        it.plain = true;
    } else {
        check_balanced(s)?;
    }
    Ok(it)
}

pub(crate) fn split_outside(s: &str, sep: u8) -> Result<Vec<&str>, ParseError> {
    Ok(split_iter(s, sep)?.collect())
}

/// The trimmed, non-empty elements of a comma-list header value.
pub(crate) fn list_iter(s: &str) -> Result<impl Iterator<Item = &str>, ParseError> {
    Ok(split_iter(s, b',')?
        .map(|p| p.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|p| !p.is_empty()))
}

/// Split a comma-list header value into trimmed, non-empty elements.
pub(crate) fn split_list(s: &str) -> Result<Vec<&str>, ParseError> {
    Ok(list_iter(s)?.collect())
}

/// Parse `;name[=value]...` header parameters (the leading ';' already removed from each piece).
fn parse_params<'a>(pieces: impl Iterator<Item = &'a str>) -> Result<Vec<Param>, ParseError> {
    let mut params = Vec::with_capacity(2);
    for p in pieces {
        let p = p.trim_matches(|c: char| c.is_ascii_whitespace());
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (
                k.trim_end_matches(|c: char| c.is_ascii_whitespace()),
                Some(v.trim_start()),
            ),
            None => (p, None),
        };
        if !is_token(k) {
            return Err(err("bad parameter name"));
        }
        if let Some(v) = v {
            let ok = if v.starts_with('"') {
                quoted_len(v) == Some(v.len())
            } else {
                // gen-value = token / host / quoted-string. Carriers send values outside that
                // (tags with '/', base64 with '='); accept anything that cannot be a separator.
                !v.is_empty() && v.bytes().all(is_liberal_value_char)
            };
            if !ok {
                return Err(err("bad parameter value"));
            }
        }
        params.push((k.to_owned(), v.map(str::to_owned)));
    }
    Ok(params)
}

fn is_liberal_value_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b';' | b',' | b'"' | b'<' | b'>' | b'\\')
}

/// Length of the quoted-string at the start of `s` (including both quotes).
fn quoted_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn unquote(q: &str) -> String {
    let inner = &q[1..q.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn push_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for (k, v) in params {
        f.write_str(";")?;
        f.write_str(k)?;
        if let Some(v) = v {
            f.write_str("=")?;
            f.write_str(v)?;
        }
    }
    Ok(())
}

/// `name-addr` or `addr-spec` with header parameters (From, To, Contact, Route, Refer-To, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted.
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Vec<Param>,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
        let (display, uri_str, rest) = if s.starts_with('"') {
            let q = quoted_len(s).ok_or_else(|| err("unterminated quoted display name"))?;
            let display = unquote(&s[..q]);
            let after = s[q..].trim_start_matches(|c: char| c.is_ascii_whitespace());
            let after = after
                .strip_prefix('<')
                .ok_or_else(|| err("display name without <URI>"))?;
            let close = after.find('>').ok_or_else(|| err("missing '>'"))?;
            (Some(display), &after[..close], &after[close + 1..])
        } else if let Some(lt) = s.find('<') {
            let disp = s[..lt].trim_end_matches(|c: char| c.is_ascii_whitespace());
            // An unquoted display name is a sequence of tokens separated by LWS.
            if !disp
                .split(|c: char| c.is_ascii_whitespace())
                .all(|t| t.is_empty() || is_token(t))
            {
                return Err(err("invalid unquoted display name"));
            }
            let after = &s[lt + 1..];
            let close = after.find('>').ok_or_else(|| err("missing '>'"))?;
            let display = if disp.is_empty() {
                None
            } else if disp.bytes().all(|b| b != b'\t') && !disp.contains("  ") {
                Some(disp.to_owned())
            } else {
                Some(disp.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
            };
            (display, &after[..close], &after[close + 1..])
        } else {
            // addr-spec: header parameters start at the first ';' (RFC 3261 §20.10).
            let semi = s.find(';').unwrap_or(s.len());
            let spec = s[..semi].trim_end_matches(|c: char| c.is_ascii_whitespace());
            if spec.contains(['>', ',', '?']) {
                return Err(err("URI with ',' '?' or '>' must be in <...>"));
            }
            (None, spec, &s[semi..])
        };
        if uri_str.bytes().any(is_ws) {
            return Err(err("whitespace inside URI"));
        }
        let uri = Uri::parse(uri_str)?;
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let params = if rest.is_empty() {
            Vec::new()
        } else {
            let r = rest
                .strip_prefix(';')
                .ok_or_else(|| err("garbage after URI"))?;
            parse_params(split_iter(r, b';')?)?
        };
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    pub fn param(&self, n: &str) -> Option<Option<&str>> {
        find_param(&self.params, n)
    }

    /// Set (or replace) a header parameter.
    pub fn set_param(&mut self, n: &str, v: Option<&str>) {
        match self
            .params
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
        {
            Some(p) => p.1 = v.map(str::to_owned),
            None => self.params.push((n.to_owned(), v.map(str::to_owned))),
        }
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            f.write_str("\"")?;
            for c in d.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        push_params(f, &self.params)
    }
}

/// One Via entry (RFC 3261 §20.42).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0`
    pub protocol: String,
    /// Upper-cased transport: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...
    pub transport: String,
    /// Host without IPv6 brackets.
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl Via {
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str) -> Via {
        Via {
            protocol: "SIP/2.0".to_owned(),
            transport: transport.to_ascii_uppercase(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            params: vec![("branch".to_owned(), Some(branch.to_owned()))],
        }
    }

    /// Parse a single via-parm (no commas).
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        // sent-protocol = name LWS? "/" LWS? version LWS? "/" LWS? transport
        let mut parts = Vec::with_capacity(3);
        let mut rest = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
        for i in 0..3 {
            let end = rest
                .find(|c: char| c == '/' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let tok = &rest[..end];
            if !is_token(tok) {
                return Err(err("bad Via sent-protocol"));
            }
            parts.push(tok);
            rest = rest[end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
            if i < 2 {
                rest = rest
                    .strip_prefix('/')
                    .ok_or_else(|| err("bad Via sent-protocol"))?
                    .trim_start_matches(|c: char| c.is_ascii_whitespace());
            }
        }
        let protocol = if parts[0].eq_ignore_ascii_case("SIP") && parts[1] == "2.0" {
            String::from("SIP/2.0")
        } else {
            format!("{}/{}", parts[0].to_ascii_uppercase(), parts[1])
        };
        let transport = parts[2].to_ascii_uppercase();
        // sent-by up to ';' (no whitespace inside except around ':', which we refuse as unusual)
        let semi = rest.find(';').unwrap_or(rest.len());
        let sent_by = rest[..semi].trim_end_matches(|c: char| c.is_ascii_whitespace());
        // COLON = SWS ":" SWS: whitespace may surround the port's colon, nowhere else.
        let compact;
        let sent_by = if sent_by.bytes().any(is_ws) {
            compact = sent_by
                .split(':')
                .map(|p| p.trim_matches(|c: char| c.is_ascii_whitespace()))
                .collect::<Vec<_>>()
                .join(":");
            compact.as_str()
        } else {
            sent_by
        };
        if sent_by.is_empty() || sent_by.bytes().any(is_ws) {
            return Err(err("bad Via sent-by"));
        }
        let (host, port) = parse_hostport(sent_by)?;
        let params = if semi < rest.len() {
            parse_params(split_iter(&rest[semi + 1..], b';')?)?
        } else {
            Vec::new()
        };
        let via = Via {
            protocol,
            transport,
            host,
            port,
            params,
        };
        if let Some(b) = via.param("branch") {
            if b.is_none_or(|b| b.starts_with('"')) {
                return Err(err("bad Via branch"));
            }
        }
        Ok(via)
    }

    pub fn param(&self, n: &str) -> Option<Option<&str>> {
        find_param(&self.params, n)
    }
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }
    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }
    /// `Some(None)` = `;rport` present without a value (the request asks for it, RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }
    /// `host[:port]` with IPv6 brackets.
    pub fn sent_by(&self) -> String {
        let mut s = String::with_capacity(self.host.len() + 6);
        push_host(&mut s, &self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.sent_by())?;
        push_params(f, &self.params)
    }
}

/// One Contact value: `*` (only in REGISTER to remove all bindings) or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    Star,
    Addr(NameAddr),
}

impl Contact {
    pub fn parse(s: &str) -> Result<Contact, ParseError> {
        if s.trim() == "*" {
            Ok(Contact::Star)
        } else {
            NameAddr::parse(s).map(Contact::Addr)
        }
    }
    /// The `expires` parameter, if present and numeric.
    pub fn expires(&self) -> Option<u32> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => a.param("expires").flatten().and_then(|e| e.parse().ok()),
        }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Star => f.write_str("*"),
            Contact::Addr(a) => a.fmt(f),
        }
    }
}

/// Replaces header (RFC 3891).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    pub early_only: bool,
}

impl Replaces {
    pub fn parse(s: &str) -> Result<Replaces, ParseError> {
        let pieces = split_outside(s.trim(), b';')?;
        let call_id = pieces[0].trim();
        if call_id.is_empty() || call_id.bytes().any(is_ws) {
            return Err(err("bad Replaces call-id"));
        }
        let params = parse_params(pieces[1..].iter().copied())?;
        let to_tag = find_param(&params, "to-tag")
            .flatten()
            .ok_or_else(|| err("Replaces without to-tag"))?;
        let from_tag = find_param(&params, "from-tag")
            .flatten()
            .ok_or_else(|| err("Replaces without from-tag"))?;
        Ok(Replaces {
            call_id: call_id.to_owned(),
            to_tag: to_tag.to_owned(),
            from_tag: from_tag.to_owned(),
            early_only: find_param(&params, "early-only").is_some(),
        })
    }
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("\"Bob \\\"B\\\"\" <sip:bob@example.com;transport=tcp>;tag=abc;x")
            .unwrap();
        assert_eq!(a.display.as_deref(), Some("Bob \"B\""));
        assert_eq!(a.uri.param("transport"), Some(Some("tcp")));
        assert_eq!(a.tag(), Some("abc"));
        assert_eq!(a.param("x"), Some(None));
        assert_eq!(NameAddr::parse(&a.to_string()).unwrap(), a);

        let b = NameAddr::parse("sip:bob@example.com;tag=1").unwrap();
        assert_eq!(b.tag(), Some("1"));
        assert!(b.uri.params.is_empty());

        let c = NameAddr::parse("Bob  Smith <tel:12345>").unwrap();
        assert_eq!(c.display.as_deref(), Some("Bob Smith"));
        assert_eq!(c.uri.user.as_deref(), Some("12345"));
    }

    #[test]
    fn name_addr_errors() {
        for bad in [
            "\"unterminated <sip:a@b>",
            "<sip:a@b",
            "Bell, Alexander <sip:a@b>",
            "sip:a@b;tag",
            "<sip:a@b> junk",
            "<sip:a @b>",
        ] {
            let r = NameAddr::parse(bad);
            if bad == "sip:a@b;tag" {
                assert!(r.is_ok());
            } else {
                assert!(r.is_err(), "{bad}");
            }
        }
    }

    #[test]
    fn via_with_spaces_and_params() {
        let v = Via::parse(
            "SIP  /   2.0 / udp 192.0.2.2:5061;branch=z9hG4bK1;rport;received=[2001:db8::9]",
        )
        .unwrap();
        assert_eq!(v.protocol, "SIP/2.0");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("[2001:db8::9]"));
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
        let spaced = Via::parse("SIP/2.0/UDP host.example : 5062 ;branch=z9hG4bKs").unwrap();
        assert_eq!(
            (spaced.host.as_str(), spaced.port),
            ("host.example", Some(5062))
        );
        assert!(Via::parse("SIP/2.0/UDP host example;branch=z9hG4bKs").is_err());
        let v6 = Via::parse("SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKx;rport=5070").unwrap();
        assert_eq!(v6.host, "2001:db8::1");
        assert_eq!(v6.rport(), Some(Some(5070)));
        assert_eq!(v6.sent_by(), "[2001:db8::1]:5060");
    }

    #[test]
    fn liberal_parameter_values() {
        let a = NameAddr::parse("<sip:a@b>;tag=ab/cd+ef==;x=1.2.3.4:5060;y=[::1]").unwrap();
        assert_eq!(a.tag(), Some("ab/cd+ef=="));
        assert_eq!(a.param("x"), Some(Some("1.2.3.4:5060")));
        assert_eq!(NameAddr::parse(&a.to_string()).unwrap(), a);
        assert!(NameAddr::parse("<sip:a@b>;tag=a\"b").is_err());
        assert!(NameAddr::parse("<sip:a@b>;tag=").is_err());
    }

    #[test]
    fn replaces_parses() {
        let r = Replaces::parse("12345@host;to-tag=a;from-tag=b;early-only").unwrap();
        assert_eq!(r.call_id, "12345@host");
        assert_eq!(
            (r.to_tag.as_str(), r.from_tag.as_str(), r.early_only),
            ("a", "b", true)
        );
        assert_eq!(Replaces::parse(&r.to_string()).unwrap(), r);
        assert!(Replaces::parse("x;to-tag=a").is_err());
    }

    #[test]
    fn split_respects_quotes_and_angles() {
        let v = split_list("\"a,b\" <sip:x@y;p=1,2>, <sip:z@w>").unwrap();
        assert_eq!(v, vec!["\"a,b\" <sip:x@y;p=1,2>", "<sip:z@w>"]);
        assert!(split_list("\"open").is_err());
    }
}
