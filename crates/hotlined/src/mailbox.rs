//! The messages the daemon's tasks exchange. Plain types: this module imports nothing of the daemon,
//! so the tasks that send and receive them do not import each other.

use acd::{CallKey, QueueSnapshot, Seat};
use call::{Handover, LegId, Output, TransferAttempt};
use media::sdp::SdpSession;
use media::{MediaLeg, Negotiated};
use sip::endpoint::{ClientTx, Incoming, ServerTx, TransportKind};
use sip::session::{InviteSession, ReqKey, SessionTimer};
use sip::Replaces;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
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
    /// Call `from` claims the department leg of the consult call whose dialog `replaces` names (its
    /// operator `seat` REFERred with Replaces, RFC 3891); the leg is to become `from`'s `leg`.
    Join {
        from: CallKey,
        leg: LegId,
        seat: String,
        replaces: Replaces,
    },
    /// The claim for `leg` was refused with `status`.
    JoinRefused { leg: LegId, status: u16 },
    /// The claimed leg itself, from the consult call.
    Adopt(Box<HandedLeg>),
    /// A consult call placed for this call ended without a join: its attempt.
    ConsultAttempt(Box<TransferAttempt>),
    /// A new INVITE whose `Replaces` names one of this call's dialogs (RFC 3891 §3).
    Replacing(Box<Incoming>),
}

/// A leg on its way from one call task to another: all its I/O, and who it is.
pub struct HandedLeg {
    /// Its id in the call that receives it.
    pub leg: LegId,
    pub handover: Handover,
    pub parts: LegParts,
}

impl fmt::Debug for HandedLeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandedLeg")
            .field("leg", &self.leg)
            .field("handover", &self.handover)
            .field("call_id", &self.parts.session.call_id())
            .finish_non_exhaustive()
    }
}

/// Everything a leg's I/O consists of (`legs::LegIo` without its id): its session, RTP port, the
/// transactions it answers and follows, and its session timers (due at, in the clock's ms).
pub struct LegParts {
    pub session: InviteSession,
    pub media: Option<MediaLeg>,
    pub sdp: SdpSession,
    pub negotiated: Option<Negotiated>,
    pub dest: SocketAddr,
    pub transport: TransportKind,
    pub server: HashMap<ReqKey, ServerTx>,
    pub client: Vec<(ReqKey, ClientTx)>,
    pub invite_key: Option<ReqKey>,
    pub invite_final: bool,
    pub next_key: ReqKey,
    pub timers: Vec<(i64, SessionTimer)>,
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
    Abandon {
        call: CallKey,
        queue: String,
    },
    Answered {
        call: CallKey,
        seat: String,
        queue: String,
        waited_ms: i64,
    },
    OfferFailed {
        call: CallKey,
        seat: String,
        queue: String,
        waiting_since_ms: i64,
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
        Output::Abandon { queue } => AcdMsg::Abandon { call, queue },
        Output::SeatAnswered {
            seat,
            queue,
            waited_ms,
        } => AcdMsg::Answered {
            call,
            seat,
            queue,
            waited_ms,
        },
        Output::SeatOfferFailed {
            seat,
            queue,
            waiting_since_ms,
        } => AcdMsg::OfferFailed {
            call,
            seat,
            queue,
            waiting_since_ms,
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
