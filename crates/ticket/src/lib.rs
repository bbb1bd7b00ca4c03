//! Tickets (工单): call records become work orders with working-day deadlines.
//! Knows nothing of SIP; fed by a bounded channel of [`CallRecord`]s through a [`RecordSink`].
//!
//! Layout: `model` (state machine, pure), `deadline` (working-day deadlines and traffic light, pure),
//! `auto` (which tickets a call opens, pure), `store` (sqlx Any: SQLite or PostgreSQL), `spool` (journal on disk),
//! `writer` (the task that batches records into the store), `api` (axum HTTP + SSE). The later life of tickets
//! (docs/lifecycle.md): `lifecycle` (not accepted, returns, extensions, re-handling, evaluations; pure),
//! `repeat` (repeated requests, pure), `callback` (the call-back scheduler, sans IO), `notify` (outbox
//! delivery), `kpi` (figures, pure), `speech` (what the phone self-query says, pure) and `phone` (its handle).

pub mod api;
pub mod auto;
pub mod callback;
pub mod config;
pub mod deadline;
pub mod kpi;
pub mod lifecycle;
mod live;
pub mod mask;
pub mod model;
pub mod notify;
mod phone;
pub mod queue_history;
pub mod queue_stats;
pub mod queues;
pub mod record;
pub mod repeat;
pub mod speech;
mod spool;
pub mod stats;
pub mod store;
mod writer;

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

pub use ::record::{
    CallRecord, EndReason, QueueVisit, Survey, TransferAttempt, TransferEndedBy, TransferKind,
    TransferOutcome, VisitOutcome,
};
pub use auto::{tickets_for, AutoReason, NewTicket};
pub use config::TicketConfig;
pub use deadline::{DeadlineRules, Light, WorkingClock};
pub use lifecycle::{Evaluation, EvaluationSource, Lifecycle, NotAcceptedReason};
pub use model::{Action, Category, Refused, Satisfaction, Status};
pub use phone::SelfQueryDesk;
pub use store::{AccessEntry, AccessFilter, Store, Ticket, TicketFilter, TicketInput};

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("spool: {0}")]
    Io(#[from] std::io::Error),
    #[error("ticket {0} not found")]
    NotFound(String),
    /// The account may not touch this ticket (another department's).
    #[error("ticket {0} belongs to another department")]
    Forbidden(String),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("ticket {0} was changed concurrently; read it again")]
    Conflict(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl WorkingClock for calendar::Schedule {
    fn add_working_days(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        n: u32,
    ) -> chrono::DateTime<chrono::Utc> {
        calendar::Schedule::add_working_days(self, from, n)
    }

    fn working_time_between(
        &self,
        a: chrono::DateTime<chrono::Utc>,
        b: chrono::DateTime<chrono::Utc>,
    ) -> chrono::Duration {
        calendar::Schedule::working_time_between(self, a, b)
    }
}

/// A new or changed ticket, pushed to subscribers (SSE). Carries no personal data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TicketEvent {
    /// `created` or `changed`.
    pub kind: &'static str,
    pub ticket_id: String,
    pub status: Status,
    pub category: Category,
    pub department: String,
    /// The action that changed it (`accept` for a new ticket).
    pub action: String,
    pub at_ms: i64,
}

impl TicketEvent {
    pub(crate) fn created(t: &Ticket) -> TicketEvent {
        TicketEvent {
            kind: "created",
            ticket_id: t.id.clone(),
            status: t.status,
            category: t.category,
            department: t.department.clone(),
            action: "accept".into(),
            at_ms: t.created_at_ms,
        }
    }

    pub(crate) fn changed(t: &Ticket, action: &str) -> TicketEvent {
        TicketEvent {
            kind: "changed",
            ticket_id: t.id.clone(),
            status: t.status,
            category: t.category,
            department: t.department.clone(),
            action: action.to_string(),
            at_ms: t.updated_at_ms,
        }
    }
}

/// Shared by the sink, the writer and the API.
pub(crate) struct Shared {
    pub cfg: TicketConfig,
    pub store: Store,
    pub clock: Arc<dyn WorkingClock>,
    pub events: broadcast::Sender<TicketEvent>,
    journal: spool::Journal,
    live: live::LiveJournal,
}

/// The handle the call path keeps. Cheap to clone.
#[derive(Clone)]
pub struct RecordSink {
    shared: Arc<Shared>,
    tx: mpsc::Sender<spool::Item>,
}

impl RecordSink {
    /// Hand over a finished call. Never blocks on the database and never loses the record: it is journaled to the
    /// spool first, then queued; when the queue is full (or the writer is gone) it stays in the spool (counted by
    /// [`RecordSink::spilled`]) and is replayed.
    pub fn submit(&self, rec: CallRecord) {
        let call_id = rec.call_id.clone();
        self.shared.journal.submit(&self.tx, rec);
        // Only after the final record is journaled (see `live`: a crash in between leaves both, and the
        // final one wins).
        if let Err(e) = self.shared.live.close_call(&call_id) {
            self.live_error(e);
        }
    }

    /// A seat answered: journal what is known of the call, so a daemon killed before [`RecordSink::submit`]
    /// still leaves its record (ended `interrupted` at the last heartbeat) at the next start.
    pub fn call_answered(&self, interim: &CallRecord) {
        if let Err(e) = self.shared.live.open_call(interim) {
            self.live_error(e);
        }
    }

