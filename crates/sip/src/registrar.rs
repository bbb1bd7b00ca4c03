//! Registrar for seats (RFC 3261 §10.3) with digest authentication, and the OPTIONS answer.
//!
//! Sans-IO: [`Registrar::on_register`] takes a parsed REGISTER, where it came from and `now`, and
//! returns the complete response bytes plus what changed. The daemon sends the bytes and asks
//! [`Registrar::lookup`] where a seat can be reached.
//!
//! Wiring in the daemon: answer through the non-INVITE server transaction (so retransmitted
//! REGISTERs are absorbed); call [`Registrar::expire`] periodically (it also purges replay state);
//! reach a seat at `lookup(seat)[0].target()` with the binding's Contact URI as Request-URI (for
//! TCP that is the seat's own connection); authenticate seat-originated INVITE/REFER with
//! [`Registrar::authenticate_request`]; answer OPTIONS with [`options_response`].
//!
//! Deliberate choices:
//! * We never issue GRUUs (RFC 5627): no `pub-gruu`/`temp-gruu` in our 200 OK, so clients such as
//!   Linphone keep their own Contact and never end up with a port-less GRUU we cannot route.
//! * Extension enumeration (sipvicious `svwar`): a user that is not a seat gets the same 401 as a
//!   seat, and a wrong password the same 403; the digest is computed against a secret dummy password
//!   for unknown users so the work done is the same too.
//! * Brute force: wrong responses are counted per source IP (per /64 for IPv6); past the limit
//!   the source gets 403 for everything until the lockout ends. Bounded memory for the counters.
//! * A Date header (RFC 3261 §10.3 step 8, SHOULD) is not added: the core has no wall clock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use crate::auth::{Algorithm, AuthOutcome, Credentials, DigestChallenger};
use crate::header::{Contact, NameAddr};
use crate::message::{Method, SipMessage};
use crate::uri::{Scheme, Uri};

/// Where seat passwords come from (config: seats 1001–1012 in the example).
pub trait SeatDirectory {
    /// The seat's password, or `None` when `user` is not a seat.
    fn password(&self, user: &str) -> Option<&str>;
}

impl SeatDirectory for HashMap<String, String> {
    fn password(&self, user: &str) -> Option<&str> {
        self.get(user).map(String::as_str)
    }
}

impl SeatDirectory for std::collections::BTreeMap<String, String> {
    fn password(&self, user: &str) -> Option<&str> {
        self.get(user).map(String::as_str)
    }
}

/// Every limit of the registrar, as named config values (seconds and counts). Deserializable
/// so the daemon's config can embed it (`[sip.registrar]`); missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarLimits {
    /// Shorter non-zero expiries get 423 Interval Too Brief with this Min-Expires.
    pub min_expires: u32,
    /// Longer expiries are shortened to this.
    pub max_expires: u32,
    /// Used when neither the Contact nor an Expires header says.
    pub default_expires: u32,
    /// Oldest bindings are dropped beyond this (a phone that changed address keeps working).
    pub max_contacts_per_seat: usize,
    /// Wrong responses from one source IP, within `failure_window_secs`, before lockout
    /// (0 disables the lockout).
    pub max_auth_failures: u32,
    pub failure_window_secs: u32,
    /// How long a source that hit `max_auth_failures` gets 403 for everything.
    pub lockout_secs: u32,
    /// Bound on the per-source failure table.
    pub max_tracked_sources: usize,
    /// Lifetime of a nonce before it is answered with `stale=true`.
    pub nonce_ttl_secs: u32,
    /// Digest challenges offered, in this order; see [`Registrar::set_algorithms`] for why the
    /// default is `["MD5"]`.
    pub digest_algorithms: Vec<Algorithm>,
}

impl Default for RegistrarLimits {
    fn default() -> Self {
        RegistrarLimits {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_seat: 5,
            max_auth_failures: 5,
            failure_window_secs: 60,
            lockout_secs: 300,
            max_tracked_sources: 10_000,
            nonce_ttl_secs: 300,
            digest_algorithms: vec![Algorithm::Md5],
        }
    }
}

