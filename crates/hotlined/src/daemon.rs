//! The thin tokio shell: sockets, tasks and wiring. Protocol decisions live in the sans-IO crates
//! (`sip` transactions/registrar, `call`, `acd`, `dialplan`); this file only moves messages between them.
//!
//! Tasks: the SIP endpoint (its own task owns the transaction layer), one dispatcher (this file) that
//! answers REGISTER/OPTIONS and hands everything else to the call that owns the Call-ID, one task per
//! call (`call_task`), one ACD task (`acd_task`), the media engine's pacing shards, the ticket writer,
//! and the admin HTTP server.

use crate::acd_task::{self, AcdMsg};
use crate::call_task::{self, CallMsg};
use crate::config::{acl_allows, Config};
use crate::metrics_names as m;
use anyhow::{Context, Result};
use dashmap::DashMap;
use dialplan::LiveDialplan;
use media::{MediaConfig, MediaEngine, Prompt};
use sip::endpoint::{Endpoint, EndpointConfig, Incoming, ServerTx};
use sip::registrar::{options_response, RegisterEvent, Registrar, ALLOW};
use sip::transaction::ServerTxId;
use sip::{Method, SipMessage};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Everything the tasks share. One owner per piece of mutable state: the registrar behind a short
/// std mutex (never held across `.await`), calls and ACD behind their own tasks' mailboxes.
pub struct Shared {
    pub cfg: Config,
    pub endpoint: Endpoint,
    pub media: MediaEngine,
    /// Call-ID (of either leg) → the call task that owns it.
    pub calls: DashMap<String, mpsc::UnboundedSender<CallMsg>>,
    /// INVITE server transactions answered 2xx → their call, to deliver ACK timeouts.
    pub answered_tx: DashMap<ServerTxId, mpsc::UnboundedSender<CallMsg>>,
    pub registrar: Mutex<Registrar>,
    pub seat_passwords: BTreeMap<String, String>,
    pub acd: mpsc::UnboundedSender<AcdMsg>,
    pub records: ticket::RecordSink,
    pub dialplan: Arc<LiveDialplan>,
    pub prompts: DashMap<Arc<str>, Arc<Prompt>>,
    pub hold_prompt: Option<Arc<str>>,
    pub active_calls: AtomicUsize,
    /// `calls.max_active`, clamped to what the RTP port range can carry (two legs per call).
    pub max_active: usize,
    /// Admission rate limit (`calls.max_calls_per_second`).
    pub admission: Mutex<TokenBucket>,
    pub next_call_key: AtomicU64,
    pub acl: Vec<(IpAddr, u8)>,
    /// host:port we put in Contact headers.
    pub contact_host: String,
    pub started: Instant,
    pub counters: Counters,
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use std::time::{Duration, Instant};

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

#[derive(Default)]
pub struct Counters {
    pub calls_started: AtomicU64,
    pub calls_ended: AtomicU64,
    pub refused_overload: AtomicU64,
    pub refused_acl: AtomicU64,
    pub dialplan_reloads: AtomicU64,
    pub dialplan_reload_errors: AtomicU64,
}

impl Shared {
    /// The decoded prompt for a dialplan path, loading and caching it on first use.
    pub fn prompt(&self, path: &Arc<str>) -> Option<Arc<Prompt>> {
        if let Some(p) = self.prompts.get(path) {
            return Some(p.clone());
        }
        match Prompt::load_wav(Path::new(&**path)) {
            Ok(p) => {
                let p = Arc::new(p);
                self.prompts.insert(path.clone(), p.clone());
                Some(p)
            }
            Err(e) => {
                warn!(prompt = %path, error = %e, "prompt cannot be played");
                None
            }
        }
    }

    /// Decode every prompt of the plan in service now, so no call waits on a file read.
    pub fn preload_prompts(&self) {
        let plan = self.dialplan.current();
        for p in plan.prompts() {
            let key: Arc<str> = Arc::from(p.to_string_lossy().as_ref());
            self.prompts.remove(&key);
            self.prompt(&key);
        }
        if let Some(h) = &self.hold_prompt {
            self.prompts.remove(h);
            self.prompt(h);
        }
    }

