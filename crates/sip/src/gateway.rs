//! Trunk gateways: health by OPTIONS probing, priority and failover, channel limits. Sans-IO.
//!
//! Named gateways serve dial-plan targets (`sip:110@emergency-trunk` → the gateways whose
//! `targets` list `emergency-trunk`). Each is probed with OPTIONS every `probe_interval_s` (like
//! Asterisk `qualify` / Kamailio dispatcher `ds_ping_interval`):
//!
//! ```text
//!            probe ok                      failures ≥ failure_threshold
//!   Probing ─────────► Up ──probe fails──► Probing ─────────────────────► Down
//!      ▲  (start)       │ call 408/503                                      │
//!      └────────────────┘ (probe at once)     oks ≥ recovery_threshold     │
//!                       Up ◄────────────────────────────────────────────────┘
//! ```
//!
//! Any response to a probe means alive except 408 and 5xx (a 503 is an SBC out of service); no
//! response within `probe_timeout_ms` is a failure. A gateway with `probe_interval_s = 0` is never
//! probed and always Up.
//!
//! Calls: [`Gateways::seize`] picks the next gateway for a target that was not tried yet — Up
//! ones by priority (lower first, then config order), then Probing ones — skipping Down ones and
//! those at `max_channels`; the caller [`release`](Gateways::release)s it when the leg ends. A leg
//! that fails with [`fails_over`] (timeout → 408, transport → 503, any 5xx) tries the next one;
//! [`Gateways::call_failed`] marks a gateway that timed out or answered 503 Probing and probes it
//! at once (Kamailio's `ds_mark_dst("p")`). [`Gateways::fail_over`] is the whole rule for one
//! outgoing leg's attempt sequence: release, count the failure, seize the next or give up.
//!
//! Driving it (quinn-proto style): after every `handle_*` or mutator, drain `poll_probe` (OPTIONS to
//! send: build with [`Probe::request`], report the outcome with `handle_probe_response`, `None` for a
//! transaction timeout or transport error) and `poll_event` (state changes, for logs and metrics),
//! then sleep until `poll_timeout` and call `handle_timeout`.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::dialog::{new_branch, new_call_id, new_tag};
use crate::net::TransportKind;
use crate::{Method, RequestBuilder, SipMessage, Uri};

/// While Probing, the next probe comes at most this soon (a suspect is confirmed quickly).
const QUICK_PROBE_MS: i64 = 5_000;

/// One `[[trunks.gateway]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub name: String,
    pub address: SocketAddr,
    /// How calls and probes reach it.
    #[serde(default)]
    pub transport: GatewayTransport,
    /// The dial-plan target hosts it carries.
    pub targets: Vec<String>,
    /// Lower is tried first; equal priorities keep config order.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Concurrent calls it may carry; none = no limit.
    #[serde(default)]
    pub max_channels: Option<u32>,
    /// OPTIONS every this many seconds; 0 = never probed, always Up.
    #[serde(default = "default_interval")]
    pub probe_interval_s: u32,
    /// A probe unanswered this long has failed.
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout_ms: u32,
    /// Consecutive failed probes that mark it Down (Kamailio `ds_probing_threshold`).
    #[serde(default = "default_failures")]
    pub failure_threshold: u32,
    /// Consecutive good probes that bring a Down gateway Up (Kamailio `ds_inactive_threshold`).
    #[serde(default = "default_recovery")]
    pub recovery_threshold: u32,
    /// An INVITE that has had no response at all (not even 100 Trying) this long is failed over as a
    /// 408 (Kamailio `fr_timer`); none: when its transaction times out (Timer B, 64·T1 = 32 s).
    #[serde(default)]
    pub invite_timeout_ms: Option<u32>,
}

/// `transport = "udp"` (the default) or `"tcp"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayTransport {
    #[default]
    Udp,
    Tcp,
}

impl GatewayTransport {
    pub fn kind(self) -> TransportKind {
        match self {
            GatewayTransport::Udp => TransportKind::Udp,
            GatewayTransport::Tcp => TransportKind::Tcp,
        }
    }
}

fn default_priority() -> u32 {
    10
}
fn default_interval() -> u32 {
    30
}
fn default_probe_timeout() -> u32 {
    2_000
}
fn default_failures() -> u32 {
    3
}
fn default_recovery() -> u32 {
    2
}

