//! The ticket side of the phone self-query, for the call path: one cheap handle that asks the store (which
//! decides what may be said, R-30, and logs every query) and turns the answer into words ([`crate::speech`]).

use std::sync::Arc;

use chrono_tz::Tz;

use crate::speech::progress_words;
use crate::store::SelfQuery;
use crate::{Shared, TicketError};

/// Cheap to clone; give it to the call path.
#[derive(Clone)]
pub struct SelfQueryDesk {
    pub(crate) shared: Arc<Shared>,
    /// The center's zone: due dates are read as its calendar dates.
    pub(crate) tz: Tz,
}

impl SelfQueryDesk {
    /// A caller keyed ticket `number` (digits) and maybe a query code: the words to read back, or None —
    /// unknown ticket, another caller's without the right code, or a number that is no ticket number at all,
    /// all alike. Logged in the access log either way.
    pub async fn ask(
        &self,
        number: &str,
        caller: &str,
        code: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<Vec<&'static str>>, TicketError> {
        // ≤ 12 keyed digits always parse; anything else is asked as a number no ticket has.
        let number: i64 = number.parse().unwrap_or(-1);
        let s = &self.shared;
        let answer = s
            .store
            .self_query(
                number,
                caller,
                code,
                &s.cfg.deadlines,
                s.clock.as_ref(),
                now_ms,
            )
            .await?;
        Ok(match answer {
            SelfQuery::Progress(p) => Some(progress_words(p.status, p.close_due, self.tz)),
            SelfQuery::NothingToSay => None,
        })
    }
}
