//! The shell of the phone self-query: the call's [`call::Output::LookupTicket`] becomes a question to
//! the ticket store (off the call task, which keeps pumping media and SIP meanwhile), and the answer comes back
//! to the call's mailbox as [`call::Input::TicketLookedUp`]. What may be said and the access log are the
//! ticket crate's; nothing of that is decided here.

use crate::env::CallEnv;
use crate::mailbox::CallMsg;
use crate::plans::Plans;
use acd::CallKey;
use call::{Input, LookupAnswer, SelfQueryPolicy};
use std::sync::Arc;
use tracing::{info, warn};

/// Decode every word prompt now (no caller waits on a file read), and refuse to start when one is missing or
/// unplayable: a self-query that falls silent mid-sentence would mislead the caller.
pub fn load_prompts(plans: &Plans, policy: &SelfQueryPolicy) -> anyhow::Result<()> {
    let missing: Vec<String> = ticket::speech::VOCABULARY
        .iter()
        .map(|w| policy.prompt(w))
        .filter(|p| plans.prompt(p).is_none())
        .map(|p| p.to_string())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "[calls.self_query] prompts_dir: missing or unplayable prompts: {}",
            missing.join(", ")
        )
    }
}

/// Ask the ticket store about `number` for `caller` and hand the answer to call `key`.
pub fn lookup(
    env: &Arc<CallEnv>,
    key: CallKey,
    number: String,
    code: Option<String>,
    caller: String,
) {
    let env = env.clone();
    tokio::spawn(async move {
        let now_ms = crate::clock::Clock::wall_ms();
        let answer = match env
            .desk
            .ask(&number, &caller, code.as_deref(), now_ms)
            .await
        {
            Ok(Some(words)) => LookupAnswer::Progress {
                words: words.into_iter().map(str::to_string).collect(),
            },
            Ok(None) => LookupAnswer::NothingToSay,
            // The caller hears the neutral answer; the operators see the failure in the log.
            Err(e) => {
                warn!(error = %e, "self-query: the ticket store failed");
                LookupAnswer::NothingToSay
            }
        };
        info!(
            found = matches!(answer, LookupAnswer::Progress { .. }),
            "self-query answered"
        );
        // The caller may have hung up meanwhile: then there is nobody to tell.
        let _ = env
            .calls
            .send(key, CallMsg::Tickets(Input::TicketLookedUp { answer }));
    });
}
