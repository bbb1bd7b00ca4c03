//! Storage of the call-back list (回访). The scheduling rules are in [`crate::callback`]; this keeps the entries
//! and their attempts, and fills the list from closed tickets and abandoned calls.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::life::record_evaluation_in;
use super::{fetch_ticket, write_action, Store};
use crate::callback::{
    after_attempt, next_callback, CallbackKind, CallbackOutcome, CallbackPolicy, CallbackState,
    CallingHours, NextCallback, PendingCallback,
};
use crate::deadline::{ms_to_utc, WorkingClock};
use crate::lifecycle::{Evaluation, EvaluationSource};
use crate::model::{Action, Status};
use crate::TicketError;

const COLUMNS: &str =
    "id, kind, ticket_id, call_id, caller, created_at_ms, due_at_ms, next_attempt_at_ms, \
     attempts, state, outcome, updated_at_ms";

/// One entry of the call-back list. `caller` is personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackRow {
    pub id: String,
    pub kind: CallbackKind,
    pub ticket_id: Option<String>,
    pub call_id: Option<String>,
    pub caller: String,
    pub created_at_ms: i64,
    /// To be done by (working days after it was added, by the policy).
    pub due_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub attempts: u32,
    pub state: CallbackState,
    /// The last attempt's outcome (`answered`, `evaluated`, `no_answer`, `busy`, `refused`).
    pub outcome: Option<String>,
    pub updated_at_ms: i64,
}

impl CallbackRow {
    pub fn pending(&self) -> PendingCallback {
        PendingCallback {
            id: self.id.clone(),
            next_attempt_at_ms: self.next_attempt_at_ms,
            due_at_ms: self.due_at_ms,
            attempts: self.attempts,
        }
    }
}

/// A caller to put on the list by hand ("leave your number", or an abandoned call the daemon reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallback {
    pub kind: CallbackKind,
    pub caller: String,
    pub ticket_id: Option<String>,
    pub call_id: Option<String>,
}

/// One attempt, for the list's detail view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackAttempt {
    pub at_ms: i64,
    pub outcome: String,
    pub evaluation: Option<Evaluation>,
}

fn from_row(r: &AnyRow) -> Result<CallbackRow, TicketError> {
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(CallbackRow {
        id: r.try_get("id")?,
        kind: CallbackKind::parse(&kind)
            .ok_or_else(|| TicketError::Corrupt(format!("callback kind {kind:?}")))?,
        ticket_id: r.try_get("ticket_id")?,
        call_id: r.try_get("call_id")?,
        caller: r.try_get("caller")?,
        created_at_ms: r.try_get("created_at_ms")?,
        due_at_ms: r.try_get("due_at_ms")?,
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| TicketError::Corrupt(format!("callback attempts {attempts}")))?,
        state: CallbackState::parse(&state)
            .ok_or_else(|| TicketError::Corrupt(format!("callback state {state:?}")))?,
        outcome: r.try_get("outcome")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
    })
}

impl Store {
    /// Put a caller on the list, once per `source_key`; `None` when that key is already there.
    async fn insert_callback(
        &self,
        source_key: &str,
        cb: &NewCallback,
        policy: &CallbackPolicy,
        clock: &dyn WorkingClock,
        now_ms: i64,
    ) -> Result<Option<CallbackRow>, TicketError> {
        let id = uuid::Uuid::now_v7().to_string();
        let due = clock
            .add_working_days(ms_to_utc(now_ms), policy.due_working_days)
            .timestamp_millis();
        let res = sqlx::query(
            "INSERT INTO callbacks (id, source_key, kind, ticket_id, call_id, caller, created_at_ms, due_at_ms, \
             next_attempt_at_ms, attempts, state, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 'pending', $10) ON CONFLICT (source_key) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(source_key)
        .bind(cb.kind.as_str())
        .bind(cb.ticket_id.as_deref())
        .bind(cb.call_id.as_deref())
        .bind(cb.caller.as_str())
        .bind(now_ms)
        .bind(due)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Ok(None);
        }
        self.callback(&id).await
    }

    /// Add a caller by hand (the daemon's "leave your number", or an abandoned call). Idempotent per call id
    /// (or per ticket when there is no call id).
    pub async fn add_callback(
        &self,
        cb: &NewCallback,
        policy: &CallbackPolicy,
        clock: &dyn WorkingClock,
        now_ms: i64,
    ) -> Result<Option<CallbackRow>, TicketError> {
        let key = match (&cb.call_id, &cb.ticket_id) {
            (Some(c), _) => format!("{}:call:{c}", cb.kind.as_str()),
            (None, Some(t)) => format!("{}:ticket:{t}", cb.kind.as_str()),
            (None, None) => format!("{}:number:{}:{now_ms}", cb.kind.as_str(), cb.caller),
        };
        self.insert_callback(&key, cb, policy, clock, now_ms).await
    }

