//! The call record: the one thing that crosses from the call path to the ticket crate.
//! It lives here (not in `call`) so the ticket crate stays separable and knows nothing of SIP.

use serde::{Deserialize, Serialize};

/// Why a call ended, from the center's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller hung up after being connected to a seat.
    CallerHangup,
    /// The seat (operator) hung up.
    SeatHangup,
    /// The caller hung up (or cancelled) while waiting in the queue or during a prompt.
    AbandonedInQueue,
    /// The caller cancelled before the call was answered at all.
    Cancelled,
    /// The dialplan refused the call (unknown or cancelled number, R-09).
    Rejected,
    /// A prompt was played and the plan said to hang up afterwards.
    PromptThenHangup,
    /// Media or signalling failure (no ACK, media timeout, seat unreachable…).
    Failed,
    /// Refused because the daemon was overloaded (503).
    Overload,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHangup => "caller_hangup",
            EndReason::SeatHangup => "seat_hangup",
            EndReason::AbandonedInQueue => "abandoned_in_queue",
            EndReason::Cancelled => "cancelled",
            EndReason::Rejected => "rejected",
            EndReason::PromptThenHangup => "prompt_then_hangup",
            EndReason::Failed => "failed",
            EndReason::Overload => "overload",
        }
    }

    pub fn parse(s: &str) -> Option<EndReason> {
        Some(match s {
            "caller_hangup" => EndReason::CallerHangup,
            "seat_hangup" => EndReason::SeatHangup,
            "abandoned_in_queue" => EndReason::AbandonedInQueue,
            "cancelled" => EndReason::Cancelled,
            "rejected" => EndReason::Rejected,
            "prompt_then_hangup" => EndReason::PromptThenHangup,
            "failed" => EndReason::Failed,
            "overload" => EndReason::Overload,
            _ => return None,
        })
    }
}

/// One call, as the call path saw it. Times are Unix epoch milliseconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// Unique and stable: the carrier leg's SIP Call-ID. Stores are idempotent on it.
    pub call_id: String,
    /// Caller number (user part of P-Asserted-Identity or From).
    pub caller: String,
    /// Number dialled (user part of the Request-URI / To), e.g. "12345".
    pub called: String,
    /// Original called number when a carrier forwarded the call (Diversion / History-Info).
    pub original_called: Option<String>,
    /// Dialplan mode that handled it: main, whole, parallel, subcenter, emergency, upstream, unknown.
    pub route_mode: Option<String>,
    /// Department the dialplan matched, if any.
    pub department: Option<String>,
    pub started_at_ms: i64,
    /// When a seat answered (None if never connected to a human).
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: i64,
    /// Time spent waiting for a seat (queue + prompts), in milliseconds.
    pub wait_ms: i64,
    /// The seat that took the call, if any (e.g. "1001").
    pub seat: Option<String>,
    pub end_reason: EndReason,
    /// DTMF digits the caller pressed, in order.
    pub digits: String,
    /// True when the call arrived off hours for a parallel number: opens a ticket.
    pub off_hours: bool,
    /// Department (or target) of a one-key transfer that was not answered within its target:
    /// the caller fell back to the operator and the department gets a ticket.
    pub transfer_unanswered: Option<String>,
}
