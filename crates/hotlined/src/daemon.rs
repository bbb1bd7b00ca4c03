//! The thin tokio shell: sockets, tasks and wiring. Protocol decisions live in the sans-IO crates
//! (`sip` transactions/registrar, `call`, `acd`, `dialplan`); this file only moves messages between them.
//!
//! Tasks: the SIP endpoint (its own task owns the transaction layer), one dispatcher (this file) that
//! answers REGISTER/OPTIONS and hands everything else to the call that owns the Call-ID, one task per
//! call (`call_task`), one ACD task (`acd_task`), the media engine's pacing shards, the ticket writer,
//! and the admin HTTP server.

use crate::acd_task::{self, AcdSetup, SeatSpec};
use crate::admission::Admission;
use crate::clock::Clock;
use crate::config::Config;
use crate::consult;
use crate::env::CallEnv;
use crate::features;
use crate::intake;
use crate::mailbox::{AcdHandle, CallMsg};
use crate::metrics_names as m;
use crate::plans::{AcdPrompts, Plans};
use crate::registry::CallRegistry;
use crate::respond::reply;
use crate::seats::Seats;
use crate::service_level::ServiceLevels;
use crate::stats::CallStats;
use anyhow::{Context, Result};
use dialplan::LiveDialplan;
use media::{MediaConfig, MediaEngine};
use sip::endpoint::{Endpoint, EndpointConfig, Incoming};
use sip::registrar::{options_response, Registrar, ALLOW};
use sip::{Method, SipMessage};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

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
    let tickets = ticket::start(cfg.tickets.clone(), schedule.clone())
        .await
        .context("starting the ticket store")?;

    let media = MediaEngine::start_with(
        MediaConfig {
            bind_ip: cfg.media.bind_ip,
            port_min: cfg.media.port_min,
            port_max: cfg.media.port_max,
            media_timeout: Duration::from_secs(cfg.media.media_timeout_s),
        },
        media::EngineOptions {
            rtcp: cfg.media.rtcp,
            ..media::EngineOptions::default()
        },
    )
    .await
    .context("starting the media engine")?;

    let sip_tls = match (cfg.sip.listen_tls, &cfg.sip.tls_cert, &cfg.sip.tls_key) {
        (Some(addr), Some(c), Some(k)) => Some((
            addr,
            Arc::new(crate::tls::server_config(
                c,
                k,
                ("sip.tls_cert", "sip.tls_key"),
            )?),
        )),
        _ => None,
    };
    let (endpoint, mut incoming) = Endpoint::bind(EndpointConfig {
        udp: cfg.sip.listen_udp,
        tcp: cfg.sip.listen_tcp,
        tls: sip_tls,
        max_message_size: cfg.sip.max_message_size,
        incoming_queue: 8192,
        flood: cfg.flood_limits(),
        ..EndpointConfig::default()
    })
    .await
    .with_context(|| format!("binding SIP on {}", cfg.sip.listen_udp))?;
    let mut ack_timeouts = endpoint.take_ack_timeouts();

    let mut registrar = Registrar::new(&cfg.sip.domain, &cfg.sip.domain, cfg.sip.registrar.clone());
    registrar.set_tls_only(
        cfg.seats
            .iter()
            .filter(|s| s.tls_only)
            .map(|s| s.id.clone()),
    );
    if let Some(addr) = endpoint.tls_addr() {
        info!(%addr, "SIP over TLS");
    }
    let local = endpoint.local_addr();
    let contact_ip = if local.ip().is_unspecified() {
        cfg.media.bind_ip
    } else {
        local.ip()
    };
    let contact_host = match contact_ip {
        IpAddr::V4(ip) => format!("{ip}:{}", local.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", local.port()),
    };

    let (acd, acd_rx) = AcdHandle::new();
    let seat_passwords: BTreeMap<String, String> = cfg
        .seats
        .iter()
        .map(|s| (s.id.clone(), s.password.clone()))
        .collect();
    let all_queues: Vec<String> = plan.queues().map(str::to_string).collect();
    let seats: Vec<SeatSpec> = cfg
        .seats
        .iter()
        .map(|s| SeatSpec {
            id: s.id.clone(),
            skills: s.queues.clone().unwrap_or_else(|| all_queues.clone()),
            tags: s.tags.clone(),
            operator: s.operator.clone(),
        })
        .collect();
    // Every queue a call can reach: the plan's, and the seats' groups (a department's seats).
    let mut known: Vec<String> = all_queues.clone();
    for s in &seats {
        for q in &s.skills {
            if !known.contains(q) {
                known.push(q.clone());
            }
        }
    }
    let queue_specs = cfg.acd.queue_specs(&cfg.queues, known)?;
    let restored = match tickets.store().load_presence().await {
        Ok(rows) => rows,
        Err(e) => {
            warn!(error = %e, "seat presence not restored: every seat starts logged out");
            Vec::new()
        }
    };
    let thresholds = cfg
        .queues
        .iter()
        .filter_map(|q| Some((q.name.clone(), q.service_level_s? as i64 * 1000)))
        .collect();
    let levels = ServiceLevels::new(
        ticket::queue_stats::Rules {
            threshold_ms: cfg.calls.service_level_s as i64 * 1000,
            short_abandon_ms: cfg.acd.short_abandon_s as i64 * 1000,
        },
        thresholds,
    );
    match levels.seed(tickets.store()).await {
        Ok(n) => info!(
            calls = n,
            "service level of the last 24 hours read from the records"
        ),
        Err(e) => warn!(error = %e, "service level starts empty: the records could not be read"),
    }

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
    let clock = Clock::start();
    let seats_dir = Arc::new(Seats::new(registrar, seat_passwords, acd.clone(), clock));
    seats_dir.add_alias(&local.ip().to_string());
    seats_dir.restore(&bindings_file(&cfg));
    let prompt = |p: &Option<std::path::PathBuf>| -> Option<Arc<str>> {
        p.as_ref().map(|p| Arc::from(p.to_string_lossy().as_ref()))
    };
    let t = &cfg.calls.transfer;
    let transfer = call::TransferPolicy {
        transfer_code: t.code.clone(),
        drop_code: t.drop_code.clone(),
        cancel_code: t.cancel_code.clone(),
        end_key: t.end_key,
        key_timeout_ms: t.key_timeout_s as i64 * 1000,
        caller_prompt: prompt(&t.caller_prompt),
        ringback: prompt(&t.ringback_prompt),
        fallback_prompt: prompt(&t.fallback_prompt),
    };
    let a = &cfg.acd.prompts;
    let plans = Arc::new(
        Plans::new(
            live.clone(),
            cfg.dialplan.dir.clone(),
            prompt(&cfg.calls.hold_prompt),
            transfer,
        )
        .with_acd_prompts(
            AcdPrompts {
                logged_in: prompt(&a.logged_in),
                not_ready: prompt(&a.not_ready),
                logged_out: prompt(&a.logged_out),
                wrap_up_ended: prompt(&a.wrap_up_ended),
                refused: prompt(&a.refused),
                callback: prompt(&a.callback),
            },
            cfg.acd.announcements(&cfg.queues),
        )
        .with_self_query(cfg.calls.self_query.policy()),
    );
    plans.preload_prompts();
    if let Some(q) = &plans.self_query {
        crate::selfquery::load_prompts(&plans, q)?;
    }
    let calls = Arc::new(CallRegistry::new());
    let cfg = Arc::new(cfg);
    let (presence_tx, presence_rx) = tokio::sync::mpsc::unbounded_channel();
    acd_task::spawn_presence_writer(tickets.store().clone(), presence_rx);
    acd_task::spawn(
        AcdSetup {
            cfg: acd::AcdConfig {
                wrap_up_ms: cfg.calls.wrap_up_s as i64 * 1000,
                rest_ms: cfg.calls.seat_retry_after_s as i64 * 1000,
                auto_login: !cfg.acd.login_required,
            },
            queues: queue_specs,
            operators: cfg
                .operators
                .iter()
                .map(|o| (o.id.clone(), o.name.clone(), o.skills.clone()))
                .collect(),
            seats,
            restored,
            grace_ms: cfg.acd.restore_grace_s as i64 * 1000,
        },
        acd.clone(),
        calls.clone(),
        clock,
        presence_tx,
        acd_rx,
    );
    let env = Arc::new(CallEnv {
        admission: Admission::new(cfg.trunk_acl(), max_active, f64::from(cfg_rate)),
        cfg: cfg.clone(),
        endpoint,
        media,
        seats: seats_dir,
        plans: plans.clone(),
        acd,
        records: tickets.sink(),
        calls,
        clock,
        stats: Arc::new(CallStats::new(levels)),
        contact_host,
        features: cfg.acd.codes.codes(),
        desk: tickets.self_query_desk(plan.time_zone()),
        trunks: Arc::new(crate::trunks::Trunks::new(&cfg.trunks, clock.now_ms())?),
    });
    let _trunk_probe = crate::trunk_probe::spawn(&env);
    spawn_waiting_sampler(env.clone());
    if cfg.callback.enabled {
        crate::callback_task::spawn(env.clone(), tickets.store().clone(), schedule);
    }
    let gate = access_gate(&cfg)?;
    let seats_api = crate::operators_api::router(env.clone(), tickets.store().clone());
    let admin = crate::admin::spawn(
        env.clone(),
        tickets.router(gate.clone()),
        seats_api,
        gate,
        tickets.store().clone(),
    )
    .await?;
    info!(
        sip = %env.endpoint.local_addr(),
        tcp = ?env.endpoint.tcp_addr(),
        admin = %admin,
        "hotlined ready"
    );

    // Hot reload: files changing in the plan directory (optional), SIGHUP, and the admin API.
    let _watcher = if cfg.dialplan.watch {
        let p = plans.clone();
        match dialplan::watch(&cfg.dialplan.dir, live.clone(), move |res| match res {
            Ok(()) => {
                p.reloaded();
                info!("dial plan reloaded after a file change");
            }
            Err(diags) => {
                let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                p.refused(&text);
            }
        }) {
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
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .context("installing the SIGUSR1 handler")?;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));

    loop {
        tokio::select! {
            inc = incoming.recv() => match inc {
                Some(inc) => dispatch(&env, inc),
                None => break,
            },
            Some(tx) = async {
                match ack_timeouts.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(call) = env.calls.take_answered(tx) {
                    let _ = env.calls.send(call, CallMsg::AckTimeout);
                }
            }
            _ = sweep.tick() => {
                housekeeping(&env);
                if env.admission.draining() && env.calls.active() == 0 {
                    info!("drained: the last call has ended, exiting");
                    break;
                }
            }
            _ = usr1.recv() => {
                if env.admission.start_draining() {
                    warn!(active = env.calls.active(), "SIGUSR1: draining; new calls get 503, exiting when the last ends");
                }
            }
            _ = hup.recv() => { let _ = plans.reload(); }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = tokio::signal::ctrl_c() => { info!("interrupted: stopping"); break; }
        }
    }
    // Calls in progress get no more signalling; their records are already in the channel or spool.
    tickets.shutdown().await;
    Ok(())
}

