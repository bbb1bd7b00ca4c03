//! Digest authentication (RFC 2617, RFC 7616, RFC 8760 for SIP): MD5 and SHA-256, `qop=auth`.
//!
//! Server side: [`DigestChallenger`] issues self-validating nonces (issue time + counter-derived
//! salt + a SHA-256 MAC keyed by a per-process secret), so an expired or forged nonce is recognised
//! without remembering every nonce handed out. Only nonces that were *used* are remembered, in a
//! bounded map of the highest nonce-count seen, to refuse replays. Sans-IO: `now` is always an input.
//!
//! Client side: [`Challenge::parse`] + [`Challenge::respond`] compute an `Authorization` value
//! (used by tests and by our own UAC when a trunk challenges us).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Digest hash algorithm (RFC 8760 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// Token as written in `algorithm=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Case-insensitive parse; `None` for algorithms we do not implement (e.g. SHA-512-256).
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lower-case hex digest of `parts` joined by `:`.
    fn hash(self, parts: &[&str]) -> String {
        fn run<D: sha2::Digest>(mut d: D, parts: &[&str]) -> String {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => run(Md5::new(), parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => run(Sha256::new(), parts),
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 32,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 64,
        }
    }
}

/// From config files: `"MD5"`, `"SHA-256"`, ... (case-insensitive).
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Algorithm::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown digest algorithm {s:?} (MD5, MD5-sess, SHA-256, SHA-256-sess)"
            ))
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Malformed `Authorization` / `WWW-Authenticate` value. Maps to 400 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError(pub &'static str);

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed digest: {}", self.0)
    }
}

impl std::error::Error for AuthError {}

/// Parsed `Digest` auth-params, shared by credentials and challenges. Names are lower-cased.
fn parse_digest_params(value: &str) -> Result<Vec<(String, String)>, AuthError> {
    let v = value.trim_start();
    let scheme_end = v
        .find(|c: char| c.is_ascii_whitespace())
        .ok_or(AuthError("no auth-params"))?;
    if !v[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(AuthError("scheme is not Digest"));
    }
    let b = &v.as_bytes()[scheme_end..];
    let mut i = 0;
    let mut out: Vec<(String, String)> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_token_byte(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(AuthError("expected parameter name"));
        }
        let name = v[scheme_end + start..scheme_end + i].to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(AuthError("parameter without value"));
        }
        i += 1;
        skip_ws(&mut i);
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut s = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(AuthError("unterminated quoted-string")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        // quoted-pair: `\` escapes any char except CR/LF (RFC 3261 §25.1).
                        match b.get(i + 1) {
                            Some(&c) if c != b'\r' && c != b'\n' => {
                                s.push(c);
                                i += 2;
                            }
                            _ => return Err(AuthError("bad escape in quoted-string")),
                        }
                    }
                    Some(&c) => {
                        s.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(s).map_err(|_| AuthError("quoted-string is not UTF-8"))?
        } else {
            let vs = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            if i == vs {
                return Err(AuthError("empty parameter value"));
            }
            v[scheme_end + vs..scheme_end + i].to_string()
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(AuthError("duplicate parameter"));
        }
        out.push((name, value));
        skip_ws(&mut i);
        match b.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return Err(AuthError("expected comma between parameters")),
        }
    }
    if out.is_empty() {
        return Err(AuthError("no auth-params"));
    }
    Ok(out)
}

fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

fn take(params: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let pos = params.iter().position(|(n, _)| n == name)?;
    Some(params.swap_remove(pos).1)
}

/// Digest credentials from an `Authorization` / `Proxy-Authorization` header value.
/// Parsing only checks syntax; [`DigestChallenger::verify`] checks presence and semantics, so a
/// client that omits `cnonce` gets a precise `Malformed` reason rather than a parse failure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub uri: Option<String>,
    pub response: Option<String>,
    /// Raw `algorithm=` token; absent means MD5 (RFC 2617 §3.2.2).
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    /// Raw `nc=` value (8 hex digits on the wire).
    pub nc: Option<String>,
}