/// One registered contact of a seat.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub seat: String,
    /// The Contact as registered, without its `expires` parameter (other params such as
    /// `+sip.instance` are kept and echoed).
    pub contact: NameAddr,
    /// Where the REGISTER came from; see [`Binding::target`].
    pub source: SocketAddr,
    /// Transport the REGISTER arrived on, upper-case (`UDP`, `TCP`, ...).
    pub transport: String,
    pub call_id: String,
    pub cseq: u32,
    pub expires_at: Instant,
    /// Last time this binding was added or refreshed.
    pub updated_at: Instant,
    /// RFC 5626 `+sip.instance` (with its quotes, as on the wire) and `reg-id`.
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
}

/// A binding written to disk (`Registrar::export`) and read back after a restart (`Registrar::import`):
/// times are relative, since `Instant`s do not survive the process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredBinding {
    pub seat: String,
    pub contact: String,
    pub source: SocketAddr,
    pub transport: String,
    pub call_id: String,
    pub cseq: u32,
    /// Lifetime left when exported.
    pub expires_in_ms: u64,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
}

impl Binding {
    /// Seconds left, rounded up (what we print as `;expires=`).
    pub fn expires_in(&self, now: Instant) -> u32 {
        let left = self.expires_at.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// Address to send requests for this binding to. The Contact is used only when it names
    /// exactly the address the REGISTER came from; otherwise (NAT, private or host-name
    /// contacts) the source address is the one that reaches the seat. The Request-URI of such
    /// requests is still the Contact URI.
    pub fn target(&self) -> SocketAddr {
        let uri = &self.contact.uri;
        if let Ok(ip) = uri.host.parse::<IpAddr>() {
            let default_port = if uri.scheme == Scheme::Sips {
                5061
            } else {
                5060
            };
            let addr = SocketAddr::new(ip, uri.port.unwrap_or(default_port));
            if addr == self.source {
                return addr;
            }
        }
        self.source
    }

    /// The Contact header value we return in 200 OK.
    fn contact_value(&self, now: Instant) -> String {
        format!("{};expires={}", self.contact, self.expires_in(now))
    }
}

/// What a REGISTER led to, for the daemon (the response says it to the client).
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterEvent {
    /// 401 (or 407) sent: no, stale, replayed or foreign-realm credentials.
    Challenged,
    /// 400/403/420/423/500 sent; `reason` is for logs and metrics.
    Refused { reason: &'static str },
    /// Authenticated query without Contact: nothing changed.
    Queried { seat: String },
    /// Bindings of `seat` changed; `bindings` is the new set (empty = unregistered).
    Updated {
        seat: String,
        bindings: Vec<Binding>,
    },
}

/// Result of [`Registrar::authenticate_request`].
#[derive(Debug, Clone)]
pub enum AuthCheck {
    /// Credentials valid for `seat`, who is also the From user.
    Authenticated { seat: String },
    /// Send this (401/407 challenge, 400, 403).
    Respond(RegisterOutcome),
}

/// The response to send and what happened.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    pub status: u16,
    pub response: Bytes,
    pub event: RegisterEvent,
}

#[derive(Debug, Clone)]
struct Failures {
    count: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

/// Methods the daemon answers (Allow in OPTIONS and 405s) and extensions it honours (Supported): kept in
/// [`crate::capabilities`], re-exported here where they were first used.
pub use crate::capabilities::{ALLOW, SUPPORTED};

/// Seat registrar for one realm/domain.
pub struct Registrar {
    domain: String,
    aliases: Vec<String>,
    limits: RegistrarLimits,
    auth: DigestChallenger,
    algorithms: Vec<Algorithm>,
    bindings: HashMap<String, Vec<Binding>>,
    failures: HashMap<FailKey, Failures>,
    /// Password checked for users that are not seats, so they fail the same way seats do.
    dummy_password: String,
    tag_key: [u8; 32],
    /// Seats that may register over TLS only (remote seats: their digest exchange and, through SDES, their
    /// media keys must not cross the internet in clear).
    tls_only: std::collections::HashSet<String>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("domain", &self.domain)
            .field("limits", &self.limits)
            .field("seats", &self.bindings.len())
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// With a fresh random secret (nonces and tags do not outlive the process).
    pub fn new(realm: &str, domain: &str, limits: RegistrarLimits) -> Registrar {
        Registrar::with_secret(realm, domain, limits, DigestChallenger::random_secret())
    }

