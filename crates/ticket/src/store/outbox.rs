//! Storage of the outbox ([`crate::notify`]): notices written once by key, taken in order, marked delivered or
//! rescheduled. The reminder producer reads the append-only ticket history after a cursor, so a notice for a
//! dispatch or a supervision cannot be lost between the ticket's change and the outbox write: a crash in
//! between leaves the cursor behind and the next round writes it.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, Ticket, TICKET_COLUMNS};
use crate::deadline::{deadlines, ms_to_utc, DeadlineRules, WorkingClock};
use crate::model::Status;
use crate::notify::{NotifyConfig, PROVINCE, REMINDERS};
use crate::TicketError;

const COLUMNS: &str =
    "id, notice_key, channel, payload, created_at_ms, next_attempt_at_ms, attempts, \
     delivered_at_ms, last_error";

/// History actions that remind the department.
const REMINDED: [&str; 5] = [
    "dispatch",
    "reassign",
    "accept_return",
    "rehandle",
    "supervise",
];

/// One notice in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    /// Unique; sent as `Idempotency-Key`.
    pub key: String,
    pub channel: String,
    /// JSON.
    pub payload: String,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub attempts: u32,
    pub delivered_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<OutboxEntry, TicketError> {
    let attempts: i64 = r.try_get("attempts")?;
    Ok(OutboxEntry {
        id: r.try_get("id")?,
        key: r.try_get("notice_key")?,
        channel: r.try_get("channel")?,
        payload: r.try_get("payload")?,
        created_at_ms: r.try_get("created_at_ms")?,
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| TicketError::Corrupt(format!("outbox attempts {attempts}")))?,
        delivered_at_ms: r.try_get("delivered_at_ms")?,
        last_error: r.try_get("last_error")?,
    })
}

