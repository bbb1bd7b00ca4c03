//! Hot reload: the plan in service is an `Arc<Dialplan>` behind an `ArcSwap`. A reload parses and checks the
//! whole directory first and swaps only a plan without errors, so a typo never takes the hotline down. Calls
//! in progress keep the `Arc` they started with; new calls see the new plan; no call sees a mix.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

use crate::{CallQuery, Decision, Diagnostic, Dialplan, TransferTarget};

/// The plan in service, swappable while other threads route.
pub struct LiveDialplan {
    plan: ArcSwap<Dialplan>,
    /// Serializes reloads (SIGHUP, admin command and watcher may race); readers never take it.
    reloading: Mutex<()>,
}

impl LiveDialplan {
    pub fn new(plan: Dialplan) -> LiveDialplan {
        LiveDialplan {
            plan: ArcSwap::from_pointee(plan),
            reloading: Mutex::new(()),
        }
    }

    /// Loads the first plan; the daemon refuses to start on errors.
    pub fn load(dir: &Path) -> Result<LiveDialplan, Vec<Diagnostic>> {
        Dialplan::load_dir(dir).map(LiveDialplan::new)
    }

    /// The plan to use for a whole call: keep this `Arc` for the call's lifetime.
    pub fn current(&self) -> Arc<Dialplan> {
        self.plan.load_full()
    }

    /// One decision from the current plan (no refcount traffic).
    pub fn route(&self, q: &CallQuery<'_>) -> Decision {
        self.plan.load().route(q)
    }

    /// [`Dialplan::transfer_target`] on the plan in service.
    pub fn transfer_target(&self, dialled: &str) -> Option<TransferTarget> {
        self.plan.load().transfer_target(dialled)
    }

    /// Parses and checks `dir`; swaps it in only when it has no error. On error the old plan keeps serving
    /// and the errors (the same as `check` prints) are returned.
    pub fn reload(&self, dir: &Path) -> Result<(), Vec<Diagnostic>> {
        let _serial = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let plan = Dialplan::load_dir(dir)?;
        self.plan.store(Arc::new(plan));
        Ok(())
    }
}

/// Keeps the directory watch alive; dropping it stops watching.
pub struct DialplanWatcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    watched: Vec<PathBuf>,
}

impl DialplanWatcher {
    /// Directories being watched (the plan directory plus those of its calendar and prompts).
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }
}

/// Watches the plan directory (and the directories of its calendar and prompts) and reloads `live` ~300 ms
/// after the last change. Directories, not files, are watched because editors save by writing a temporary
/// file and renaming it over the original. `on_result` is told every reload's outcome (log it).
pub fn watch(
    dir: &Path,
    live: Arc<LiveDialplan>,
    on_result: impl Fn(Result<(), Vec<Diagnostic>>) + Send + 'static,
) -> Result<DialplanWatcher, String> {
    let plan_dir = dir.to_path_buf();
    let mut watched: Vec<PathBuf> = vec![plan_dir.clone()];
    for d in &live.current().watch_dirs {
        if !watched.iter().any(|w| same_dir(w, d)) {
            watched.push(d.clone());
        }
    }
    let reload_dir = plan_dir.clone();
    let mut debouncer = new_debouncer(
        Duration::from_millis(300),
        None,
        move |res: DebounceEventResult| {
            let Ok(events) = res else { return };
            let relevant = events.iter().any(|e| {
                !matches!(e.event.kind, EventKind::Access(_))
                    && e.event
                        .paths
                        .iter()
                        .any(|p| p.extension().is_some_and(|x| x == "toml" || x == "wav"))
            });
            if relevant {
                on_result(live.reload(&reload_dir));
            }
        },
    )
    .map_err(|e| format!("cannot watch {}: {e}", plan_dir.display()))?;
    for d in &watched {
        debouncer
            .watch(d, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", d.display()))?;
    }
    Ok(DialplanWatcher {
        _debouncer: debouncer,
        watched,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
