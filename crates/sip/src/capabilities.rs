//! What we say we do — `Allow` (RFC 3261 §20.5) and `Supported` (§20.37) — from one list each, so the
//! headers can only name what is implemented:
//!
//! * [`DAEMON_METHODS`] / [`ALLOW`]: out of any dialog (OPTIONS answers, 405s): the registrar's REGISTER
//!   plus everything a dialog serves.
//! * [`DIALOG_METHODS`] / [`DIALOG_ALLOW`]: inside an INVITE dialog ([`crate::session`]), where
//!   REGISTER is not served (it would get 501).
//! * [`EXTENSIONS`] / [`SUPPORTED`]: option tags honoured when a peer puts them in `Require`
//!   (`100rel` RFC 3262, `replaces` RFC 3891, `timer` RFC 4028); anything else gets 420 (§8.2.2.3).
//!
//! NOTIFY and SUBSCRIBE are not listed: we never subscribe, so a NOTIFY to us has no subscription.
//! The strings are written out once by a macro from the same lists; a unit test keeps them equal.

use crate::{Method, SipMessage};

macro_rules! capability_list {
    ($(#[$la:meta])* $list:ident, $(#[$sa:meta])* $text:ident: $first:ident = $fs:literal $(, $m:ident = $s:literal)* $(,)?) => {
        $(#[$la])*
        pub const $list: &[Method] = &[Method::$first $(, Method::$m)*];
        $(#[$sa])*
        pub const $text: &str = concat!($fs $(, ", ", $s)*);
    };
}

capability_list!(
    /// Methods the daemon serves out of a dialog (OPTIONS, 405 Allow).
    DAEMON_METHODS,
    /// `Allow` for OPTIONS answers and 405s.
    ALLOW:
    Invite = "INVITE",
    Ack = "ACK",
    Cancel = "CANCEL",
    Bye = "BYE",
    Options = "OPTIONS",
    Register = "REGISTER",
    Info = "INFO",
    Update = "UPDATE",
    Prack = "PRACK",
    Refer = "REFER",
);

capability_list!(
    /// Methods an INVITE session serves inside its dialog.
    DIALOG_METHODS,
    /// `Allow` in a session's 200s, INVITEs and in-dialog OPTIONS answers.
    DIALOG_ALLOW:
    Invite = "INVITE",
    Ack = "ACK",
    Cancel = "CANCEL",
    Bye = "BYE",
    Options = "OPTIONS",
    Info = "INFO",
    Update = "UPDATE",
    Prack = "PRACK",
    Refer = "REFER",
);

/// Option tags we honour when required (lower case).
pub const EXTENSIONS: &[&str] = &["100rel", "replaces", "timer"];
/// `Supported` in OPTIONS answers.
pub const SUPPORTED: &str = "100rel, replaces, timer";

/// The `Require` option tags of `req` we lack (the 420's `Unsupported`, §8.2.2.3).
pub fn unsupported_requires(req: &SipMessage) -> Vec<&str> {
    req.unsupported_requires(EXTENSIONS)
}

/// Does `msg` list `tag` in Supported or Require?
pub fn supports(msg: &SipMessage, tag: &str) -> bool {
    msg.supported()
        .iter()
        .chain(msg.require().iter())
        .any(|s| s.eq_ignore_ascii_case(tag))
}

/// Does `msg` list `tag` in Require?
pub fn requires(msg: &SipMessage, tag: &str) -> bool {
    msg.require().iter().any(|s| s.eq_ignore_ascii_case(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(list: &[Method]) -> String {
        list.iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn strings_are_the_lists() {
        assert_eq!(ALLOW, joined(DAEMON_METHODS));
        assert_eq!(DIALOG_ALLOW, joined(DIALOG_METHODS));
        assert_eq!(SUPPORTED, EXTENSIONS.join(", "));
    }

    #[test]
    fn a_dialog_serves_a_subset_of_the_daemon_and_never_register() {
        assert!(DIALOG_METHODS.iter().all(|m| DAEMON_METHODS.contains(m)));
        assert!(!DIALOG_METHODS.contains(&Method::Register));
        assert!(!DAEMON_METHODS.contains(&Method::Notify));
    }
}
