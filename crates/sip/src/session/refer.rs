//! Transfer by REFER (RFC 3515): the peer asks us to call a target; we answer 202, report the progress in
//! NOTIFYs with a `message/sipfrag` body (§2.4.4, §2.4.5) and end the implicit subscription with the final
//! one. A blind REFER names a target; an attended one (RFC 5589 §7) carries, escaped in the Refer-To URI, a
//! `Replaces` (RFC 3891) naming the dialog the referrer set up meanwhile — the TU joins us with that
//! dialog's peer instead of calling anyone, and [`InviteSession::replaceable_by`] says whether a `Replaces`
//! may take over this session's dialog (RFC 3891 §3).

use super::{InviteSession, Purpose, ReqKey, Role, SessionEvent, SessionOutput};
use crate::{Method, NameAddr, Replaces, SipMessage, Uri};

/// The URI of a Refer-To value (`<sip:12348@host>` or a bare URI).
fn refer_to_uri(value: &str) -> &str {
    let v = value.trim();
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

impl InviteSession {
    pub(super) fn on_refer(&mut self, key: ReqKey, req: &SipMessage, out: &mut Vec<SessionOutput>) {
        let Some(value) = req.header("refer-to") else {
            // §2.4.1: a REFER without exactly one Refer-To is refused.
            return self.respond_status(out, key, req, 400);
        };
        let uri = refer_to_uri(value);
        // RFC 3891 §6.1: a Refer-To with headers is a name-addr; its `?Replaces=` header is escaped.
        let replaces = if uri.to_ascii_lowercase().contains("replaces=") {
            let header = NameAddr::parse(value)
                .ok()
                .and_then(|na| na.uri.header("replaces").map(Replaces::parse));
            match header {
                Some(Ok(r)) => Some(r),
                _ => return self.respond_status(out, key, req, 400),
            }
        } else {
            None
        };
        if self.refer_in.is_some() || self.refer_active {
            // One transfer at a time: the first is still going on.
            return self.respond_status(out, key, req, 491);
        }
        let event = match replaces {
            Some(replaces) => SessionEvent::AttendedRefer { key, replaces },
            None => match Uri::parse(uri) {
                Ok(u) => SessionEvent::Refer {
                    key,
                    target: u.user.clone().unwrap_or_else(|| uri.to_string()),
                },
                Err(_) => return self.respond_status(out, key, req, 400),
            },
        };
        self.refer_in = Some(key);
        self.pending_in.insert(key, req.clone());
        self.emit(out, event);
    }

    /// RFC 3891 §3: may a `Replaces` that names this session's dialog (its `to-tag` is ours, its `from-tag`
    /// the peer's) take it over? `Err` carries the refusal: 481 when it names no dialog of ours, or an early
    /// one the peer created (we are its UAS and have not answered); 603 when the dialog already ended; 486
    /// when `early-only` names a confirmed dialog.
    pub fn replaceable_by(&self, r: &Replaces) -> Result<(), u16> {
        let Some(d) = &self.dialog else {
            return Err(481);
        };
        if r.call_id != d.call_id || r.to_tag != d.local_tag || r.from_tag != d.remote_tag {
            return Err(481);
        }
        let early = self.role == Role::Uas && !self.final_sent;
        if early && !self.early {
            return Err(481); // no tagged response yet: the peer cannot know this dialog
        }
        if self.terminated {
            return Err(603);
        }
        if early {
            return Err(481);
        }
        if r.early_only {
            return Err(486);
        }
        Ok(())
    }

    /// Accept the REFER (blind or attended): 202 Accepted and the first NOTIFY (`100 Trying`).
    pub fn accept_refer(&mut self, key: ReqKey) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.refer_in != Some(key) {
            return out;
        }
        self.refer_in = None;
        if let Some(req) = self.pending_in.remove(&key) {
            let b = req.response(202, "Accepted");
            self.respond(&mut out, key, b);
            self.refer_active = true;
            self.send_notify(&mut out, 100, "Trying");
        }
        out
    }

    /// Refuse the REFER (403/404 for a target outside the plan, 488, …).
    pub fn reject_refer(&mut self, key: ReqKey, status: u16) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.refer_in != Some(key) {
            return out;
        }
        self.refer_in = None;
        if let Some(req) = self.pending_in.remove(&key) {
            self.respond_status(&mut out, key, &req, status);
        }
        out
    }

    /// Report the transfer's progress: a provisional keeps the subscription, a final (≥ 200) ends it.
    pub fn notify_refer(&mut self, status: u16, reason: &str) -> Vec<SessionOutput> {
        let mut out = Vec::new();
        if self.refer_active && !self.terminated {
            self.send_notify(&mut out, status, reason);
        }
        if status >= 200 {
            self.refer_active = false;
        }
        out
    }

    fn send_notify(&mut self, out: &mut Vec<SessionOutput>, status: u16, reason: &str) {
        let via = self.via();
        let contact = self.cfg.contact.clone();
        let state = if status >= 200 {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let body = format!("SIP/2.0 {status} {reason}\r\n");
        if let Some(d) = self.dialog.as_mut() {
            let b = d
                .request(Method::Notify)
                .header("Via", &via)
                .header("Contact", &contact) // RFC 6665 §4.2.2: a NOTIFY carries one
                .header("Event", "refer")
                .header("Subscription-State", state)
                .body("message/sipfrag;version=2.0", body.as_bytes());
            self.send(out, b, Purpose::Fire);
        }
    }
}
