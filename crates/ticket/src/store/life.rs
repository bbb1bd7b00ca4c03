//! Storage of the later life of tickets: the lifecycle columns, repeated requests and survey evaluations
//! . Same Any-driver rules as the parent module.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    fetch_ticket, insert_history, insert_ticket, write_action, Store, Ticket, TicketInput,
};
use crate::deadline::DeadlineInput;
use crate::lifecycle::{Evaluation, EvaluationSource, Lifecycle, NotAcceptedReason};
use crate::model::{Action, Status};
use crate::repeat::{matter_key, merge_target, OpenMatter, RepeatRules};
use crate::TicketError;

fn corrupt(what: &str, v: &str) -> TicketError {
    TicketError::Corrupt(format!("{what} {v:?}"))
}

fn u32_col(r: &AnyRow, col: &str) -> Result<u32, TicketError> {
    let v: i64 = r.try_get(col)?;
    u32::try_from(v).map_err(|_| corrupt(col, &v.to_string()))
}

pub(super) fn lifecycle_from_row(r: &AnyRow) -> Result<Lifecycle, TicketError> {
    let returned_from: Option<String> = r.try_get("returned_from")?;
    let pending: Option<i64> = r.try_get("extension_pending")?;
    let reason: Option<String> = r.try_get("not_accepted_reason")?;
    Ok(Lifecycle {
        returned_from: returned_from
            .map(|s| Status::parse(&s).ok_or_else(|| corrupt("returned_from", &s)))
            .transpose()?,
        extension_days: u32_col(r, "extension_days")?,
        extension_pending: pending
            .map(|v| u32::try_from(v).map_err(|_| corrupt("extension_pending", &v.to_string())))
            .transpose()?,
        reopened: u32_col(r, "reopened")?,
        reopened_at_ms: r.try_get("reopened_at_ms")?,
        not_accepted: reason
            .map(|s| NotAcceptedReason::parse(&s).ok_or_else(|| corrupt("not_accepted_reason", &s)))
            .transpose()?,
    })
}

impl Ticket {
    /// What the deadlines are computed from, extensions and re-handling included.
    pub fn deadline_input(&self) -> DeadlineInput {
        DeadlineInput {
            category: self.category,
            accepted_at_ms: self.accepted_at_ms,
            dispatched_at_ms: self.dispatched_at_ms,
            signed_at_ms: self.signed_at_ms,
            closed_at_ms: self.closed_at_ms,
            extension_days: self.lifecycle.extension_days,
            restarted_at_ms: self.lifecycle.reopened_at_ms,
        }
    }
}

/// A request as the operator (or a web form) takes it: the ticket it would open, and the address/keywords
/// field repeats are recognised by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInput {
    pub ticket: TicketInput,
    /// Address and/or keywords, free text; normalised by [`crate::repeat::normalise`].
    pub matter: String,
}

/// What [`Store::accept_request`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum AcceptedRequest {
    /// A new ticket.
    New { ticket: Ticket, flagged: bool },
    /// Merged into the caller's open ticket about the matter (重复诉求并单); `requests` counts them all.
    Merged {
        ticket: Ticket,
        requests: u64,
        flagged: bool,
    },
}

impl AcceptedRequest {
    pub fn ticket(&self) -> &Ticket {
        match self {
            AcceptedRequest::New { ticket, .. } | AcceptedRequest::Merged { ticket, .. } => ticket,
        }
    }

    /// Put on the supervision list by the unreasonable-repeat rule (now or before).
    pub fn flagged(&self) -> bool {
        match self {
            AcceptedRequest::New { flagged, .. } | AcceptedRequest::Merged { flagged, .. } => {
                *flagged
            }
        }
    }
}

/// One request a ticket stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRow {
    pub ticket_id: String,
    pub caller: String,
    pub matter: String,
    pub at_ms: i64,
    pub call_id: Option<String>,
    pub text: String,
    /// A repeat merged into the ticket (false for the request that opened it).
    pub merged: bool,
}

/// A ticket on the supervision list for unreasonable repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepeatFlag {
    pub ticket_id: String,
    pub flagged_at_ms: i64,
    /// Requests in the rule's window when it was flagged.
    pub requests: i64,
}