    /// Fill the list from the tickets: every closed ticket (once per closing: a re-handled ticket closed again
    /// is called back again) and every open call-back ticket of an abandoned call. Returns how many were added.
    /// The daemon calls it periodically; it is idempotent, and reads only tickets not on the list yet.
    pub async fn sync_callbacks(
        &self,
        policy: &CallbackPolicy,
        clock: &dyn WorkingClock,
        now_ms: i64,
    ) -> Result<usize, TicketError> {
        let rows = sqlx::query(
            "SELECT t.id, t.caller, t.status, t.source, t.reopened FROM tickets t \
             WHERE t.caller IS NOT NULL AND (t.status = $1 OR (t.source = 'auto_abandoned' AND t.status = $2)) \
             AND NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.ticket_id = t.id AND c.source_key IN \
             ('closed_ticket:' || t.id || ':' || CAST(t.reopened AS TEXT), 'abandoned:ticket:' || t.id))",
        )
        .bind(Status::Closed.as_str())
        .bind(Status::Accepted.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut added = 0;
        for r in &rows {
            let id: String = r.try_get("id")?;
            let caller: String = r.try_get("caller")?;
            let status: String = r.try_get("status")?;
            let reopened: i64 = r.try_get("reopened")?;
            let (kind, key) = if status == Status::Closed.as_str() {
                (
                    CallbackKind::ClosedTicket,
                    format!("closed_ticket:{id}:{reopened}"),
                )
            } else {
                (CallbackKind::Abandoned, format!("abandoned:ticket:{id}"))
            };
            let cb = NewCallback {
                kind,
                caller,
                ticket_id: Some(id),
                call_id: None,
            };
            if self
                .insert_callback(&key, &cb, policy, clock, now_ms)
                .await?
                .is_some()
            {
                added += 1;
            }
        }
        Ok(added)
    }

    pub async fn callback(&self, id: &str) -> Result<Option<CallbackRow>, TicketError> {
        let sql = format!("SELECT {COLUMNS} FROM callbacks WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Entries by state, in order of their next attempt.
    pub async fn callbacks(&self, state: CallbackState) -> Result<Vec<CallbackRow>, TicketError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM callbacks WHERE state = $1 ORDER BY next_attempt_at_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The scheduler over the pending list: which call-back to dial now, or until when to wait.
    pub async fn next_callback(
        &self,
        hours: &dyn CallingHours,
        now_ms: i64,
    ) -> Result<NextCallback, TicketError> {
        let pending: Vec<PendingCallback> = self
            .callbacks(CallbackState::Pending)
            .await?
            .iter()
            .map(CallbackRow::pending)
            .collect();
        Ok(next_callback(&pending, hours, ms_to_utc(now_ms)))
    }

    /// The daemon reports an attempt. The entry moves per the policy; an evaluation is stored on the ticket
    /// ([`Store::record_evaluation`], which moves a closed ticket to `called_back`/`evaluated`); a closed
    /// ticket whose caller was reached without a rating, or given up on, is marked `called_back`.
    pub async fn record_callback_attempt(
        &self,
        id: &str,
        outcome: CallbackOutcome,
        policy: &CallbackPolicy,
        now_ms: i64,
    ) -> Result<CallbackRow, TicketError> {
        let Some(cb) = self.callback(id).await? else {
            return Err(TicketError::NotFound(id.to_string()));
        };
        if cb.state != CallbackState::Pending {
            return Err(TicketError::Conflict(id.to_string()));
        }
        let next = after_attempt(&cb.pending(), outcome, policy, ms_to_utc(now_ms));
        let evaluation = match outcome {
            CallbackOutcome::Evaluated(e) => Some(e),
            _ => None,
        };
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE callbacks SET attempts = $1, state = $2, next_attempt_at_ms = $3, outcome = $4, \
             updated_at_ms = $5 WHERE id = $6 AND attempts = $7 AND state = 'pending'",
        )
        .bind(i64::from(next.attempts))
        .bind(next.state.as_str())
        .bind(next.next_attempt_at_ms)
        .bind(outcome.as_str())
        .bind(now_ms)
        .bind(id)
        .bind(i64::from(cb.attempts))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(TicketError::Conflict(id.to_string()));
        }
        sqlx::query(
            "INSERT INTO callback_attempts (callback_id, at_ms, outcome, evaluation) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(now_ms)
        .bind(outcome.as_str())
        .bind(evaluation.map(Evaluation::as_str))
        .execute(&mut *tx)
        .await?;
        // In the same transaction: a kill after the attempt cannot lose the survey key or leave the ticket closed.
        if let (Some(ticket_id), CallbackKind::ClosedTicket) = (&cb.ticket_id, cb.kind) {
            match (outcome, next.state) {
                (CallbackOutcome::Evaluated(e), _) => {
                    record_evaluation_in(
                        &mut tx,
                        ticket_id,
                        None,
                        EvaluationSource::CallBack,
                        e,
                        now_ms,
                    )
                    .await?;
                }
                (_, CallbackState::Done) => {
                    mark_called_back(&mut tx, ticket_id, true, now_ms).await?
                }
                (_, CallbackState::GivenUp) => {
                    mark_called_back(&mut tx, ticket_id, false, now_ms).await?
                }
                (_, CallbackState::Pending) => {}
            }
        }
        tx.commit().await?;
        self.callback(id)
            .await?
            .ok_or_else(|| TicketError::NotFound(id.to_string()))
    }

    pub async fn callback_attempts(&self, id: &str) -> Result<Vec<CallbackAttempt>, TicketError> {
        let rows = sqlx::query(
            "SELECT at_ms, outcome, evaluation FROM callback_attempts WHERE callback_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let e: Option<String> = r.try_get("evaluation")?;
                Ok(CallbackAttempt {
                    at_ms: r.try_get("at_ms")?,
                    outcome: r.try_get("outcome")?,
                    evaluation: e
                        .map(|s| {
                            Evaluation::parse(&s)
                                .ok_or_else(|| TicketError::Corrupt(format!("evaluation {s:?}")))
                        })
                        .transpose()?,
                })
            })
            .collect()
    }
}

/// A closed ticket whose caller was reached (or given up on) is `called_back`.
async fn mark_called_back(
    conn: &mut sqlx::AnyConnection,
    ticket_id: &str,
    reached: bool,
    now_ms: i64,
) -> Result<(), TicketError> {
    if let Some(t) = fetch_ticket(conn, ticket_id).await? {
        if t.status == Status::Closed {
            write_action(conn, &t, &Action::CallBack { reached }, "callback", now_ms).await?;
        }
    }
    Ok(())
}
