//! Per-source flood limit, the way Kamailio's `pike` + `htable` ban do it: at most N messages per window
//! from one address, then its messages are dropped — unanswered, so a scanner learns nothing — and the
//! address is banned for a while. Trunk addresses are exempt or have their own, larger limit: a carrier's
//! busy hour must never look like a flood.
//!
//! Sans-IO: the transport asks [`SourceLimiter::check`] for every datagram or framed message before it
//! parses it (dropping junk costs a hash lookup, not a parse), with the time as an input.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits. `max_per_window == 0` switches the limit off.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodLimits {
    /// Messages allowed per window from one address outside `trusted`.
    pub max_per_window: u32,
    pub window: Duration,
    /// How long an address that went over stays banned (every message dropped).
    pub ban: Duration,
    /// Networks with their own limit (trunks, a seat network behind NAT): `(network, prefix length)`.
    pub trusted: Vec<(IpAddr, u8)>,
    /// Messages per window from one trusted address; 0 = unlimited.
    pub trusted_max_per_window: u32,
    /// Addresses tracked at most; beyond it the stalest entries are forgotten (a spoofed-source flood
    /// must not grow memory without bound).
    pub max_tracked: usize,
}

impl Default for FloodLimits {
    fn default() -> Self {
        FloodLimits {
            max_per_window: 0,
            window: Duration::from_secs(2),
            ban: Duration::from_secs(300),
            trusted: Vec::new(),
            trusted_max_per_window: 0,
            max_tracked: 100_000,
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Over the limit: this message starts a ban of its source.
    Ban,
    /// The source is banned: drop.
    Banned,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    window_start: Instant,
    count: u32,
    banned_until: Option<Instant>,
}

/// Counters for metrics and `/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodStats {
    pub dropped: u64,
    pub bans: u64,
}

#[derive(Debug)]
pub struct SourceLimiter {
    limits: FloodLimits,
    sources: HashMap<IpAddr, Source>,
    stats: FloodStats,
}

/// Is `ip` inside `net/prefix`? (IPv4 and IPv6; an IPv4-mapped IPv6 source matches an IPv4 network.)
pub fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl SourceLimiter {
    pub fn new(limits: FloodLimits) -> SourceLimiter {
        SourceLimiter {
            limits,
            sources: HashMap::new(),
            stats: FloodStats::default(),
        }
    }

    pub fn stats(&self) -> FloodStats {
        self.stats
    }

    /// Addresses banned at `now`.
    pub fn banned(&self, now: Instant) -> usize {
        self.sources
            .values()
            .filter(|s| s.banned_until.is_some_and(|t| t > now))
            .count()
    }

    /// One message from `ip` at `now`.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let trusted = self
            .limits
            .trusted
            .iter()
            .any(|&(net, p)| in_network(ip, net, p));
        let max = if trusted {
            self.limits.trusted_max_per_window
        } else {
            self.limits.max_per_window
        };
        if max == 0 {
            return Verdict::Pass;
        }
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.limits.max_tracked.max(1) {
            self.forget_stale(now);
        }
        let window = self.limits.window;
        let s = self.sources.entry(ip).or_insert(Source {
            window_start: now,
            count: 0,
            banned_until: None,
        });
        if let Some(until) = s.banned_until {
            if now < until {
                self.stats.dropped += 1;
                return Verdict::Banned;
            }
            // Served its ban: a fresh start.
            s.banned_until = None;
            s.window_start = now;
            s.count = 0;
        }
        if now.saturating_duration_since(s.window_start) >= window {
            s.window_start = now;
            s.count = 0;
        }
        s.count += 1;
        if s.count > max {
            s.banned_until = Some(now + self.limits.ban);
            self.stats.dropped += 1;
            self.stats.bans += 1;
            return Verdict::Ban;
        }
        Verdict::Pass
    }

