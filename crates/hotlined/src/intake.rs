//! A new INVITE: admission, validation, what the dial plan needs to know of it, its routing and the
//! caller's media; then the call's own task (`call_task`).

use crate::admission::Refusal;
use crate::call_task::{self, CallParts};
use crate::clock::Clock;
use crate::env::CallEnv;
use crate::legs::LegIo;
use crate::mailbox::CallMsg;
use crate::metrics_names as m;
use crate::respond::reply;
use call::{Call, CallPolicy, CallSetup, Plan};
use dialplan::{CallQuery, Decision};
use media::sdp::{self, Codec, Direction, SdpSession};
use media::{MediaLeg, Negotiated};
use sip::endpoint::{Incoming, ServerTx, TransportKind};
use sip::session::reason_phrase;
use sip::{Replaces, SipMessage, Uri};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::{info, info_span, warn, Instrument};

/// A new INVITE (no To tag): admission, validation, routing, then a task of its own.
pub fn start(env: &Arc<CallEnv>, inc: Incoming) {
    let Some(inc) = check_incoming(env, inc) else {
        return;
    };
    if inc.msg.header("replaces").is_some() {
        return replacing(env, inc);
    }
    let Incoming {
        msg,
        source,
        transport,
        tx,
        ..
    } = inc;
    let Some(invite_tx) = tx else { return };

    let (called, caller, diversion) = route_parts(&msg, env.admission.is_trunk(source.ip()));
    let wall_start_ms = Clock::wall_ms();
    let decision = env.plans.live.route(&CallQuery {
        called: &called,
        diversion: diversion.as_deref(),
        caller: Some(&caller),
        at: chrono::DateTime::from_timestamp_millis(wall_start_ms).unwrap_or_default(),
        digits: "",
    });
    let plan = call::plan_for(&decision, env.plans.hold.clone());
    // The plan routes on the real number; a caller who asked for privacy is kept masked.
    let caller = if privacy_requested(&msg) {
        mask(&caller)
    } else {
        caller
    };
    spawn_call(
        env,
        CallStart {
            msg,
            source,
            transport,
            invite_tx,
            plan,
            decision,
            caller,
            called,
            diversion,
            wall_start_ms,
        },
    );
}

/// An admitted INVITE and what was decided for it.
pub struct CallStart {
    pub msg: SipMessage,
    pub source: SocketAddr,
    pub transport: TransportKind,
    pub invite_tx: ServerTx,
    pub plan: Plan,
    pub decision: Decision,
    pub caller: String,
    pub called: String,
    pub diversion: Option<String>,
    pub wall_start_ms: i64,
}

