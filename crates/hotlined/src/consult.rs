//! An INVITE from a seat's own softphone: the operator's consult call of an attended transfer (RFC 5589
//! §7). A PBX treats it as an internal call to the number dialled; here the number must be a transfer
//! target of the plan (a department number or its `transfer_code`, the same targets as `*2 N #`) — never
//! the citizen menu, never an outside number (no toll fraud through seats). The call is its own task with
//! `call::Plan::Consult`, attached to the call the seat talks in, which gets its attempt.
//!
//! Who may: the INVITE is digest-challenged with 407 (Proxy-Authenticate, RFC 3261 §22.3), with the seat's
//! password and the registrar's nonces and lockout, like its REGISTER. Trusting the source address of the
//! seat's current binding instead would be spoofable over UDP and ambiguous behind a NAT that several
//! seats share; digest costs the softphone one extra round trip per consult.
//!

use crate::call_task::{self, CallParts};
use crate::clock::Clock;
use crate::env::CallEnv;
use crate::intake::{caller_media, from_user, policy, replacing, valid};
use crate::legs::LegIo;
use crate::respond::reply;
use call::{Call, CallSetup, Plan, Router};
use dialplan::CallQuery;
use sip::endpoint::Incoming;
use sip::session::reason_phrase;
use std::sync::Arc;
use tracing::{info, info_span, Instrument};

/// A seat's INVITE: authenticate, route to a transfer target, then a consult call of its own.
pub fn start(env: &Arc<CallEnv>, inc: Incoming) {
    let Incoming {
        msg,
        source,
        transport,
        tx,
        ..
    } = inc;
    let Some(invite_tx) = tx.clone() else { return };
    if !valid(&msg, &tx) {
        return;
    }
    let Some(seat) = env.seats.authenticate(&msg, source, transport, &tx) else {
        info!(source = %source, call_id = msg.call_id(), "seat INVITE challenged or refused");
        return;
    };
    if msg.header("replaces").is_some() {
        let inc = Incoming {
            msg,
            source,
            transport,
            tx,
            cancels: None,
        };
        return replacing(env, inc);
    }
    if env
        .admission
        .admit_seat(env.calls.active(), env.clock.instant())
        .is_err()
    {
        let retry = env.cfg.calls.retry_after_s.to_string();
        return reply(
            &tx,
            &msg,
            503,
            "Service Unavailable",
            &[("Retry-After", &retry)],
        );
    }
    let dialled = msg
        .request_uri()
        .and_then(|u| u.user.clone())
        .unwrap_or_default();
    let Some(dest) = Router::transfer_target(env.plans.live.as_ref(), &dialled) else {
        info!(
            seat,
            dialled, "consult call to a number that is no transfer target: 404"
        );
        return reply(&tx, &msg, 404, reason_phrase(404), &[]);
    };
    let Some(parent) = env.calls.serving(&seat) else {
        // A consult is for a caller; with none there is no call to record it on or transfer.
        info!(
            seat,
            dialled, "consult call from a seat that talks in no call: 403"
        );
        return reply(&tx, &msg, 403, "No Call To Transfer", &[]);
    };
    let wall_start_ms = Clock::wall_ms();
    let decision = env.plans.live.route(&CallQuery {
        called: &dialled,
        diversion: None,
        caller: Some(&seat),
        at: chrono::DateTime::from_timestamp_millis(wall_start_ms).unwrap_or_default(),
        digits: "",
    });
    let call_id = msg.call_id().to_string();
    let (key, rx) = env.calls.open(&call_id);
    let span = info_span!("consult", call_id = %call_id, key);
    info!(parent: &span, seat, dialled, department = ?dest.department, for_call = parent, "consult call");
    let env = env.clone();
    tokio::spawn(
        async move {
            let media = match caller_media(&env, &msg).await {
                Ok(m) => m,
                Err((status, reason)) => {
                    env.calls.close(key, [call_id.as_str()]);
                    return reply(&tx, &msg, status, reason, &[]);
                }
            };
            let setup = CallSetup {
                call_id,
                caller: seat.clone(),
                called: dialled,
                original_called: None,
                wall_start_ms,
                decision,
                router: env.plans.live.clone(),
            };
            let now = env.clock.now_ms();
            let plan = Plan::Consult { seat, dest };
            let (call, outputs) = Call::with_plan(setup, policy(&env), plan, now);
            let from_user = from_user(&msg);
            let invite_tx_id = invite_tx.id();
            let codec = media
                .neg
                .as_ref()
                .map_or(crate::legs::DELAYED_OFFER_CODECS[0], |n| n.codec);
            let leg_media = Some((media.leg, media.session, media.neg));
            let caller = LegIo::caller(&env, msg, invite_tx, source, transport, leg_media, now);
            let parts = CallParts {
                key,
                rx,
                caller,
                invite_tx: invite_tx_id,
                caller_answer: Some(media.answer),
                caller_codec: codec,
                from_user,
                parent: Some(parent),
            };
            call_task::run(env, call, outputs, parts).await;
        }
        .instrument(span),
    );
}
