//! The dial plan in service and its decoded prompts: one handle for routing, reloads and playback.

use crate::metrics_names as m;
use dashmap::DashMap;
use dialplan::LiveDialplan;
use media::Prompt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{info, warn};

/// What an operator hears after a feature code, and a caller at a call-back promise.
#[derive(Debug, Clone, Default)]
pub struct AcdPrompts {
    pub logged_in: Option<Arc<str>>,
    pub not_ready: Option<Arc<str>>,
    pub logged_out: Option<Arc<str>>,
    pub wrap_up_ended: Option<Arc<str>>,
    pub refused: Option<Arc<str>>,
    pub callback: Option<Arc<str>>,
}

pub struct Plans {
    pub live: Arc<LiveDialplan>,
    dir: PathBuf,
    prompts: DashMap<Arc<str>, Arc<Prompt>>,
    /// `calls.hold_prompt`: what a queued caller hears.
    pub hold: Option<Arc<str>>,
    /// `[calls.transfer]`: the operator's codes and the transfer's prompts.
    pub transfer: call::TransferPolicy,
    /// `[acd.prompts]`: feature-code confirmations and the call-back promise.
    pub acd: AcdPrompts,
    /// Position announcements of waiting callers, if any queue has them.
    pub announce: Option<Arc<call::Announcements>>,
    /// `[calls.self_query]`: the phone self-query's word prompts and timeouts, when configured.
    pub self_query: Option<Arc<call::SelfQueryPolicy>>,
    pub reloads: AtomicU64,
    pub reload_errors: AtomicU64,
}

impl Plans {
    pub fn new(
        live: Arc<LiveDialplan>,
        dir: PathBuf,
        hold: Option<Arc<str>>,
        transfer: call::TransferPolicy,
    ) -> Plans {
        Plans {
            live,
            dir,
            prompts: DashMap::new(),
            hold,
            transfer,
            acd: AcdPrompts::default(),
            announce: None,
            self_query: None,
            reloads: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
        }
    }

    pub fn with_acd_prompts(
        mut self,
        acd: AcdPrompts,
        announce: Option<call::Announcements>,
    ) -> Plans {
        self.acd = acd;
        self.announce = announce.map(Arc::new);
        self
    }

    pub fn with_self_query(mut self, q: Option<call::SelfQueryPolicy>) -> Plans {
        self.self_query = q.map(Arc::new);
        self
    }

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
        let plan = self.live.current();
        for p in plan.prompts() {
            let key: Arc<str> = Arc::from(p.to_string_lossy().as_ref());
            self.prompts.remove(&key);
            self.prompt(&key);
        }
        let (t, a) = (&self.transfer, &self.acd);
        for p in [
            &self.hold,
            &t.caller_prompt,
            &t.ringback,
            &t.fallback_prompt,
            &a.logged_in,
            &a.not_ready,
            &a.logged_out,
            &a.wrap_up_ended,
            &a.refused,
            &a.callback,
        ]
        .into_iter()
        .flatten()
        .chain(self.announce.iter().flat_map(|a| {
            a.digits
                .iter()
                .chain([&a.ahead, &a.callers, &a.expected, &a.minutes])
        })) {
            self.prompts.remove(p);
            self.prompt(p);
        }
    }

    /// Reload the dial plan (SIGHUP, admin API). A bad plan is refused and the old one keeps serving;
    /// calls in progress keep the decision they were routed with.
    pub fn reload(&self) -> Result<String, String> {
        match self.live.reload(&self.dir) {
            Ok(()) => {
                self.reloaded();
                let plan = self.live.current();
                let msg = format!("dial plan {} reloaded: {} numbers", plan.name(), plan.len());
                info!("{msg}");
                Ok(msg)
            }
            Err(diags) => {
                let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                self.refused(&text);
                Err(text.join("\n"))
            }
        }
    }

    /// Bookkeeping after a reload that took (from here or from the directory watcher).
    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::DIALPLAN_RELOADS, "result" => "ok").increment(1);
        self.preload_prompts();
    }

    /// Bookkeeping after a refused reload.
    pub fn refused(&self, diagnostics: &[String]) {
        self.reload_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::DIALPLAN_RELOADS, "result" => "refused").increment(1);
        for d in diagnostics {
            warn!("dial plan refused, the old one keeps serving: {d}");
        }
    }
}
