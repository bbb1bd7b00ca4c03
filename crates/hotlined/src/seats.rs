//! The seats' registrations: the sans-IO `Registrar` behind a short std mutex (never held across
//! `.await`), and the answer to REGISTER.

use crate::clock::Clock;
use crate::mailbox::{AcdHandle, AcdMsg};
use crate::metrics_names as m;
use crate::respond::reply;
use sip::endpoint::ServerTx;
use sip::endpoint::{Incoming, TransportKind};
use sip::registrar::{AuthCheck, RegisterEvent, Registrar};
use sip::{SipMessage, Uri};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tracing::{info, warn};

pub struct Seats {
    registrar: Mutex<Registrar>,
    passwords: BTreeMap<String, String>,
    acd: AcdHandle,
    clock: Clock,
    /// Bindings changed since they were last written to `bindings_file`.
    dirty: AtomicBool,
}

/// The registrations as written to disk once a second when they changed, read back at the next start:
/// a crash or restart does not leave seats offline until their next REGISTER (up to an hour).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedBindings {
    saved_at_ms: i64,
    bindings: Vec<sip::registrar::StoredBinding>,
}

/// Where a seat's INVITE goes: its Contact, to the address its REGISTER came from.
pub struct SeatContact {
    pub uri: Uri,
    pub dest: SocketAddr,
    pub transport: TransportKind,
}

impl Seats {
    pub fn new(
        registrar: Registrar,
        passwords: BTreeMap<String, String>,
        acd: AcdHandle,
        clock: Clock,
    ) -> Seats {
        Seats {
            registrar: Mutex::new(registrar),
            passwords,
            acd,
            clock,
            dirty: AtomicBool::new(false),
        }
    }

