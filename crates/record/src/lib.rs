//! The call record: the one thing that crosses from the call path to the ticket crate.
//!
//! A crate of its own (plain data, serde only) so that `call` can build records without depending on the
//! ticket crate's database and HTTP stack, and the ticket crate stays separable and knows nothing of SIP.
//! `ticket` re-exports these types (`ticket::CallRecord`, `ticket::record::CallRecord`).

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
    /// The daemon stopped (crash, `kill -9`, power) while the call was up: recovered from the live-call
    /// journal at the next start, ended at the daemon's last heartbeat.
    Interrupted,
    /// The caller waited past the queue's maximum wait and was told the center will call back ("leave your
    /// number"): a call-back ticket (R-23).
    Callback,
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
            EndReason::Interrupted => "interrupted",
            EndReason::Callback => "callback",
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
            "interrupted" => EndReason::Interrupted,
            "callback" => EndReason::Callback,
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
    /// When a seat answered: answered by a person (None if never connected to a human). The answer rate
    /// counts this one.
    pub answered_at_ms: Option<i64>,
    /// When the daemon sent the caller its 200 (the carrier's answer, where charging starts): before the
    /// greeting under the default answer policy, at a person's answer in early-media mode, None when the
    /// caller was never answered.
    #[serde(default)]
    pub system_answered_at_ms: Option<i64>,
    pub ended_at_ms: i64,
    /// Time spent waiting for a seat (queue + prompts), in milliseconds.
    pub wait_ms: i64,
    /// The seat that took the call, if any (e.g. "1001").
    pub seat: Option<String>,
    pub end_reason: EndReason,
    /// DTMF digits the caller pressed, in order.
    pub digits: String,
    /// True when the call arrived off hours for a parallel number (R-04): opens a ticket.
    pub off_hours: bool,
    /// Department (or target) of a one-key transfer that was not answered within its target (R-05):
    /// the caller fell back to the operator and the department gets a ticket.
    pub transfer_unanswered: Option<String>,
    /// Every one-key transfer attempt of the call, in order (R-05).
    #[serde(default)]
    pub transfers: Vec<TransferAttempt>,
    /// The emergency platform that handed the call over (R-07 linkage: "110" when the caller, or the number
    /// first dialled, is 110).
    #[serde(default)]
    pub handed_over_by: Option<String>,
    /// Every queue the call waited in, in order (a maximum wait moves a caller on to the next): what the
    /// service level is counted from.
    #[serde(default)]
    pub queue_visits: Vec<QueueVisit>,
    /// The caller's answer to the satisfaction survey after the operator left (评价, R-23); None when no
    /// survey ran. The ticket side stores it as the evaluation of the call's ticket, now or when one is opened.
    #[serde(default)]
    pub survey: Option<Survey>,
    /// Each leg's media quality from RTCP (RFC 3550), read when the leg ended (docs/quality.md).
    #[serde(default)]
    pub quality: Vec<LegQuality>,
}

/// One survey answer on a call: the key pressed (None: no key before the time-out, or the caller hung up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    pub key: Option<char>,
    /// When the survey ended (epoch ms).
    pub at_ms: i64,
}

/// One leg's media figures: what we measured of the peer's stream, what the peer reported of ours
/// (its RTCP receiver report), the round trip and an estimated MOS. Integers with their unit in the
/// name, so records stay `Eq` and store exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegQuality {
    /// The call's leg: 0 is the caller, then each leg in the order dialled.
    pub leg: u32,
    /// RTP packets received from the peer.
    pub packets_received: i64,
    /// Packets of the peer's stream that never reached us (RFC 3550 A.3; negative with duplicates).
    pub lost: i64,
    /// Interarrival jitter of the peer's stream (A.8), µs.
    pub jitter_us: i64,
    /// The peer's last report about our stream: cumulative packets lost…
    #[serde(default)]
    pub peer_reported_lost: Option<i64>,
    /// … fraction lost over its last interval, in 1/256 as RTCP carries it (64 = 25 %) …
    #[serde(default)]
    pub peer_reported_fraction_256: Option<i64>,
    /// … and the jitter it measured, µs.
    #[serde(default)]
    pub peer_jitter_us: Option<i64>,
    /// Round trip from the peer's LSR/DLSR (RFC 3550 §6.4.1), ms.
    #[serde(default)]
    pub rtt_ms: Option<i64>,
    /// Estimated MOS × 100 (simplified G.107 E-model over the worse direction; docs/quality.md).
    #[serde(default)]
    pub mos_x100: Option<i64>,
}

