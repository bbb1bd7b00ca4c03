//! Feature codes an operator dials from the softphone (`*21` log in / ready, `*22` + digit not ready, `*23`
//! log out, `*24` end wrap-up; `[acd.codes]`): the INVITE is digest-authenticated as the seat, the ACD carries
//! the request out (`acd::FeatureCodes`, `acd::Acd::act`), and a short answered call (`call::Plan::Announce`)
//! confirms it with a prompt and hangs up.

use crate::clock::Clock;
use crate::env::CallEnv;
use crate::intake::{self, CallStart};
use crate::metrics_names as m;
use crate::respond::reply;
use acd::AgentAction;
use call::Plan;
use sip::endpoint::Incoming;
use std::sync::Arc;
use tracing::info;

/// Is this INVITE a feature code (its Request-URI user starts with one)?
pub fn wants(env: &CallEnv, inc: &Incoming) -> bool {
    inc.msg
        .request_uri()
        .and_then(|u| u.user.as_deref())
        .is_some_and(|user| env.features.is_feature(user))
}

pub fn start(env: &Arc<CallEnv>, inc: Incoming) {
    if let Err(e) = inc.msg.validate_request() {
        return reply(&inc.tx, &inc.msg, e.status, &e.reason, &[]);
    }
    // Only a seat may ask, as itself (407 until it proves it, as for its consult calls).
    let Some(seat) = env
        .seats
        .authenticate(&inc.msg, inc.source, inc.transport, &inc.tx)
    else {
        return;
    };
    let Incoming {
        msg,
        source,
        transport,
        tx,
        ..
    } = inc;
    let Some(invite_tx) = tx else { return };
    let dialled = intake::route_parts(&msg, false).0;
    let action = env.features.parse(&dialled);
    let env = env.clone();
    tokio::spawn(async move {
        let outcome = match &action {
            Some(a) => env.acd.act(&seat, a.clone()).await,
            None => None,
        };
        let ok = matches!(outcome, Some(Ok(_)));
        let name = action.as_ref().map_or("unknown", AgentAction::name);
        info!(seat, dialled, action = name, ok, error = ?outcome.as_ref().and_then(|o| o.as_ref().err()).map(ToString::to_string), "feature code");
        let result = if ok { "ok" } else { "refused" };
        metrics::counter!(m::OPERATOR_ACTIONS, "action" => name, "result" => result).increment(1);
        let p = &env.plans.acd;
        let prompt = match (&action, ok) {
            (Some(AgentAction::Login { .. }), true) => p.logged_in.clone(),
            (Some(AgentAction::NotReady { .. }), true) => p.not_ready.clone(),
            (Some(AgentAction::Logout), true) => p.logged_out.clone(),
            (Some(AgentAction::EndWrapUp), true) => p.wrap_up_ended.clone(),
            _ => p.refused.clone(),
        };
        let decision = env.plans.live.route(&dialplan::CallQuery {
            called: &dialled,
            diversion: None,
            caller: Some(&seat),
            at: chrono::Utc::now(),
            digits: "",
        });
        intake::spawn_call(
            &env,
            CallStart {
                msg,
                source,
                transport,
                invite_tx,
                plan: Plan::Announce { prompt },
                decision,
                caller: seat,
                called: dialled,
                diversion: None,
                wall_start_ms: Clock::wall_ms(),
            },
        );
    });
}