    /// Once a second from the daemon: the time an interrupted call is taken to have ended.
    pub fn heartbeat(&self, wall_ms: i64) {
        if let Err(e) = self.shared.live.heartbeat(wall_ms) {
            self.live_error(e);
        }
    }

    /// Answered calls not ended yet, as the live-call journal has them.
    pub fn live_calls(&self) -> usize {
        self.shared.live.open_calls()
    }

    fn live_error(&self, e: std::io::Error) {
        self.shared.journal.count_error();
        tracing::warn!(error = %e, "live-call journal write failed");
    }

    /// Records that did not fit in the channel and wait in the spool for replay (since start).
    pub fn spilled(&self) -> u64 {
        self.shared.journal.spilled()
    }

    /// Records neither journaled nor queued (spool unwritable and channel full). Should stay 0; alert on it.
    pub fn lost(&self) -> u64 {
        self.shared.journal.lost()
    }

    /// Failed writes to the spool file (disk full, I/O error).
    pub fn spool_errors(&self) -> u64 {
        self.shared.journal.journal_errors()
    }
}

pub struct TicketService {
    shared: Arc<Shared>,
    tx: mpsc::Sender<spool::Item>,
    shutdown: watch::Sender<bool>,
    writer: JoinHandle<()>,
    syncer: JoinHandle<()>,
}

/// Run migrations, replay the spool, spawn the writer. `schedule` gives the working days for deadlines.
pub async fn start(
    cfg: TicketConfig,
    schedule: calendar::Schedule,
) -> Result<TicketService, TicketError> {
    start_with_clock(cfg, Arc::new(schedule)).await
}

/// [`start`] with any working-time source (tests, tools).
pub async fn start_with_clock(
    cfg: TicketConfig,
    clock: Arc<dyn WorkingClock>,
) -> Result<TicketService, TicketError> {
    cfg.validate().map_err(TicketError::Config)?;
    let store = Store::connect(&cfg.database_url, cfg.max_connections).await?;
    let (journal, leftovers) = spool::Journal::open(&cfg.spool_dir)?;
    let (live, interrupted) = live::LiveJournal::open(&cfg.spool_dir)?;
    let (events, _) = broadcast::channel(1024);
    let (tx, rx) = mpsc::channel(cfg.channel_capacity);
    let shared = Arc::new(Shared {
        cfg,
        store,
        clock,
        events,
        journal,
        live,
    });
    // Replay what an earlier run left before taking new records, so the order is kept.
    for path in leftovers {
        writer::replay_segment(&shared, &path).await?;
    }
    let (shutdown, shutdown_rx) = watch::channel(false);
    let writer = tokio::spawn(writer::run(shared.clone(), rx, shutdown_rx.clone()));
    // Calls the last run left up (killed mid-call): their interim records, after everything it finished.
    if !interrupted.is_empty() {
        tracing::warn!(
            calls = interrupted.len(),
            "recovering calls the last run left up (ended `interrupted`)"
        );
    }
    for rec in interrupted {
        shared.journal.submit(&tx, rec);
    }
    shared.live.forget_recovered()?;
    let syncer = tokio::spawn(writer::sync_loop(shared.clone(), shutdown_rx));
    Ok(TicketService {
        shared,
        tx,
        shutdown,
        writer,
        syncer,
    })
}

impl TicketService {
    pub fn sink(&self) -> RecordSink {
        RecordSink {
            shared: self.shared.clone(),
            tx: self.tx.clone(),
        }
    }

    /// Routes under `/tickets…`, `/access-log` and `/stats/transfers`; the daemon nests it under `/api`. Every
    /// route needs one of `gate`'s accounts, and its role decides the rest (docs/access.md).
    pub fn router(&self, gate: access::Gate) -> axum::Router {
        api::router(self.shared.clone(), gate)
    }

    /// The phone self-query's handle; due dates are told as dates in `tz`, the center's zone.
    pub fn self_query_desk(&self, tz: chrono_tz::Tz) -> SelfQueryDesk {
        SelfQueryDesk {
            shared: self.shared.clone(),
            tz,
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Subscribe to new and changed tickets (the SSE endpoint uses this too).
    pub fn subscribe(&self) -> broadcast::Receiver<TicketEvent> {
        self.shared.events.subscribe()
    }

    /// Stop: store everything queued, replay spilled records, close the pool. Records submitted after this go to
    /// the spool and are stored by the next start.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.writer.await {
            tracing::error!(error = %e, "ticket writer task failed");
        }
        let _ = self.syncer.await;
        if let Err(e) = self.shared.journal.sync_if_dirty() {
            tracing::warn!(error = %e, "spool fsync failed at shutdown");
        }
        self.shared.store.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon moves these across tasks and threads.
    #[test]
    fn service_handles_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<RecordSink>();
        send_sync::<TicketService>();
        send_sync::<Store>();
        let cfg = TicketConfig::default();
        let schedule = calendar::Schedule {
            calendar: Arc::new(calendar::HolidayCalendar::default()),
            hours: calendar::WorkingHours::nine_to_five(),
            tz: chrono_tz::Asia::Shanghai,
        };
        let fut = start(cfg, schedule);
        send(&fut);
    }
}