/// Once a second: how many callers wait, for the wallboard's day chart (the ACD owns the queues; asking it
/// from its own task keeps the dispatcher loop from waiting on it).
fn spawn_waiting_sampler(env: Arc<CallEnv>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some((queues, _)) = env.acd.snapshot().await else {
                break;
            };
            let waiting = queues.iter().map(|q| q.waiting).sum();
            env.stats.levels.sample_waiting(waiting);
        }
    });
}

/// The accounts of the admin/API port; the deprecated `tickets.api_token` becomes a center-administrator account.
fn access_gate(cfg: &Config) -> Result<access::Gate> {
    let accounts = access::Accounts::new(&cfg.admin.accounts)
        .map_err(|e| anyhow::anyhow!("admin.accounts: {e}"))?
        .with_legacy_token("api_token", &cfg.tickets.api_token);
    if !cfg.tickets.api_token.is_empty() {
        warn!(
            "tickets.api_token is deprecated: it logs in as the center administrator \"api_token\"; give each \
             person an account in [[admin.accounts]] instead (docs/access.md)"
        );
    }
    if accounts.is_empty() {
        warn!("no [[admin.accounts]]: the admin port and the ticket API refuse every request");
    }
    Ok(access::Gate::new(accounts))
}

/// Once a second: expire registrations (seats go offline) and export gauges.
/// Where the registrations survive a restart: beside the record spool (the state directory).
fn bindings_file(cfg: &Config) -> std::path::PathBuf {
    cfg.tickets.spool_dir.join("registrations.json")
}

