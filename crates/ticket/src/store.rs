//! Storage: one code base for SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Any-driver rules (measured, see DEPENDENCIES.md): placeholders are written as `$1…$N` by hand (both backends
//! accept them), times are BIGINT epoch ms, ids TEXT, flags BIGINT 0/1.

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
// `AssertSqlSafe`: dynamic SQL here only interpolates our column constants and `$n` placeholders, never input.
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

use crate::auto::{tickets_for, NewTicket};
use crate::lifecycle::Lifecycle;
use crate::model::{apply, Action, Category, Satisfaction, Status, TicketState};
use crate::record::{
    CallRecord, EndReason, QueueVisit, TransferAttempt, TransferEndedBy, TransferKind,
    TransferOutcome, VisitOutcome,
};
use crate::stats::{TimeRange, TransferAggregator, TransferReport};
use crate::TicketError;

// The later life of tickets, in files of their own (issue 11).
mod callbacks;
mod kpi;
mod life;
mod outbox;
mod quality;
mod self_query;
pub use callbacks::{CallbackAttempt, CallbackRow, NewCallback};
pub use life::{AcceptedRequest, EvaluationRow, RepeatFlag, RequestInput, RequestRow};
pub use outbox::OutboxEntry;
pub use self_query::{Progress, SelfQuery, TicketNumber};

/// Columns of `call_records`, in insert order.
const CALL_COLUMNS: &str = "call_id, caller, called, original_called, route_mode, department, started_at_ms, \
     answered_at_ms, ended_at_ms, wait_ms, seat, end_reason, digits, off_hours, transfer_unanswered, handed_over_by, \
     system_answered_at_ms, survey_key, survey_at_ms, stored_at_ms";
const CALL_COLUMN_COUNT: usize = 20;

/// Columns of `transfer_attempts`, in insert order.
const TRANSFER_COLUMNS: &str =
    "call_id, seq, target, department, started_at_ms, answered_at_ms, ended_at_ms, \
     outcome, status, answer_target_ms, ended_by, kind";
const TRANSFER_COLUMN_COUNT: usize = 12;

/// Columns of `queue_visits`, in insert order.
pub(crate) const VISIT_COLUMNS: &str = "call_id, seq, queue, entered_at_ms, left_at_ms, outcome";
const VISIT_COLUMN_COUNT: usize = 6;

const TICKET_COLUMNS: &str = "id, category, department, status, source, caller, text, accepted_at_ms, \
     dispatched_at_ms, signed_at_ms, closed_at_ms, supervised, satisfaction, created_at_ms, updated_at_ms, version, \
     returned_from, extension_days, extension_pending, reopened, reopened_at_ms, not_accepted_reason";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A ticket as stored. `caller` is personal data: the API logs every read of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: String,
    pub category: Category,
    pub department: String,
    pub status: Status,
    /// `api`, `auto_off_hours`, `auto_transfer_unanswered`, `auto_abandoned`.
    pub source: String,
    pub caller: Option<String>,
    pub text: String,
    pub accepted_at_ms: i64,
    pub dispatched_at_ms: Option<i64>,
    pub signed_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    pub supervised: i64,
    pub satisfaction: Option<Satisfaction>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Bumped by every action; concurrent actions on the same ticket are refused rather than lost.
    pub version: i64,
    pub call_ids: Vec<String>,
    /// Returns, extensions, re-handling, not accepted (`lifecycle`).
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

impl Ticket {
    pub fn state(&self) -> TicketState {
        TicketState {
            status: self.status,
            department: self.department.clone(),
            dispatched_at_ms: self.dispatched_at_ms,
            signed_at_ms: self.signed_at_ms,
            closed_at_ms: self.closed_at_ms,
            supervised: self.supervised,
            satisfaction: self.satisfaction,
            lifecycle: self.lifecycle.clone(),
        }
    }
}

/// One row of a ticket's append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: String,
}

/// One read of personal data, or one refused attempt (`denied`). `actor` is the authenticated account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    pub at_ms: i64,
    pub actor: String,
    /// `""` when the attempt was not about one ticket.
    pub ticket_id: String,
    pub what: String,
    pub denied: bool,
}

