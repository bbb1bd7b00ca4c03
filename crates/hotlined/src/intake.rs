//! What the dial plan needs to know of a new INVITE, read from its headers.

use sip::{SipMessage, Uri};

/// The user part (the number) of a URI, digits and `+` only for tel: and sip: alike.
fn number_of(uri: &Uri) -> String {
    uri.user.clone().unwrap_or_default()
}

/// (called, caller, original called) of an INVITE. The caller is P-Asserted-Identity, else From. The
/// original called number is the one first dialled when a carrier forwarded the call: the bottom
/// Diversion entry (RFC 5806 stacks new diversions on top), else the first History-Info entry
/// (RFC 7044); a History-Info that only repeats the called number is no forwarding.
pub fn route_parts(msg: &SipMessage) -> (String, String, Option<String>) {
    let called = msg.request_uri().map(number_of).unwrap_or_default();
    let caller = msg
        .p_asserted_identity()
        .first()
        .map(|p| number_of(&p.uri))
        .unwrap_or_else(|| number_of(&msg.from().uri));
    let diversion = msg
        .original_called()
        .map(|u| number_of(&u))
        .filter(|n| !n.is_empty() && *n != called);
    (called, caller, diversion)
}

/// The user of the INVITE's From, which our outgoing legs show as theirs.
pub fn from_user(msg: &SipMessage) -> String {
    msg.from().uri.user.clone().unwrap_or_default()
}

/// Caller numbers are personal data: logs show 138****1234.
pub fn mask(n: &str) -> String {
    ticket::mask::mask_phone(n)
}