    /// Reload the dial plan (SIGHUP, admin API, file watcher). A bad plan is refused and the
    /// old one keeps serving; calls in progress keep the decision they were routed with.
    pub fn reload_dialplan(&self) -> Result<String, String> {
        match self.dialplan.reload(&self.cfg.dialplan.dir) {
            Ok(()) => {
                self.counters
                    .dialplan_reloads
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::DIALPLAN_RELOADS, "result" => "ok").increment(1);
                self.preload_prompts();
                let plan = self.dialplan.current();
                let msg = format!("dial plan {} reloaded: {} numbers", plan.name(), plan.len());
                info!("{msg}");
                Ok(msg)
            }
            Err(diags) => {
                self.counters
                    .dialplan_reload_errors
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::DIALPLAN_RELOADS, "result" => "refused").increment(1);
                let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                for t in &text {
                    warn!("dial plan refused: {t}");
                }
                Err(text.join("\n"))
            }
        }
    }

    pub fn now_ms() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

pub async fn run(cfg: Config) -> Result<()> {
    // The dial plan first: a daemon with a broken plan must not start (`check` says why).
    let live = LiveDialplan::load(&cfg.dialplan.dir).map_err(|diags| {
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        anyhow::anyhow!("dial plan refused:\n{}", text.join("\n"))
    })?;
    let live = Arc::new(live);
    let plan = live.current();
    info!(plan = plan.name(), numbers = plan.len(), "dial plan loaded");

    let schedule = calendar::Schedule {
        calendar: plan.calendar().clone(),
        hours: calendar::WorkingHours::nine_to_five(),
        tz: plan.time_zone(),
    };
    if let Some(parent) = cfg.tickets.spool_dir.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    if let Some(file) = cfg.tickets.database_url.strip_prefix("sqlite://") {
        let file = file.split('?').next().unwrap_or(file);
        if let Some(parent) = Path::new(file).parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let tickets = ticket::start(cfg.tickets.clone(), schedule)
        .await
        .context("starting the ticket store")?;

    let media = MediaEngine::start(MediaConfig {
        bind_ip: cfg.media.bind_ip,
        port_min: cfg.media.port_min,
        port_max: cfg.media.port_max,
        media_timeout: Duration::from_secs(cfg.media.media_timeout_s),
    })
    .await
    .context("starting the media engine")?;

    let (endpoint, mut incoming) = Endpoint::bind(EndpointConfig {
        udp: cfg.sip.listen_udp,
        tcp: cfg.sip.listen_tcp,
        max_message_size: cfg.sip.max_message_size,
        incoming_queue: 8192,
        ..EndpointConfig::default()
    })
    .await
    .with_context(|| format!("binding SIP on {}", cfg.sip.listen_udp))?;
    let mut ack_timeouts = endpoint.take_ack_timeouts();

    let mut registrar = Registrar::new(&cfg.sip.domain, &cfg.sip.domain, cfg.sip.registrar.clone());
    let local = endpoint.local_addr();
    registrar.add_alias(&local.ip().to_string());
    let contact_ip = if local.ip().is_unspecified() {
        cfg.media.bind_ip
    } else {
        local.ip()
    };
    let contact_host = match contact_ip {
        IpAddr::V4(ip) => format!("{ip}:{}", local.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", local.port()),
    };

    let (acd_tx, acd_rx) = mpsc::unbounded_channel();
    let seat_passwords: BTreeMap<String, String> = cfg
        .seats
        .iter()
        .map(|s| (s.id.clone(), s.password.clone()))
        .collect();
    let all_queues: Vec<String> = plan.queues().map(str::to_string).collect();
    let seats: Vec<(String, Vec<String>)> = cfg
        .seats
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.queues.clone().unwrap_or_else(|| all_queues.clone()),
            )
        })
        .collect();

    let cfg_rate = cfg.calls.max_calls_per_second;
    // Every admitted call must be able to get both its legs: refusing at the door (503 + Retry-After) is
    // better than failing deep inside when the port range runs out.
    let even_ports = (usize::from(cfg.media.port_max) - usize::from(cfg.media.port_min) + 2) / 2;
    let port_capacity = even_ports / 2;
    let max_active = cfg.calls.max_active.min(port_capacity);
    if max_active < cfg.calls.max_active {
        warn!(
            configured = cfg.calls.max_active,
            effective = max_active,
            "calls.max_active exceeds what media.port_min..port_max can carry (two RTP ports per call); \
             widen the range to admit more"
        );
    }
    let shared = Arc::new(Shared {
        acl: cfg.trunk_acl(),
        hold_prompt: cfg
            .calls
            .hold_prompt
            .as_ref()
            .map(|p| Arc::from(p.to_string_lossy().as_ref())),
        cfg,
        endpoint,
        media,
        calls: DashMap::new(),
        answered_tx: DashMap::new(),
        registrar: Mutex::new(registrar),
        seat_passwords,
        acd: acd_tx,
        records: tickets.sink(),
        dialplan: live.clone(),
        prompts: DashMap::new(),
        active_calls: AtomicUsize::new(0),
        max_active,
        admission: Mutex::new(TokenBucket::new(f64::from(cfg_rate))),
        next_call_key: AtomicU64::new(1),
        contact_host,
        started: Instant::now(),
        counters: Counters::default(),
    });
    shared.preload_prompts();

    let acd_handle = acd_task::spawn(shared.clone(), seats, acd_rx);
    let admin = crate::admin::spawn(shared.clone(), acd_handle, tickets.router()).await?;
    info!(
        sip = %shared.endpoint.local_addr(),
        tcp = ?shared.endpoint.tcp_addr(),
        admin = %admin,
        "hotlined ready"
    );

    // Hot reload: files changing in the plan directory (optional), SIGHUP, and the admin API.
    let _watcher = if shared.cfg.dialplan.watch {
        let s = shared.clone();
        match dialplan::watch(
            &shared.cfg.dialplan.dir,
            live.clone(),
            move |res| match res {
                Ok(()) => {
                    s.counters.dialplan_reloads.fetch_add(1, Ordering::Relaxed);
                    s.preload_prompts();
                    info!("dial plan reloaded after a file change");
                }
                Err(diags) => {
                    s.counters
                        .dialplan_reload_errors
                        .fetch_add(1, Ordering::Relaxed);
                    for d in diags {
                        warn!("dial plan change refused, old plan keeps serving: {d}");
                    }
                }
            },
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!("dial plan watcher not started: {e}");
                None
            }
        }
    } else {
        None
    };

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));

    loop {
        tokio::select! {
            inc = incoming.recv() => match inc {
                Some(inc) => dispatch(&shared, inc),
                None => break,
            },
            Some(tx) = async {
                match ack_timeouts.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some((_, call)) = shared.answered_tx.remove(&tx) {
                    let _ = call.send(CallMsg::AckTimeout);
                }
            }
            _ = sweep.tick() => housekeeping(&shared),
            _ = hup.recv() => { let _ = shared.reload_dialplan(); }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = tokio::signal::ctrl_c() => { info!("interrupted: stopping"); break; }
        }
    }
    // Calls in progress get no more signalling; their records are already in the channel or spool.
    tickets.shutdown().await;
    Ok(())
}

