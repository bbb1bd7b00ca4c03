//! The writer task: drains the channel in batches into the store, checkpoints the spool, replays spilled records.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::record::CallRecord;
use crate::spool::{read_segment, retire_segment, Item, Sealed};
use crate::store::Backend;
use crate::{Shared, TicketError, TicketEvent};

/// Seal the journal at least this often (and when it grows past `SEAL_BYTES`), so spilled records are replayed
/// within about a second of the database coming back.
const SEAL_EVERY: Duration = Duration::from_millis(1000);
const SEAL_BYTES: u64 = 4 << 20;
const SYNC_EVERY: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Stop when asked, or when the service handle was dropped without `shutdown`.
fn stop_requested(rx: &watch::Receiver<bool>) -> bool {
    *rx.borrow() || rx.has_changed().is_err()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Item>,
    mut shutdown: watch::Receiver<bool>,
) {
    let batch_size = shared.cfg.batch_size;
    let mut sealed: VecDeque<Sealed> = VecDeque::new();
    let mut last_committed = 0u64;
    let mut last_seal = Instant::now();
    let mut batch: Vec<Item> = Vec::with_capacity(batch_size);
    loop {
        let stopping = stop_requested(&shutdown);
        if !stopping {
            tokio::select! {
                item = rx.recv() => if let Some(i) = item { batch.push(i) },
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(SEAL_EVERY) => {}
            }
        }
        while batch.len() < batch_size {
            match rx.try_recv() {
                Ok(i) => batch.push(i),
                Err(_) => break,
            }
        }
        if let Some(last) = batch.last() {
            let seq = last.seq;
            let recs: Vec<CallRecord> = batch.drain(..).map(|i| i.rec).collect();
            if !store_with_retry(&shared, &recs, &mut shutdown).await {
                // Stopping with the database down: everything is still in the spool for the next start.
                return;
            }
            last_committed = seq;
        }
        let drained = rx.is_empty();
        if stopping && !drained {
            continue;
        }
        if stopping || last_seal.elapsed() >= SEAL_EVERY || shared.journal.bytes() >= SEAL_BYTES {
            match shared.journal.seal() {
                Ok(Some(s)) => sealed.push_back(s),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot seal the spool; will retry"),
            }
            last_seal = Instant::now();
        }
        while let Some(s) = sealed.front() {
            // Records of this segment still in the channel: wait until they are committed.
            if s.last_sent > last_committed {
                break;
            }
            let done = if s.had_spill {
                replay_segment(&shared, &s.path).await
            } else {
                retire_segment(&s.path, 0).map_err(TicketError::from)
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, file = %s.path.display(), "spool segment not replayed yet");
                break;
            }
            sealed.pop_front();
        }
        if stopping {
            if !sealed.is_empty() {
                tracing::warn!(
                    segments = sealed.len(),
                    "stopping with spool segments left; the next start replays them"
                );
            }
            return;
        }
    }
}

/// Store a batch; on failure retry with backoff until it is stored. Returns false only when asked to stop while
/// the database is failing. A record the database refuses for its *content* (a data or constraint error, e.g. a NUL
/// byte PostgreSQL will not store) is set aside in `rejected.jsonl` in the spool directory so that it cannot stall
/// the others; any other failure (database down, disk full, schema missing) is retried, never dropped.
async fn store_with_retry(
    shared: &Shared,
    recs: &[CallRecord],
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    loop {
        match store_batch(shared, recs).await {
            Ok(()) => return true,
            Err(e) if is_poison(shared.store.backend(), &e) => {
                tracing::warn!(error = %e, "batch refused for its content; storing one by one");
                if store_one_by_one(shared, recs).await {
                    return true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database unavailable; records wait in the spool");
            }
        }
        if stop_requested(shutdown) {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// An error caused by the record itself rather than by the database's state.
fn is_poison(backend: Backend, e: &TicketError) -> bool {
    let TicketError::Db(e) = e else { return false };
    match e {
        sqlx::Error::Encode(_) => true,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            match backend {
                // SQLite (extended) result code: TOOBIG, CONSTRAINT, MISMATCH, RANGE.
                Backend::Sqlite => code
                    .parse::<i64>()
                    .is_ok_and(|n| matches!(n & 0xff, 18 | 19 | 20 | 25)),
                // SQLSTATE (numeric-looking too, e.g. 22021): data exception, integrity constraint violation.
                Backend::Postgres => code.starts_with("22") || code.starts_with("23"),
            }
        }
        _ => false,
    }
}

async fn store_batch(shared: &Shared, recs: &[CallRecord]) -> Result<(), TicketError> {
    let opened = shared
        .store
        .insert_call_records(recs, now_ms(), &shared.cfg.callback_department)
        .await?;
    for t in &opened {
        tracing::info!(
            ticket = %t.id,
            source = %t.source,
            department = %t.department,
            caller = %t.caller.as_deref().map(crate::mask::mask_phone).unwrap_or_default(),
            "ticket opened from a call"
        );
        // Nobody listening is fine.
        let _ = shared.events.send(TicketEvent::created(t));
    }
    Ok(())
}

/// Returns false when a record failed for another reason than its content (the caller retries the batch;
/// records already stored are skipped by the idempotent insert).
async fn store_one_by_one(shared: &Shared, recs: &[CallRecord]) -> bool {
    for r in recs {
        match store_batch(shared, std::slice::from_ref(r)).await {
            Ok(()) => {}
            Err(e) if is_poison(shared.store.backend(), &e) => reject(shared, r, &e),
            Err(_) => return false,
        }
    }
    true
}

fn reject(shared: &Shared, r: &CallRecord, e: &TicketError) {
    tracing::error!(call_id = %r.call_id, error = %e, "call record refused by the database; kept in rejected.jsonl");
    let path = shared.journal.dir().join("rejected.jsonl");
    let res = serde_json::to_string(r)
        .map_err(std::io::Error::other)
        .and_then(|line| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes())?;
            f.sync_data()
        });
    if let Err(e) = res {
        tracing::error!(call_id = %r.call_id, error = %e, "call record LOST: cannot write rejected.jsonl");
    }
}

/// Store every record of a spool segment, in order, then delete it.
pub(crate) async fn replay_segment(shared: &Shared, path: &Path) -> Result<(), TicketError> {
    let (recs, bad) = read_segment(path)?;
    for chunk in recs.chunks(shared.cfg.batch_size.max(1)) {
        match store_batch(shared, chunk).await {
            Ok(()) => {}
            Err(e) if is_poison(shared.store.backend(), &e) => {
                if !store_one_by_one(shared, chunk).await {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    if !recs.is_empty() {
        tracing::info!(records = recs.len(), bad_lines = bad, file = %path.display(), "spool replayed");
    }
    retire_segment(path, bad)?;
    Ok(())
}

pub(crate) async fn sync_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.journal.sync_if_dirty()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "spool fsync failed"),
            Err(e) => tracing::warn!(error = %e, "spool fsync task failed"),
        }
    }
}
