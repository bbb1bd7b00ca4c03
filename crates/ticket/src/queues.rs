//! What the queues and seats keep in the database: the queue visits of a window (service level, staffing) and
//! the seats' presence (restored at start) with its history. Same Any-driver rules as `store`.

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::queue_stats::{facts, VisitFacts};
use crate::store::{visit_from_row, Backend, Store, VISIT_COLUMNS};
use crate::TicketError;

/// A seat's presence as stored: who is logged in and whether they take calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceRow {
    pub seat: String,
    pub operator: Option<String>,
    /// `logged_out`, `ready`, `not_ready`.
    pub presence: String,
    /// For `not_ready`: `RONA` or the reason digit.
    pub reason: Option<String>,
    /// Logged out by the operator: a new registration does not log in again.
    pub held_out: bool,
    pub changed_at_ms: i64,
    /// The queues the seat served (history only).
    pub queues: Vec<String>,
}

impl Store {
    /// Every call with a queue visit that entered in `[from, to)`: all its visits, in order, as facts.
    pub async fn queue_calls(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Vec<VisitFacts>>, TicketError> {
        use futures_util::TryStreamExt;
        let cols = VISIT_COLUMNS
            .split(", ")
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, c.answered_at_ms, c.ended_at_ms FROM queue_visits v \
             JOIN call_records c ON c.call_id = v.call_id \
             WHERE v.call_id IN (SELECT call_id FROM queue_visits WHERE entered_at_ms >= $1 AND entered_at_ms < $2) \
             ORDER BY v.call_id, v.seq"
        );
        let mut rows = sqlx::query(AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .fetch(self.pool());
        let mut out: Vec<Vec<VisitFacts>> = Vec::new();
        let mut current: Option<String> = None;
        while let Some(r) = rows.try_next().await? {
            let call_id: String = r.try_get("call_id")?;
            let v = visit_from_row(&r)?;
            let answered: Option<i64> = r.try_get("answered_at_ms")?;
            let ended: i64 = r.try_get("ended_at_ms")?;
            if current.as_deref() != Some(call_id.as_str()) {
                out.push(Vec::new());
                current = Some(call_id);
            }
            if let Some(call) = out.last_mut() {
                call.push(facts(&v, answered, ended));
            }
        }
        Ok(out)
    }

    /// Store presence changes: the current row of each seat, and the history, in one transaction.
    pub async fn save_presence(&self, changes: &[PresenceRow]) -> Result<(), TicketError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for c in changes {
            sqlx::query(
                "INSERT INTO seat_presence (seat, operator, presence, reason, held_out, changed_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seat) DO UPDATE SET operator = excluded.operator, \
                 presence = excluded.presence, reason = excluded.reason, held_out = excluded.held_out, \
                 changed_at_ms = excluded.changed_at_ms",
            )
            .bind(c.seat.as_str())
            .bind(c.operator.as_deref())
            .bind(c.presence.as_str())
            .bind(c.reason.as_deref())
            .bind(i64::from(c.held_out))
            .bind(c.changed_at_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO agent_events (at_ms, seat, operator, presence, reason, queues) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(c.changed_at_ms)
            .bind(c.seat.as_str())
            .bind(c.operator.as_deref())
            .bind(c.presence.as_str())
            .bind(c.reason.as_deref())
            .bind(c.queues.join(","))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored presence of every seat (what a restart restores).
    pub async fn load_presence(&self) -> Result<Vec<PresenceRow>, TicketError> {
        let rows = sqlx::query(
            "SELECT seat, operator, presence, reason, held_out, changed_at_ms FROM seat_presence ORDER BY seat",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PresenceRow {
                    seat: r.try_get("seat")?,
                    operator: r.try_get("operator")?,
                    presence: r.try_get("presence")?,
                    reason: r.try_get("reason")?,
                    held_out: r.try_get::<i64, _>("held_out")? != 0,
                    changed_at_ms: r.try_get("changed_at_ms")?,
                    queues: Vec::new(),
                })
            })
            .collect()
    }

    /// The presence history for `[from, to)`: each seat's last change before `from` (its state when the window
    /// opens), then every change inside, in time order.
    pub async fn presence_history(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PresenceRow>, TicketError> {
        let cols = "at_ms, seat, operator, presence, reason, queues";
        let sql = format!(
            "SELECT {cols} FROM agent_events WHERE id IN \
             (SELECT MAX(id) FROM agent_events WHERE at_ms < $1 GROUP BY seat) \
             UNION ALL SELECT {cols} FROM agent_events WHERE at_ms >= $1 AND at_ms < $2 \
             ORDER BY at_ms"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let queues: String = r.try_get("queues")?;
                Ok(PresenceRow {
                    seat: r.try_get("seat")?,
                    operator: r.try_get("operator")?,
                    presence: r.try_get("presence")?,
                    reason: r.try_get("reason")?,
                    held_out: false,
                    changed_at_ms: r.try_get("at_ms")?,
                    queues: queues
                        .split(',')
                        .filter(|q| !q.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            })
            .collect()
    }

    /// The stored visits of one call (for tools and tests).
    pub async fn visits_of_call(
        &self,
        call_id: &str,
    ) -> Result<Vec<crate::record::QueueVisit>, TicketError> {
        let sql =
            format!("SELECT {VISIT_COLUMNS} FROM queue_visits WHERE call_id = $1 ORDER BY seq");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(visit_from_row).collect()
    }

    /// Whether this store is PostgreSQL (some tests and tools say which backend they measured).
    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }
}

/// The time-weighted mean of logged-in seats serving `queue` per interval, from a presence history (as
/// [`Store::presence_history`] returns it: the state at `from`, then the changes).
pub fn logged_in_per_interval(
    history: &[PresenceRow],
    queue: &str,
    from_ms: i64,
    to_ms: i64,
    interval_ms: i64,
) -> Vec<f64> {
    let n = (((to_ms - from_ms).max(0) + interval_ms - 1) / interval_ms.max(1)) as usize;
    let mut acc = vec![0.0f64; n];
    let mut on: std::collections::BTreeMap<&str, bool> = std::collections::BTreeMap::new();
    let serving =
        |r: &PresenceRow| r.presence != "logged_out" && r.queues.iter().any(|q| q == queue);
    let mut t = from_ms;
    let count = |t0: i64, t1: i64, k: usize, acc: &mut Vec<f64>| {
        // Spread k seats over [t0, t1) across the intervals it covers.
        let mut a = t0;
        while a < t1 {
            let i = ((a - from_ms) / interval_ms) as usize;
            let end = (from_ms + (i as i64 + 1) * interval_ms).min(t1);
            if let Some(x) = acc.get_mut(i) {
                *x += k as f64 * (end - a) as f64;
            }
            a = end;
        }
    };
    let mut sorted: Vec<&PresenceRow> = history.iter().collect();
    sorted.sort_by_key(|r| r.changed_at_ms);
    for r in sorted {
        let at = r.changed_at_ms.clamp(from_ms, to_ms);
        let k = on.values().filter(|v| **v).count();
        count(t, at, k, &mut acc);
        t = at;
        on.insert(r.seat.as_str(), serving(r));
    }
    let k = on.values().filter(|v| **v).count();
    count(t, to_ms, k, &mut acc);
    acc.iter()
        .enumerate()
        .map(|(i, x)| {
            let start = from_ms + i as i64 * interval_ms;
            let len = (to_ms.min(start + interval_ms) - start).max(1);
            x / len as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seat: &str, at: i64, presence: &str, queues: &[&str]) -> PresenceRow {
        PresenceRow {
            seat: seat.into(),
            operator: None,
            presence: presence.into(),
            reason: None,
            held_out: false,
            changed_at_ms: at,
            queues: queues.iter().map(|q| q.to_string()).collect(),
        }
    }

    #[test]
    fn logged_in_seats_are_averaged_over_each_interval() {
        let h = [
            // Before the window: 1001 logged in for general.
            row("1001", -5, "ready", &["general"]),
            // 1002 logs in half way through the first interval, not ready counts as logged in.
            row("1002", 50, "not_ready", &["general"]),
            // A seat of another queue never counts.
            row("2001", 0, "ready", &["ybj"]),
            // 1001 logs out at the start of the second interval.
            row("1001", 100, "logged_out", &["general"]),
        ];
        let got = logged_in_per_interval(&h, "general", 0, 200, 100);
        assert_eq!(got, [1.5, 1.0]);
        assert_eq!(
            logged_in_per_interval(&[], "general", 0, 200, 100),
            [0.0, 0.0]
        );
    }
}