    /// Deterministic variant for tests.
    pub fn with_secret(
        realm: &str,
        domain: &str,
        limits: RegistrarLimits,
        secret: [u8; 32],
    ) -> Registrar {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(secret);
            h.update(label);
            h.finalize().into()
        };
        let ttl = Duration::from_secs(u64::from(limits.nonce_ttl_secs));
        Registrar {
            domain: domain.to_ascii_lowercase(),
            aliases: Vec::new(),
            auth: DigestChallenger::new(realm, derive(b"nonce"), ttl),
            algorithms: if limits.digest_algorithms.is_empty() {
                vec![Algorithm::Md5]
            } else {
                limits.digest_algorithms.clone()
            },
            bindings: HashMap::new(),
            failures: HashMap::new(),
            dummy_password: hex::encode(derive(b"dummy")),
            tag_key: derive(b"tag"),
            limits,
            tls_only: Default::default(),
        }
    }

    /// Whether `seat` is TLS-only and `transport` (`"UDP"`, `"TLS"`, …) is not TLS: then its requests get
    /// `403 TLS Required` too, once authenticated (the shell asks after [`Registrar::authenticate_request`]).
    pub fn tls_required(&self, seat: &str, transport: &str) -> bool {
        self.tls_only.contains(seat) && !transport.eq_ignore_ascii_case("TLS")
    }

    /// These seats' REGISTERs over anything but TLS get `403 TLS Required` (see [`Registrar::on_register`]).
    pub fn set_tls_only(&mut self, seats: impl IntoIterator<Item = String>) {
        self.tls_only = seats.into_iter().collect();
    }

    /// Another host name we answer for (the domain itself and IP literals are always accepted,
    /// since seats commonly register to the daemon's address).
    pub fn add_alias(&mut self, host: &str) {
        self.aliases.push(host.to_ascii_lowercase());
    }

    /// Digest algorithms offered, one challenge each, in this order (preferred first).
    ///
    /// Default: MD5 only. Peers on Debian 12 break on anything else: SIPp 3.6.1 answers only the
    /// first challenge and only with MD5, and baresip 1.0 (libre 1.1) gives up on the whole 401
    /// as soon as one challenge is SHA-256 (see `tests/registrar_peers.rs`). Offer
    /// `[Sha256, Md5]` (RFC 8760 order) when every seat's phone is known to cope. Credentials
    /// with either algorithm are verified whatever is offered.
    pub fn set_algorithms(&mut self, algorithms: &[Algorithm]) {
        if !algorithms.is_empty() {
            self.algorithms = algorithms.to_vec();
            self.limits.digest_algorithms = algorithms.to_vec();
        }
    }

    pub fn limits(&self) -> &RegistrarLimits {
        &self.limits
    }

    fn serves(&self, host: &str) -> bool {
        host.eq_ignore_ascii_case(&self.domain)
            || self.aliases.iter().any(|a| host.eq_ignore_ascii_case(a))
            || host.parse::<IpAddr>().is_ok()
    }

    fn to_tag(&self, req: &SipMessage) -> String {
        // Deterministic per request so a retransmitted REGISTER gets the same To tag.
        let mut h = Sha256::new();
        h.update(self.tag_key);
        h.update(req.call_id().as_bytes());
        h.update(req.cseq().seq.to_be_bytes());
        hex::encode(&h.finalize()[..6])
    }

    fn respond(
        &self,
        req: &SipMessage,
        status: u16,
        reason: &str,
        headers: &[(&str, String)],
    ) -> Bytes {
        let mut b = req.response(status, reason).to_tag(&self.to_tag(req));
        for (n, v) in headers {
            b = b.header(n, v);
        }
        b.build()
    }

    fn refuse(
        &self,
        req: &SipMessage,
        status: u16,
        reason: &'static str,
        headers: &[(&str, String)],
    ) -> RegisterOutcome {
        RegisterOutcome {
            status,
            response: self.respond(req, status, reason_phrase(status, reason), headers),
            event: RegisterEvent::Refused { reason },
        }
    }

    fn challenge(
        &mut self,
        req: &SipMessage,
        stale: bool,
        now: Instant,
        proxy: bool,
    ) -> RegisterOutcome {
        let values = self.auth.challenge(now, stale, &self.algorithms);
        let (status, reason, name) = if proxy {
            (407, "Proxy Authentication Required", "Proxy-Authenticate")
        } else {
            (401, "Unauthorized", "WWW-Authenticate")
        };
        let headers: Vec<(&str, String)> = values.into_iter().map(|v| (name, v)).collect();
        RegisterOutcome {
            status,
            response: self.respond(req, status, reason, &headers),
            event: RegisterEvent::Challenged,
        }
    }