    /// Drop entries whose window and ban are over; if none are, the one idle longest.
    fn forget_stale(&mut self, now: Instant) {
        let window = self.limits.window;
        self.sources.retain(|_, s| {
            s.banned_until.is_some_and(|t| t > now)
                || now.saturating_duration_since(s.window_start) < window
        });
        if self.sources.len() >= self.limits.max_tracked.max(1) {
            if let Some(oldest) = self
                .sources
                .iter()
                .filter(|(_, s)| s.banned_until.is_none())
                .min_by_key(|(_, s)| s.window_start)
                .map(|(ip, _)| *ip)
            {
                self.sources.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
    }

    fn limiter() -> SourceLimiter {
        SourceLimiter::new(FloodLimits {
            max_per_window: 3,
            window: Duration::from_secs(2),
            ban: Duration::from_secs(60),
            trusted: vec![(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 16)],
            trusted_max_per_window: 0,
            max_tracked: 4,
        })
    }

    #[test]
    fn over_the_limit_a_source_is_banned_for_the_ban_time_then_starts_afresh() {
        let mut l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(ip(1), t0), Verdict::Pass);
        }
        assert_eq!(l.check(ip(1), t0), Verdict::Ban);
        // Banned even after the window turns over, and others are not affected.
        assert_eq!(l.check(ip(1), t0 + Duration::from_secs(5)), Verdict::Banned);
        assert_eq!(l.check(ip(2), t0 + Duration::from_secs(5)), Verdict::Pass);
        assert_eq!(l.banned(t0 + Duration::from_secs(5)), 1);
        assert_eq!(l.check(ip(1), t0 + Duration::from_secs(61)), Verdict::Pass);
        assert_eq!(
            l.stats(),
            FloodStats {
                dropped: 2,
                bans: 1
            }
        );
    }

    #[test]
    fn the_count_restarts_with_each_window() {
        let mut l = limiter();
        let t0 = Instant::now();
        for k in 0..10u64 {
            let t = t0 + Duration::from_millis(700 * k);
            // 3 per 2 s never trips at one message per 700 ms.
            assert_eq!(l.check(ip(1), t), Verdict::Pass, "message {k}");
        }
    }

    #[test]
    fn trusted_networks_have_their_own_limit() {
        let mut l = limiter();
        let t0 = Instant::now();
        let trunk = IpAddr::V4(Ipv4Addr::new(10, 1, 200, 7));
        for _ in 0..1000 {
            assert_eq!(l.check(trunk, t0), Verdict::Pass);
        }
        // An IPv4-mapped IPv6 source is the same trunk.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 1, 200, 7).to_ipv6_mapped());
        assert_eq!(l.check(mapped, t0), Verdict::Pass);
    }

    #[test]
    fn a_spoofed_source_flood_keeps_the_table_bounded_and_bans() {
        let mut l = limiter();
        let t0 = Instant::now();
        for _ in 0..4 {
            l.check(ip(9), t0);
        }
        for k in 10..200u8 {
            l.check(ip(k), t0 + Duration::from_secs(1));
        }
        assert!(l.sources.len() <= 4, "{}", l.sources.len());
        // The ban survived the churn.
        assert_eq!(l.check(ip(9), t0 + Duration::from_secs(2)), Verdict::Banned);
    }

    #[test]
    fn networks_match_by_prefix() {
        let net = IpAddr::V4(Ipv4Addr::new(192, 168, 4, 0));
        assert!(in_network(
            IpAddr::V4(Ipv4Addr::new(192, 168, 4, 99)),
            net,
            24
        ));
        assert!(!in_network(
            IpAddr::V4(Ipv4Addr::new(192, 168, 5, 1)),
            net,
            24
        ));
        assert!(in_network(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)), net, 0));
        let v6: IpAddr = "2001:db8::1".parse().unwrap_or(net);
        let v6net: IpAddr = "2001:db8::".parse().unwrap_or(net);
        assert!(in_network(v6, v6net, 32));
        assert!(!in_network(v6, net, 24));
    }

    #[test]
    fn switched_off_by_default() {
        let mut l = SourceLimiter::new(FloodLimits::default());
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(l.check(ip(1), t0), Verdict::Pass);
        }
    }
}