/// Filter over the whole access log (the auditors' view); every part optional. Times: from inclusive, to
/// exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessFilter {
    pub actor: Option<String>,
    pub ticket_id: Option<String>,
    pub denied: Option<bool>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: Option<i64>,
}

/// A ticket someone (operator, web form, app) opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketInput {
    pub category: Category,
    pub department: String,
    pub text: String,
    pub caller: Option<String>,
    pub call_id: Option<String>,
    pub accepted_at_ms: i64,
    pub source: String,
}

/// Filter for listing; every part is optional. Times bound `accepted_at_ms` (from inclusive, to exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub department: Option<String>,
    pub accepted_from_ms: Option<i64>,
    pub accepted_to_ms: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connect and run the migrations. A SQLite file (and its directory) is created when missing and put in WAL
    /// mode. `sqlite::memory:` is refused with more than one connection: each would get its own database.
    pub async fn connect(database_url: &str, max_connections: u32) -> Result<Store, TicketError> {
        sqlx::any::install_default_drivers();
        let backend = if database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(TicketError::Config(format!(
                "database_url: unsupported scheme in {database_url:?} (sqlite: or postgres:)"
            )));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(database_url, max_connections)?,
            Backend::Postgres => database_url.to_string(),
        };
        let mut opts = AnyPoolOptions::new().max_connections(max_connections);
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    // Another connection may hold the write lock for a batch; wait instead of failing.
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    // Safe with WAL: a power cut can lose the last transactions, never corrupt the file.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(&url).await?;
        if backend == Backend::Sqlite && !url.contains(":memory:") && !url.contains("mode=memory") {
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// A transaction that reads and then writes. SQLite's default deferred BEGIN would fail with "database is
    /// locked" when two such transactions race; IMMEDIATE takes the write lock up front and waits (busy_timeout).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, TicketError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Store call records idempotently (a call id already present is skipped) and open the automatic tickets of
    /// the records that were new, all in one transaction. Returns the tickets opened.
    pub async fn insert_call_records(
        &self,
        recs: &[CallRecord],
        now_ms: i64,
        callback_department: &str,
    ) -> Result<Vec<Ticket>, TicketError> {
        if recs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let mut inserted: Vec<String> = Vec::with_capacity(recs.len());
        // SQLite allows 32766 parameters; 500 rows × 20 stays far below, PostgreSQL allows 65535.
        for chunk in recs.chunks(500) {
            let sql = insert_calls_sql(chunk.len(), self.backend);
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.call_id.as_str())
                    .bind(r.caller.as_str())
                    .bind(r.called.as_str())
                    .bind(r.original_called.as_deref())
                    .bind(r.route_mode.as_deref())
                    .bind(r.department.as_deref())
                    .bind(r.started_at_ms)
                    .bind(r.answered_at_ms)
                    .bind(r.ended_at_ms)
                    .bind(r.wait_ms)
                    .bind(r.seat.as_deref())
                    .bind(r.end_reason.as_str())
                    .bind(r.digits.as_str())
                    .bind(r.off_hours as i64)
                    .bind(r.transfer_unanswered.as_deref())
                    .bind(r.handed_over_by.as_deref())
                    .bind(r.system_answered_at_ms)
                    .bind(r.survey.and_then(|s| s.key).map(String::from))
                    .bind(r.survey.map(|s| s.at_ms))
                    .bind(now_ms);
            }
            for row in q.fetch_all(&mut *tx).await? {
                inserted.push(row.try_get::<String, _>(0)?);
            }
        }
        let mut opened = Vec::new();
        if !inserted.is_empty() {
            let new: std::collections::HashSet<&str> =
                inserted.iter().map(String::as_str).collect();
            // The same call id twice in one batch: only its first copy counts.
            let mut seen = std::collections::HashSet::new();
            let fresh: Vec<&CallRecord> = recs
                .iter()
                .filter(|r| new.contains(r.call_id.as_str()) && seen.insert(r.call_id.as_str()))
                .collect();
            let attempts: Vec<(&str, i64, &TransferAttempt)> = fresh
                .iter()
                .flat_map(|r| {
                    r.transfers
                        .iter()
                        .enumerate()
                        .map(|(i, a)| (r.call_id.as_str(), i as i64, a))
                })
                .collect();
            // 500 rows × 12 parameters, like the records.
            for chunk in attempts.chunks(500) {
                let sql = insert_transfers_sql(chunk.len(), self.backend);
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for (call_id, seq, a) in chunk {
                    q = q
                        .bind(*call_id)
                        .bind(*seq)
                        .bind(a.target.as_str())
                        .bind(a.department.as_deref())
                        .bind(a.started_at_ms)
                        .bind(a.answered_at_ms)
                        .bind(a.ended_at_ms)
                        .bind(a.outcome.kind())
                        .bind(a.outcome.status().map(i64::from))
                        .bind(a.answer_target_ms)
                        .bind(a.ended_by.map(TransferEndedBy::as_str))
                        .bind(a.kind.map(TransferKind::as_str));
                }
                q.execute(&mut *tx).await?;
            }
            let visits: Vec<(&str, i64, &QueueVisit)> = fresh
                .iter()
                .flat_map(|r| {
                    r.queue_visits
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (r.call_id.as_str(), i as i64, v))
                })
                .collect();
            // 500 rows × 6 parameters.
            for chunk in visits.chunks(500) {
                let mut sql = insert_values_sql(
                    "queue_visits",
                    VISIT_COLUMNS,
                    VISIT_COLUMN_COUNT,
                    chunk.len(),
                    self.backend,
                );
                sql.push_str(" ON CONFLICT (call_id, seq) DO NOTHING");
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for (call_id, seq, v) in chunk {
                    q = q
                        .bind(*call_id)
                        .bind(*seq)
                        .bind(v.queue.as_str())
                        .bind(v.entered_at_ms)
                        .bind(v.left_at_ms)
                        .bind(v.outcome.as_str());
                }
                q.execute(&mut *tx).await?;
            }
            quality::insert(&mut tx, &fresh, self.backend).await?;
            for r in fresh {
                for nt in tickets_for(r) {
                    opened
                        .push(insert_auto_ticket(&mut tx, nt, callback_department, now_ms).await?);
                }
                // The survey answer goes to the tickets the call has by now (opened during the call, or just
                // above); a ticket opened for it later gets it from the record (`insert_ticket`).
                if let Some(survey) = r.survey {
                    life::apply_call_survey(&mut tx, &r.call_id, survey).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(opened)
    }

    pub async fn call_record(&self, call_id: &str) -> Result<Option<CallRecord>, TicketError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM call_records WHERE call_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut rec = call_from_row(&row)?;
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfer_attempts WHERE call_id = $1 ORDER BY seq"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?;
        rec.transfers = rows
            .iter()
            .map(transfer_from_row)
            .collect::<Result<_, _>>()?;
        let sql =
            format!("SELECT {VISIT_COLUMNS} FROM queue_visits WHERE call_id = $1 ORDER BY seq");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?;
        rec.queue_visits = rows.iter().map(visit_from_row).collect::<Result<_, _>>()?;
        rec.quality = self.leg_quality(call_id).await?;
        Ok(Some(rec))
    }

    /// Transfer attempts that started in `range` (`from` inclusive, `to` exclusive), each with its call id, in
    /// start order.
    pub async fn transfer_attempts(
        &self,
        range: TimeRange,
    ) -> Result<Vec<(String, TransferAttempt)>, TicketError> {
        let (sql, binds) = transfer_range_sql(range);
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("call_id")?, transfer_from_row(r)?)))
            .collect()
    }

    /// Transfer service level over the attempts that started in `range` ([`crate::stats`] has the rules). The
    /// rows are streamed into the aggregator, not collected.
    pub async fn transfer_stats(&self, range: TimeRange) -> Result<TransferReport, TicketError> {
        use futures_util::TryStreamExt;
        let (sql, binds) = transfer_range_sql(range);
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let mut agg = TransferAggregator::new(range);
        let mut rows = q.fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            agg.add(&transfer_from_row(&r)?);
        }
        Ok(agg.finish())
    }

    pub async fn count_call_records(&self) -> Result<i64, TicketError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM call_records")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n)
    }

    pub async fn count_tickets(&self) -> Result<i64, TicketError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM tickets")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n)
    }

    /// Open a ticket by hand (status `accepted`) with its first history row.
    pub async fn create_ticket(
        &self,
        input: &TicketInput,
        actor: &str,
        now_ms: i64,
    ) -> Result<Ticket, TicketError> {
        let mut tx = self.pool.begin().await?;
        let t = insert_ticket(&mut tx, input, actor, now_ms).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub async fn ticket(&self, id: &str) -> Result<Option<Ticket>, TicketError> {
        let mut conn = self.pool.acquire().await?;
        fetch_ticket(&mut conn, id).await
    }

    pub async fn list_tickets(&self, f: &TicketFilter) -> Result<Vec<Ticket>, TicketError> {
        let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if f.status.is_some() {
            sql += &format!(" AND status = ${}", next());
        }
        if f.department.is_some() {
            sql += &format!(" AND department = ${}", next());
        }
        if f.accepted_from_ms.is_some() {
            sql += &format!(" AND accepted_at_ms >= ${}", next());
        }
        if f.accepted_to_ms.is_some() {
            sql += &format!(" AND accepted_at_ms < ${}", next());
        }
        sql += &format!(" ORDER BY accepted_at_ms, id LIMIT ${}", next());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(s) = f.status {
            q = q.bind(s.as_str());
        }
        if let Some(d) = &f.department {
            q = q.bind(d.as_str());
        }
        if let Some(t) = f.accepted_from_ms {
            q = q.bind(t);
        }
        if let Some(t) = f.accepted_to_ms {
            q = q.bind(t);
        }
        q = q.bind(f.limit.unwrap_or(1000).clamp(1, 10_000));
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(ticket_from_row(r, Vec::new())?);
        }
        Ok(out)
    }

    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, TicketError> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, from_status, to_status, note FROM ticket_history \
             WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    from_status: r.try_get("from_status")?,
                    to_status: r.try_get("to_status")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    /// Apply an action: the state machine decides, the row and a history entry are written in one transaction.
    /// A concurrent action that changed the ticket first makes this one fail with `Conflict`.
    pub async fn act(
        &self,
        id: &str,
        action: &Action,
        actor: &str,
        now_ms: i64,
    ) -> Result<Ticket, TicketError> {
        self.act_checked(id, action, actor, now_ms, &|_| true).await
    }

    /// [`Store::act`] when `allowed(ticket)` holds for the ticket as read inside the transaction, else
    /// `Forbidden`: a check made before (say, of the department) could be stale by then.
    pub async fn act_checked(
        &self,
        id: &str,
        action: &Action,
        actor: &str,
        now_ms: i64,
        allowed: &(dyn Fn(&Ticket) -> bool + Sync),
    ) -> Result<Ticket, TicketError> {
        let mut tx = self.begin_write().await?;
        let Some(t) = fetch_ticket(&mut tx, id).await? else {
            return Err(TicketError::NotFound(id.to_string()));
        };
        if !allowed(&t) {
            return Err(TicketError::Forbidden(id.to_string()));
        }
        let updated = write_action(&mut tx, &t, action, actor, now_ms).await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn log_access(
        &self,
        actor: &str,
        ticket_id: &str,
        what: &str,
        now_ms: i64,
    ) -> Result<(), TicketError> {
        sqlx::query(
            "INSERT INTO access_log (at_ms, actor, ticket_id, what) VALUES ($1, $2, $3, $4)",
        )
        .bind(now_ms)
        .bind(actor)
        .bind(ticket_id)
        .bind(what)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A refused attempt (403), under the account that made it; `ticket_id` `""` when not about one ticket.
    pub async fn log_refused(
        &self,
        actor: &str,
        ticket_id: &str,
        what: &str,
        now_ms: i64,
    ) -> Result<(), TicketError> {
        sqlx::query(
            "INSERT INTO access_log (at_ms, actor, ticket_id, what, denied) VALUES ($1, $2, $3, $4, 1)",
        )
        .bind(now_ms)
        .bind(actor)
        .bind(ticket_id)
        .bind(what)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One access-log row per ticket, in one statement per 500 tickets (a list read).
    pub async fn log_access_many(
        &self,
        actor: &str,
        ticket_ids: &[&str],
        what: &str,
        now_ms: i64,
    ) -> Result<(), TicketError> {
        for chunk in ticket_ids.chunks(500) {
            let mut sql =
                String::from("INSERT INTO access_log (at_ms, actor, ticket_id, what) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 4;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(now_ms).bind(actor).bind(*id).bind(what);
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn access_log(&self, ticket_id: &str) -> Result<Vec<AccessEntry>, TicketError> {
        self.access_log_query(&AccessFilter {
            ticket_id: Some(ticket_id.to_string()),
            limit: Some(10_000),
            ..AccessFilter::default()
        })
        .await
    }

    /// The access log in order of writing, filtered.
    pub async fn access_log_query(
        &self,
        f: &AccessFilter,
    ) -> Result<Vec<AccessEntry>, TicketError> {
        let mut sql = String::from(
            "SELECT at_ms, actor, ticket_id, what, denied FROM access_log WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if f.actor.is_some() {
            sql += &format!(" AND actor = ${}", next());
        }
        if f.ticket_id.is_some() {
            sql += &format!(" AND ticket_id = ${}", next());
        }
        if f.denied.is_some() {
            sql += &format!(" AND denied = ${}", next());
        }
        if f.from_ms.is_some() {
            sql += &format!(" AND at_ms >= ${}", next());
        }
        if f.to_ms.is_some() {
            sql += &format!(" AND at_ms < ${}", next());
        }
        sql += &format!(" ORDER BY id LIMIT ${}", next());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(a) = &f.actor {
            q = q.bind(a.as_str());
        }
        if let Some(t) = &f.ticket_id {
            q = q.bind(t.as_str());
        }
        if let Some(d) = f.denied {
            q = q.bind(i64::from(d));
        }
        if let Some(t) = f.from_ms {
            q = q.bind(t);
        }
        if let Some(t) = f.to_ms {
            q = q.bind(t);
        }
        q = q.bind(f.limit.unwrap_or(1000).clamp(1, 10_000));
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AccessEntry {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    ticket_id: r.try_get("ticket_id")?,
                    what: r.try_get("what")?,
                    denied: r.try_get::<i64, _>("denied")? != 0,
                })
            })
            .collect()
    }
}

/// The state machine's step on `t` as read in the caller's transaction: the row (refused with `Conflict` when
/// its version moved) and a history entry. The new ticket, read back.
async fn write_action(
    conn: &mut sqlx::AnyConnection,
    t: &Ticket,
    action: &Action,
    actor: &str,
    now_ms: i64,
) -> Result<Ticket, TicketError> {
    let id = t.id.as_str();
    let next = apply(&t.state(), action, now_ms)?;
    let res = sqlx::query(
        "UPDATE tickets SET status = $1, department = $2, dispatched_at_ms = $3, signed_at_ms = $4, \
         closed_at_ms = $5, supervised = $6, satisfaction = $7, updated_at_ms = $8, version = version + 1, \
         returned_from = $11, extension_days = $12, extension_pending = $13, reopened = $14, \
         reopened_at_ms = $15, not_accepted_reason = $16 \
         WHERE id = $9 AND version = $10",
    )
    .bind(next.status.as_str())
    .bind(next.department.as_str())
    .bind(next.dispatched_at_ms)
    .bind(next.signed_at_ms)
    .bind(next.closed_at_ms)
    .bind(next.supervised)
    .bind(next.satisfaction.map(Satisfaction::as_str))
    .bind(now_ms)
    .bind(id)
    .bind(t.version)
    .bind(next.lifecycle.returned_from.map(Status::as_str))
    .bind(i64::from(next.lifecycle.extension_days))
    .bind(next.lifecycle.extension_pending.map(i64::from))
    .bind(i64::from(next.lifecycle.reopened))
    .bind(next.lifecycle.reopened_at_ms)
    .bind(next.lifecycle.not_accepted.map(|r| r.as_str()))
    .execute(&mut *conn)
    .await?;
    if res.rows_affected() != 1 {
        return Err(TicketError::Conflict(id.to_string()));
    }
    insert_history(
        conn,
        id,
        now_ms,
        actor,
        action.name(),
        Some(t.status.as_str()),
        next.status.as_str(),
        &action.note(),
    )
    .await?;
    fetch_ticket(conn, id)
        .await?
        .ok_or_else(|| TicketError::NotFound(id.to_string()))
}

/// `sqlite://var/hotline.db` → create the directory and add `mode=rwc` so a fresh install starts.
fn sqlite_url(url: &str, max_connections: u32) -> Result<String, TicketError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        if max_connections > 1 {
            return Err(TicketError::Config(
                "database_url: an in-memory SQLite database needs max_connections = 1 \
                 (each pooled connection would see its own empty database)"
                    .into(),
            ));
        }
        return Ok(url.to_string());
    }
    let path_part = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path_part.split('?').next().unwrap_or("");
    if path.is_empty() {
        return Err(TicketError::Config(format!(
            "database_url: no file in {url:?}"
        )));
    }
    if let Some(dir) = Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// `SELECT` of the attempts in a range and its parameters.
fn transfer_range_sql(range: TimeRange) -> (String, Vec<i64>) {
    let mut sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfer_attempts WHERE 1 = 1");
    let mut binds = Vec::new();
    if let Some(f) = range.from_ms {
        binds.push(f);
        sql += &format!(" AND started_at_ms >= ${}", binds.len());
    }
    if let Some(t) = range.to_ms {
        binds.push(t);
        sql += &format!(" AND started_at_ms < ${}", binds.len());
    }
    sql += " ORDER BY started_at_ms, call_id, seq";
    (sql, binds)
}

/// The batch insert. PostgreSQL needs `$N`. SQLite gets anonymous `?`: with numbered parameters the binding looks
/// each one up by name in a linear list, quadratic in the parameter count; a 256-row batch (4096 parameters) ran
/// at 4.4 k records/s with `$N` and 92 k/s with `?` (divan benchmark, release, this machine).
fn insert_calls_sql(rows: usize, backend: Backend) -> String {
    let mut sql = insert_values_sql(
        "call_records",
        CALL_COLUMNS,
        CALL_COLUMN_COUNT,
        rows,
        backend,
    );
    sql.push_str(" ON CONFLICT (call_id) DO NOTHING RETURNING call_id");
    sql
}

/// Attempts are inserted only for records that were new; the conflict clause is a second guard.
fn insert_transfers_sql(rows: usize, backend: Backend) -> String {
    let mut sql = insert_values_sql(
        "transfer_attempts",
        TRANSFER_COLUMNS,
        TRANSFER_COLUMN_COUNT,
        rows,
        backend,
    );
    sql.push_str(" ON CONFLICT (call_id, seq) DO NOTHING");
    sql
}

fn insert_values_sql(
    table: &str,
    columns: &str,
    column_count: usize,
    rows: usize,
    backend: Backend,
) -> String {
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    let mut n = 0;
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..column_count {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
                Backend::Sqlite => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

fn transfer_from_row(r: &AnyRow) -> Result<TransferAttempt, TicketError> {
    let kind: String = r.try_get("outcome")?;
    let status: Option<i64> = r.try_get("status")?;
    let status = status
        .map(|s| u16::try_from(s).map_err(|_| TicketError::Corrupt(format!("transfer status {s}"))))
        .transpose()?;
    let outcome = TransferOutcome::from_parts(&kind, status).ok_or_else(|| {
        TicketError::Corrupt(format!("transfer outcome {kind:?} with status {status:?}"))
    })?;
    let ended_by: Option<String> = r.try_get("ended_by")?;
    let ended_by = ended_by
        .map(|e| {
            TransferEndedBy::parse(&e)
                .ok_or_else(|| TicketError::Corrupt(format!("transfer ended_by {e:?}")))
        })
        .transpose()?;
    let kind: Option<String> = r.try_get("kind")?;
    let kind = kind
        .map(|k| {
            TransferKind::parse(&k)
                .ok_or_else(|| TicketError::Corrupt(format!("transfer kind {k:?}")))
        })
        .transpose()?;
    Ok(TransferAttempt {
        target: r.try_get("target")?,
        department: r.try_get("department")?,
        started_at_ms: r.try_get("started_at_ms")?,
        answered_at_ms: r.try_get("answered_at_ms")?,
        ended_at_ms: r.try_get("ended_at_ms")?,
        outcome,
        answer_target_ms: r.try_get("answer_target_ms")?,
        ended_by,
        kind,
    })
}

pub(crate) fn visit_from_row(r: &AnyRow) -> Result<QueueVisit, TicketError> {
    let outcome: String = r.try_get("outcome")?;
    Ok(QueueVisit {
        queue: r.try_get("queue")?,
        entered_at_ms: r.try_get("entered_at_ms")?,
        left_at_ms: r.try_get("left_at_ms")?,
        outcome: VisitOutcome::parse(&outcome)
            .ok_or_else(|| TicketError::Corrupt(format!("queue visit outcome {outcome:?}")))?,
    })
}

fn call_from_row(r: &AnyRow) -> Result<CallRecord, TicketError> {
    let reason: String = r.try_get("end_reason")?;
    Ok(CallRecord {
        call_id: r.try_get("call_id")?,
        caller: r.try_get("caller")?,
        called: r.try_get("called")?,
        original_called: r.try_get("original_called")?,
        route_mode: r.try_get("route_mode")?,
        department: r.try_get("department")?,
        started_at_ms: r.try_get("started_at_ms")?,
        answered_at_ms: r.try_get("answered_at_ms")?,
        ended_at_ms: r.try_get("ended_at_ms")?,
        wait_ms: r.try_get("wait_ms")?,
        seat: r.try_get("seat")?,
        end_reason: EndReason::parse(&reason)
            .ok_or_else(|| TicketError::Corrupt(format!("end_reason {reason:?}")))?,
        digits: r.try_get("digits")?,
        off_hours: r.try_get::<i64, _>("off_hours")? != 0,
        transfer_unanswered: r.try_get("transfer_unanswered")?,
        transfers: Vec::new(),
        handed_over_by: r.try_get("handed_over_by")?,
        system_answered_at_ms: r.try_get("system_answered_at_ms")?,
        queue_visits: Vec::new(),
        survey: life::survey_from_row(r)?,
        quality: Vec::new(),
    })
}

fn ticket_from_row(r: &AnyRow, call_ids: Vec<String>) -> Result<Ticket, TicketError> {
    let category: String = r.try_get("category")?;
    let status: String = r.try_get("status")?;
    let satisfaction: Option<String> = r.try_get("satisfaction")?;
    Ok(Ticket {
        id: r.try_get("id")?,
        category: Category::from_str(&category)?,
        department: r.try_get("department")?,
        status: Status::parse(&status)
            .ok_or_else(|| TicketError::Corrupt(format!("status {status:?}")))?,
        source: r.try_get("source")?,
        caller: r.try_get("caller")?,
        text: r.try_get("text")?,
        accepted_at_ms: r.try_get("accepted_at_ms")?,
        dispatched_at_ms: r.try_get("dispatched_at_ms")?,
        signed_at_ms: r.try_get("signed_at_ms")?,
        closed_at_ms: r.try_get("closed_at_ms")?,
        supervised: r.try_get("supervised")?,
        satisfaction: match satisfaction {
            None => None,
            Some(s) => Some(
                Satisfaction::parse(&s)
                    .ok_or_else(|| TicketError::Corrupt(format!("satisfaction {s:?}")))?,
            ),
        },
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        version: r.try_get("version")?,
        call_ids,
        lifecycle: life::lifecycle_from_row(r)?,
    })
}

impl FromStr for Category {
    type Err = TicketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::parse(s).ok_or_else(|| TicketError::Corrupt(format!("category {s:?}")))
    }
}

async fn fetch_ticket(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<Ticket>, TicketError> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1");
    let Some(row) = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let calls =
        sqlx::query("SELECT call_id FROM ticket_calls WHERE ticket_id = $1 ORDER BY call_id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
    ticket_from_row(&row, calls).map(Some)
}

async fn insert_auto_ticket(
    conn: &mut sqlx::AnyConnection,
    nt: NewTicket,
    callback_department: &str,
    now_ms: i64,
) -> Result<Ticket, TicketError> {
    let input = TicketInput {
        category: nt.category,
        department: nt
            .department
            .unwrap_or_else(|| callback_department.to_string()),
        text: nt.text,
        caller: Some(nt.caller),
        call_id: Some(nt.call_id),
        accepted_at_ms: nt.accepted_at_ms,
        source: nt.reason.source().to_string(),
    };
    insert_ticket(conn, &input, "system", now_ms).await
}

async fn insert_ticket(
    conn: &mut sqlx::AnyConnection,
    input: &TicketInput,
    actor: &str,
    now_ms: i64,
) -> Result<Ticket, TicketError> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO tickets (id, category, department, status, source, caller, text, accepted_at_ms, \
         supervised, created_at_ms, updated_at_ms, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, 0)",
    )
    .bind(id.as_str())
    .bind(input.category.as_str())
    .bind(input.department.as_str())
    .bind(Status::Accepted.as_str())
    .bind(input.source.as_str())
    .bind(input.caller.as_deref())
    .bind(input.text.as_str())
    .bind(input.accepted_at_ms)
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    if let Some(call_id) = &input.call_id {
        sqlx::query("INSERT INTO ticket_calls (ticket_id, call_id) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(call_id.as_str())
            .execute(&mut *conn)
            .await?;
        // A ticket opened after its call's survey: the caller's answer is its after-call evaluation.
        life::apply_recorded_survey(conn, call_id).await?;
    }
    insert_history(
        conn,
        &id,
        now_ms,
        actor,
        "accept",
        None,
        Status::Accepted.as_str(),
        &input.source,
    )
    .await?;
    // Built here rather than read back: one call can open tickets in a batch of hundreds.
    Ok(Ticket {
        id,
        category: input.category,
        department: input.department.clone(),
        status: Status::Accepted,
        source: input.source.clone(),
        caller: input.caller.clone(),
        text: input.text.clone(),
        accepted_at_ms: input.accepted_at_ms,
        dispatched_at_ms: None,
        signed_at_ms: None,
        closed_at_ms: None,
        supervised: 0,
        satisfaction: None,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        version: 0,
        call_ids: input.call_id.iter().cloned().collect(),
        lifecycle: Lifecycle::default(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert_history(
    conn: &mut sqlx::AnyConnection,
    ticket_id: &str,
    at_ms: i64,
    actor: &str,
    action: &str,
    from_status: Option<&str>,
    to_status: &str,
    note: &str,
) -> Result<(), TicketError> {
    sqlx::query(
        "INSERT INTO ticket_history (ticket_id, at_ms, actor, action, from_status, to_status, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ticket_id)
    .bind(at_ms)
    .bind(actor)
    .bind(action)
    .bind(from_status)
    .bind(to_status)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_insert_sql_numbers_every_placeholder() {
        let sql = insert_calls_sql(2, Backend::Postgres);
        assert!(sql.contains("($1, $2,"));
        assert!(sql.contains("$20), ($21,"));
        assert!(sql.contains("$40) ON CONFLICT (call_id) DO NOTHING RETURNING call_id"));
        assert!(!sql.contains('?'));
        let sql = insert_calls_sql(2, Backend::Sqlite);
        assert_eq!(sql.matches('?').count(), 40);
        assert!(!sql.contains('$'));
        let sql = insert_transfers_sql(2, Backend::Postgres);
        assert!(sql.contains("$12), ($13,"));
        assert!(sql.ends_with("$24) ON CONFLICT (call_id, seq) DO NOTHING"));
        assert_eq!(
            insert_transfers_sql(3, Backend::Sqlite)
                .matches('?')
                .count(),
            36
        );
    }

    #[test]
    fn transfer_range_sql_binds_only_the_given_bounds() {
        let (sql, b) = transfer_range_sql(TimeRange::default());
        assert!(!sql.contains("started_at_ms >=") && !sql.contains('$'));
        assert!(b.is_empty());
        let (sql, b) = transfer_range_sql(TimeRange {
            from_ms: None,
            to_ms: Some(7),
        });
        assert!(sql.contains("started_at_ms < $1"), "{sql}");
        assert_eq!(b, [7]);
        let (sql, b) = transfer_range_sql(TimeRange {
            from_ms: Some(3),
            to_ms: Some(7),
        });
        assert!(
            sql.contains("started_at_ms >= $1 AND started_at_ms < $2"),
            "{sql}"
        );
        assert_eq!(b, [3, 7]);
    }

    #[test]
    fn sqlite_url_gets_create_mode_and_memory_needs_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/h.db", dir.path().display());
        assert_eq!(sqlite_url(&url, 4).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
        assert!(sqlite_url("sqlite::memory:", 1).is_ok());
        let err = sqlite_url("sqlite::memory:", 2).unwrap_err().to_string();
        assert!(err.contains("max_connections"), "{err}");
    }
}