fn housekeeping(env: &CallEnv) {
    env.seats.expire();
    env.seats.save_if_changed(&bindings_file(&env.cfg));
    env.records.heartbeat(Clock::wall_ms());
    env.stats.levels.export();
    let st = env.endpoint.stats();
    metrics::counter!(m::SIP_RECEIVED).absolute(st.received);
    metrics::counter!(m::SIP_PARSE_ERRORS).absolute(st.parse_errors);
    metrics::counter!(m::SIP_PARSE_ERRORS_DROPPED).absolute(st.parse_errors_dropped);
    metrics::counter!(m::SIP_RETRANSMISSIONS).absolute(st.retransmissions);
    metrics::counter!(m::SIP_DROPPED_INCOMING).absolute(st.dropped_incoming);
    metrics::counter!(m::SIP_FLOOD_DROPPED).absolute(st.flood_dropped);
    metrics::counter!(m::SIP_FLOOD_BANS).absolute(st.flood_bans);
    metrics::gauge!(m::SIP_TRANSACTIONS, "side" => "client")
        .set(st.live_client_transactions as f64);
    metrics::gauge!(m::SIP_TRANSACTIONS, "side" => "server")
        .set(st.live_server_transactions as f64);
    metrics::counter!(m::RECORDS_SPILLED).absolute(env.records.spilled());
    metrics::counter!(m::RECORDS_LOST).absolute(env.records.lost());
    metrics::counter!(m::RECORDS_SPOOL_ERRORS).absolute(env.records.spool_errors());
    let ms = env.media.stats();
    metrics::counter!(m::RTP_PACKETS_IN).absolute(ms.packets_in);
    metrics::counter!(m::RTP_PACKETS_OUT).absolute(ms.packets_out);
    metrics::gauge!(m::MEDIA_LEGS).set(ms.active_legs as f64);
    metrics::gauge!(m::MEDIA_CONFERENCES).set(ms.conferences as f64);
    metrics::gauge!(m::CALLS_ACTIVE).set(env.calls.active() as f64);
}

