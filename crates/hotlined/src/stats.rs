//! Counters of the call side for /status (Prometheus has its own through `metrics`).

use crate::metrics_names as m;
use record::{CallRecord, TransferOutcome};
use std::sync::atomic::AtomicU64;
use std::time::Instant;

pub struct CallStats {
    pub started_at: Instant,
    pub calls_started: AtomicU64,
    pub calls_ended: AtomicU64,
    pub refused_overload: AtomicU64,
    pub refused_acl: AtomicU64,
}

impl CallStats {
    pub fn new() -> CallStats {
        CallStats {
            started_at: Instant::now(),
            calls_started: AtomicU64::new(0),
            calls_ended: AtomicU64::new(0),
            refused_overload: AtomicU64::new(0),
            refused_acl: AtomicU64::new(0),
        }
    }
}

/// Export a finished call's transfer attempts (R-05: the transfer service level by department).
pub fn transfer_metrics(record: &CallRecord) {
    for t in &record.transfers {
        let department = t.department.clone().unwrap_or_else(|| t.target.clone());
        let outcome = match t.outcome {
            TransferOutcome::Answered if t.answered_in_target() => "answered",
            TransferOutcome::Answered => "answered_late",
            TransferOutcome::NoAnswer => "no_answer",
            TransferOutcome::Busy => "busy",
            TransferOutcome::Rejected { .. } => "rejected",
            TransferOutcome::Failed { .. } => "failed",
            TransferOutcome::Cancelled => "cancelled",
        };
        metrics::counter!(m::TRANSFERS, "department" => department.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!(m::TRANSFER_RING_SECONDS, "department" => department)
            .record(t.ring_ms() as f64 / 1000.0);
    }
}
