//! What the KPIs ([`crate::kpi`]) are computed from, fetched for a range.

use sqlx::Row;

use super::{Store, TICKET_COLUMNS};
use crate::callback::CallbackState;
use crate::deadline::{deadlines, ms_to_utc, DeadlineRules, WorkingClock};
use crate::kpi::{compute, CallCounts, KpiEvaluation, KpiReport, KpiTicket};
use crate::lifecycle::{Evaluation, EvaluationSource};
use crate::model::Status;
use crate::stats::TimeRange;
use crate::TicketError;

/// ` AND col >= $n AND col < $m` for the bounds present, numbering from `first`.
fn range_sql(col: &str, range: TimeRange, first: usize) -> (String, Vec<i64>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some(f) = range.from_ms {
        binds.push(f);
        sql += &format!(" AND {col} >= ${}", first + binds.len() - 1);
    }
    if let Some(t) = range.to_ms {
        binds.push(t);
        sql += &format!(" AND {col} < ${}", first + binds.len() - 1);
    }
    (sql, binds)
}

impl Store {
    /// The KPI report over `range` (see [`crate::kpi`] for what each figure counts). `rules` and `clock` give
    /// the closing deadlines; `now_ms` decides which open tickets are overdue.
    pub async fn kpi(
        &self,
        range: TimeRange,
        rules: &DeadlineRules,
        clock: &dyn WorkingClock,
        now_ms: i64,
    ) -> Result<KpiReport, TicketError> {
        let (w, b) = range_sql("started_at_ms", range, 1);
        let sql = format!(
            "SELECT COUNT(*) AS offered, COUNT(answered_at_ms) AS answered FROM call_records WHERE 1 = 1{w}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in b {
            q = q.bind(v);
        }
        let row = q.fetch_one(&self.pool).await?;
        let calls = CallCounts {
            offered: u64::try_from(row.try_get::<i64, _>("offered")?).unwrap_or(0),
            answered: u64::try_from(row.try_get::<i64, _>("answered")?).unwrap_or(0),
        };

        let (w, b) = range_sql("accepted_at_ms", range, 1);
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1{w} ORDER BY accepted_at_ms, id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in b {
            q = q.bind(v);
        }
        let mut tickets = Vec::new();
        for r in q.fetch_all(&self.pool).await? {
            let t = super::ticket_from_row(&r, Vec::new())?;
            // The yellow share does not matter for the due time.
            let d = deadlines(clock, rules, 0.0, t.deadline_input(), ms_to_utc(now_ms));
            tickets.push(KpiTicket {
                id: t.id,
                department: t.department,
                status: t.status,
                closed_at_ms: t.closed_at_ms,
                close_due_ms: d.close_due.timestamp_millis(),
                reopened: t.lifecycle.reopened,
                not_accepted: t.lifecycle.not_accepted,
            });
        }

        let (w, b) = range_sql("e.at_ms", range, 1);
        let sql = format!(
            "SELECT e.ticket_id, e.source, e.evaluation, e.at_ms, t.department, t.status \
             FROM evaluations e JOIN tickets t ON t.id = e.ticket_id WHERE 1 = 1{w} ORDER BY e.id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in b {
            q = q.bind(v);
        }
        let mut evaluations = Vec::new();
        for r in q.fetch_all(&self.pool).await? {
            let source: String = r.try_get("source")?;
            let evaluation: String = r.try_get("evaluation")?;
            let status: String = r.try_get("status")?;
            evaluations.push(KpiEvaluation {
                ticket_id: r.try_get("ticket_id")?,
                department: r.try_get("department")?,
                source: EvaluationSource::parse(&source)
                    .ok_or_else(|| TicketError::Corrupt(format!("evaluation source {source:?}")))?,
                evaluation: Evaluation::parse(&evaluation)
                    .ok_or_else(|| TicketError::Corrupt(format!("evaluation {evaluation:?}")))?,
                at_ms: r.try_get("at_ms")?,
                not_accepted: status == Status::NotAccepted.as_str(),
            });
        }

        let (w, b) = range_sql("created_at_ms", range, 1);
        let sql = format!("SELECT state FROM callbacks WHERE 1 = 1{w}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in b {
            q = q.bind(v);
        }
        let mut callbacks = Vec::new();
        for r in q.fetch_all(&self.pool).await? {
            let s: String = r.try_get("state")?;
            callbacks.push(
                CallbackState::parse(&s)
                    .ok_or_else(|| TicketError::Corrupt(format!("callback state {s:?}")))?,
            );
        }
        Ok(compute(calls, &tickets, &evaluations, &callbacks, now_ms))
    }
}