/// Hand every request to its owner: the call that has its Call-ID, the registrar, or a new call.
fn dispatch(env: &Arc<CallEnv>, inc: Incoming) {
    let inc = match env.calls.owner_of(inc.msg.call_id()) {
        Some(key) => match env.calls.send(key, CallMsg::Sip(Box::new(inc))) {
            Ok(()) => return,
            // The call ended meanwhile: answer as if it never existed.
            Err(CallMsg::Sip(inc)) => *inc,
            Err(_) => return,
        },
        None => inc,
    };
    let Some(method) = inc.msg.method().cloned() else {
        return;
    };
    match method {
        Method::Register => env.seats.register(inc),
        // A balancer's probe (Kamailio dispatcher) must take a draining instance out of rotation.
        Method::Options if env.admission.draining() => {
            let retry = env.cfg.calls.retry_after_s.to_string();
            reply(
                &inc.tx,
                &inc.msg,
                503,
                "Service Unavailable",
                &[("Retry-After", &retry)],
            );
        }
        Method::Options => {
            if let Some(tx) = &inc.tx {
                if let Ok(resp) = SipMessage::parse(options_response(&inc.msg)) {
                    tx.respond(resp);
                }
            }
        }
        // An operator's feature code (`*21`…) comes from a seat, not a trunk.
        Method::Invite if inc.msg.to().tag().is_none() && features::wants(env, &inc) => {
            features::start(env, inc)
        }
        // A seat's softphone calling out itself (an attended transfer's consult call) is an internal call.
        Method::Invite
            if inc.msg.to().tag().is_none() && env.seats.is_seat(&intake::from_user(&inc.msg)) =>
        {
            consult::start(env, inc)
        }
        Method::Invite if inc.msg.to().tag().is_none() => intake::start(env, inc),
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