    fn locked_out(&mut self, key: FailKey, now: Instant) -> bool {
        match self.failures.get(&key) {
            Some(Failures {
                locked_until: Some(until),
                ..
            }) if now < *until => true,
            Some(Failures {
                locked_until: Some(_),
                ..
            }) => {
                self.failures.remove(&key);
                false
            }
            _ => false,
        }
    }

    fn record_failure(&mut self, key: FailKey, now: Instant) {
        if self.limits.max_auth_failures == 0 {
            return;
        }
        let window = Duration::from_secs(u64::from(self.limits.failure_window_secs));
        if !self.failures.contains_key(&key)
            && self.failures.len() >= self.limits.max_tracked_sources.max(1)
        {
            self.prune_failures(now);
            if self.failures.len() >= self.limits.max_tracked_sources.max(1) {
                // Full of live entries: forget the one whose window started first.
                if let Some(oldest) = self
                    .failures
                    .iter()
                    .filter(|(_, f)| f.locked_until.is_none())
                    .min_by_key(|(_, f)| f.window_start)
                    .map(|(k, _)| k.clone())
                {
                    self.failures.remove(&oldest);
                } else {
                    return; // every tracked source is locked out; do not grow
                }
            }
        }
        let f = self.failures.entry(key).or_insert(Failures {
            count: 0,
            window_start: now,
            locked_until: None,
        });
        if now.saturating_duration_since(f.window_start) > window {
            f.count = 0;
            f.window_start = now;
        }
        f.count = f.count.saturating_add(1);
        if f.count >= self.limits.max_auth_failures {
            f.locked_until = Some(now + Duration::from_secs(u64::from(self.limits.lockout_secs)));
        }
    }

    fn prune_failures(&mut self, now: Instant) {
        let window = Duration::from_secs(u64::from(self.limits.failure_window_secs));
        self.failures.retain(|_, f| match f.locked_until {
            Some(until) => now < until,
            None => now.saturating_duration_since(f.window_start) <= window,
        });
    }

    /// Handles one REGISTER (RFC 3261 §10.3 steps 1–8). `transport` is the transport it arrived
    /// on (`"UDP"`, `"TCP"`, ...).
    pub fn on_register(
        &mut self,
        req: &SipMessage,
        source: SocketAddr,
        transport: &str,
        seats: &impl SeatDirectory,
        now: Instant,
    ) -> RegisterOutcome {
        if req.method() != Some(&Method::Register) {
            return self.refuse(req, 405, "not a REGISTER", &[("Allow", ALLOW.to_string())]);
        }
        if self.locked_out(fail_key(source, req), now) {
            return self.refuse(
                req,
                403,
                "source locked out after failed authentications",
                &[],
            );
        }
        // Step 1: the Request-URI and AOR must be ours (never act for a foreign domain).
        let Some(ruri) = req.request_uri() else {
            return self.refuse(req, 400, "no Request-URI", &[]);
        };
        let aor = &req.to().uri;
        if !matches!(ruri.scheme, Scheme::Sip | Scheme::Sips)
            || !matches!(aor.scheme, Scheme::Sip | Scheme::Sips)
        {
            return self.refuse(
                req,
                400,
                "REGISTER needs sip: or sips: Request-URI and To",
                &[],
            );
        }
        if !self.serves(&ruri.host) || !self.serves(&aor.host) {
            return self.refuse(req, 403, "domain not served", &[]);
        }
        // Step 2: we support no extension a REGISTER could require.
        let required = req.require();
        if !required.is_empty() {
            return self.refuse(
                req,
                420,
                "unsupported Require",
                &[("Unsupported", required.join(", "))],
            );
        }
        // Steps 3–4: authentication, and a seat may only register its own AOR (same 403 as a
        // wrong password, so the AOR check reveals nothing either).
        let seat = match self.authenticate(req, source, seats, now, false) {
            Ok(seat) => seat,
            Err(out) => return out,
        };
        if aor.user.as_deref() != Some(seat.as_str()) {
            self.record_failure(fail_key(source, req), now);
            return self.refuse(req, 403, "authenticated user does not own the AOR", &[]);
        }
        self.failures.remove(&fail_key(source, req));
        // A TLS-only seat on UDP/TCP: 403, since no credentials will help on this transport (421 Extension
        // Required is for option tags in Require, not for transports). Checked after authentication, so a
        // stranger learns neither that the account exists nor that it is TLS-only; the seat's phone should be
        // set to TLS anyway, so that even its digest response never travels in clear.
        if self.tls_required(&seat, transport) {
            return RegisterOutcome {
                status: 403,
                response: self.respond(req, 403, "TLS Required", &[]),
                event: RegisterEvent::Refused {
                    reason: "TLS-only seat registering without TLS",
                },
            };
        }

        // Steps 6–7: contacts.
        let contacts = match req.contacts() {
            Ok(c) => c,
            Err(_) => return self.refuse(req, 400, "malformed Contact", &[]),
        };
        if contacts.is_empty() {
            let headers = self.contact_headers(&seat, now);
            return RegisterOutcome {
                status: 200,
                response: self.respond(req, 200, "OK", &headers),
                event: RegisterEvent::Queried { seat },
            };
        }
        match self.apply(&seat, req, &contacts, source, transport, now) {
            Ok(bindings) => {
                let headers = self.contact_headers(&seat, now);
                RegisterOutcome {
                    status: 200,
                    response: self.respond(req, 200, "OK", &headers),
                    event: RegisterEvent::Updated { seat, bindings },
                }
            }
            Err(Refusal {
                status,
                reason,
                headers,
            }) => self.refuse(req, status, reason, &headers),
        }
    }

