//! Stateless answers the shell gives before a call exists (refusals, 481 for unknown dialogs).

use sip::endpoint::ServerTx;
use sip::SipMessage;
use tracing::warn;

/// Answer `req` with a bare status through its transaction (if it has one).
pub fn reply(
    tx: &Option<ServerTx>,
    req: &SipMessage,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
) {
    let Some(tx) = tx else { return };
    let mut b = req.response(status, reason);
    if status > 100 && req.to().tag().is_none() {
        b = b.to_tag(&sip::dialog::new_tag());
    }
    for (n, v) in headers {
        b = b.header(n, v);
    }
    match SipMessage::parse(b.build()) {
        Ok(resp) => tx.respond(resp),
        Err(e) => warn!(status, error = %e, "could not build a response"),
    }
}