impl LegQuality {
    /// The estimated MOS (1.0–4.5).
    pub fn mos(&self) -> Option<f64> {
        self.mos_x100.map(|m| m as f64 / 100.0)
    }

    /// Our measured loss of the peer's stream, 0–1.
    pub fn loss_fraction(&self) -> f64 {
        let expected = self.packets_received + self.lost;
        if expected <= 0 || self.lost <= 0 {
            0.0
        } else {
            self.lost as f64 / expected as f64
        }
    }
}

/// A call's stay in one queue. Times are Unix epoch milliseconds (UTC), like [`CallRecord`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueVisit {
    pub queue: String,
    pub entered_at_ms: i64,
    /// When a seat answered, the caller left, or the call was moved on.
    pub left_at_ms: i64,
    pub outcome: VisitOutcome,
}

impl QueueVisit {
    /// How long the caller waited in this queue.
    pub fn wait_ms(&self) -> i64 {
        self.left_at_ms - self.entered_at_ms
    }
}

/// How a stay in a queue ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOutcome {
    /// A seat of the queue answered.
    Answered,
    /// The caller hung up waiting (or while a seat rang).
    Abandoned,
    /// The maximum wait moved the caller on to another queue.
    Overflowed,
    /// The maximum wait ended the call with a call-back promise.
    Callback,
    /// The call ended otherwise while waiting (a media or signalling failure).
    Ended,
}

impl VisitOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            VisitOutcome::Answered => "answered",
            VisitOutcome::Abandoned => "abandoned",
            VisitOutcome::Overflowed => "overflowed",
            VisitOutcome::Callback => "callback",
            VisitOutcome::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<VisitOutcome> {
        Some(match s {
            "answered" => VisitOutcome::Answered,
            "abandoned" => VisitOutcome::Abandoned,
            "overflowed" => VisitOutcome::Overflowed,
            "callback" => VisitOutcome::Callback,
            "ended" => VisitOutcome::Ended,
            _ => return None,
        })
    }
}

/// How one transfer attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferOutcome {
    /// The target answered.
    Answered,
    /// The target rang until the transfer's ring timeout.
    NoAnswer,
    /// The target was busy (486/600).
    Busy,
    /// The target refused with another final status (4xx/6xx).
    Rejected { status: u16 },
    /// The target could not be reached (transport failure, 408, 5xx, no binding…).
    Failed { status: u16 },
    /// The operator (or the caller hanging up) gave up the attempt before an answer.
    Cancelled,
}

impl TransferOutcome {
    /// The outcome's name, as serialized in `kind` (and stored in the database).
    pub fn kind(self) -> &'static str {
        match self {
            TransferOutcome::Answered => "answered",
            TransferOutcome::NoAnswer => "no_answer",
            TransferOutcome::Busy => "busy",
            TransferOutcome::Rejected { .. } => "rejected",
            TransferOutcome::Failed { .. } => "failed",
            TransferOutcome::Cancelled => "cancelled",
        }
    }

    /// The SIP status of a rejected or failed attempt.
    pub fn status(self) -> Option<u16> {
        match self {
            TransferOutcome::Rejected { status } | TransferOutcome::Failed { status } => {
                Some(status)
            }
            _ => None,
        }
    }

    /// Inverse of [`TransferOutcome::kind`] + [`TransferOutcome::status`]; None when they do not fit together
    /// (an unknown kind, or a rejected/failed one without its status).
    pub fn from_parts(kind: &str, status: Option<u16>) -> Option<TransferOutcome> {
        Some(match (kind, status) {
            ("answered", None) => TransferOutcome::Answered,
            ("no_answer", None) => TransferOutcome::NoAnswer,
            ("busy", None) => TransferOutcome::Busy,
            ("rejected", Some(status)) => TransferOutcome::Rejected { status },
            ("failed", Some(status)) => TransferOutcome::Failed { status },
            ("cancelled", None) => TransferOutcome::Cancelled,
            _ => return None,
        })
    }

    /// The department did not take the transfer (no answer, busy, rejected, failed); a cancelled attempt was
    /// given up on our side and an answered one succeeded.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            TransferOutcome::NoAnswer
                | TransferOutcome::Busy
                | TransferOutcome::Rejected { .. }
                | TransferOutcome::Failed { .. }
        )
    }
}

