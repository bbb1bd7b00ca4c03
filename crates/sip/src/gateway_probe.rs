//! The I/O driver of [`crate::gateway::Gateways`]: sends its OPTIONS probes through an [`Endpoint`]
//! (as client transactions, over each gateway's transport), reports each outcome back, and sleeps
//! until the pool's next deadline. No rule lives here; see `gateway.rs`.
//!
//! The pool is shared with the calls (which `seize`/`release` channels) behind a `std` mutex that is
//! never held across an await.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::endpoint::{Endpoint, TxEvent};
use crate::gateway::{GatewayEvent, Gateways, Probe};

/// Who we are in probes: `from_uri` (e.g. `sip:hotline@center.example`) and the Call-ID domain.
#[derive(Debug, Clone)]
pub struct ProbeIdentity {
    pub from_uri: String,
    pub domain: String,
}

/// Probe `pool`'s gateways forever (abort the task to stop). `now_ms` is the clock the pool runs on
/// (the daemon's monotonic ms); `on_event` hears every state change (logs, metrics).
pub async fn drive(
    endpoint: Endpoint,
    pool: Arc<Mutex<Gateways>>,
    who: ProbeIdentity,
    now_ms: impl Fn() -> i64 + Send + Sync + 'static,
    mut on_event: impl FnMut(GatewayEvent) + Send,
) {
    let now_ms = Arc::new(now_ms);
    let wake = Arc::new(Notify::new());
    loop {
        let (probes, events, next) = {
            let Ok(mut p) = pool.lock() else {
                return; // a panic elsewhere poisoned it: the process is going down anyway
            };
            p.handle_timeout(now_ms());
            let probes: Vec<Probe> = std::iter::from_fn(|| p.poll_probe()).collect();
            let events: Vec<GatewayEvent> = std::iter::from_fn(|| p.poll_event()).collect();
            (probes, events, p.poll_timeout())
        };
        events.into_iter().for_each(&mut on_event);
        for probe in probes {
            let via = endpoint.via_sent_by(probe.transport);
            let Some(req) = probe.request(&via, &who.from_uri, &who.domain) else {
                // Only an unusable address could break it: count it as a failed probe.
                report(&pool, probe.id, None, now_ms());
                continue;
            };
            let mut tx = endpoint.request(req, probe.address, probe.transport);
            let (pool, wake, now_ms) = (pool.clone(), wake.clone(), now_ms.clone());
            tokio::spawn(async move {
                let status = loop {
                    match tx.next().await {
                        Some(TxEvent::Provisional(_)) => continue,
                        Some(TxEvent::Final(resp)) => break resp.status(),
                        Some(TxEvent::Timeout | TxEvent::TransportError) | None => break None,
                    }
                };
                report(&pool, probe.id, status, now_ms());
                wake.notify_one();
            });
        }
        let sleep_ms = next.map_or(60_000, |at| (at - now_ms()).clamp(0, 60_000));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            _ = wake.notified() => {}
        }
    }
}

fn report(pool: &Mutex<Gateways>, probe: u64, status: Option<u16>, now_ms: i64) {
    if let Ok(mut p) = pool.lock() {
        p.handle_probe_response(probe, status, now_ms);
    }
}