async fn insert_notice(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    channel: &str,
    payload: &str,
    now_ms: i64,
) -> Result<bool, TicketError> {
    let res = sqlx::query(
        "INSERT INTO outbox (notice_key, channel, payload, created_at_ms, next_attempt_at_ms, attempts) \
         VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (notice_key) DO NOTHING",
    )
    .bind(key)
    .bind(channel)
    .bind(payload)
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

impl Store {
    /// Write a notice once: `false` when one with `key` is already there (delivered or not). The provincial
    /// push and any other producer use this.
    pub async fn enqueue_notice(
        &self,
        key: &str,
        channel: &str,
        payload: &serde_json::Value,
        now_ms: i64,
    ) -> Result<bool, TicketError> {
        let mut conn = self.pool.acquire().await?;
        insert_notice(&mut conn, key, channel, &payload.to_string(), now_ms).await
    }

    /// Undelivered notices of `channels` due at `now_ms`, oldest first.
    pub async fn due_notices(
        &self,
        channels: &[String],
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, TicketError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (0..channels.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= $1 \
             AND channel IN ({}) ORDER BY id LIMIT $2",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .bind(i64::from(limit));
        for c in channels {
            q = q.bind(c.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn notice_delivered(&self, id: i64, at_ms: i64) -> Result<(), TicketError> {
        sqlx::query(
            "UPDATE outbox SET delivered_at_ms = $1, attempts = attempts + 1 WHERE id = $2",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn notice_failed(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), TicketError> {
        sqlx::query(
            "UPDATE outbox SET attempts = $1, next_attempt_at_ms = $2, last_error = $3 WHERE id = $4 \
             AND delivered_at_ms IS NULL",
        )
        .bind(i64::from(attempts))
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The outbox in order; only what is still owed when `undelivered_only`.
    pub async fn outbox(&self, undelivered_only: bool) -> Result<Vec<OutboxEntry>, TicketError> {
        let filter = if undelivered_only {
            " WHERE delivered_at_ms IS NULL"
        } else {
            ""
        };
        let sql = format!("SELECT {COLUMNS} FROM outbox{filter} ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The reminder producer (the daemon calls it every few seconds): notices for dispatches, re-dispatches and
    /// supervisions since the last round (from the history, after a cursor, in one transaction), the provincial
    /// push of every ticket change and survey answer (`push_province`, after cursors of their own), and a near-due reminder once per closing deadline of an
    /// open ticket whose light is no longer green. Returns the notices written. No caller data in any of them. A
    /// channel without a configured webhook gets nothing (the history cursor still moves on).
    pub async fn enqueue_reminders(
        &self,
        cfg: &NotifyConfig,
        rules: &DeadlineRules,
        clock: &dyn WorkingClock,
        now_ms: i64,
    ) -> Result<usize, TicketError> {
        let mut written = 0;
        // Only channels with a receiver: an install without a provincial platform must not grow an outbox
        // nobody drains.
        let remind = cfg.webhooks.contains_key(REMINDERS);
        let push = cfg.push_province && cfg.webhooks.contains_key(PROVINCE);
        let mut tx = self.begin_write().await?;
        let cursor: i64 = sqlx::query("SELECT last_id FROM outbox_cursor WHERE name = 'history'")
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        let rows = sqlx::query(
            "SELECT h.id, h.ticket_id, h.at_ms, h.action, h.to_status, h.note, t.department, t.category \
             FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id WHERE h.id > $1 ORDER BY h.id LIMIT 1000",
        )
        .bind(cursor)
        .fetch_all(&mut *tx)
        .await?;
        let mut last = cursor;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let action: String = r.try_get("action")?;
            let ticket_id: String = r.try_get("ticket_id")?;
            let department: String = r.try_get("department")?;
            let category: String = r.try_get("category")?;
            let to_status: String = r.try_get("to_status")?;
            let at_ms: i64 = r.try_get("at_ms")?;
            if remind && REMINDED.contains(&action.as_str()) {
                let mut payload = serde_json::json!({
                    "kind": action,
                    "ticket_id": ticket_id,
                    "department": department,
                    "category": category,
                    "status": to_status,
                    "at_ms": at_ms,
                });
                if action == "supervise" {
                    let note: String = r.try_get("note")?;
                    payload["note"] = serde_json::Value::String(note);
                }
                let key = format!("reminder:history:{id}");
                written += usize::from(
                    insert_notice(&mut tx, &key, REMINDERS, &payload.to_string(), now_ms).await?,
                );
            }
            if push {
                let payload = serde_json::json!({
                    "kind": "ticket_changed",
                    "action": action,
                    "ticket_id": ticket_id,
                    "department": department,
                    "category": category,
                    "status": to_status,
                    "at_ms": at_ms,
                });
                let key = format!("province:history:{id}");
                written += usize::from(
                    insert_notice(&mut tx, &key, PROVINCE, &payload.to_string(), now_ms).await?,
                );
            }
            last = last.max(id);
        }
        // Survey answers (after the call or on a call-back) go to the province too.
        let ev_cursor: i64 =
            sqlx::query("SELECT last_id FROM outbox_cursor WHERE name = 'evaluations'")
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or(0);
        let mut ev_last = ev_cursor;
        if push {
            let rows = sqlx::query(
                "SELECT e.id, e.ticket_id, e.source, e.evaluation, e.at_ms, t.department, t.category \
                 FROM evaluations e JOIN tickets t ON t.id = e.ticket_id WHERE e.id > $1 ORDER BY e.id LIMIT 1000",
            )
            .bind(ev_cursor)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let id: i64 = r.try_get("id")?;
                let payload = serde_json::json!({
                    "kind": "evaluation",
                    "ticket_id": r.try_get::<String, _>("ticket_id")?,
                    "department": r.try_get::<String, _>("department")?,
                    "category": r.try_get::<String, _>("category")?,
                    "source": r.try_get::<String, _>("source")?,
                    "evaluation": r.try_get::<String, _>("evaluation")?,
                    "at_ms": r.try_get::<i64, _>("at_ms")?,
                });
                let key = format!("province:evaluation:{id}");
                written += usize::from(
                    insert_notice(&mut tx, &key, PROVINCE, &payload.to_string(), now_ms).await?,
                );
                ev_last = ev_last.max(id);
            }
        }
        if ev_last > ev_cursor {
            sqlx::query(
                "INSERT INTO outbox_cursor (name, last_id) VALUES ('evaluations', $1) \
                 ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
            )
            .bind(ev_last)
            .execute(&mut *tx)
            .await?;
        }
        if last > cursor {
            sqlx::query(
                "INSERT INTO outbox_cursor (name, last_id) VALUES ('history', $1) \
                 ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
            )
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let open = if remind {
            self.open_tickets().await?
        } else {
            Vec::new()
        };
        for t in open {
            let d = deadlines(
                clock,
                rules,
                cfg.near_due_share,
                t.deadline_input(),
                ms_to_utc(now_ms),
            );
            if d.light == crate::deadline::Light::Green {
                continue;
            }
            let due_ms = d.close_due.timestamp_millis();
            let payload = serde_json::json!({
                "kind": "near_due",
                "ticket_id": t.id,
                "department": t.department,
                "category": t.category.as_str(),
                "status": t.status.as_str(),
                "close_due_ms": due_ms,
                "light": d.light.as_str(),
            });
            let key = format!("reminder:near_due:{}:{due_ms}", t.id);
            written += usize::from(
                self.enqueue_notice(&key, REMINDERS, &payload, now_ms)
                    .await?,
            );
        }
        Ok(written)
    }

    /// Tickets the department still owes work on.
    pub async fn open_tickets(&self) -> Result<Vec<Ticket>, TicketError> {
        let closed: Vec<Status> = Status::ALL.into_iter().filter(|s| !s.is_open()).collect();
        let list: Vec<String> = (1..=closed.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE status NOT IN ({}) ORDER BY accepted_at_ms, id",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in &closed {
            q = q.bind(s.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| super::ticket_from_row(r, Vec::new()))
            .collect()
    }
}