    /// Digest-authenticates any request from a seat (e.g. an INVITE or REFER a seat sends to the
    /// daemon): 401 with `WWW-Authenticate` as a UAS, or 407 with `Proxy-Authenticate` when
    /// `proxy` is set. The From user must be the authenticated seat. Shares nonces, replay state
    /// and the brute-force lockout with REGISTER.
    pub fn authenticate_request(
        &mut self,
        req: &SipMessage,
        source: SocketAddr,
        seats: &impl SeatDirectory,
        now: Instant,
        proxy: bool,
    ) -> AuthCheck {
        let seat = match self.authenticate(req, source, seats, now, proxy) {
            Ok(seat) => seat,
            Err(out) => return AuthCheck::Respond(out),
        };
        if req.from().uri.user.as_deref() != Some(seat.as_str()) {
            self.record_failure(fail_key(source, req), now);
            return AuthCheck::Respond(self.refuse(
                req,
                403,
                "authenticated user is not the From user",
                &[],
            ));
        }
        self.failures.remove(&fail_key(source, req));
        AuthCheck::Authenticated { seat }
    }

    /// Lockout, credentials for our realm, verification. `Ok(seat)` or the response to send.
    fn authenticate(
        &mut self,
        req: &SipMessage,
        source: SocketAddr,
        seats: &impl SeatDirectory,
        now: Instant,
        proxy: bool,
    ) -> Result<String, RegisterOutcome> {
        if self.locked_out(fail_key(source, req), now) {
            return Err(self.refuse(
                req,
                403,
                "source locked out after failed authentications",
                &[],
            ));
        }
        let header = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        // Only the credentials for our realm count (RFC 3261 §22.4).
        let mut ours: Option<Credentials> = None;
        for (name, value) in req.headers() {
            if !name.eq_ignore_ascii_case(header) {
                continue;
            }
            match Credentials::parse(value) {
                Ok(c) if c.realm.as_deref() == Some(self.auth.realm()) => {
                    ours = Some(c);
                    break;
                }
                Ok(_) => {}
                Err(_) => return Err(self.refuse(req, 400, "malformed Authorization", &[])),
            }
        }
        let Some(creds) = ours else {
            return Err(self.challenge(req, false, now, proxy));
        };
        let username = creds.username.clone().unwrap_or_default();
        let known = seats.password(&username);
        let is_seat = known.is_some();
        // Unknown users are checked against a secret dummy password: same work, same 403.
        let password = known.unwrap_or(&self.dummy_password).to_string();
        let method = req.method().map_or("", |m| m.as_str()).to_string();
        match self.auth.verify(&method, &creds, &password, now) {
            AuthOutcome::Ok if is_seat => Ok(username),
            AuthOutcome::Ok | AuthOutcome::WrongResponse => {
                self.record_failure(fail_key(source, req), now);
                Err(self.refuse(req, 403, "wrong credentials", &[]))
            }
            AuthOutcome::Stale => Err(self.challenge(req, true, now, proxy)),
            AuthOutcome::BadNonce | AuthOutcome::WrongRealm | AuthOutcome::Replay => {
                Err(self.challenge(req, false, now, proxy))
            }
            AuthOutcome::Malformed(_) => Err(self.refuse(req, 400, "malformed Authorization", &[])),
        }
    }