/// Once a second: expire registrations (seats go offline) and export gauges.
fn housekeeping(shared: &Shared) {
    let expired = match shared.registrar.lock() {
        Ok(mut r) => {
            let now = Instant::now();
            let gone = r.expire(now);
            gone.into_iter()
                .filter(|seat| r.lookup(seat, now).is_empty())
                .collect::<Vec<_>>()
        }
        Err(_) => Vec::new(),
    };
    for seat in expired {
        info!(seat, "registration expired: seat offline");
        let _ = shared.acd.send(AcdMsg::SeatOffline { seat });
    }
    let st = shared.endpoint.stats();
    metrics::counter!(m::SIP_RECEIVED).absolute(st.received);
    metrics::counter!(m::SIP_PARSE_ERRORS).absolute(st.parse_errors);
    metrics::counter!(m::SIP_RETRANSMISSIONS).absolute(st.retransmissions);
    metrics::counter!(m::SIP_DROPPED_INCOMING).absolute(st.dropped_incoming);
    metrics::gauge!(m::SIP_TRANSACTIONS, "side" => "client")
        .set(st.live_client_transactions as f64);
    metrics::gauge!(m::SIP_TRANSACTIONS, "side" => "server")
        .set(st.live_server_transactions as f64);
    metrics::counter!(m::RECORDS_SPILLED).absolute(shared.records.spilled());
    metrics::counter!(m::RECORDS_LOST).absolute(shared.records.lost());
    metrics::counter!(m::RECORDS_SPOOL_ERRORS).absolute(shared.records.spool_errors());
    let ms = shared.media.stats();
    metrics::counter!(m::RTP_PACKETS_IN).absolute(ms.packets_in);
    metrics::counter!(m::RTP_PACKETS_OUT).absolute(ms.packets_out);
    metrics::gauge!(m::MEDIA_LEGS).set(ms.active_legs as f64);
    metrics::gauge!(m::CALLS_ACTIVE).set(shared.active_calls.load(Ordering::Relaxed) as f64);
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

/// Answer `req` with a bare status through its transaction (if it has one).
pub fn reply(
    tx: &Option<ServerTx>,
    req: &SipMessage,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
) {
    let Some(tx) = tx else { return };
    let mut b = req.response(status, reason);
    if status > 100 && req.to().tag().is_none() {
        b = b.to_tag(&sip::dialog::new_tag());
    }
    for (n, v) in headers {
        b = b.header(n, v);
    }
    match SipMessage::parse(b.build()) {
        Ok(resp) => tx.respond(resp),
        Err(e) => warn!(status, error = %e, "could not build a response"),
    }
}

/// Hand every request to its owner: the call that has its Call-ID, the registrar, or a new call.
fn dispatch(shared: &Arc<Shared>, inc: Incoming) {
    let call_id = inc.msg.call_id();
    if let Some(owner) = shared.calls.get(call_id).map(|s| s.clone()) {
        let _ = owner.send(CallMsg::Sip(Box::new(inc)));
        return;
    }
    let Some(method) = inc.msg.method().cloned() else {
        return;
    };
    match method {
        Method::Register => register(shared, inc),
        Method::Options => {
            if let Some(tx) = &inc.tx {
                if let Ok(resp) = SipMessage::parse(options_response(&inc.msg)) {
                    tx.respond(resp);
                }
            }
        }
        Method::Invite if inc.msg.to().tag().is_none() => call_task::start(shared, inc),
        Method::Ack => {} // ACK for a call that is gone: nothing to answer.
        Method::Cancel => {
            reply(
                &inc.tx,
                &inc.msg,
                481,
                "Call/Transaction Does Not Exist",
                &[],
            );
        }
        Method::Invite
        | Method::Bye
        | Method::Info
        | Method::Update
        | Method::Prack
        | Method::Refer
        | Method::Notify => {
            reply(
                &inc.tx,
                &inc.msg,
                481,
                "Call/Transaction Does Not Exist",
                &[],
            );
        }
        Method::Subscribe | Method::Message | Method::Publish => {
            reply(
                &inc.tx,
                &inc.msg,
                405,
                "Method Not Allowed",
                &[("Allow", ALLOW)],
            );
        }
        Method::Extension(_) => reply(&inc.tx, &inc.msg, 501, "Not Implemented", &[]),
    }
}

fn register(shared: &Arc<Shared>, inc: Incoming) {
    let outcome = match shared.registrar.lock() {
        Ok(mut r) => r.on_register(
            &inc.msg,
            inc.source,
            inc.transport.as_str(),
            &shared.seat_passwords,
            Instant::now(),
        ),
        Err(_) => return reply(&inc.tx, &inc.msg, 500, "Server Internal Error", &[]),
    };
    metrics::counter!(m::REGISTRATIONS, "status" => outcome.status.to_string()).increment(1);
    if let (Some(tx), Ok(resp)) = (&inc.tx, SipMessage::parse(outcome.response)) {
        tx.respond(resp);
    }
    match outcome.event {
        RegisterEvent::Updated { seat, bindings } => {
            if bindings.is_empty() {
                info!(seat, "seat unregistered");
                let _ = shared.acd.send(AcdMsg::SeatOffline { seat });
            } else {
                info!(seat, contacts = bindings.len(), source = %inc.source, "seat registered");
                let _ = shared.acd.send(AcdMsg::SeatOnline { seat });
            }
        }
        RegisterEvent::Refused { reason } => {
            info!(source = %inc.source, status = outcome.status, reason, "REGISTER refused");
        }
        RegisterEvent::Challenged | RegisterEvent::Queried { .. } => {}
    }
}

/// Is this source allowed to send calls in?
pub fn trunk_allowed(shared: &Shared, ip: IpAddr) -> bool {
    acl_allows(&shared.acl, ip)
}
