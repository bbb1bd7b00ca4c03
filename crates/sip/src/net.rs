//! Plain network vocabulary shared by the sans-IO layers (transactions, dialogs, sessions) and the
//! tokio shell in [`crate::transport`]: no sockets, no runtime.

use std::fmt;

/// Which transport a message came in on or goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    Udp,
    Tcp,
    /// TCP with TLS on top (RFC 3261 §26.2.1): framed as TCP; used for seats that registered over it.
    Tls,
}

impl TransportKind {
    /// Reliable transports need no retransmissions and zero-length Timers D/I/J/K (§17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// From a Via transport token or `transport=` URI parameter (case-insensitive).
    pub fn from_token(s: &str) -> Option<TransportKind> {
        if s.eq_ignore_ascii_case("udp") {
            Some(TransportKind::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Some(TransportKind::Tcp)
        } else if s.eq_ignore_ascii_case("tls") {
            Some(TransportKind::Tls)
        } else {
            None
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Idle limits for TCP connections (RFC 3261 §18 leaves it to us). A connection that has carried
/// a valid SIP message (a registered seat) may stay quiet much longer than one that has not (a
/// scanner or slowloris holding file descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpIdle {
    pub before_first_message: std::time::Duration,
    pub after_first_message: std::time::Duration,
}

impl Default for TcpIdle {
    fn default() -> Self {
        TcpIdle {
            before_first_message: std::time::Duration::from_secs(30),
            after_first_message: std::time::Duration::from_secs(3600),
        }
    }
}
