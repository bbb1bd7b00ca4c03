//! SIP/SIPS/TEL URIs (RFC 3261 §19.1, §25.1; RFC 3966; IPv6 references per RFC 5118).
//!
//! The user part and URI headers are stored unescaped and escaped again on display, so
//! `Uri::parse(&u.to_string()) == Ok(u)` holds for every parsed URI. URI parameters are kept as on
//! the wire (they rarely carry escapes and comparisons happen on the raw token).

use std::fmt;

use crate::header::Param;
use crate::message::ParseError;

/// URI scheme. `Other` keeps any absolute URI we do not interpret (RFC 3261 allows them in
/// From/To/Contact); a Request-URI with an `Other` scheme is refused with 416 by the message parser.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Lower-cased scheme name; the opaque rest of the URI is kept in [`Uri::host`].
    Other(Box<str>),
}

impl Scheme {
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// A parsed URI.
///
/// * `sip:`/`sips:` — `user`, `password` unescaped; `host` without IPv6 brackets.
/// * `tel:` — the telephone-subscriber number is in `user` (so `uri.user` is the dialled number for
///   both `sip:12345@host` and `tel:12345`), `host` is empty, `;phone-context=..` etc. in `params`.
/// * other schemes — everything after `scheme:` is kept verbatim in `host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
    pub headers: Vec<(String, String)>,
}

fn err(reason: &str) -> ParseError {
    ParseError::new(400, reason)
}

impl Uri {
    /// A plain `sip:` URI, handy for building requests.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let colon = s.find(':').ok_or_else(|| err("URI without scheme"))?;
        let scheme_str = &s[..colon];
        if scheme_str.is_empty()
            || !scheme_str.as_bytes()[0].is_ascii_alphabetic()
            || !scheme_str
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(err("invalid URI scheme"));
        }
        let rest = &s[colon + 1..];
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(err("invalid character in URI"));
        }
        if scheme_str.eq_ignore_ascii_case("sip") {
            parse_sip(Scheme::Sip, rest)
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            parse_sip(Scheme::Sips, rest)
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            parse_tel(rest)
        } else {
            if rest.is_empty() {
                return Err(err("empty URI"));
            }
            Ok(Uri {
                scheme: Scheme::Other(scheme_str.to_ascii_lowercase().into_boxed_str()),
                user: None,
                password: None,
                host: rest.to_owned(),
                port: None,
                params: Vec::new(),
                headers: Vec::new(),
            })
        }
    }

    /// `Some(None)` when the parameter is present without a value (e.g. `;lr`). Names compare
    /// case-insensitively.
    pub fn param(&self, n: &str) -> Option<Option<&str>> {
        find_param(&self.params, n)
    }

    /// Value of a URI header (`?Replaces=...`), unescaped. Names compare case-insensitively.
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }

    /// `host[:port]` with IPv6 addresses in brackets, as used in Via sent-by and socket addresses.
    pub fn host_port(&self) -> String {
        let mut s = String::with_capacity(self.host.len() + 8);
        push_host(&mut s, &self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }

    /// The telephone number in a `tel:` URI or the user part of a `sip:`/`sips:` URI, with the
    /// RFC 3966 visual separators (`-` `.` `(` `)`) removed: `tel:+86-10-(12345)` → `+861012345`.
    /// None when there is no user part or it is not a number (digits, leading `+`, `*`, `#`).
    pub fn phone_number(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let n: String = user
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
            .collect();
        let digits = n.strip_prefix('+').unwrap_or(&n);
        let ok = !digits.is_empty()
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        ok.then_some(n)
    }

    /// The `transport` URI parameter, lower-cased if present.
    pub fn transport(&self) -> Option<String> {
        self.param("transport")
            .flatten()
            .map(|t| t.to_ascii_lowercase())
    }
}

impl Uri {
    /// URI comparison of RFC 3261 §19.1.4: scheme, user and password compare exactly (after
    /// unescaping), host case-insensitively, the port must be equal (an absent port does not equal
    /// 5060); `user`, `ttl`, `method`, `maddr` and `transport` must match when either side has them,
    /// other parameters only when both have them; URI headers must all match.
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme
            || self.user != other.user
            || self.password != other.password
            || !self.host.eq_ignore_ascii_case(&other.host)
            || self.port != other.port
        {
            return false;
        }
        let eq_val = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        for n in ["user", "ttl", "method", "maddr", "transport"] {
            match (self.param(n), other.param(n)) {
                (None, None) => {}
                (Some(a), Some(b)) if eq_val(a, b) => {}
                _ => return false,
            }
        }
        for (k, v) in &self.params {
            if let Some(ov) = other.param(k) {
                if !eq_val(v.as_deref(), ov) {
                    return false;
                }
            }
        }
        self.headers.len() == other.headers.len()
            && self
                .headers
                .iter()
                .all(|(k, v)| other.header(k).is_some_and(|ov| ov == v))
    }
}

