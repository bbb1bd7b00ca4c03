//! Who may start a call now: the trunk ACL, `calls.max_active` and the calls-per-second bucket.
//! Refusing at the door (403, or 503 + Retry-After) is better than failing deep inside a call.

use crate::config::acl_allows;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub struct Admission {
    acl: Vec<(IpAddr, u8)>,
    /// `calls.max_active`, clamped to what the RTP port range can carry.
    pub max_active: usize,
    bucket: Mutex<TokenBucket>,
    /// Set by `hotlined drain` (SIGUSR1, `POST /admin/drain`): no new call, the ones up finish.
    draining: AtomicBool,
}

/// Why a new call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Source outside the trunk ACL: 403.
    Acl,
    /// `calls.max_active` reached: 503.
    MaxActive,
    /// Over `calls.max_calls_per_second`: 503.
    Rate,
    /// Draining for a restart: 503, so the carrier or the balancer in front tries another instance.
    Draining,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Acl => "acl",
            Refusal::MaxActive => "max_active",
            Refusal::Rate => "rate",
            Refusal::Draining => "draining",
        }
    }
}

impl Admission {
    pub fn new(acl: Vec<(IpAddr, u8)>, max_active: usize, rate: f64) -> Admission {
        Admission {
            acl,
            max_active,
            bucket: Mutex::new(TokenBucket::new(rate)),
            draining: AtomicBool::new(false),
        }
    }

    /// Stop admitting calls for good (this process); true the first time.
    pub fn start_draining(&self) -> bool {
        !self.draining.swap(true, Ordering::SeqCst)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Is `source` a trunk (in `trunks.allow`)? Trunks are the trust domain of RFC 3325: only their
    /// P-Asserted-Identity is believed.
    pub fn is_trunk(&self, source: IpAddr) -> bool {
        acl_allows(&self.acl, source)
    }

    /// May a call from `source` start at `now` while `active` calls run?
    pub fn admit(&self, source: IpAddr, active: usize, now: Instant) -> Result<(), Refusal> {
        if !acl_allows(&self.acl, source) {
            return Err(Refusal::Acl);
        }
        // A seat's consult call while draining still serves a call that is up: only trunks' calls stop.
        if self.draining() {
            return Err(Refusal::Draining);
        }
        self.admit_seat(active, now)
    }

    /// May a seat's own call (an operator's consult call) start: not from a trunk, so no ACL — the seat
    /// authenticated instead — but within the same limits, since it takes RTP ports like any call.
    pub fn admit_seat(&self, active: usize, now: Instant) -> Result<(), Refusal> {
        let admitted = self.bucket.lock().map(|mut b| b.admit(now)).unwrap_or(true);
        if active >= self.max_active {
            Err(Refusal::MaxActive)
        } else if !admitted {
            Err(Refusal::Rate)
        } else {
            Ok(())
        }
    }
}

/// Calls-per-second admission: `rate` tokens a second, at most one second's worth banked.
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    /// Take one token if there is one at `now`.
    pub fn admit(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Admission, Refusal, TokenBucket};
    use std::time::{Duration, Instant};

    #[test]
    fn draining_refuses_trunk_calls_but_not_a_seats_consult_call() {
        let a = Admission::new(vec![("127.0.0.1".parse().unwrap(), 32)], 10, 100.0);
        let (ip, now) = ("127.0.0.1".parse().unwrap(), Instant::now());
        assert_eq!(a.admit(ip, 0, now), Ok(()));
        assert!(a.start_draining() && !a.start_draining(), "once");
        assert_eq!(a.admit(ip, 0, now), Err(Refusal::Draining));
        assert_eq!(a.admit_seat(1, now), Ok(()));
        assert_eq!(
            a.admit("10.9.9.9".parse().unwrap(), 0, now),
            Err(Refusal::Acl),
            "the ACL still answers first"
        );
    }

    #[test]
    fn token_bucket_admits_the_rate_and_a_one_second_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0);
        let burst = (0..20).filter(|_| b.admit(t0)).count();
        assert_eq!(burst, 10, "one second's worth banked");
        assert!(!b.admit(t0 + Duration::from_millis(50)));
        assert!(
            b.admit(t0 + Duration::from_millis(150)),
            "one token per 100 ms"
        );
        let later = t0 + Duration::from_secs(60);
        assert_eq!(
            (0..30).filter(|_| b.admit(later)).count(),
            10,
            "no more than a second banked"
        );
    }
}