/// Why a gateway list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    DuplicateName(String),
    NoTargets(String),
    ZeroThreshold(String),
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::DuplicateName(n) => write!(f, "gateway {n:?} is configured twice"),
            GatewayError::NoTargets(n) => write!(f, "gateway {n:?} serves no target"),
            GatewayError::ZeroThreshold(n) => {
                write!(
                    f,
                    "gateway {n:?}: thresholds and probe_timeout_ms must be ≥ 1"
                )
            }
        }
    }
}

impl std::error::Error for GatewayError {}

/// Names one gateway for as long as it is configured (a reload keeps the id of a gateway it keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GatewayId(pub usize);

/// Health as probing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayState {
    /// Answering probes: used first.
    Up,
    /// Not known good (at start, after a failed probe or a failed call): used after Up ones.
    Probing,
    /// `failure_threshold` probes in a row failed: not used.
    Down,
}

impl GatewayState {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayState::Up => "up",
            GatewayState::Probing => "probing",
            GatewayState::Down => "down",
        }
    }
}

/// An OPTIONS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub gateway: GatewayId,
    /// Report the outcome with this id; a late answer to an older probe is ignored.
    pub id: u64,
    pub address: SocketAddr,
    pub transport: TransportKind,
}

impl Probe {
    /// The OPTIONS request (RFC 3261 §11): `via` is our Via without branch (e.g.
    /// `SIP/2.0/UDP 10.0.0.1:5060`), `from_uri` our identity, `domain` for the Call-ID.
    pub fn request(&self, via: &str, from_uri: &str, domain: &str) -> Option<SipMessage> {
        let uri = Uri::parse(&format!("sip:{}", self.address)).ok()?;
        RequestBuilder::new(Method::Options, &uri)
            .header("Via", &format!("{via};branch={};rport", new_branch()))
            .header("Max-Forwards", "70")
            .header("From", &format!("<{from_uri}>;tag={}", new_tag()))
            .header("To", &format!("<{uri}>"))
            .header("Call-ID", &new_call_id(domain))
            .header("CSeq", "1 OPTIONS")
            .header("Accept", "application/sdp")
            .try_build_message()
            .ok()
    }
}

/// A state change, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    pub gateway: GatewayId,
    pub name: String,
    pub from: GatewayState,
    pub to: GatewayState,
}

/// One gateway as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayStatus {
    pub name: String,
    pub address: SocketAddr,
    pub state: GatewayState,
    pub priority: u32,
    pub channels_in_use: u32,
    pub max_channels: Option<u32>,
    pub probes_sent: u64,
    pub probes_failed: u64,
    /// Round trip of the last answered probe.
    pub last_rtt_ms: Option<i64>,
}

/// A gateway seized for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seized {
    pub gateway: GatewayId,
    pub address: SocketAddr,
    pub transport: TransportKind,
    /// The gateway's `invite_timeout_ms`.
    pub invite_timeout_ms: Option<u32>,
}

/// Should a leg that ended with `status` try the next gateway? Timeout (408), transport error and
/// server failures (5xx, 503 included) are the gateway's fault; 4xx/6xx are the callee's answer.
pub fn fails_over(status: u16) -> bool {
    status == 408 || (500..600).contains(&status)
}

#[derive(Debug)]
struct Gw {
    id: GatewayId,
    cfg: GatewayConfig,
    state: GatewayState,
    /// Consecutive failed probes (Up/Probing) or good probes (Down).
    streak: u32,
    in_use: u32,
    /// The probe in flight: (id, sent at, deadline).
    inflight: Option<(u64, i64, i64)>,
    next_probe_at: Option<i64>,
    probes_sent: u64,
    probes_failed: u64,
    last_rtt_ms: Option<i64>,
}

impl Gw {
    fn probed(&self) -> bool {
        self.cfg.probe_interval_s > 0
    }

    fn interval_ms(&self) -> i64 {
        let full = i64::from(self.cfg.probe_interval_s) * 1000;
        if self.state == GatewayState::Probing {
            full.min(QUICK_PROBE_MS)
        } else {
            full
        }
    }
}

/// All gateways. See the module docs.
#[derive(Debug, Default)]
pub struct Gateways {
    gws: Vec<Gw>,
    next_id: usize,
    next_probe_id: u64,
    probes: VecDeque<Probe>,
    events: VecDeque<GatewayEvent>,
}

