//! The messages the daemon's tasks exchange. Plain types: this module imports nothing of the daemon,
//! so the tasks that send and receive them do not import each other.

use acd::{ActionError, AgentAction, CallKey, QueueSnapshot, Seat, SeatEvent};
use call::{Handover, Input, LegId, OfferFailure, Output, TransferAttempt};
use media::sdp::SdpSession;
use media::{MediaLeg, Negotiated};
use sip::endpoint::{ClientTx, Incoming, ServerTx, TransportKind};
use sip::session::{InviteSession, ReqKey, SessionTimer};
use sip::Replaces;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use tokio::sync::{broadcast, mpsc, oneshot};

/// What reaches a call task.
#[derive(Debug)]
pub enum CallMsg {
    /// A request for one of this call's Call-IDs (any of its legs).
    Sip(Box<Incoming>),
    /// From the ACD, as the call's input: the seat(s) it picked, the seats of a department group reserved for
    /// a transfer, or the queue's maximum wait moving the call on.
    Acd(Input),
    /// From the ticket side, as the call's input: the answer to a self-query's lookup.
    Tickets(Input),
    /// Our 2xx to the caller was never ACKed.
    AckTimeout,
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
    /// A pool gateway's channel the leg holds (`trunks.rs`).
    pub trunk: Option<Box<crate::trunks::TrunkChannel>>,
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
    /// Where `call` waits: answered to the call as `Input::QueuePosition` (nothing when it waits nowhere).
    Position {
        call: CallKey,
    },
    /// An operator's request for a seat (a feature code or the admin API); the reply is the seat after it.
    Act {
        seat: String,
        action: AgentAction,
        reply: oneshot::Sender<Result<Seat, ActionError>>,
    },
}

/// The ACD task's mailbox, and the seats' state changes it publishes (the SSE stream).
#[derive(Debug, Clone)]
pub struct AcdHandle {
    tx: mpsc::UnboundedSender<AcdMsg>,
    events: broadcast::Sender<SeatEvent>,
}

impl AcdHandle {
    pub fn new() -> (AcdHandle, mpsc::UnboundedReceiver<AcdMsg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        (AcdHandle { tx, events }, rx)
    }

    /// Seat state changes from now on (a slow subscriber misses some and is told so).
    pub fn subscribe(&self) -> broadcast::Receiver<SeatEvent> {
        self.events.subscribe()
    }

    /// Publish a change (nobody listening is fine).
    pub fn publish(&self, e: SeatEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(e);
        }
    }

    /// Carry out an operator's request; None when the ACD task is gone.
    pub async fn act(&self, seat: &str, action: AgentAction) -> Option<Result<Seat, ActionError>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(AcdMsg::Act {
                seat: seat.to_string(),
                action,
                reply,
            })
            .ok()?;
        rx.await.ok()
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
        Output::AskPosition => AcdMsg::Position { call },
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
