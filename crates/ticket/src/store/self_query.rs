//! The ticket side of the progress self-query by phone (办理进度自助查询, R-28): short ticket numbers with
//! query codes, and an answer that never discloses another person's request. Every query, answered or
//! not, is in the access log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use subtle::ConstantTimeEq;

use super::Store;
use crate::deadline::{deadlines, ms_to_utc, DeadlineRules, Light, WorkingClock};
use crate::mask::mask_phone;
use crate::model::Status;
use crate::TicketError;

/// What a caller may learn about a ticket by phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub number: i64,
    pub status: Status,
    pub close_due: DateTime<Utc>,
    pub light: Light,
}

/// The answer to a self-query. A wrong number, a wrong code and a ticket that does not exist answer alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SelfQuery {
    Progress(Progress),
    NothingToSay,
}

/// A ticket's phone number and query code (for the operator to read out, or to print on the ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketNumber {
    pub number: i64,
    pub query_code: String,
}

fn new_query_code() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % 1_000_000;
    format!("{n:06}")
}

impl Store {
    /// The ticket's short number and query code, assigned on first use (idempotent).
    pub async fn ticket_number(&self, ticket_id: &str) -> Result<TicketNumber, TicketError> {
        sqlx::query(
            "INSERT INTO ticket_numbers (ticket_id, query_code) SELECT id, $2 FROM tickets WHERE id = $1 \
             ON CONFLICT (ticket_id) DO NOTHING",
        )
        .bind(ticket_id)
        .bind(new_query_code())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT number, query_code FROM ticket_numbers WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| TicketError::NotFound(ticket_id.to_string()))?;
        Ok(TicketNumber {
            number: row.try_get("number")?,
            query_code: row.try_get("query_code")?,
        })
    }

    /// A caller keyed `number` (and maybe a query code) from `caller`: the ticket's state and due date when
    /// the caller filed it or the code matches, else nothing. Logged under `self-query:<masked caller>`, with
    /// `denied` when nothing was said.
    pub async fn self_query(
        &self,
        number: i64,
        caller: &str,
        query_code: Option<&str>,
        rules: &DeadlineRules,
        clock: &dyn WorkingClock,
        now_ms: i64,
    ) -> Result<SelfQuery, TicketError> {
        let row = sqlx::query(
            "SELECT n.ticket_id, n.query_code, t.caller FROM ticket_numbers n JOIN tickets t ON t.id = n.ticket_id \
             WHERE n.number = $1",
        )
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        let actor = format!("self-query:{}", mask_phone(caller));
        let what = format!("self-query ticket number {number}");
        let mut found = None;
        if let Some(r) = row {
            let ticket_id: String = r.try_get("ticket_id")?;
            let code: String = r.try_get("query_code")?;
            let owner: Option<String> = r.try_get("caller")?;
            let by_caller = owner.as_deref().is_some_and(|o| {
                !caller.is_empty() && bool::from(o.as_bytes().ct_eq(caller.as_bytes()))
            });
            let by_code =
                query_code.is_some_and(|c| bool::from(c.as_bytes().ct_eq(code.as_bytes())));
            if by_caller || by_code {
                found = Some(ticket_id);
            }
        }
        let Some(ticket_id) = found else {
            self.log_refused(&actor, "", &what, now_ms).await?;
            return Ok(SelfQuery::NothingToSay);
        };
        self.log_access(&actor, &ticket_id, &what, now_ms).await?;
        let t = self
            .ticket(&ticket_id)
            .await?
            .ok_or_else(|| TicketError::NotFound(ticket_id.clone()))?;
        let d = deadlines(clock, rules, 0.2, t.deadline_input(), ms_to_utc(now_ms));
        Ok(SelfQuery::Progress(Progress {
            number,
            status: t.status,
            close_due: d.close_due,
            light: d.light,
        }))
    }
}
