//! Counters of the call side for /status (Prometheus has its own through `metrics`).

use crate::call_quality::QualityBoard;
use crate::metrics_names as m;
use crate::service_level::ServiceLevels;
use record::{CallRecord, TransferOutcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

pub struct CallStats {
    pub started_at: Instant,
    pub calls_started: AtomicU64,
    pub calls_ended: AtomicU64,
    pub refused_overload: AtomicU64,
    pub refused_acl: AtomicU64,
    /// Transfer attempts by department since the daemon started, for the wallboard (the stored figures of
    /// any range are at `/api/stats/transfers`).
    pub transfers: Mutex<BTreeMap<String, DepartmentTransfers>>,
    /// The queues' service level over the last 24 hours, from the records.
    pub levels: ServiceLevels,
    /// The calls' RTCP quality over the last 24 hours (since start), for the wallboard.
    pub quality: QualityBoard,
}

/// One department's transfers on the wallboard.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DepartmentTransfers {
    pub attempts: u64,
    pub answered_within_target: u64,
    /// No answer, busy, refused or failed (the caller went back to the operator).
    pub failed: u64,
}

impl CallStats {
    pub fn new(levels: ServiceLevels) -> CallStats {
        CallStats {
            started_at: Instant::now(),
            calls_started: AtomicU64::new(0),
            calls_ended: AtomicU64::new(0),
            refused_overload: AtomicU64::new(0),
            refused_acl: AtomicU64::new(0),
            transfers: Mutex::new(BTreeMap::new()),
            levels,
            quality: QualityBoard::default(),
        }
    }

    /// Count a finished call: its queue visits (the service level) and its transfer attempts (the wallboard's
    /// table and Prometheus, R-05).
    pub fn count(&self, record: &CallRecord) {
        self.levels.count(record);
        self.quality.count(record);
        if record.transfers.is_empty() {
            return;
        }
        if let Ok(mut board) = self.transfers.lock() {
            for t in &record.transfers {
                let d = board.entry(t.owner().to_string()).or_default();
                d.attempts += 1;
                d.answered_within_target += u64::from(t.answered_in_target());
                d.failed += u64::from(t.outcome.is_failure());
            }
        }
        transfer_metrics(record);
    }
}

/// Export a finished call's transfer attempts (R-05: the transfer service level by department).
fn transfer_metrics(record: &CallRecord) {
    for t in &record.transfers {
        let department = t.owner().to_string();
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