impl Gateways {
    /// Probed gateways start Probing with their first probe due at `now_ms`.
    pub fn new(cfgs: Vec<GatewayConfig>, now_ms: i64) -> Result<Gateways, GatewayError> {
        let mut gws: Vec<Gw> = Vec::with_capacity(cfgs.len());
        for cfg in cfgs {
            if gws.iter().any(|g| g.cfg.name == cfg.name) {
                return Err(GatewayError::DuplicateName(cfg.name));
            }
            if cfg.targets.is_empty() {
                return Err(GatewayError::NoTargets(cfg.name));
            }
            if cfg.failure_threshold == 0
                || cfg.recovery_threshold == 0
                || cfg.probe_timeout_ms == 0
            {
                return Err(GatewayError::ZeroThreshold(cfg.name));
            }
            let probed = cfg.probe_interval_s > 0;
            gws.push(Gw {
                id: GatewayId(gws.len()),
                cfg,
                state: if probed {
                    GatewayState::Probing
                } else {
                    GatewayState::Up
                },
                streak: 0,
                in_use: 0,
                inflight: None,
                next_probe_at: probed.then_some(now_ms),
                probes_sent: 0,
                probes_failed: 0,
                last_rtt_ms: None,
            });
        }
        Ok(Gateways {
            next_id: gws.len(),
            gws,
            ..Gateways::default()
        })
    }

    /// A new gateway list (config reload). A gateway kept under the same name and address keeps its
    /// id, state, channels in use and probing; a new one starts Probing; a removed one is gone (a
    /// `release` of its id is ignored). On error nothing changes.
    pub fn reconfigure(
        &mut self,
        cfgs: Vec<GatewayConfig>,
        now_ms: i64,
    ) -> Result<(), GatewayError> {
        let mut fresh = Gateways::new(cfgs, now_ms)?;
        for g in &mut fresh.gws {
            let old = self
                .gws
                .iter_mut()
                .find(|o| o.cfg.name == g.cfg.name && o.cfg.address == g.cfg.address);
            match old {
                Some(o) if g.probed() == o.probed() => {
                    g.id = o.id;
                    g.state = o.state;
                    g.streak = o.streak;
                    g.inflight = o.inflight.take();
                    g.next_probe_at = o.next_probe_at;
                    (g.probes_sent, g.probes_failed, g.last_rtt_ms) =
                        (o.probes_sent, o.probes_failed, o.last_rtt_ms);
                    g.in_use = o.in_use;
                }
                Some(o) => {
                    g.id = o.id;
                    g.in_use = o.in_use;
                }
                None => {
                    g.id = GatewayId(self.next_id);
                    self.next_id += 1;
                }
            }
        }
        self.gws = fresh.gws;
        Ok(())
    }

    fn idx(&self, id: GatewayId) -> Option<usize> {
        self.gws.iter().position(|g| g.id == id)
    }

    // ------------------------------------------------------------------ getters

    pub fn id(&self, name: &str) -> Option<GatewayId> {
        self.gws.iter().find(|g| g.cfg.name == name).map(|g| g.id)
    }