    /// Computes the new binding set for `seat` and commits it only if every contact is acceptable.
    fn apply(
        &mut self,
        seat: &str,
        req: &SipMessage,
        contacts: &[Contact],
        source: SocketAddr,
        transport: &str,
        now: Instant,
    ) -> Result<Vec<Binding>, Refusal> {
        let call_id = req.call_id();
        let cseq = req.cseq().seq;
        let mut current: Vec<Binding> = self
            .bindings
            .get(seat)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        let out_of_order = |b: &Binding| b.call_id == call_id && cseq <= b.cseq;

        if contacts.iter().any(|c| matches!(c, Contact::Star)) {
            // `Contact: *` must stand alone with Expires: 0 (§10.3 step 6).
            if contacts.len() != 1 || req.expires() != Some(0) {
                return Err(Refusal::new(
                    400,
                    "Contact: * needs to be alone and with Expires: 0",
                ));
            }
            if current.iter().any(out_of_order) {
                return Err(Refusal::out_of_order());
            }
            self.bindings.remove(seat);
            return Ok(Vec::new());
        }

        let header_expires = header_expires(req);
        let mut wanted: Vec<(NameAddr, u32)> = Vec::with_capacity(contacts.len());
        for c in contacts {
            let Contact::Addr(addr) = c else { continue };
            if !matches!(addr.uri.scheme, Scheme::Sip | Scheme::Sips) {
                return Err(Refusal::new(400, "Contact must be a sip: or sips: URI"));
            }
            let expires = match addr.param("expires") {
                Some(Some(v)) => parse_delta(v).unwrap_or(self.limits.default_expires),
                _ => header_expires.unwrap_or(self.limits.default_expires),
            };
            if expires != 0 && expires < self.limits.min_expires {
                return Err(Refusal {
                    status: 423,
                    reason: "interval too brief",
                    headers: vec![("Min-Expires", self.limits.min_expires.to_string())],
                });
            }
            let mut stored = addr.clone();
            stored
                .params
                .retain(|(k, _)| !k.eq_ignore_ascii_case("expires"));
            wanted.push((stored, expires.min(self.limits.max_expires)));
        }

        // `touched` marks bindings this request added or refreshed: a contact repeated in the
        // same request is not out of order, and touched bindings outrank older ones at the limit.
        let mut touched = vec![false; current.len()];
        let mut added = 0usize;
        for (contact, expires) in wanted {
            let instance = contact.param("+sip.instance").flatten().map(str::to_owned);
            let reg_id = contact
                .param("reg-id")
                .flatten()
                .and_then(|r| r.parse().ok());
            let existing = current
                .iter()
                .position(|b| same_binding(b, &contact, instance.as_deref(), reg_id));
            if let Some(i) = existing {
                if !touched[i] && out_of_order(&current[i]) {
                    return Err(Refusal::out_of_order());
                }
                if expires == 0 {
                    current.remove(i);
                    touched.remove(i);
                    continue;
                }
                let b = &mut current[i];
                b.contact = contact;
                b.source = source;
                b.transport = transport.to_ascii_uppercase();
                b.call_id = call_id.to_string();
                b.cseq = cseq;
                b.expires_at = now + Duration::from_secs(u64::from(expires));
                b.updated_at = now;
                b.instance = instance;
                b.reg_id = reg_id;
                touched[i] = true;
            } else if expires != 0 {
                added += 1;
                current.push(Binding {
                    seat: seat.to_string(),
                    contact,
                    source,
                    transport: transport.to_ascii_uppercase(),
                    call_id: call_id.to_string(),
                    cseq,
                    expires_at: now + Duration::from_secs(u64::from(expires)),
                    updated_at: now,
                    instance,
                    reg_id,
                });
                touched.push(true);
            }
        }
        let max = self.limits.max_contacts_per_seat.max(1);
        if added > max {
            return Err(Refusal::new(
                403,
                "more contacts in one REGISTER than allowed per seat",
            ));
        }
        // This request's bindings first, then the rest newest first; beyond the limit the
        // oldest go.
        let mut ranked: Vec<(bool, Binding)> = touched.into_iter().zip(current).collect();
        ranked.sort_by_key(|(t, b)| (std::cmp::Reverse(*t), std::cmp::Reverse(b.updated_at)));
        let mut current: Vec<Binding> = ranked.into_iter().map(|(_, b)| b).collect();
        current.truncate(max);
        if current.is_empty() {
            self.bindings.remove(seat);
        } else {
            self.bindings.insert(seat.to_string(), current.clone());
        }
        Ok(current)
    }

