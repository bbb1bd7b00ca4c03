//! The seats' registrations: the sans-IO `Registrar` behind a short std mutex (never held across
//! `.await`), and the answer to REGISTER.

use crate::clock::Clock;
use crate::mailbox::{AcdHandle, AcdMsg};
use crate::metrics_names as m;
use crate::respond::reply;
use sip::endpoint::{Incoming, TransportKind};
use sip::registrar::{AuthCheck, RegisterEvent, Registrar};
use sip::{SipMessage, Uri};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use tracing::info;

pub struct Seats {
    registrar: Mutex<Registrar>,
    passwords: BTreeMap<String, String>,
    acd: AcdHandle,
    clock: Clock,
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
        }
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

    /// Digest-authenticate a request a seat sends us (a feature code's INVITE): the seat, or None when a
    /// challenge (401) or a refusal went out instead.
    pub fn authenticate(&self, inc: &Incoming) -> Option<String> {
        let check = match self.registrar.lock() {
            Ok(mut r) => r.authenticate_request(
                &inc.msg,
                inc.source,
                &self.passwords,
                self.clock.instant(),
                false,
            ),
            Err(_) => {
                reply(&inc.tx, &inc.msg, 500, "Server Internal Error", &[]);
                return None;
            }
        };
        match check {
            AuthCheck::Authenticated { seat } => Some(seat),
            AuthCheck::Respond(outcome) => {
                if let (Some(tx), Ok(resp)) = (&inc.tx, SipMessage::parse(outcome.response)) {
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

    /// Also accept requests addressed to this host (our bound IP).
    pub fn add_alias(&self, host: &str) {
        if let Ok(mut r) = self.registrar.lock() {
            r.add_alias(host);
        }
    }
}