pub(crate) fn find_param<'a>(params: &'a [Param], n: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(n))
        .map(|(_, v)| v.as_deref())
}

pub(crate) fn push_host(s: &mut String, host: &str) {
    if host.contains(':') {
        s.push('[');
        s.push_str(host);
        s.push(']');
    } else {
        s.push_str(host);
    }
}

fn parse_sip(scheme: Scheme, rest: &str) -> Result<Uri, ParseError> {
    // userinfo never contains an unescaped '@' and neither do hostport/params/headers in valid URIs.
    let (userinfo, hostpart) = match memchr::memchr(b'@', rest.as_bytes()) {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.find(':') {
                Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                None => (ui, None),
            };
            if u.is_empty() {
                return Err(err("empty user in URI"));
            }
            (Some(unescape(u)?), p.map(unescape).transpose()?)
        }
    };
    // hostport ends at the first ';' or '?'
    let hp_end = memchr::memchr2(b';', b'?', hostpart.as_bytes()).unwrap_or(hostpart.len());
    let (host, port) = parse_hostport(&hostpart[..hp_end])?;
    let after = &hostpart[hp_end..];
    let (params_str, headers_str) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    let params = parse_uri_params(params_str)?;
    let mut headers = Vec::new();
    if let Some(hs) = headers_str {
        for h in hs.split('&') {
            let (k, v) = h
                .split_once('=')
                .ok_or_else(|| err("URI header without '='"))?;
            if k.is_empty() {
                return Err(err("empty URI header name"));
            }
            headers.push((unescape(k)?, unescape(v)?));
        }
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

fn parse_tel(rest: &str) -> Result<Uri, ParseError> {
    let end = rest.find(';').unwrap_or(rest.len());
    let number = &rest[..end];
    if number.is_empty()
        || !number.bytes().all(|b| {
            b.is_ascii_hexdigit()
                || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#' | b'%')
        })
    {
        return Err(err("invalid tel: number"));
    }
    Ok(Uri {
        scheme: Scheme::Tel,
        user: Some(unescape(number)?),
        password: None,
        host: String::new(),
        port: None,
        params: parse_uri_params(&rest[end..])?,
        headers: Vec::new(),
    })
}

/// `;a=b;c` → params. Input starts with ';' or is empty.
fn parse_uri_params(s: &str) -> Result<Vec<Param>, ParseError> {
    let mut params = Vec::new();
    if s.is_empty() {
        return Ok(params);
    }
    let s = s
        .strip_prefix(';')
        .ok_or_else(|| err("bad URI parameters"))?;
    for p in s.split(';') {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (p, None),
        };
        if k.is_empty() || !k.bytes().all(is_paramchar) {
            return Err(err("bad URI parameter name"));
        }
        if let Some(v) = &v {
            // '=' inside a value (base64) is outside RFC 3261's paramchar but harmless.
            if !v.bytes().all(|b| is_paramchar(b) || b == b'=') {
                return Err(err("bad URI parameter value"));
            }
        }
        params.push((k.to_owned(), v));
    }
    Ok(params)
}

/// paramchar of RFC 3261 plus '`' so that any token works as a parameter (liberal in what we accept).
fn is_paramchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b'%' | b'`'
        )
}

pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Parse `host[:port]`; IPv6 references must be bracketed (RFC 5118 §4.10).
pub(crate) fn parse_hostport(s: &str) -> Result<(String, Option<u16>), ParseError> {
    let (host, port_str) = if let Some(r) = s.strip_prefix('[') {
        let close = r
            .find(']')
            .ok_or_else(|| err("unterminated IPv6 reference"))?;
        let h = &r[..close];
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            || !h.contains(':')
        {
            return Err(err("invalid IPv6 reference"));
        }
        // RFC 5118 §4.10: RFC 3261's ABNF admits "2001:db8:::192.0.2.1"; be liberal and accept it.
        if h.parse::<std::net::Ipv6Addr>().is_err()
            && h.replacen(":::", "::", 1)
                .parse::<std::net::Ipv6Addr>()
                .is_err()
        {
            return Err(err("invalid IPv6 address"));
        }
        let after = &r[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(err("garbage after IPv6 reference")),
        };
        (h.to_owned(), port)
    } else {
        let (h, p) = match s.find(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        };
        if h.is_empty() {
            return Err(err("empty host"));
        }
        if !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(err("invalid host"));
        }
        (h.to_owned(), p)
    };
    let port = match port_str {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("invalid port"));
            }
            Some(p.parse::<u16>().map_err(|_| err("port out of range"))?)
        }
    };
    Ok((host, port))
}