    fn contact_headers(&self, seat: &str, now: Instant) -> Vec<(&'static str, String)> {
        self.lookup(seat, now)
            .iter()
            .map(|b| ("Contact", b.contact_value(now)))
            .collect()
    }

    /// Unexpired bindings of `seat`, most recently registered first.
    pub fn lookup(&self, seat: &str, now: Instant) -> Vec<Binding> {
        let mut v: Vec<Binding> = self
            .bindings
            .get(seat)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|b| std::cmp::Reverse(b.updated_at));
        v
    }

    /// Drops expired bindings and stale bookkeeping; returns the seats that have no binding left
    /// (became unregistered), sorted. Call it periodically (e.g. every few seconds).
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut gone = Vec::new();
        self.bindings.retain(|seat, v| {
            v.retain(|b| b.expires_at > now);
            if v.is_empty() {
                gone.push(seat.clone());
                false
            } else {
                true
            }
        });
        self.prune_failures(now);
        self.auth.purge_expired(now);
        gone.sort();
        gone
    }

    /// Seats with at least one unexpired binding, sorted.
    pub fn registered_seats(&self, now: Instant) -> Vec<String> {
        let mut v: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, b)| b.iter().any(|b| b.expires_at > now))
            .map(|(s, _)| s.clone())
            .collect();
        v.sort();
        v
    }

    /// Removes every binding of `seat` (e.g. the seat was deleted from the config on reload, or
    /// an operator forces it out). Returns whether it had any.
    pub fn unregister(&mut self, seat: &str) -> bool {
        self.bindings.remove(seat).is_some()
    }

    /// (source, user) pairs currently refused after too many failed authentications.
    pub fn locked_out_sources(&self, now: Instant) -> usize {
        self.failures
            .values()
            .filter(|f| f.locked_until.is_some_and(|u| now < u))
            .count()
    }

    /// Every unexpired binding, as it survives a restart (see [`StoredBinding`]).
    pub fn export(&self, now: Instant) -> Vec<StoredBinding> {
        let mut v: Vec<StoredBinding> = self
            .bindings
            .values()
            .flatten()
            .filter(|b| b.expires_at > now)
            .map(|b| StoredBinding {
                seat: b.seat.clone(),
                contact: b.contact.to_string(),
                source: b.source,
                transport: b.transport.clone(),
                call_id: b.call_id.clone(),
                cseq: b.cseq,
                expires_in_ms: b.expires_at.saturating_duration_since(now).as_millis() as u64,
                instance: b.instance.clone(),
                reg_id: b.reg_id,
            })
            .collect();
        v.sort_by(|a, b| (&a.seat, &a.contact).cmp(&(&b.seat, &b.contact)));
        v
    }

    /// Restore bindings exported `elapsed` ago by an earlier run (a restart after a crash): those not
    /// expired meanwhile come back with what is left of their lifetime, so seats need not re-register
    /// before taking calls. Bindings of seats no longer configured, and unparseable ones, are skipped.
    /// Returns the seats that have a binding again, sorted.
    pub fn import(
        &mut self,
        stored: Vec<StoredBinding>,
        elapsed: Duration,
        seats: &impl SeatDirectory,
        now: Instant,
    ) -> Vec<String> {
        let mut restored = Vec::new();
        for s in stored {
            let Some(left) = Duration::from_millis(s.expires_in_ms).checked_sub(elapsed) else {
                continue;
            };
            if left.is_zero() || seats.password(&s.seat).is_none() {
                continue;
            }
            let Ok(contact) = NameAddr::parse(&s.contact) else {
                continue;
            };
            let list = self.bindings.entry(s.seat.clone()).or_default();
            if list.len() >= self.limits.max_contacts_per_seat.max(1) {
                continue;
            }
            list.push(Binding {
                seat: s.seat.clone(),
                contact,
                source: s.source,
                transport: s.transport,
                call_id: s.call_id,
                cseq: s.cseq,
                expires_at: now + left,
                updated_at: now,
                instance: s.instance,
                reg_id: s.reg_id,
            });
            restored.push(s.seat);
        }
        restored.sort();
        restored.dedup();
        restored
    }

    /// Total unexpired bindings (for metrics).
    pub fn binding_count(&self, now: Instant) -> usize {
        self.bindings
            .values()
            .flatten()
            .filter(|b| b.expires_at > now)
            .count()
    }
}