/// One transfer attempt of a call (the operator dialled a department or another hotline for the caller).
/// Filled in by the one-key transfer; times are Unix epoch milliseconds (UTC), like [`CallRecord`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferAttempt {
    /// The number (or URI) dialled.
    pub target: String,
    /// The department it belongs to, when the dial plan knows it.
    pub department: Option<String>,
    pub started_at_ms: i64,
    /// When the target answered (None if it never did).
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: i64,
    pub outcome: TransferOutcome,
    /// The department's answer target for transfers (R-05), in milliseconds, if it has one.
    pub answer_target_ms: Option<i64>,
    /// Who or what ended the attempt (an answered one: who left the three-way call first).
    #[serde(default)]
    pub ended_by: Option<TransferEndedBy>,
    /// How the operator asked for it (None in records written before kinds were recorded).
    #[serde(default)]
    pub kind: Option<TransferKind>,
}

/// How an operator asked for a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// `*2` number `#` keyed on the softphone: the three-way call.
    Keys,
    /// The softphone's blind transfer: a REFER (RFC 3515).
    Blind,
    /// A consult call to the department, then a REFER with Replaces (RFC 3891) that joins the caller with the
    /// department the operator is talking to.
    Attended,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Keys => "keys",
            TransferKind::Blind => "blind",
            TransferKind::Attended => "attended",
        }
    }

    pub fn parse(s: &str) -> Option<TransferKind> {
        Some(match s {
            "keys" => TransferKind::Keys,
            "blind" => TransferKind::Blind,
            "attended" => TransferKind::Attended,
            _ => return None,
        })
    }
}

/// Who ended a transfer attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferEndedBy {
    Caller,
    Operator,
    Department,
    /// The answer target ran out.
    Timer,
}

impl TransferEndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferEndedBy::Caller => "caller",
            TransferEndedBy::Operator => "operator",
            TransferEndedBy::Department => "department",
            TransferEndedBy::Timer => "timer",
        }
    }

    pub fn parse(s: &str) -> Option<TransferEndedBy> {
        Some(match s {
            "caller" => TransferEndedBy::Caller,
            "operator" => TransferEndedBy::Operator,
            "department" => TransferEndedBy::Department,
            "timer" => TransferEndedBy::Timer,
            _ => return None,
        })
    }
}

impl TransferAttempt {
    /// How long the target rang: until its answer, else until the attempt ended.
    pub fn ring_ms(&self) -> i64 {
        self.answered_at_ms.unwrap_or(self.ended_at_ms) - self.started_at_ms
    }

