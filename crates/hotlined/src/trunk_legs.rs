//! An outgoing leg's attempt sequence over a gateway pool, in the call task's pump: when its INVITE
//! fails — or has had no response at all within the gateway's `invite_timeout_ms` (Kamailio's
//! `fr_timer`) — `sip::gateway::Gateways::fail_over` (through the leg's `TrunkChannel`) decides
//! whether the next gateway gets it; the call machine sees one leg that rings, answers or fails once.

use crate::call_task::CallTask;
use crate::timers::TimerId;
use call::{Input, LegId};
use tracing::info;

impl CallTask {
    /// Leg `leg` failed with `status`. True when its INVITE went to the next gateway instead.
    pub(crate) fn fail_over(&mut self, leg: LegId, status: u16, now: i64) -> bool {
        let env = self.env.clone();
        let Some(io) = self.legs.iter_mut().find(|l| l.id == leg) else {
            return false;
        };
        // A leg the call already gave up (cancelled, hung up) has no channel and no media left.
        if io.media.is_none() {
            return false;
        }
        let Some(ch) = io.trunk.as_mut() else {
            return false;
        };
        if ch.fail_over(status, now).is_none() {
            return false;
        }
        let Some((old_call_id, out, _)) = io.redial(&env, now, None) else {
            return false;
        };
        let new_call_id = io.session.call_id().to_string();
        env.calls.remove_call_id(&old_call_id);
        env.calls.add_call_id(self.key, &new_call_id);
        // The old session's timers belong to a dialog that is over.
        let _ = self.timers.take_leg(leg);
        self.session_outputs(leg, out, now);
        self.arm_trunk_setup(leg, now);
        true
    }

    /// After an INVITE went to a pool gateway with `invite_timeout_ms`: the timer for this attempt.
    pub(crate) fn arm_trunk_setup(&mut self, leg: LegId, now: i64) {
        let Some(t) = self
            .legs
            .iter()
            .find(|l| l.id == leg)
            .and_then(|l| l.trunk.as_ref())
        else {
            return;
        };
        if let Some(ms) = t.invite_timeout_ms() {
            let id = TimerId::TrunkSetup(leg, t.attempt());
            self.timers.push(now + i64::from(ms), id);
        }
    }

    /// Attempt `n` of `leg` reached its gateway's `invite_timeout_ms`. Nothing heard yet: the gateway
    /// is failed as a 408 and the next one rung; the unanswered INVITE is cancelled as soon as RFC 3261
    /// §9.1 allows (a late 2xx gets ACK + BYE), followed under an id of its own that the call never
    /// sees.
    pub(crate) fn trunk_setup_expired(&mut self, leg: LegId, n: u32, now: i64) {
        let env = self.env.clone();
        let Some(io) = self.legs.iter_mut().find(|l| l.id == leg) else {
            return;
        };
        let current = io.trunk.as_ref().map(|t| t.attempt());
        if io.heard || io.media.is_none() || current != Some(n) {
            return;
        }
        info!(
            leg = leg.0,
            attempt = n,
            "no answer from the gateway in time"
        );
        let next = io.trunk.as_mut().and_then(|t| t.fail_over(408, now));
        if next.is_none() {
            let out = io.session.hangup(now);
            self.session_outputs(leg, out, now);
            self.give_up(leg);
            self.pending
                .push_back(Input::LegFailed { leg, status: 408 });
            return;
        }
        // Never a LegId the call hands out (those count up from 1).
        let park = LegId(u32::MAX - (leg.0 << 8) - n);
        let Some((_, out, Some(mut parked))) = io.redial(&env, now, Some(park)) else {
            return;
        };
        // The old Call-ID stays with this call until the parked INVITE ends.
        env.calls.add_call_id(self.key, io.session.call_id());
        for (at, t) in self.timers.take_leg(leg) {
            self.timers.push(at, TimerId::Session(park, t));
        }
        let cancel = parked.session.hangup(now);
        self.legs.push(parked);
        self.session_outputs(park, cancel, now);
        self.session_outputs(leg, out, now);
        self.arm_trunk_setup(leg, now);
    }
}