    pub fn name(&self, id: GatewayId) -> Option<&str> {
        self.gws
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.cfg.name.as_str())
    }

    pub fn state(&self, id: GatewayId) -> Option<GatewayState> {
        self.gws.iter().find(|g| g.id == id).map(|g| g.state)
    }

    /// Does any gateway carry `target`?
    pub fn serves(&self, target: &str) -> bool {
        self.gws
            .iter()
            .any(|g| g.cfg.targets.iter().any(|t| t.eq_ignore_ascii_case(target)))
    }

    pub fn status(&self) -> Vec<GatewayStatus> {
        self.gws
            .iter()
            .map(|g| GatewayStatus {
                name: g.cfg.name.clone(),
                address: g.cfg.address,
                state: g.state,
                priority: g.cfg.priority,
                channels_in_use: g.in_use,
                max_channels: g.cfg.max_channels,
                probes_sent: g.probes_sent,
                probes_failed: g.probes_failed,
                last_rtt_ms: g.last_rtt_ms,
            })
            .collect()
    }

    // ------------------------------------------------------------------ calls

    /// The next gateway for `target` not in `tried`, with a channel free, and take that channel:
    /// Up ones by priority, then Probing ones; never a Down one. None: no gateway left (503).
    pub fn seize(&mut self, target: &str, tried: &[GatewayId]) -> Option<Seized> {
        let rank = |s: GatewayState| match s {
            GatewayState::Up => 0,
            GatewayState::Probing => 1,
            GatewayState::Down => 2,
        };
        let best = self
            .gws
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                g.state != GatewayState::Down
                    && !tried.contains(&g.id)
                    && g.cfg.targets.iter().any(|t| t.eq_ignore_ascii_case(target))
                    && g.cfg.max_channels.is_none_or(|m| g.in_use < m)
            })
            .min_by_key(|(i, g)| (rank(g.state), g.cfg.priority, *i))
            .map(|(i, _)| i)?;
        let g = &mut self.gws[best];
        g.in_use += 1;
        Some(Seized {
            gateway: g.id,
            address: g.cfg.address,
            transport: g.cfg.transport.kind(),
            invite_timeout_ms: g.cfg.invite_timeout_ms,
        })
    }

    /// The call is done with the channel it seized.
    pub fn release(&mut self, id: GatewayId) {
        if let Some(i) = self.idx(id) {
            self.gws[i].in_use = self.gws[i].in_use.saturating_sub(1);
        }
    }

    /// A leg through `id` failed with `status` (call `release` as well). A timeout (408) or 503
    /// makes an Up gateway suspect: Probing, probed at once. Returns [`fails_over`]`(status)`.
    pub fn call_failed(&mut self, id: GatewayId, status: u16, now_ms: i64) -> bool {
        if let Some(i) = self.idx(id) {
            let g = &mut self.gws[i];
            if matches!(status, 408 | 503) && g.probed() && g.state == GatewayState::Up {
                g.streak = 0;
                self.set_state(i, GatewayState::Probing);
                let g = &mut self.gws[i];
                if g.inflight.is_none() {
                    g.next_probe_at = Some(now_ms);
                }
                self.handle_timeout(now_ms);
            }
        }
        fails_over(status)
    }

    /// One outgoing leg's attempt sequence: the leg through `failed` (seized for `target`) ended
    /// with `status`. Its channel is released and the failure counted ([`Gateways::call_failed`]);
    /// when the status [`fails_over`], the next gateway not in `tried` (which must list `failed`)
    /// is seized. None: the leg has failed for good, with `status`.
    pub fn fail_over(
        &mut self,
        target: &str,
        failed: GatewayId,
        status: u16,
        tried: &[GatewayId],
        now_ms: i64,
    ) -> Option<Seized> {
        self.release(failed);
        if !self.call_failed(failed, status, now_ms) {
            return None;
        }
        self.seize(target, tried)
    }

    // ------------------------------------------------------------------ handle_*

    /// Time passed: probes due go out, probes past their deadline count as failed.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        for i in 0..self.gws.len() {
            if let Some((_, sent_at, deadline)) = self.gws[i].inflight {
                if deadline <= now_ms {
                    self.gws[i].inflight = None;
                    self.probe_result(i, false, sent_at, None);
                }
            }
            let g = &mut self.gws[i];
            if g.inflight.is_none() && g.next_probe_at.is_some_and(|at| at <= now_ms) {
                let id = self.next_probe_id;
                self.next_probe_id += 1;
                g.inflight = Some((id, now_ms, now_ms + i64::from(g.cfg.probe_timeout_ms)));
                g.next_probe_at = None; // set by the outcome, from the state it leads to
                g.probes_sent += 1;
                self.probes.push_back(Probe {
                    gateway: g.id,
                    id,
                    address: g.cfg.address,
                    transport: g.cfg.transport.kind(),
                });
            }
        }
    }

    /// The outcome of probe `probe`: the response's status, or None (transaction timeout, transport
    /// error). A stale probe (its deadline passed already) is ignored.
    pub fn handle_probe_response(&mut self, probe: u64, status: Option<u16>, now_ms: i64) {
        let Some(i) = self
            .gws
            .iter()
            .position(|g| g.inflight.is_some_and(|(id, _, _)| id == probe))
        else {
            return;
        };
        let sent_at = self.gws[i].inflight.take().map_or(now_ms, |(_, at, _)| at);
        let alive = status.is_some_and(|s| s != 408 && s < 500);
        let rtt = alive.then_some(now_ms - sent_at);
        self.probe_result(i, alive, sent_at, rtt);
    }

    /// Count a probe's outcome; the next probe is due one interval (of the new state) after it went.
    fn probe_result(&mut self, i: usize, alive: bool, sent_at: i64, rtt: Option<i64>) {
        let g = &mut self.gws[i];
        let (fail_at, ok_at) = (g.cfg.failure_threshold, g.cfg.recovery_threshold);
        if !alive {
            g.probes_failed += 1;
        }
        if rtt.is_some() {
            g.last_rtt_ms = rtt;
        }
        let next = match (g.state, alive) {
            (GatewayState::Up | GatewayState::Probing, true) => {
                g.streak = 0;
                GatewayState::Up
            }
            (GatewayState::Up | GatewayState::Probing, false) => {
                g.streak += 1;
                if g.streak >= fail_at {
                    g.streak = 0;
                    GatewayState::Down
                } else {
                    GatewayState::Probing
                }
            }
            (GatewayState::Down, true) => {
                g.streak += 1;
                if g.streak >= ok_at {
                    g.streak = 0;
                    GatewayState::Up
                } else {
                    GatewayState::Down
                }
            }
            (GatewayState::Down, false) => {
                g.streak = 0;
                GatewayState::Down
            }
        };
        self.set_state(i, next);
        let g = &mut self.gws[i];
        let at = sent_at + g.interval_ms();
        g.next_probe_at = Some(g.next_probe_at.map_or(at, |n| n.min(at)));
    }

    fn set_state(&mut self, i: usize, to: GatewayState) {
        let g = &mut self.gws[i];
        if g.state == to {
            return;
        }
        let from = std::mem::replace(&mut g.state, to);
        self.events.push_back(GatewayEvent {
            gateway: g.id,
            name: g.cfg.name.clone(),
            from,
            to,
        });
    }

    // ------------------------------------------------------------------ poll_*

    /// The next OPTIONS to send.
    pub fn poll_probe(&mut self) -> Option<Probe> {
        self.probes.pop_front()
    }

    /// The next state change.
    pub fn poll_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop_front()
    }

    /// When to call `handle_timeout` next (the earliest probe due or probe deadline).
    pub fn poll_timeout(&self) -> Option<i64> {
        self.gws
            .iter()
            .filter_map(|g| match g.inflight {
                Some((_, _, deadline)) => Some(deadline),
                None => g.next_probe_at,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(name: &str, port: u16, priority: u32) -> GatewayConfig {
        GatewayConfig {
            name: name.into(),
            address: SocketAddr::from(([10, 0, 0, 1], port)),
            transport: GatewayTransport::Udp,
            targets: vec!["emergency-trunk".into()],
            priority,
            max_channels: None,
            probe_interval_s: 30,
            probe_timeout_ms: 2_000,
            failure_threshold: 3,
            recovery_threshold: 2,
            invite_timeout_ms: None,
        }
    }

    fn probes(g: &mut Gateways) -> Vec<Probe> {
        std::iter::from_fn(|| g.poll_probe()).collect()
    }

    fn events(g: &mut Gateways) -> Vec<(String, GatewayState, GatewayState)> {
        std::iter::from_fn(|| g.poll_event())
            .map(|e| (e.name, e.from, e.to))
            .collect()
    }

    /// Answer every probe due at `now` with `status` (None: let it time out).
    fn round(g: &mut Gateways, now: i64, status: impl Fn(GatewayId) -> Option<u16>) {
        g.handle_timeout(now);
        for p in probes(g) {
            match status(p.gateway) {
                Some(s) => g.handle_probe_response(p.id, Some(s), now + 20),
                None => g.handle_timeout(now + 2_000),
            }
        }
    }

    #[test]
    fn config_refuses_unknown_fields_and_fills_defaults() {
        let toml = r#"name = "sbc-a"
address = "10.0.0.1:5060"
targets = ["emergency-trunk"]"#;
        let c: GatewayConfig = toml::from_str(toml).unwrap();
        assert_eq!(
            (
                c.priority,
                c.probe_interval_s,
                c.failure_threshold,
                c.recovery_threshold
            ),
            (10, 30, 3, 2)
        );
        assert!(toml::from_str::<GatewayConfig>(&format!("{toml}\nqualify = 1")).is_err());
        let dup = Gateways::new(vec![gw("a", 1, 1), gw("a", 2, 1)], 0);
        assert_eq!(dup.err(), Some(GatewayError::DuplicateName("a".into())));
    }

    #[test]
    fn probing_at_start_up_on_the_first_answer_with_its_rtt() {
        let mut g = Gateways::new(vec![gw("a", 1, 1)], 0).unwrap();
        let a = g.id("a").unwrap();
        assert_eq!(g.state(a), Some(GatewayState::Probing));
        assert_eq!(g.poll_timeout(), Some(0));
        g.handle_timeout(0);
        let p = probes(&mut g);
        assert_eq!(p.len(), 1);
        let req = p[0].request(
            "SIP/2.0/UDP 10.0.0.9:5060",
            "sip:hotline@h.example",
            "h.example",
        );
        let req = req.unwrap();
        assert_eq!(req.method(), Some(&Method::Options));
        assert_eq!(req.cseq().method, Method::Options);
        assert_eq!(g.poll_timeout(), Some(2_000), "the probe's deadline");
        // Any answer but 408/5xx means alive (a 404 from an SBC that knows no such user too).
        g.handle_probe_response(p[0].id, Some(404), 35);
        assert_eq!(g.state(a), Some(GatewayState::Up));
        assert_eq!(
            events(&mut g),
            vec![("a".into(), GatewayState::Probing, GatewayState::Up)]
        );
        assert_eq!(g.status()[0].last_rtt_ms, Some(35));
        assert_eq!(
            g.poll_timeout(),
            Some(30_000),
            "the next probe, one interval on"
        );
        g.handle_timeout(29_999);
        assert!(probes(&mut g).is_empty());
        g.handle_timeout(30_000);
        assert_eq!(probes(&mut g).len(), 1);
    }

    #[test]
    fn down_after_the_failure_threshold_and_up_after_the_recovery_threshold() {
        let mut g = Gateways::new(vec![gw("a", 1, 1)], 0).unwrap();
        let a = g.id("a").unwrap();
        round(&mut g, 0, |_| Some(200));
        assert_eq!(g.state(a), Some(GatewayState::Up));
        events(&mut g);
        // First failure (a 503 answer): Probing, re-probed 5 s after that probe went out.
        g.handle_timeout(30_000);
        let p = probes(&mut g).remove(0);
        g.handle_probe_response(p.id, Some(503), 30_010);
        assert_eq!(g.state(a), Some(GatewayState::Probing));
        assert_eq!(g.poll_timeout(), Some(35_000));
        // Second failure: no answer within probe_timeout_ms.
        g.handle_timeout(35_000);
        assert_eq!(probes(&mut g).len(), 1);
        g.handle_timeout(36_999);
        assert_eq!(g.state(a), Some(GatewayState::Probing));
        g.handle_timeout(37_000);
        assert_eq!(g.state(a), Some(GatewayState::Probing));
        // Third failure: Down.
        g.handle_timeout(40_000);
        let p = probes(&mut g).remove(0);
        g.handle_probe_response(p.id, None, 40_100);
        assert_eq!(g.state(a), Some(GatewayState::Down));
        assert_eq!(
            events(&mut g),
            vec![
                ("a".into(), GatewayState::Up, GatewayState::Probing),
                ("a".into(), GatewayState::Probing, GatewayState::Down),
            ]
        );
        assert_eq!(g.status()[0].probes_failed, 3);
        // Down is probed at the full interval; one good probe is not enough, two are.
        assert_eq!(g.poll_timeout(), Some(70_000));
        round(&mut g, 70_000, |_| Some(200));
        assert_eq!(g.state(a), Some(GatewayState::Down));
        round(&mut g, 100_000, |_| Some(200));
        assert_eq!(g.state(a), Some(GatewayState::Up));
        // A late answer to a probe that already timed out changes nothing.
        g.handle_timeout(130_000);
        let p = probes(&mut g).remove(0);
        g.handle_timeout(132_000);
        assert_eq!(g.state(a), Some(GatewayState::Probing));
        g.handle_probe_response(p.id, Some(200), 132_500);
        assert_eq!(g.state(a), Some(GatewayState::Probing));
    }

    #[test]
    fn seize_follows_priority_and_fails_over_past_down_and_tried_gateways() {
        let mut g = Gateways::new(vec![gw("b", 2, 20), gw("a", 1, 10), gw("c", 3, 20)], 0).unwrap();
        let (a, b, c) = (g.id("a").unwrap(), g.id("b").unwrap(), g.id("c").unwrap());
        round(&mut g, 0, |_| Some(200));
        let first = g.seize("emergency-trunk", &[]).unwrap();
        assert_eq!(first.gateway, a, "lowest priority value first");
        assert!(g.call_failed(a, 408, 1_000), "a timeout fails over");
        g.release(a);
        assert_eq!(
            g.state(a),
            Some(GatewayState::Probing),
            "suspect after a timeout"
        );
        assert_eq!(probes(&mut g).len(), 1, "and probed at once");
        let second = g.seize("emergency-trunk", &[a]).unwrap();
        assert_eq!(second.gateway, b, "equal priorities keep config order");
        assert!(!fails_over(486) && !fails_over(404) && !fails_over(603));
        assert!(fails_over(503) && fails_over(500) && fails_over(408));
        assert_eq!(g.seize("emergency-trunk", &[a, b]).unwrap().gateway, c);
        assert_eq!(g.seize("emergency-trunk", &[a, b, c]), None);
        assert_eq!(g.seize("other-trunk", &[]), None);
        // A Probing gateway comes after Up ones even with a better priority; a Down one never.
        g.release(b);
        g.release(c);
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, b);
        g.release(b);
        for t in [2_000, 7_000] {
            g.handle_timeout(t);
            probes(&mut g);
        }
        g.handle_timeout(9_000);
        probes(&mut g);
        g.handle_timeout(30_000);
        for p in probes(&mut g) {
            if p.gateway == a {
                g.handle_probe_response(p.id, None, 30_001);
            } else {
                g.handle_probe_response(p.id, Some(200), 30_001);
            }
        }
        assert_eq!(g.state(a), Some(GatewayState::Down));
        let order: Vec<GatewayId> = (0..3)
            .scan(Vec::new(), |tried, _| {
                let s = g.seize("emergency-trunk", tried)?;
                tried.push(s.gateway);
                Some(s.gateway)
            })
            .collect();
        assert_eq!(order, vec![b, c], "the Down gateway is skipped");
    }

    #[test]
    fn channel_limit_skips_a_full_gateway_until_a_channel_is_released() {
        let mut one = gw("a", 1, 1);
        one.max_channels = Some(2);
        let mut g = Gateways::new(vec![one, gw("b", 2, 5)], 0).unwrap();
        let (a, b) = (g.id("a").unwrap(), g.id("b").unwrap());
        round(&mut g, 0, |_| Some(200));
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, a);
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, a);
        assert_eq!(
            g.seize("emergency-trunk", &[]).unwrap().gateway,
            b,
            "a is full"
        );
        assert_eq!(g.status()[0].channels_in_use, 2);
        g.release(a);
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, a);
        // A 486 is the callee's answer: no failover, no suspicion.
        assert!(!g.call_failed(a, 486, 10));
        assert_eq!(g.state(a), Some(GatewayState::Up));
    }

    #[test]
    fn a_reload_keeps_the_state_and_channels_of_gateways_it_keeps() {
        let mut g = Gateways::new(vec![gw("a", 1, 1), gw("b", 2, 2)], 0).unwrap();
        let (a, b) = (g.id("a").unwrap(), g.id("b").unwrap());
        round(&mut g, 0, |id| (id == a).then_some(200));
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, a);
        // b dropped, c added, a kept (its priority changed).
        let mut a2 = gw("a", 1, 30);
        a2.max_channels = Some(1);
        g.reconfigure(vec![gw("c", 3, 5), a2], 10_000).unwrap();
        assert_eq!(g.id("a"), Some(a), "same id");
        assert_eq!(g.state(a), Some(GatewayState::Up));
        assert_eq!(g.state(b), None);
        let c = g.id("c").unwrap();
        assert!(c != a && c != b, "a new gateway never reuses an id");
        assert_eq!(g.state(c), Some(GatewayState::Probing));
        assert_eq!(
            g.status()
                .iter()
                .find(|s| s.name == "a")
                .unwrap()
                .channels_in_use,
            1
        );
        // a is full (1 of 1): the Probing newcomer takes the call.
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, c);
        g.release(b); // a call that still held b: ignored
        g.release(a);
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, a);
        // A bad list changes nothing.
        assert!(g
            .reconfigure(vec![gw("x", 1, 1), gw("x", 2, 1)], 20_000)
            .is_err());
        assert_eq!(g.id("a"), Some(a));
    }

    #[test]
    fn an_unprobed_gateway_is_always_up() {
        let mut c = gw("a", 1, 1);
        c.probe_interval_s = 0;
        let mut g = Gateways::new(vec![c], 0).unwrap();
        let a = g.id("a").unwrap();
        assert_eq!(g.state(a), Some(GatewayState::Up));
        assert_eq!(g.poll_timeout(), None);
        g.call_failed(a, 408, 5);
        assert_eq!(g.state(a), Some(GatewayState::Up));
        assert!(probes(&mut g).is_empty());
    }

    #[test]
    fn a_gateway_that_stops_answering_is_down_after_interval_times_threshold_and_calls_skip_it() {
        let fast = |name: &str, port: u16, priority: u32| GatewayConfig {
            probe_interval_s: 1,
            probe_timeout_ms: 500,
            failure_threshold: 2,
            ..gw(name, port, priority)
        };
        let mut g = Gateways::new(vec![fast("first", 1, 1), fast("second", 2, 2)], 0).unwrap();
        let (first, second) = (g.id("first").unwrap(), g.id("second").unwrap());
        let mut silent = false;
        let mut down_at = None;
        // 10 ms steps; "first" stops answering at t = 3 s.
        for t in (0..10_000).step_by(10) {
            silent |= t == 3_000;
            g.handle_timeout(t);
            for p in probes(&mut g) {
                if !(silent && p.gateway == first) {
                    g.handle_probe_response(p.id, Some(200), t + 5);
                }
            }
            if down_at.is_none() && g.state(first) == Some(GatewayState::Down) {
                down_at = Some(t);
            }
        }
        // Probes at 3 s (lost at 3.5 s: Probing) and 4 s (lost at 4.5 s: Down).
        assert_eq!(down_at, Some(4_500));
        assert_eq!(g.state(second), Some(GatewayState::Up));
        assert_eq!(g.seize("emergency-trunk", &[]).unwrap().gateway, second);
    }

    #[test]
    fn fail_over_walks_the_gateways_by_priority_on_5xx_and_timeouts_only() {
        let mut g = Gateways::new(vec![gw("a", 1, 1), gw("b", 2, 2), gw("c", 3, 3)], 0).unwrap();
        let (a, b, c) = (g.id("a").unwrap(), g.id("b").unwrap(), g.id("c").unwrap());
        round(&mut g, 0, |_| Some(200));
        let t = "emergency-trunk";
        let s = g.seize(t, &[]).unwrap();
        assert_eq!((s.gateway, s.transport), (a, TransportKind::Udp));
        // 503 from a: b next, and a is suspect (Probing, probed at once).
        let s = g.fail_over(t, a, 503, &[a], 100).unwrap();
        assert_eq!(s.gateway, b);
        assert_eq!(g.state(a), Some(GatewayState::Probing));
        assert_eq!(probes(&mut g).len(), 1);
        // 500 from b: c next; a 500 is no reason to suspect the gateway's health.
        let s = g.fail_over(t, b, 500, &[a, b], 200).unwrap();
        assert_eq!(s.gateway, c);
        assert_eq!(g.state(b), Some(GatewayState::Up));
        // c times out: nothing left, the leg fails; every channel is back.
        assert_eq!(g.fail_over(t, c, 408, &[a, b, c], 300), None);
        assert!(g.status().iter().all(|s| s.channels_in_use == 0));
        // A 486 is the callee's answer: no other gateway is tried.
        let s = g.seize(t, &[]).unwrap();
        assert_eq!(g.fail_over(t, s.gateway, 486, &[s.gateway], 400), None);
        assert!(g.status().iter().all(|s| s.channels_in_use == 0));
    }

    #[test]
    fn the_transport_is_read_from_the_config_and_carried_to_probes_and_calls() {
        let toml = r#"name = "sbc-t"
address = "10.0.0.1:5060"
transport = "tcp"
targets = ["t"]
probe_interval_s = 5
invite_timeout_ms = 1500"#;
        let c: GatewayConfig = toml::from_str(toml).unwrap();
        assert_eq!(c.transport, GatewayTransport::Tcp);
        assert!(toml::from_str::<GatewayConfig>(&toml.replace("tcp", "sctp")).is_err());
        let mut g = Gateways::new(vec![c], 0).unwrap();
        g.handle_timeout(0);
        assert_eq!(probes(&mut g)[0].transport, TransportKind::Tcp);
        let s = g.seize("t", &[]).unwrap();
        assert_eq!(
            (s.transport, s.invite_timeout_ms),
            (TransportKind::Tcp, Some(1500))
        );
    }
}
