//! Blind transfer by REFER (RFC 3515): the peer asks us to call a target; we answer 202, report the
//! progress in NOTIFYs with a `message/sipfrag` body (§2.4.4, §2.4.5) and end the implicit subscription
//! with the final one. Attended transfer (Refer-To with `Replaces`, RFC 3891) is not served yet: 501.

use super::{InviteSession, Purpose, ReqKey, SessionEvent, SessionOutput};
use crate::{Method, SipMessage, Uri};

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
        if uri.to_ascii_lowercase().contains("replaces=") {
            return self.respond_status(out, key, req, 501);
        }
        if self.refer_in.is_some() || self.refer_active {
            // One transfer at a time: the first is still going on.
            return self.respond_status(out, key, req, 491);
        }
        let target = match Uri::parse(uri) {
            Ok(u) => u.user.clone().unwrap_or_else(|| uri.to_string()),
            Err(_) => return self.respond_status(out, key, req, 400),
        };
        self.refer_in = Some(key);
        self.pending_in.insert(key, req.clone());
        self.emit(out, SessionEvent::Refer { key, target });
    }

    /// Accept the REFER: 202 Accepted and the first NOTIFY (`100 Trying`).
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
