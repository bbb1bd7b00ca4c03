//! Counters of the call side for /status (Prometheus has its own through `metrics`).

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