impl Credentials {
    pub fn parse(value: &str) -> Result<Credentials, AuthError> {
        let mut p = parse_digest_params(value)?;
        Ok(Credentials {
            username: take(&mut p, "username"),
            realm: take(&mut p, "realm"),
            nonce: take(&mut p, "nonce"),
            uri: take(&mut p, "uri"),
            response: take(&mut p, "response"),
            algorithm: take(&mut p, "algorithm"),
            cnonce: take(&mut p, "cnonce"),
            opaque: take(&mut p, "opaque"),
            qop: take(&mut p, "qop"),
            nc: take(&mut p, "nc"),
        })
    }
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` challenge (client side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    /// qop options offered (`qop="auth,auth-int"` → both).
    pub qop: Vec<String>,
    pub opaque: Option<String>,
    pub stale: bool,
}

impl Challenge {
    pub fn parse(value: &str) -> Result<Challenge, AuthError> {
        let mut p = parse_digest_params(value)?;
        let realm = take(&mut p, "realm").ok_or(AuthError("challenge without realm"))?;
        let nonce = take(&mut p, "nonce").ok_or(AuthError("challenge without nonce"))?;
        let algorithm = match take(&mut p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(AuthError("unsupported algorithm"))?,
        };
        let qop = take(&mut p, "qop")
            .map(|q| {
                q.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Challenge {
            realm,
            nonce,
            algorithm,
            qop,
            opaque: take(&mut p, "opaque"),
            stale: take(&mut p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The first challenge we can answer among several `WWW-Authenticate` / `Proxy-Authenticate`
    /// values (RFC 8760 §2.4: the server lists them most preferred first). Skips unparsable
    /// ones, unsupported algorithms, and qop offers without `auth` (we do not do `auth-int`).
    pub fn first_supported<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .find(|c| c.qop.is_empty() || c.qop.iter().any(|q| q == "auth"))
    }

    /// Builds the `Authorization` value answering this challenge. Uses `qop=auth` when offered
    /// (with `cnonce` and `nc`), the RFC 2069 form otherwise. `nc` starts at 1 per nonce.
    pub fn respond(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let use_qop = self.qop.iter().any(|q| q == "auth");
        let nc_s = format!("{nc:08x}");
        let response = compute_response(
            self.algorithm,
            username,
            &self.realm,
            password,
            &self.nonce,
            use_qop.then_some((nc_s.as_str(), cnonce)),
            method,
            uri,
        );
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            quote_escape(username),
            quote_escape(&self.realm),
            quote_escape(&self.nonce),
            quote_escape(uri),
            response,
            self.algorithm
        );
        if use_qop {
            out.push_str(&format!(
                ", qop=auth, nc={nc_s}, cnonce=\"{}\"",
                quote_escape(cnonce)
            ));
        }
        if let Some(o) = &self.opaque {
            out.push_str(&format!(", opaque=\"{}\"", quote_escape(o)));
        }
        out
    }
}

fn quote_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// The digest `response` value. `qop` is `Some((nc, cnonce))` for `qop=auth`, `None` for RFC 2069.
#[allow(clippy::too_many_arguments)]
pub fn compute_response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
    method: &str,
    uri: &str,
) -> String {
    let mut ha1 = alg.hash(&[username, realm, password]);
    if alg.is_sess() {
        let cnonce = qop.map(|(_, c)| c).unwrap_or("");
        ha1 = alg.hash(&[&ha1, nonce, cnonce]);
    }
    let ha2 = alg.hash(&[method, uri]);
    match qop {
        Some((nc, cnonce)) => alg.hash(&[&ha1, nonce, nc, cnonce, "auth", &ha2]),
        None => alg.hash(&[&ha1, nonce, &ha2]),
    }
}

/// Result of checking credentials against a nonce we issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Response correct, nonce ours and fresh, nonce-count new.
    Ok,
    /// Nonce was ours but has expired (or its replay state was evicted): re-challenge with `stale=true`.
    Stale,
    /// Nonce not issued by us (forged, corrupted, or from before a restart): plain re-challenge.
    BadNonce,
    /// Credentials are for another realm: re-challenge.
    WrongRealm,
    /// Well-formed, our nonce, but the response does not match the password.
    WrongResponse,
    /// nonce-count not above the highest already accepted for this nonce.
    Replay,
    /// Required parameters missing or invalid (e.g. `qop=auth` without `cnonce`/`nc`) → 400.
    Malformed(&'static str),
}

const NONCE_HEX_LEN: usize = 64; // 8 bytes time + 8 bytes salt + 16 bytes MAC
/// Default bound on the replay map; each entry is about 100 bytes.
pub const DEFAULT_REPLAY_CAPACITY: usize = 8192;

/// Issues and verifies nonces for one realm.
pub struct DigestChallenger {
    realm: String,
    secret: [u8; 32],
    nonce_ttl: Duration,
    /// Nonce timestamps are milliseconds since this instant (the first `now` we saw). Nonces do not
    /// outlive the process: a fresh secret per start makes old ones `BadNonce`.
    origin: Option<Instant>,
    counter: u64,
    /// nonce → highest nc accepted; bounded, oldest-used evicted first.
    seen: HashMap<String, u32>,
    /// Tracked nonces in first-use order, with their issue time (ms since origin).
    order: VecDeque<(String, u64)>,
    capacity: usize,
    /// Issue time (ms) of the newest evicted nonce. A nonce issued at or before it and absent from
    /// `seen` may have been used already, so it is answered `Stale` rather than accepted.
    evicted_upto_ms: Option<u64>,
}

impl fmt::Debug for DigestChallenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("DigestChallenger")
            .field("realm", &self.realm)
            .field("nonce_ttl", &self.nonce_ttl)
            .field("tracked_nonces", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl DigestChallenger {
    pub fn new(realm: impl Into<String>, secret: [u8; 32], nonce_ttl: Duration) -> Self {
        DigestChallenger {
            realm: realm.into(),
            secret,
            nonce_ttl,
            origin: None,
            counter: 0,
            seen: HashMap::new(),
            order: VecDeque::new(),
            capacity: DEFAULT_REPLAY_CAPACITY,
            evicted_upto_ms: None,
        }
    }

    /// A fresh secret from the OS RNG, for the daemon shell (cores never draw randomness).
    pub fn random_secret() -> [u8; 32] {
        rand::random()
    }

    /// Bound the replay map (minimum 1).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Number of nonces whose nonce-count is being tracked.
    pub fn tracked_nonces(&self) -> usize {
        self.seen.len()
    }

    fn ms_since_origin(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn mac(&self, ts: &[u8; 8], salt: &[u8; 8]) -> [u8; 16] {
        // secret ‖ data ‖ secret over fixed-length data: no length-extension concern.
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(self.realm.as_bytes());
        h.update([0]);
        h.update(ts);
        h.update(salt);
        h.update(self.secret);
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// Issues a new nonce.
    pub fn new_nonce(&mut self, now: Instant) -> String {
        let ts = self.ms_since_origin(now).to_be_bytes();
        self.counter = self.counter.wrapping_add(1);
        // Salt derived from the secret and a counter: unique per nonce, unpredictable to peers,
        // and deterministic for tests.
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(b"salt");
        h.update(self.counter.to_be_bytes());
        let d = h.finalize();
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&d[..8]);
        let mac = self.mac(&ts, &salt);
        let mut out = String::with_capacity(NONCE_HEX_LEN);
        out.push_str(&hex::encode(ts));
        out.push_str(&hex::encode(salt));
        out.push_str(&hex::encode(mac));
        out
    }

    /// `WWW-Authenticate` (or `Proxy-Authenticate`) values, one per algorithm in the order
    /// given (RFC 8760 §2.4: most preferred first, so normally SHA-256 then MD5), sharing one
    /// nonce. Empty `algorithms` means [SHA-256, MD5]. The order is the caller's because some
    /// peers only ever read the first challenge (see `Registrar::set_algorithms`).
    pub fn challenge(
        &mut self,
        now: Instant,
        stale: bool,
        algorithms: &[Algorithm],
    ) -> Vec<String> {
        let nonce = self.new_nonce(now);
        let mut algs: Vec<Algorithm> = Vec::with_capacity(2);
        for a in if algorithms.is_empty() {
            &[Algorithm::Sha256, Algorithm::Md5][..]
        } else {
            algorithms
        } {
            if !algs.contains(a) {
                algs.push(*a);
            }
        }
        algs.into_iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"{}",
                    quote_escape(&self.realm),
                    nonce,
                    a,
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks the nonce's MAC; returns its issue time (ms since origin).
    fn decode_nonce(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != NONCE_HEX_LEN {
            return None;
        }
        let raw = hex::decode(nonce).ok()?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&raw[8..16]);
        let expect = self.mac(&ts, &salt);
        if bool::from(expect.ct_eq(&raw[16..32])) {
            Some(u64::from_be_bytes(ts))
        } else {
            None
        }
    }

    /// Verifies `creds` for a request with `method`, given the user's password.
    ///
    /// Order matters for information leaks: syntax, realm and nonce are checked before the
    /// response, and the response hash is always computed, so a caller that passes a dummy
    /// password for unknown users gets the same work and the same `WrongResponse`.
    pub fn verify(
        &mut self,
        method: &str,
        creds: &Credentials,
        password: &str,
        now: Instant,
    ) -> AuthOutcome {
        use AuthOutcome::*;
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            creds.username.as_deref(),
            creds.realm.as_deref(),
            creds.nonce.as_deref(),
            creds.uri.as_deref(),
            creds.response.as_deref(),
        ) else {
            return Malformed("missing username, realm, nonce, uri or response");
        };
        let alg = match creds.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) => a,
                None => return Malformed("unsupported algorithm"),
            },
        };
        // We always offer qop="auth"; RFC 2617 §3.2.2 then requires the client to use it.
        match creds.qop.as_deref() {
            None => return Malformed("qop missing"),
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            Some(_) => return Malformed("unsupported qop"),
        }
        let Some(cnonce) = creds.cnonce.as_deref().filter(|c| !c.is_empty()) else {
            return Malformed("qop=auth without cnonce");
        };
        let Some(nc_raw) = creds.nc.as_deref() else {
            return Malformed("qop=auth without nc");
        };
        let nc = match parse_nc(nc_raw) {
            Some(n) => n,
            None => return Malformed("nc is not 1-8 hex digits"),
        };
        if response.len() != alg.hex_len() || !response.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Malformed("response has wrong length for algorithm");
        }
        if realm != self.realm {
            return WrongRealm;
        }
        let Some(issued_ms) = self.decode_nonce(nonce) else {
            return BadNonce;
        };
        let now_ms = self.ms_since_origin(now);
        if issued_ms > now_ms {
            // A valid MAC from the future: issued by an earlier process with the same secret.
            return Stale;
        }
        let ttl_ms = u64::try_from(self.nonce_ttl.as_millis()).unwrap_or(u64::MAX);
        let expired = now_ms - issued_ms > ttl_ms;

        // Compute before deciding, so timing does not depend on the outcome.
        let expected = compute_response(
            alg,
            username,
            realm,
            password,
            nonce,
            Some((nc_raw, cnonce)),
            method,
            uri,
        );
        let got = response.to_ascii_lowercase();
        let matches: bool = expected.as_bytes().ct_eq(got.as_bytes()).into();
        if !matches {
            return WrongResponse;
        }
        if expired {
            return Stale;
        }
        match self.seen.get_mut(nonce) {
            Some(highest) => {
                if nc <= *highest {
                    return Replay;
                }
                *highest = nc;
            }
            None => {
                if self.evicted_upto_ms.is_some_and(|e| issued_ms <= e) {
                    // Its history may have been evicted: we cannot prove this nc is new.
                    return Stale;
                }
                self.remember(nonce, nc, issued_ms);
            }
        }
        Ok
    }

    fn remember(&mut self, nonce: &str, nc: u32, issued_ms: u64) {
        while self.seen.len() >= self.capacity {
            let Some((old, ts)) = self.order.pop_front() else {
                break;
            };
            if self.seen.remove(&old).is_some() {
                self.evicted_upto_ms = Some(self.evicted_upto_ms.map_or(ts, |e| e.max(ts)));
            }
        }
        self.seen.insert(nonce.to_string(), nc);
        self.order.push_back((nonce.to_string(), issued_ms));
    }

    /// Forgets replay state of nonces that have expired anyway (a stale nonce is refused by its
    /// timestamp, so its entry is no longer needed). Cheap (no hashing): call it as often as the
    /// registrar's expiry, e.g. every second.
    pub fn purge_expired(&mut self, now: Instant) {
        let now_ms = self.ms_since_origin(now);
        let ttl_ms = u64::try_from(self.nonce_ttl.as_millis()).unwrap_or(u64::MAX);
        let seen = &mut self.seen;
        self.order.retain(|(n, ts)| {
            let live = now_ms.saturating_sub(*ts) <= ttl_ms;
            if !live {
                seen.remove(n);
            }
            live
        });
    }
}

fn parse_nc(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_response() {
        // RFC 2617 §3.5 (HTTP example, qop=auth, MD5).
        let r = compute_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_example_response() {
        // RFC 7616 §3.9.1 SHA-256 example.
        let r = compute_response(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn nonce_tamper_detected() {
        let mut c = DigestChallenger::new("r", [7; 32], Duration::from_secs(30));
        let t0 = Instant::now();
        let n = c.new_nonce(t0);
        assert!(c.decode_nonce(&n).is_some());
        let mut bad = n.clone().into_bytes();
        bad[3] = if bad[3] == b'0' { b'1' } else { b'0' };
        assert!(c.decode_nonce(std::str::from_utf8(&bad).unwrap()).is_none());
        let other = DigestChallenger::new("r", [8; 32], Duration::from_secs(30));
        assert!(other.decode_nonce(&n).is_none());
    }

    #[test]
    fn nc_parse() {
        assert_eq!(parse_nc("00000001"), Some(1));
        assert_eq!(parse_nc("ffffffff"), Some(u32::MAX));
        assert_eq!(parse_nc("123456789"), None);
        assert_eq!(parse_nc("0x1"), None);
        assert_eq!(parse_nc(""), None);
    }
}