/// The call's own task: the caller's media and SDP (an offer we cannot serve gets 488), then the call.
pub fn spawn_call(env: &Arc<CallEnv>, start: CallStart) {
    let CallStart {
        msg,
        source,
        transport,
        invite_tx,
        mut plan,
        decision,
        caller,
        called,
        diversion,
        wall_start_ms,
    } = start;
    let call_id = msg.call_id().to_string();
    let (key, rx) = env.calls.open(&call_id);
    let span = info_span!("call", call_id = %call_id, key);
    let mode = if matches!(plan, Plan::Announce { .. }) {
        info!(parent: &span, seat = %caller, dialled = %called, "feature code");
        "feature"
    } else {
        info!(parent: &span, caller = %mask(&caller), called = %called, original = ?diversion,
            mode = ?decision.mode, action = ?decision.action, reason = %decision.reason, "new call");
        decision.mode.as_str()
    };
    env.stats.calls_started.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::CALLS_STARTED, "mode" => mode).increment(1);
    let env = env.clone();
    tokio::spawn(
        async move {
            // Media and SDP before anything is answered: an offer we cannot serve gets 488 now.
            let mut media = None;
            let mut caller_answer = None;
            let mut caller_codec = Codec::Pcmu;
            let mut delayed = false;
            if !matches!(plan, Plan::Reject { .. }) {
                match caller_media(&env, &msg).await {
                    Ok(m) => {
                        delayed = m.delayed();
                        caller_codec = m
                            .neg
                            .as_ref()
                            .map_or(crate::legs::DELAYED_OFFER_CODECS[0], |n| n.codec);
                        caller_answer = Some(m.answer);
                        media = Some((m.leg, m.session, m.neg));
                    }
                    Err((status, reason)) => {
                        plan = Plan::Reject {
                            status,
                            reason: reason.into(),
                        }
                    }
                }
            }
            let mut policy = policy(&env);
            if delayed {
                // Early media needs the caller's SDP, which only its ACK will bring.
                policy.answer_before_queue = true;
                info!("delayed offer: our offer in the 200, the answer due in the ACK");
            }
            let setup = CallSetup {
                call_id,
                caller,
                called,
                original_called: diversion,
                wall_start_ms,
                decision,
                router: env.plans.live.clone(),
            };
            let now = env.clock.now_ms();
            let (call, outputs) = Call::with_plan(setup, policy, plan, now);
            // Seats see a caller who asked for privacy as anonymous (RFC 3323 §4.1.1.3).
            let from_user = if privacy_requested(&msg) {
                "anonymous".to_string()
            } else {
                from_user(&msg)
            };
            let invite_tx_id = invite_tx.id();
            let caller = LegIo::caller(&env, msg, invite_tx, source, transport, media, now);
            let parts = CallParts {
                key,
                rx,
                caller,
                invite_tx: invite_tx_id,
                caller_answer,
                caller_codec,
                from_user,
                parent: None,
            };
            call_task::run(env, call, outputs, parts).await;
        }
        .instrument(span),
    );
}

/// The trunk's door: ACL, limits, validation and extensions. `None` when a refusal went out.
fn check_incoming(env: &CallEnv, inc: Incoming) -> Option<Incoming> {
    let (msg, source, tx) = (&inc.msg, inc.source, &inc.tx);
    tx.as_ref()?;
    if let Err(why) = env
        .admission
        .admit(source.ip(), env.calls.active(), env.clock.instant())
    {
        metrics::counter!(m::CALLS_REFUSED, "reason" => why.as_str()).increment(1);
        if why == Refusal::Acl {
            env.stats.refused_acl.fetch_add(1, Ordering::Relaxed);
            info!(source = %source, call_id = msg.call_id(), "INVITE from outside the trunk ACL: 403");
            reply(tx, msg, 403, "Forbidden", &[]);
            return None;
        }
        env.stats.refused_overload.fetch_add(1, Ordering::Relaxed);
        let retry = env.cfg.calls.retry_after_s.to_string();
        let retry = [("Retry-After", retry.as_str())];
        reply(tx, msg, 503, "Service Unavailable", &retry);
        return None;
    }
    if !valid(msg, tx) {
        metrics::counter!(m::CALLS_REFUSED, "reason" => "invalid").increment(1);
        return None;
    }
    Some(inc)
}

/// A well-formed INVITE whose required extensions we support; otherwise the 400/420 went out.
pub fn valid(msg: &SipMessage, tx: &Option<sip::endpoint::ServerTx>) -> bool {
    if let Err(e) = msg.validate_request() {
        reply(tx, msg, e.status, &e.reason, &[]);
        return false;
    }
    let unsupported = sip::capabilities::unsupported_requires(msg);
    if !unsupported.is_empty() {
        let list = unsupported.join(", ");
        reply(tx, msg, 420, "Bad Extension", &[("Unsupported", &list)]);
        return false;
    }
    true
}

/// The caller leg's RTP port and our SDP answer to its offer.
pub struct CallerMedia {
    pub leg: MediaLeg,
    pub session: SdpSession,
    /// None for a delayed offer: `answer` is then our offer, answered in the ACK.
    pub neg: Option<Negotiated>,
    pub answer: String,
}

impl CallerMedia {
    /// The INVITE had no offer (RFC 3261 §13.2.1): ours goes in the 200, the caller's answer in the ACK.
    pub fn delayed(&self) -> bool {
        self.neg.is_none()
    }
}

