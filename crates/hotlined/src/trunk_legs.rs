//! An outgoing leg's attempt sequence over a gateway pool, in the call task's pump: when its INVITE
//! fails, `sip::gateway::Gateways::fail_over` (through the leg's `TrunkChannel`) decides whether the
//! next gateway gets it; the call machine sees one leg that rings, answers or fails once.

use crate::call_task::CallTask;
use call::LegId;

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
        let Some((old_call_id, out)) = io.redial(&env, now) else {
            return false;
        };
        let new_call_id = io.session.call_id().to_string();
        env.calls.remove_call_id(&old_call_id);
        env.calls.add_call_id(self.key, &new_call_id);
        // The old session's timers belong to a dialog that is over.
        let _ = self.timers.take_leg(leg);
        self.session_outputs(leg, out, now);
        true
    }
}