/// One survey answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvaluationRow {
    pub ticket_id: String,
    pub call_id: Option<String>,
    pub source: EvaluationSource,
    pub evaluation: Evaluation,
    pub at_ms: i64,
}

impl Store {
    /// Take a request: merged into the caller's open ticket about the same matter within the rules'
    /// window (the request is stored on it, its call linked to it, a `merge_repeat` history row written), else a
    /// new ticket. Then the unreasonable-repeat rule: N requests in M days flag the ticket for supervision
    /// (`flag_repeat` in its history, listed by [`Store::repeat_flags`]). One transaction.
    pub async fn accept_request(
        &self,
        input: &RequestInput,
        rules: &RepeatRules,
        actor: &str,
        now_ms: i64,
    ) -> Result<AcceptedRequest, TicketError> {
        let t = &input.ticket;
        let at_ms = t.accepted_at_ms;
        let key = matter_key(t.category, &t.department, &input.matter);
        let mut tx = self.begin_write().await?;
        let Some(caller) = t.caller.as_deref().filter(|c| !c.trim().is_empty()) else {
            let ticket = insert_ticket(&mut tx, t, actor, now_ms).await?;
            tx.commit().await?;
            return Ok(AcceptedRequest::New {
                ticket,
                flagged: false,
            });
        };
        let rows = sqlx::query(
            "SELECT r.ticket_id, r.at_ms, t.status FROM ticket_requests r JOIN tickets t ON t.id = r.ticket_id \
             WHERE r.caller = $1 AND r.matter = $2 AND r.merged = 0 ORDER BY r.at_ms, r.ticket_id",
        )
        .bind(caller)
        .bind(key.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut open = Vec::new();
        for r in &rows {
            let status: String = r.try_get("status")?;
            let status = Status::parse(&status).ok_or_else(|| corrupt("status", &status))?;
            if status.is_open() {
                open.push(OpenMatter {
                    ticket_id: r.try_get("ticket_id")?,
                    first_at_ms: r.try_get("at_ms")?,
                });
            }
        }
        let target = merge_target(rules, &open, at_ms).map(|m| m.ticket_id.clone());
        let (ticket_id, merged) = match target {
            Some(id) => (id, true),
            None => (insert_ticket(&mut tx, t, actor, now_ms).await?.id, false),
        };
        sqlx::query(
            "INSERT INTO ticket_requests (ticket_id, caller, matter, at_ms, call_id, text, merged) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ticket_id.as_str())
        .bind(caller)
        .bind(key.as_str())
        .bind(at_ms)
        .bind(t.call_id.as_deref())
        .bind(t.text.as_str())
        .bind(i64::from(merged))
        .execute(&mut *tx)
        .await?;
        let Some(mut ticket) = fetch_ticket(&mut tx, &ticket_id).await? else {
            return Err(TicketError::NotFound(ticket_id));
        };
        if merged {
            if let Some(call_id) = &t.call_id {
                sqlx::query(
                    "INSERT INTO ticket_calls (ticket_id, call_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(ticket_id.as_str())
                .bind(call_id.as_str())
                .execute(&mut *tx)
                .await?;
                apply_recorded_survey(&mut tx, call_id).await?;
            }
            sqlx::query(
                "UPDATE tickets SET updated_at_ms = $1, version = version + 1 WHERE id = $2",
            )
            .bind(now_ms)
            .bind(ticket_id.as_str())
            .execute(&mut *tx)
            .await?;
            let note = match &t.call_id {
                Some(c) => format!("call={c}: {}", t.text),
                None => t.text.clone(),
            };
            let s = ticket.status.as_str();
            insert_history(
                &mut tx,
                &ticket_id,
                now_ms,
                actor,
                "merge_repeat",
                Some(s),
                s,
                &note,
            )
            .await?;
        }
        let requests: i64 = sqlx::query(
            "SELECT COUNT(*) FROM ticket_requests WHERE caller = $1 AND matter = $2 AND at_ms >= $3 AND at_ms <= $4",
        )
        .bind(caller)
        .bind(key.as_str())
        .bind(rules.unreasonable_since(at_ms))
        .bind(at_ms)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let requests = u64::try_from(requests).unwrap_or(0);
        let already: Option<i64> =
            sqlx::query("SELECT flagged_at_ms FROM repeat_flags WHERE ticket_id = $1")
                .bind(ticket_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let mut flagged = already.is_some();
        if !flagged && rules.is_unreasonable(requests) {
            sqlx::query(
                "INSERT INTO repeat_flags (ticket_id, flagged_at_ms, requests) VALUES ($1, $2, $3)",
            )
            .bind(ticket_id.as_str())
            .bind(now_ms)
            .bind(requests as i64)
            .execute(&mut *tx)
            .await?;
            let s = ticket.status.as_str();
            let note = format!(
                "{requests} requests in {} days (rule: {})",
                rules.unreasonable.within_days, rules.unreasonable.requests
            );
            insert_history(
                &mut tx,
                &ticket_id,
                now_ms,
                "system",
                "flag_repeat",
                Some(s),
                s,
                &note,
            )
            .await?;
            flagged = true;
        }
        if merged {
            ticket = fetch_ticket(&mut tx, &ticket_id)
                .await?
                .ok_or_else(|| TicketError::NotFound(ticket_id.clone()))?;
        }
        tx.commit().await?;
        Ok(if merged {
            AcceptedRequest::Merged {
                ticket,
                requests: u64::try_from(self.count_requests(&ticket_id).await?).unwrap_or(0),
                flagged,
            }
        } else {
            AcceptedRequest::New { ticket, flagged }
        })
    }

    async fn count_requests(&self, ticket_id: &str) -> Result<i64, TicketError> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM ticket_requests WHERE ticket_id = $1")
                .bind(ticket_id)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// The requests a ticket stands for, first the one that opened it, then the repeats, in order.
    pub async fn ticket_requests(&self, ticket_id: &str) -> Result<Vec<RequestRow>, TicketError> {
        let rows = sqlx::query(
            "SELECT ticket_id, caller, matter, at_ms, call_id, text, merged FROM ticket_requests \
             WHERE ticket_id = $1 ORDER BY merged, at_ms, id",
        )
        .bind(ticket_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RequestRow {
                    ticket_id: r.try_get("ticket_id")?,
                    caller: r.try_get("caller")?,
                    matter: r.try_get("matter")?,
                    at_ms: r.try_get("at_ms")?,
                    call_id: r.try_get("call_id")?,
                    text: r.try_get("text")?,
                    merged: r.try_get::<i64, _>("merged")? != 0,
                })
            })
            .collect()
    }

    /// The tickets a call belongs to (the one it opened, or the one it was merged into as a repeat).
    pub async fn tickets_of_call(&self, call_id: &str) -> Result<Vec<String>, TicketError> {
        let rows =
            sqlx::query("SELECT ticket_id FROM ticket_calls WHERE call_id = $1 ORDER BY ticket_id")
                .bind(call_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The supervision list of unreasonable repeats, oldest flag first.
    pub async fn repeat_flags(&self) -> Result<Vec<RepeatFlag>, TicketError> {
        let rows = sqlx::query(
            "SELECT ticket_id, flagged_at_ms, requests FROM repeat_flags ORDER BY flagged_at_ms, ticket_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RepeatFlag {
                    ticket_id: r.try_get("ticket_id")?,
                    flagged_at_ms: r.try_get("flagged_at_ms")?,
                    requests: r.try_get("requests")?,
                })
            })
            .collect()
    }

    /// Store a survey answer for a ticket (the daemon: the key after the operator hung up, or on a call-back;
    /// [`Evaluation::from_key`] maps the key). A call-back answer also moves the ticket through the state machine
    /// when it can: `closed` → `called_back` (reached), then `evaluated` with the rating when one was given. One
    /// transaction.
    pub async fn record_evaluation(
        &self,
        ticket_id: &str,
        call_id: Option<&str>,
        source: EvaluationSource,
        evaluation: Evaluation,
        now_ms: i64,
    ) -> Result<Ticket, TicketError> {
        let mut tx = self.begin_write().await?;
        let t =
            record_evaluation_in(&mut tx, ticket_id, call_id, source, evaluation, now_ms).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// A ticket's survey answers in order.
    pub async fn evaluations(&self, ticket_id: &str) -> Result<Vec<EvaluationRow>, TicketError> {
        let rows = sqlx::query(
            "SELECT ticket_id, call_id, source, evaluation, at_ms FROM evaluations WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(evaluation_from_row).collect()
    }
}

/// [`Store::record_evaluation`] inside the caller's transaction.
pub(super) async fn record_evaluation_in(
    conn: &mut sqlx::AnyConnection,
    ticket_id: &str,
    call_id: Option<&str>,
    source: EvaluationSource,
    evaluation: Evaluation,
    now_ms: i64,
) -> Result<Ticket, TicketError> {
    let Some(mut t) = fetch_ticket(conn, ticket_id).await? else {
        return Err(TicketError::NotFound(ticket_id.to_string()));
    };
    sqlx::query(
        "INSERT INTO evaluations (ticket_id, call_id, source, evaluation, at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ticket_id)
    .bind(call_id)
    .bind(source.as_str())
    .bind(evaluation.as_str())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    if source == EvaluationSource::CallBack {
        if t.status == Status::Closed {
            t = write_action(
                conn,
                &t,
                &Action::CallBack { reached: true },
                "survey",
                now_ms,
            )
            .await?;
        }
        if let (Status::CalledBack, Some(satisfaction)) = (t.status, evaluation.satisfaction()) {
            t = write_action(
                conn,
                &t,
                &Action::Evaluate { satisfaction },
                "survey",
                now_ms,
            )
            .await?;
        }
    }
    Ok(t)
}

fn evaluation_from_row(r: &AnyRow) -> Result<EvaluationRow, TicketError> {
    let source: String = r.try_get("source")?;
    let evaluation: String = r.try_get("evaluation")?;
    Ok(EvaluationRow {
        ticket_id: r.try_get("ticket_id")?,
        call_id: r.try_get("call_id")?,
        source: EvaluationSource::parse(&source)
            .ok_or_else(|| corrupt("evaluation source", &source))?,
        evaluation: Evaluation::parse(&evaluation)
            .ok_or_else(|| corrupt("evaluation", &evaluation))?,
        at_ms: r.try_get("at_ms")?,
    })
}

/// The survey columns of a `call_records` row: answered when `survey_at_ms` is set (the key may be NULL).
pub(super) fn survey_from_row(r: &AnyRow) -> Result<Option<record::Survey>, TicketError> {
    let at_ms: Option<i64> = r.try_get("survey_at_ms")?;
    let key: Option<String> = r.try_get("survey_key")?;
    Ok(at_ms.map(|at_ms| record::Survey {
        key: key.and_then(|k| k.chars().next()),
        at_ms,
    }))
}

/// Store a call's survey answer as the after-call evaluation of every ticket the call belongs to that does not
/// have it yet (idempotent: a record replayed from the spool, or a second ticket linked later, adds no copy).
pub(super) async fn apply_call_survey(
    conn: &mut sqlx::AnyConnection,
    call_id: &str,
    survey: record::Survey,
) -> Result<(), TicketError> {
    let evaluation = Evaluation::from_key(survey.key);
    sqlx::query(
        "INSERT INTO evaluations (ticket_id, call_id, source, evaluation, at_ms) \
         SELECT tc.ticket_id, tc.call_id, $1, $2, $3 FROM ticket_calls tc WHERE tc.call_id = $4 \
         AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.ticket_id = tc.ticket_id \
         AND e.call_id = tc.call_id AND e.source = $1)",
    )
    .bind(EvaluationSource::AfterCall.as_str())
    .bind(evaluation.as_str())
    .bind(survey.at_ms)
    .bind(call_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// [`apply_call_survey`] with the answer stored in the call's record, if the record is there and has one.
pub(super) async fn apply_recorded_survey(
    conn: &mut sqlx::AnyConnection,
    call_id: &str,
) -> Result<(), TicketError> {
    let row = sqlx::query("SELECT survey_key, survey_at_ms FROM call_records WHERE call_id = $1")
        .bind(call_id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(survey) = row.as_ref().map(survey_from_row).transpose()?.flatten() {
        apply_call_survey(conn, call_id, survey).await?;
    }
    Ok(())
}