/// Who a lockout applies to: the source (see [`source_key`]) and the user it tried, so one seat with a
/// wrong password behind a NAT does not lock out the honest seats behind the same address. The user is
/// the digest username when credentials are present, else the AOR (REGISTER) or From user. Rotating
/// usernames from one address is bounded by the transport's per-source flood limit instead.
type FailKey = (IpAddr, String);

fn fail_key(source: SocketAddr, req: &SipMessage) -> FailKey {
    let from_credentials = req
        .headers()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("Authorization") || n.eq_ignore_ascii_case("Proxy-Authorization")
        })
        .find_map(|(_, v)| Credentials::parse(v).ok().and_then(|c| c.username));
    let user = from_credentials.unwrap_or_else(|| {
        let uri = if req.method() == Some(&Method::Register) {
            &req.to().uri
        } else {
            &req.from().uri
        };
        uri.user.clone().unwrap_or_default()
    });
    (source_key(source), user)
}

/// Failure-counting key: the IP, or the /64 for IPv6 (one host controls a whole /64, so counting
/// single addresses would let it rotate past the lockout).
fn source_key(source: SocketAddr) -> IpAddr {
    match source.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::V6(o.into())
            }
        },
    }
}

struct Refusal {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
}

impl Refusal {
    fn new(status: u16, reason: &'static str) -> Refusal {
        Refusal {
            status,
            reason,
            headers: Vec::new(),
        }
    }
    /// RFC 3261 §10.3 step 7: same Call-ID with a CSeq not above the stored one.
    fn out_of_order() -> Refusal {
        Refusal::new(500, "out-of-order REGISTER (Call-ID/CSeq)")
    }
}

fn reason_phrase(status: u16, fallback: &'static str) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        500 => "Server Internal Error",
        _ => fallback,
    }
}

/// The Expires header as delta-seconds, saturating (a huge value is simply "long").
fn header_expires(req: &SipMessage) -> Option<u32> {
    req.header("Expires").and_then(|v| parse_delta(v.trim()))
}

fn parse_delta(v: &str) -> Option<u32> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

/// RFC 5626 §6: with `+sip.instance` and `reg-id` a binding is identified by those; otherwise by
/// the Contact URI (RFC 3261 §19.1.4 comparison, simplified to the parts that matter here).
fn same_binding(
    b: &Binding,
    contact: &NameAddr,
    instance: Option<&str>,
    reg_id: Option<u32>,
) -> bool {
    if let (Some(i), Some(r)) = (instance, reg_id) {
        return b.instance.as_deref() == Some(i) && b.reg_id == Some(r);
    }
    uri_equal(&b.contact.uri, &contact.uri)
}

fn uri_equal(a: &Uri, b: &Uri) -> bool {
    if a.scheme != b.scheme || a.user != b.user || a.password != b.password || a.port != b.port {
        return false;
    }
    if !a.host.eq_ignore_ascii_case(&b.host) {
        return false;
    }
    // These parameters must match when present in either URI (§19.1.4).
    ["transport", "user", "ttl", "method", "maddr"]
        .iter()
        .all(|p| {
            let pa = a.param(p).flatten().map(str::to_ascii_lowercase);
            let pb = b.param(p).flatten().map(str::to_ascii_lowercase);
            pa == pb
        })
}

/// 200 OK to OPTIONS (RFC 3261 §11.2): what we allow, accept and support.
pub fn options_response(req: &SipMessage) -> Bytes {
    let mut h = Sha256::new();
    h.update(req.call_id().as_bytes());
    h.update(req.cseq().seq.to_be_bytes());
    let tag = hex::encode(&h.finalize()[..6]);
    req.response(200, "OK")
        .to_tag(&tag)
        .header("Allow", ALLOW)
        .header("Accept", "application/sdp")
        .header("Supported", SUPPORTED)
        .build()
}