/// Open the RTP port for an INVITE and answer its offer (or make ours, for a delayed offer); `Err` is the
/// status to refuse with: 488 for an offer we cannot serve, 400 for a broken one, 503 when no port is free.
pub async fn caller_media(
    env: &CallEnv,
    msg: &SipMessage,
) -> Result<CallerMedia, (u16, &'static str)> {
    let leg = match env.media.open_leg().await {
        Ok(leg) => leg,
        Err(e) => {
            warn!(error = %e, "no media port free");
            env.stats.refused_overload.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::CALLS_REFUSED, "reason" => "media_ports").increment(1);
            return Err((503, "Service Unavailable"));
        }
    };
    let offer = std::str::from_utf8(msg.body()).unwrap_or("");
    // A seat's own INVITE over TLS (a consult call) is answered with SRTP.
    let mut session = crate::tls::sdp_session(crate::tls::via_transport(msg));
    // A delayed offer (Cisco/Avaya PBXs, some SBCs): our offer, G.711 both laws and RFC 4733, goes in the 200
    // and the caller's answer comes in the ACK (RFC 3264 §5); the call is answered first (`policy`).
    if offer.trim().is_empty() {
        let ours = sdp::offer(
            leg.local_addr(),
            &mut session,
            &crate::legs::DELAYED_OFFER_CODECS,
            101,
            Direction::SendRecv,
        );
        return Ok(CallerMedia {
            leg,
            session,
            neg: None,
            answer: ours,
        });
    }
    match sdp::answer(offer, leg.local_addr(), &mut session) {
        Ok((neg, answer)) => {
            leg.set_remote(&neg);
            crate::tls::key_media(&leg, &session);
            Ok(CallerMedia {
                leg,
                session,
                neg: Some(neg),
                answer,
            })
        }
        Err(e) => {
            info!(status = e.status, reason = %e.reason, "offer refused");
            Err(if e.status == 488 {
                (488, "Not Acceptable Here")
            } else {
                (e.status, "Bad Request")
            })
        }
    }
}

/// The call's tunables, from the daemon's config.
pub fn policy(env: &CallEnv) -> CallPolicy {
    let calls = &env.cfg.calls;
    CallPolicy {
        answer_before_queue: calls.answer_before_queue,
        early_media_max_ms: (calls.early_media_max_s > 0)
            .then_some(calls.early_media_max_s as i64 * 1000),
        seat_ring_timeout_ms: calls.seat_ring_timeout_s as i64 * 1000,
        seat_retry_after_ms: calls.seat_retry_after_s as i64 * 1000,
        connect_ring_timeout_ms: calls.connect_ring_timeout_s as i64 * 1000,
        menu_timeout_ms: calls.menu_timeout_s as i64 * 1000,
        hold: env.plans.hold.clone(),
        transfer: env.plans.transfer.clone(),
        callback_prompt: env.plans.acd.callback.clone(),
        announce: env.plans.announce.clone(),
        survey: env.cfg.survey.after_call(),
        self_query: env.plans.self_query.clone(),
    }
}

/// A new INVITE with `Replaces` (RFC 3891 §3): one header only (400 otherwise); the call owning the
/// dialog it names answers it, 481 when no call does.
pub fn replacing(env: &CallEnv, inc: Incoming) {
    let count = inc
        .msg
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("replaces"))
        .count();
    let replaces = inc.msg.header("replaces").map(Replaces::parse);
    let owner = match replaces {
        Some(Ok(r)) if count == 1 => env.calls.owner_of(&r.call_id),
        _ => return reply(&inc.tx, &inc.msg, 400, "Bad Replaces", &[]),
    };
    let inc = match owner {
        Some(k) => match env.calls.send(k, CallMsg::Replacing(Box::new(inc))) {
            Ok(()) => return,
            Err(CallMsg::Replacing(inc)) => *inc,
            Err(_) => return,
        },
        None => inc,
    };
    info!(
        call_id = inc.msg.call_id(),
        "INVITE with Replaces for no dialog of ours: 481"
    );
    reply(&inc.tx, &inc.msg, 481, reason_phrase(481), &[]);
}

