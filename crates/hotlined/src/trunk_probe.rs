//! The trunk probe task: `sip::gateway_probe::drive` sends the gateway pool's OPTIONS through the
//! endpoint's client transactions and feeds the outcomes back; this file starts it with our identity
//! and clock, logs state changes, and publishes each gateway's state, channels and probe failures as
//! Prometheus gauges once a second. The rules (interval, thresholds, states) are `sip::gateway`'s.

use crate::env::CallEnv;
use crate::metrics_names as m;
use sip::gateway::{GatewayState, GatewayStatus};
use sip::gateway_probe::{drive, ProbeIdentity};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Stops both tasks when dropped (the daemon holds it for its lifetime).
pub struct ProbeTasks(Vec<JoinHandle<()>>);

impl Drop for ProbeTasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// Start probing when any `[[trunks.gateway]]` is configured.
pub fn spawn(env: &Arc<CallEnv>) -> ProbeTasks {
    if !env.trunks.has_pool() {
        return ProbeTasks(Vec::new());
    }
    let domain = env.cfg.sip.domain.clone();
    let who = ProbeIdentity {
        from_uri: format!("sip:12345@{domain}"),
        domain,
    };
    let clock = env.clock;
    let probe = tokio::spawn(drive(
        env.endpoint.clone(),
        env.trunks.pool.clone(),
        who,
        move || clock.now_ms(),
        |e| match e.to {
            GatewayState::Down => warn!(gateway = %e.name, from = e.from.as_str(), "gateway down"),
            to => {
                info!(gateway = %e.name, from = e.from.as_str(), to = to.as_str(), "gateway state")
            }
        },
    ));
    let pool = env.trunks.pool.clone();
    let gauges = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Ok(status) = pool.lock().map(|p| p.status()) else {
                return;
            };
            status.iter().for_each(publish);
        }
    });
    ProbeTasks(vec![probe, gauges])
}

fn publish(g: &GatewayStatus) {
    for s in [GatewayState::Up, GatewayState::Probing, GatewayState::Down] {
        let v = if g.state == s { 1.0 } else { 0.0 };
        metrics::gauge!(m::GATEWAY_STATE, "gateway" => g.name.clone(), "state" => s.as_str())
            .set(v);
    }
    metrics::gauge!(m::GATEWAY_CHANNELS, "gateway" => g.name.clone())
        .set(f64::from(g.channels_in_use));
    metrics::gauge!(m::GATEWAY_PROBES_FAILED, "gateway" => g.name.clone())
        .set(g.probes_failed as f64);
    metrics::gauge!(m::GATEWAY_PROBES_SENT, "gateway" => g.name.clone()).set(g.probes_sent as f64);
}