    /// Was the attempt answered within its answer target? (No target: any answer counts.)
    pub fn answered_in_target(&self) -> bool {
        match (self.answered_at_ms, self.answer_target_ms) {
            (Some(a), Some(t)) => a - self.started_at_ms <= t,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Who gets told about it: the department, else (the dial plan did not know one) the number dialled.
    pub fn owner(&self) -> &str {
        self.department
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .unwrap_or(self.target.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reason_names_round_trip() {
        for r in [
            EndReason::CallerHangup,
            EndReason::SeatHangup,
            EndReason::AbandonedInQueue,
            EndReason::Cancelled,
            EndReason::Rejected,
            EndReason::PromptThenHangup,
            EndReason::Failed,
            EndReason::Overload,
            EndReason::Callback,
        ] {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }

    #[test]
    fn visit_outcomes_round_trip_and_old_records_have_no_visits() {
        for o in [
            VisitOutcome::Answered,
            VisitOutcome::Abandoned,
            VisitOutcome::Overflowed,
            VisitOutcome::Callback,
            VisitOutcome::Ended,
        ] {
            assert_eq!(VisitOutcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
        }
        // A spool written before queue visits existed still reads.
        let old = r#"{"call_id":"c","caller":"1","called":"12345","original_called":null,"route_mode":null,
            "department":null,"started_at_ms":0,"answered_at_ms":null,"ended_at_ms":5,"wait_ms":5,"seat":null,
            "end_reason":"cancelled","digits":"","off_hours":false,"transfer_unanswered":null}"#;
        let r: CallRecord = serde_json::from_str(old).unwrap();
        assert!(r.queue_visits.is_empty());
        assert!(
            r.quality.is_empty(),
            "a spool from before RTCP reads, without figures"
        );
        let v = QueueVisit {
            queue: "general".into(),
            entered_at_ms: 1_000,
            left_at_ms: 21_000,
            outcome: VisitOutcome::Answered,
        };
        assert_eq!(v.wait_ms(), 20_000);
    }

    #[test]
    fn transfer_attempt_serializes_and_checks_its_target() {
        let a = TransferAttempt {
            target: "12315".into(),
            department: Some("market".into()),
            started_at_ms: 1_000,
            answered_at_ms: Some(21_000),
            ended_at_ms: 60_000,
            outcome: TransferOutcome::Rejected { status: 486 },
            answer_target_ms: Some(15_000),
            ended_by: Some(TransferEndedBy::Timer),
            kind: Some(TransferKind::Attended),
        };
        assert_eq!(a.ring_ms(), 20_000);
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            json.contains(r#""outcome":{"kind":"rejected","status":486}"#),
            "{json}"
        );
        assert!(json.contains(r#""kind":"attended""#), "{json}");
        let back: TransferAttempt = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(!a.answered_in_target());
    }

    #[test]
    fn outcome_and_ended_by_names_round_trip() {
        for o in [
            TransferOutcome::Answered,
            TransferOutcome::NoAnswer,
            TransferOutcome::Busy,
            TransferOutcome::Rejected { status: 603 },
            TransferOutcome::Failed { status: 503 },
            TransferOutcome::Cancelled,
        ] {
            assert_eq!(TransferOutcome::from_parts(o.kind(), o.status()), Some(o));
            let json = serde_json::to_string(&o).unwrap();
            assert!(
                json.contains(&format!("\"kind\":\"{}\"", o.kind())),
                "{json}"
            );
            assert_eq!(
                o.is_failure(),
                !matches!(o, TransferOutcome::Answered | TransferOutcome::Cancelled)
            );
        }
        assert_eq!(TransferOutcome::from_parts("rejected", None), None);
        assert_eq!(TransferOutcome::from_parts("busy", Some(486)), None);
        assert_eq!(TransferOutcome::from_parts("gone", None), None);
        for k in [
            TransferKind::Keys,
            TransferKind::Blind,
            TransferKind::Attended,
        ] {
            assert_eq!(TransferKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(TransferKind::parse("consult"), None);
        for e in [
            TransferEndedBy::Caller,
            TransferEndedBy::Operator,
            TransferEndedBy::Department,
            TransferEndedBy::Timer,
        ] {
            assert_eq!(TransferEndedBy::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
    }

    #[test]
    fn answer_target_is_inclusive_and_owner_falls_back_to_the_target() {
        let mut a = TransferAttempt {
            target: " 8001 ".into(),
            department: Some(" ".into()),
            started_at_ms: 1_000,
            answered_at_ms: Some(16_000),
            ended_at_ms: 60_000,
            outcome: TransferOutcome::Answered,
            answer_target_ms: Some(15_000),
            ended_by: None,
            kind: None,
        };
        assert!(a.answered_in_target(), "15.0 s is within a 15 s target");
        a.answered_at_ms = Some(16_001);
        assert!(!a.answered_in_target());
        assert_eq!(a.owner(), "8001");
        a.department = Some("water".into());
        assert_eq!(a.owner(), "water");
    }
}