/// The user part (the number) of a URI, digits and `+` only for tel: and sip: alike.
fn number_of(uri: &Uri) -> String {
    uri.user.clone().unwrap_or_default()
}

/// (called, caller, original called) of an INVITE. The caller is P-Asserted-Identity when the INVITE
/// came from a `trusted` source (a trunk: RFC 3325 §4, only the trust domain may assert), else From. The
/// original called number is the one first dialled when a carrier forwarded the call: the bottom
/// Diversion entry (RFC 5806 stacks new diversions on top), else the first History-Info entry
/// (RFC 7044); a History-Info that only repeats the called number is no forwarding.
pub fn route_parts(msg: &SipMessage, trusted: bool) -> (String, String, Option<String>) {
    let called = msg.request_uri().map(number_of).unwrap_or_default();
    let asserted = if trusted {
        msg.p_asserted_identity().first().map(|p| number_of(&p.uri))
    } else {
        None
    };
    let caller = asserted.unwrap_or_else(|| number_of(&msg.from().uri));
    let diversion = msg
        .original_called()
        .map(|u| number_of(&u))
        .filter(|n| !n.is_empty() && *n != called);
    (called, caller, diversion)
}

/// Did the caller ask that its identity not be shown? `Privacy: id` (RFC 3325 §9.3), or `user` /
/// `header` (RFC 3323 §4.2); `none` and `session` do not hide the number.
pub fn privacy_requested(msg: &SipMessage) -> bool {
    msg.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("privacy"))
        .flat_map(|(_, v)| v.split([';', ',']))
        .any(|t| {
            ["id", "user", "header"]
                .iter()
                .any(|p| t.trim().eq_ignore_ascii_case(p))
        })
}

/// The user of the INVITE's From, which our outgoing legs show as theirs.
pub fn from_user(msg: &SipMessage) -> String {
    msg.from().uri.user.clone().unwrap_or_default()
}

/// Caller numbers are personal data: logs show 138****1234.
pub fn mask(n: &str) -> String {
    ticket::mask::mask_phone(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> SipMessage {
        let text = format!(
            "INVITE sip:12345@center SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:02512345678@carrier>;tag=a\r\nTo: <sip:12345@center>\r\nCall-ID: c1\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        SipMessage::parse(bytes::Bytes::from(text)).unwrap()
    }

    #[test]
    fn p_asserted_identity_is_believed_only_from_a_trunk() {
        let m = invite("P-Asserted-Identity: <sip:13812341234@carrier>\r\n");
        assert_eq!(route_parts(&m, true).1, "13812341234");
        assert_eq!(
            route_parts(&m, false).1,
            "02512345678",
            "From, not the claim"
        );
        assert_eq!(route_parts(&invite(""), true).1, "02512345678");
    }

    #[test]
    fn the_original_called_number_from_history_info_when_there_is_no_diversion() {
        let hi = "History-Info: <sip:12315@gov>;index=1, <sip:12345@center>;index=1.1\r\n";
        assert_eq!(route_parts(&invite(hi), true).2.as_deref(), Some("12315"));
        let both = format!("{hi}Diversion: <sip:12366@gov>;reason=unconditional\r\n");
        assert_eq!(
            route_parts(&invite(&both), true).2.as_deref(),
            Some("12366")
        );
        // A History-Info that only names the called number is no forwarding.
        let same = "History-Info: <sip:12345@center>;index=1\r\n";
        assert_eq!(route_parts(&invite(same), true).2, None);
    }

    #[test]
    fn privacy_id_user_or_header_hides_the_caller_none_and_session_do_not() {
        for (h, private) in [
            ("Privacy: id\r\n", true),
            ("Privacy: user;id\r\n", true),
            ("privacy: Header\r\n", true),
            ("Privacy: none\r\n", false),
            ("Privacy: session\r\n", false),
            ("", false),
        ] {
            assert_eq!(privacy_requested(&invite(h)), private, "{h:?}");
        }
    }
}