    /// Write the bindings to `path` if they changed (a new file renamed over the old one).
    pub fn save_if_changed(&self, path: &Path) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let bindings = match self.registrar.lock() {
            Ok(r) => r.export(self.clock.instant()),
            Err(_) => return,
        };
        let saved = SavedBindings {
            saved_at_ms: Clock::wall_ms(),
            bindings,
        };
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            self.dirty.store(true, Ordering::Release);
            warn!(path = %path.display(), error = %e, "could not save the registrations");
        }
    }

    /// Read the bindings an earlier run saved at `path`; the seats bound again go online. Returns how
    /// many seats were restored. A missing file is a first start; a broken one is reported and skipped.
    pub fn restore(&self, path: &Path) -> usize {
        let saved: SavedBindings = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "saved registrations unreadable: seats re-register");
                    return 0;
                }
            },
            Err(_) => return 0,
        };
        let elapsed_ms = u64::try_from(Clock::wall_ms() - saved.saved_at_ms).unwrap_or(0);
        let seats = match self.registrar.lock() {
            Ok(mut r) => r.import(
                saved.bindings,
                std::time::Duration::from_millis(elapsed_ms),
                &self.passwords,
                self.clock.instant(),
            ),
            Err(_) => return 0,
        };
        for seat in &seats {
            self.acd.send(AcdMsg::SeatOnline { seat: seat.clone() });
        }
        info!(
            seats = seats.len(),
            down_for_ms = elapsed_ms,
            "registrations restored from the last run"
        );
        seats.len()
    }

    pub fn register(&self, inc: Incoming) {
        let outcome = match self.registrar.lock() {
            Ok(mut r) => r.on_register(
                &inc.msg,
                inc.source,
                inc.transport.as_str(),
                &self.passwords,
                self.clock.instant(),
            ),
            Err(_) => return reply(&inc.tx, &inc.msg, 500, "Server Internal Error", &[]),
        };
        metrics::counter!(m::REGISTRATIONS, "status" => outcome.status.to_string()).increment(1);
        if let (Some(tx), Ok(resp)) = (&inc.tx, SipMessage::parse(outcome.response)) {
            tx.respond(resp);
        }
        match outcome.event {
            RegisterEvent::Updated { seat, bindings } => {
                self.dirty.store(true, Ordering::Release);
                if bindings.is_empty() {
                    info!(seat, "seat unregistered");
                    self.acd.send(AcdMsg::SeatOffline { seat });
                } else {
                    info!(seat, contacts = bindings.len(), source = %inc.source, "seat registered");
                    self.acd.send(AcdMsg::SeatOnline { seat });
                }
            }
            RegisterEvent::Refused { reason } => {
                info!(source = %inc.source, status = outcome.status, reason, "REGISTER refused");
            }
            RegisterEvent::Challenged | RegisterEvent::Queried { .. } => {}
        }
    }

    /// Is `user` a configured seat?
    pub fn is_seat(&self, user: &str) -> bool {
        self.passwords.contains_key(user)
    }

    /// Digest-authenticate a request a seat sends us (its consult INVITE): `Some(seat)` for good
    /// credentials of the From user, else the 407 challenge (or 400/403) has gone out on `tx`. Nonces,
    /// replay state and the brute-force lockout are the REGISTERs' (the same registrar). A TLS-only seat's
    /// request on another transport gets 403 TLS Required, as its REGISTER would.
    pub fn authenticate(
        &self,
        msg: &SipMessage,
        source: SocketAddr,
        transport: TransportKind,
        tx: &Option<ServerTx>,
    ) -> Option<String> {
        let check = match self.registrar.lock() {
            Ok(mut r) => {
                let now = self.clock.instant();
                match r.authenticate_request(msg, source, &self.passwords, now, true) {
                    AuthCheck::Authenticated { seat }
                        if r.tls_required(&seat, transport.as_str()) =>
                    {
                        info!(seat, %source, "TLS-only seat's request without TLS refused");
                        reply(tx, msg, 403, "TLS Required", &[]);
                        return None;
                    }
                    check => check,
                }
            }
            Err(_) => {
                reply(tx, msg, 500, "Server Internal Error", &[]);
                return None;
            }
        };
        match check {
            AuthCheck::Authenticated { seat } => Some(seat),
            AuthCheck::Respond(outcome) => {
                if let (Some(tx), Ok(resp)) = (tx, SipMessage::parse(outcome.response)) {
                    tx.respond(resp);
                }
                None
            }
        }
    }

    /// The seat's first live binding, if it is still registered.
    pub fn contact(&self, seat: &str) -> Option<SeatContact> {
        let r = self.registrar.lock().ok()?;
        let b = r.lookup(seat, self.clock.instant()).into_iter().next()?;
        Some(SeatContact {
            uri: b.contact.uri.clone(),
            dest: b.target(),
            transport: TransportKind::from_token(&b.transport).unwrap_or(TransportKind::Udp),
        })
    }

    /// Expire registrations; seats left with no binding go offline.
    pub fn expire(&self) {
        let expired = match self.registrar.lock() {
            Ok(mut r) => {
                let now = self.clock.instant();
                let gone = r.expire(now);
                gone.into_iter()
                    .filter(|seat| r.lookup(seat, now).is_empty())
                    .collect::<Vec<_>>()
            }
            Err(_) => Vec::new(),
        };
        for seat in expired {
            info!(seat, "registration expired: seat offline");
            self.acd.send(AcdMsg::SeatOffline { seat });
        }
    }

    /// (bindings now, (source, user) pairs locked out after failed authentications) for `/status`.
    pub fn registrar_figures(&self) -> (usize, usize) {
        let now = self.clock.instant();
        self.registrar
            .lock()
            .map(|r| (r.binding_count(now), r.locked_out_sources(now)))
            .unwrap_or((0, 0))
    }

    /// Also accept requests addressed to this host (our bound IP).
    pub fn add_alias(&self, host: &str) {
        if let Ok(mut r) = self.registrar.lock() {
            r.add_alias(host);
        }
    }
}
