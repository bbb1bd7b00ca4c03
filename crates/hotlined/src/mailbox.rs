//! The messages the daemon's tasks exchange. Plain types: this module imports nothing of the daemon,
//! so the tasks that send and receive them do not import each other.

use acd::{CallKey, QueueSnapshot, Seat};
use call::{OfferFailure, Output};
use sip::endpoint::Incoming;
use tokio::sync::{mpsc, oneshot};

/// What reaches a call task.
#[derive(Debug)]
pub enum CallMsg {
    /// A request for one of this call's Call-IDs (any of its legs).
    Sip(Box<Incoming>),
    /// The ACD picked a seat.
    SeatAssigned { seat: String },
    /// Our 2xx to the caller was never ACKed.
    AckTimeout,
    /// The seats of a department group the ACD reserved for transfer `attempt`.
    GroupSeats { attempt: u32, seats: Vec<String> },
}

/// What reaches the ACD task. Calls are named by their [`CallKey`]; the ACD task finds their mailbox in
/// the one call registry.
#[derive(Debug)]
pub enum AcdMsg {
    SeatOnline {
        seat: String,
    },
    SeatOffline {
        seat: String,
    },
    Enqueue {
        call: CallKey,
        queue: String,
    },
    Answered {
        call: CallKey,
        seat: String,
        queue: String,
    },
    OfferFailed {
        call: CallKey,
        seat: String,
        queue: String,
        waiting_since_ms: i64,
        why: acd::OfferFailure,
    },
    Released {
        seat: String,
    },
    /// A ring-all transfer: reserve the free seats of `queue` for `call`, answer with `GroupSeats`.
    Reserve {
        call: CallKey,
        attempt: u32,
        queue: String,
    },
    /// A reserved seat answered `call`.
    Taken {
        call: CallKey,
        seat: String,
    },
    /// Free whatever is still reserved for `call`.
    Withdraw {
        call: CallKey,
    },
    /// `call` is back at the head of `queue` (its transfer failed after the operator left).
    Requeue {
        call: CallKey,
        queue: String,
        waiting_since_ms: i64,
    },
    Snapshot {
        reply: oneshot::Sender<(Vec<QueueSnapshot>, Vec<Seat>)>,
    },
}

/// The ACD task's mailbox.
#[derive(Debug, Clone)]
pub struct AcdHandle {
    tx: mpsc::UnboundedSender<AcdMsg>,
}

impl AcdHandle {
    pub fn new() -> (AcdHandle, mpsc::UnboundedReceiver<AcdMsg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (AcdHandle { tx }, rx)
    }

    /// Fire and forget: the ACD task outlives every call.
    pub fn send(&self, msg: AcdMsg) {
        let _ = self.tx.send(msg);
    }

    /// The wallboard view.
    pub async fn snapshot(&self) -> Option<(Vec<QueueSnapshot>, Vec<Seat>)> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(AcdMsg::Snapshot { reply }).ok()?;
        rx.await.ok()
    }
}

/// The call's outputs that are messages to the ACD, as those messages; any other output comes back.
pub fn acd_message(call: CallKey, out: Output) -> Result<AcdMsg, Output> {
    Ok(match out {
        Output::Enqueue { queue } => AcdMsg::Enqueue { call, queue },
        // Hung up waiting or ringing: the ACD forgets the call and frees its seat.
        Output::Abandon { .. } => AcdMsg::Withdraw { call },
        Output::SeatAnswered { seat, queue, .. } => AcdMsg::Answered { call, seat, queue },
        Output::SeatOfferFailed {
            seat,
            queue,
            waiting_since_ms,
            why,
        } => AcdMsg::OfferFailed {
            call,
            seat,
            queue,
            waiting_since_ms,
            why: match why {
                OfferFailure::NoAnswer => acd::OfferFailure::NoAnswer,
                OfferFailure::Refused => acd::OfferFailure::Refused,
                OfferFailure::Returned => acd::OfferFailure::Returned,
            },
        },
        Output::SeatReleased { seat } => AcdMsg::Released { seat },
        Output::ReserveSeats { attempt, group } => AcdMsg::Reserve {
            call,
            attempt,
            queue: group,
        },
        Output::SeatTaken { seat } => AcdMsg::Taken { call, seat },
        Output::ReleaseReserved => AcdMsg::Withdraw { call },
        Output::Requeue {
            queue,
            waiting_since_ms,
        } => AcdMsg::Requeue {
            call,
            queue,
            waiting_since_ms,
        },
        other => return Err(other),
    })
}