/// Decode %HH escapes. Fails on malformed escapes or a result that is not UTF-8.
pub(crate) fn unescape(s: &str) -> Result<String, ParseError> {
    if memchr::memchr(b'%', s.as_bytes()).is_none() {
        return Ok(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or_else(|| err("truncated %-escape"))?;
            let hi = (hex[0] as char).to_digit(16);
            let lo = (hex[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(err("invalid %-escape")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err("%-escape decodes to invalid UTF-8"))
}

fn push_escaped(out: &mut String, s: &str, allowed: fn(u8) -> bool) {
    for &b in s.as_bytes() {
        if allowed(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
}

fn user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}
fn password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}
fn tel_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
}
fn hnv_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        s.push_str(self.scheme.as_str());
        s.push(':');
        match self.scheme {
            Scheme::Other(_) => {
                s.push_str(&self.host);
                return f.write_str(&s);
            }
            Scheme::Tel => {
                if let Some(u) = &self.user {
                    push_escaped(&mut s, u, tel_char);
                }
            }
            Scheme::Sip | Scheme::Sips => {
                if let Some(u) = &self.user {
                    push_escaped(&mut s, u, user_char);
                    if let Some(p) = &self.password {
                        s.push(':');
                        push_escaped(&mut s, p, password_char);
                    }
                    s.push('@');
                }
                s.push_str(&self.host_port());
            }
        }
        for (k, v) in &self.params {
            s.push(';');
            s.push_str(k);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        for (i, (k, v)) in self.headers.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            push_escaped(&mut s, k, hnv_char);
            s.push('=');
            push_escaped(&mut s, v, hnv_char);
        }
        f.write_str(&s)
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_with_everything() {
        let u = Uri::parse(
            "sip:alice%20b:pw@[2001:db8::1]:5070;transport=TCP;lr?Subject=hi%20there&X=1",
        )
        .unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user.as_deref(), Some("alice b"));
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.param("Transport"), Some(Some("TCP")));
        assert_eq!(u.transport().as_deref(), Some("tcp"));
        assert_eq!(u.header("subject"), Some("hi there"));
        assert_eq!(u.host_port(), "[2001:db8::1]:5070");
        let again = Uri::parse(&u.to_string()).unwrap();
        assert_eq!(again, u);
    }

    #[test]
    fn tel_uri_keeps_number_in_user() {
        let u = Uri::parse("tel:+86-10-12345;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user.as_deref(), Some("+86-10-12345"));
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
        assert_eq!(u.to_string(), "tel:+86-10-12345;phone-context=example.com");
    }

    #[test]
    fn semicolon_in_user_part() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host, "example.com");
        assert!(u.params.is_empty());
        assert_eq!(Uri::parse(&u.to_string()).unwrap(), u);
    }

    #[test]
    fn liberal_hosts_and_param_values() {
        // '_' is not valid in DNS names but common in private networks.
        let u = Uri::parse("sip:1001@pbx_01.corp.local;key=YWJj==").unwrap();
        assert_eq!(u.host, "pbx_01.corp.local");
        assert_eq!(u.param("key"), Some(Some("YWJj==")));
        assert_eq!(Uri::parse(&u.to_string()).unwrap(), u);
    }

    #[test]
    fn phone_numbers_without_visual_separators() {
        let n = |s: &str| Uri::parse(s).unwrap().phone_number();
        assert_eq!(n("tel:+86-10-(12345)").as_deref(), Some("+861012345"));
        assert_eq!(
            n("sip:12345@gov.example;user=phone").as_deref(),
            Some("12345")
        );
        assert_eq!(n("sip:*21#@pbx").as_deref(), Some("*21#"));
        assert_eq!(n("sip:alice@pbx"), None);
        assert_eq!(n("sip:pbx"), None);
        assert_eq!(n("sip:+@pbx"), None);
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "sip:",
            "sip:user@",
            "sip:host:99999",
            "sip:host:5x",
            "sip:2001:db8::1",
            "sip:[2001:db8::1",
            "sip:[zz::1]",
            "sip:a b@host",
            "sip:%zz@host",
            "nocolon",
            "tel:",
            "sip:host;=x",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn rfc3261_uri_comparison() {
        let eq = |a: &str, b: &str| Uri::parse(a).unwrap().equivalent(&Uri::parse(b).unwrap());
        // RFC 3261 §19.1.4 examples of equivalent URIs
        assert!(eq(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eq(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
        // and the non-equivalent ones
        assert!(!eq(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com:6000;transport=tcp"
        ));
        assert!(!eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        assert!(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
        assert!(!eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
    }

    #[test]
    fn other_scheme_is_opaque() {
        let u = Uri::parse("mailto:a@b.example").unwrap();
        assert_eq!(u.scheme, Scheme::Other("mailto".into()));
        assert_eq!(u.to_string(), "mailto:a@b.example");
    }
}
