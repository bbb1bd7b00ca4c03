//! Carrier trunks on the way out: where a `Target::Uri` goes — a pool of named gateways
//! (`[[trunks.gateway]]`, probed and failed over by `sip::gateway::Gateways`) or the fixed host →
//! address map (`[trunks] gateways`) — and the channel an outgoing leg holds on a pool gateway. Which
//! gateway and when to fail over is the pool's rule; this file only holds the lock and the channel.

use crate::config::TrunkConfig;
use sip::endpoint::TransportKind;
use sip::gateway::{GatewayId, Gateways, Seized};
use sip::session::UacRequest;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

pub struct Trunks {
    pub pool: Arc<Mutex<Gateways>>,
    fixed: BTreeMap<String, SocketAddr>,
    /// Our P-Asserted-Identity towards trunks (`trunks.asserted_identity`).
    pub asserted_identity: Option<String>,
}

/// Where a leg to a gateway target goes.
pub enum Route {
    /// A channel seized on a pool gateway.
    Pool(Box<TrunkChannel>),
    /// The fixed map's address (no probing, no failover).
    Fixed(SocketAddr),
}

impl Trunks {
    /// From the (validated) config; the pool's clock is the daemon's monotonic ms.
    pub fn new(cfg: &TrunkConfig, now_ms: i64) -> anyhow::Result<Trunks> {
        let pool = Gateways::new(cfg.gateway.clone(), now_ms)?;
        Ok(Trunks {
            pool: Arc::new(Mutex::new(pool)),
            fixed: cfg.gateways.clone(),
            asserted_identity: cfg.asserted_identity.clone(),
        })
    }

    /// Does the pool serve any gateway at all (then the probe task runs)?
    pub fn has_pool(&self) -> bool {
        self.pool.lock().is_ok_and(|p| !p.status().is_empty())
    }

    /// The route for target host `host`: a pool gateway when the pool serves it (503 when none is
    /// left: all Down or at their channel limit), else the fixed map (503 when the host is unknown).
    pub fn route(&self, host: &str) -> Result<Route, u16> {
        let seized = {
            let Ok(mut pool) = self.pool.lock() else {
                return Err(503);
            };
            if pool.serves(host) {
                Some(pool.seize(host, &[]))
            } else {
                None
            }
        };
        match seized {
            Some(Some(s)) => Ok(Route::Pool(Box::new(TrunkChannel::new(
                self.pool.clone(),
                host,
                s,
            )))),
            Some(None) => {
                warn!(
                    target = host,
                    "every gateway of this target is down or full: 503"
                );
                Err(503)
            }
            None => self
                .fixed
                .get(host)
                .copied()
                .map(Route::Fixed)
                .ok_or_else(|| {
                    warn!(
                        target = host,
                        "no gateway configured for this target's host"
                    );
                    503
                }),
        }
    }
}

/// A channel on a pool gateway, held by one outgoing leg for its whole attempt sequence; released
/// when the leg lets it go (dropped).
pub struct TrunkChannel {
    pool: Arc<Mutex<Gateways>>,
    target: String,
    /// The gateway holding the channel now; None once the sequence has failed for good.
    current: Option<Seized>,
    tried: Vec<GatewayId>,
    /// The INVITE as first built, sent again to the next gateway (with a new Call-ID).
    pub request: Option<UacRequest>,
}

impl TrunkChannel {
    fn new(pool: Arc<Mutex<Gateways>>, target: &str, s: Seized) -> TrunkChannel {
        TrunkChannel {
            pool,
            target: target.to_string(),
            current: Some(s),
            tried: vec![s.gateway],
            request: None,
        }
    }

    /// Which attempt of the sequence this is (1 = the first gateway).
    pub fn attempt(&self) -> u32 {
        self.tried.len() as u32
    }

    /// The current gateway's `invite_timeout_ms`.
    pub fn invite_timeout_ms(&self) -> Option<u32> {
        self.current.and_then(|s| s.invite_timeout_ms)
    }

    pub fn address(&self) -> Option<(SocketAddr, TransportKind)> {
        self.current.map(|s| (s.address, s.transport))
    }

    /// The gateway's name, for logs.
    pub fn gateway_name(&self) -> String {
        let id = self.current.map(|s| s.gateway);
        self.pool
            .lock()
            .ok()
            .and_then(|p| id.and_then(|id| p.name(id).map(str::to_string)))
            .unwrap_or_default()
    }

    /// The leg through the current gateway failed with `status`: the pool's next gateway, or None
    /// (the leg fails with `status`).
    pub fn fail_over(&mut self, status: u16, now_ms: i64) -> Option<Seized> {
        let failed = self.current.take()?;
        let next = self.pool.lock().ok().and_then(|mut p| {
            p.fail_over(&self.target, failed.gateway, status, &self.tried, now_ms)
        })?;
        info!(target = %self.target, status, next = %next.address, "gateway failed: trying the next");
        self.tried.push(next.gateway);
        self.current = Some(next);
        Some(next)
    }
}

impl Drop for TrunkChannel {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut p)) = (self.current.take(), self.pool.lock()) {
            p.release(s.gateway);
        }
    }
}
