//! The ACD's task: owns the one `acd::Acd`, turns its assignments into messages to call tasks.

use crate::call_task::CallMsg;
use crate::daemon::Shared;
use crate::metrics_names as m;
use acd::{Acd, Assignment, CallKey, QueueSnapshot, Seat};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

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
        mailbox: mpsc::UnboundedSender<CallMsg>,
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
        mailbox: mpsc::UnboundedSender<CallMsg>,
    },
    Released {
        seat: String,
    },
    Snapshot {
        reply: oneshot::Sender<(Vec<QueueSnapshot>, Vec<Seat>)>,
    },
}

/// Ask the ACD task for the wallboard view.
#[derive(Clone)]
pub struct AcdHandle {
    tx: mpsc::UnboundedSender<AcdMsg>,
}

impl AcdHandle {
    pub async fn snapshot(&self) -> Option<(Vec<QueueSnapshot>, Vec<Seat>)> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(AcdMsg::Snapshot { reply }).ok()?;
        rx.await.ok()
    }
}

pub fn spawn(
    shared: Arc<Shared>,
    seats: Vec<(String, Vec<String>)>,
    mut rx: mpsc::UnboundedReceiver<AcdMsg>,
) -> AcdHandle {
    let calls_cfg = &shared.cfg.calls;
    let mut acd = Acd::new(
        calls_cfg.wrap_up_s as i64 * 1000,
        calls_cfg.service_level_s as i64 * 1000,
    );
    for (id, queues) in seats {
        acd.add_seat(&id, queues);
    }
    let retry_ms = calls_cfg.seat_retry_after_s as i64 * 1000;
    let handle = AcdHandle {
        tx: shared.acd.clone(),
    };
    tokio::spawn(async move {
        let mut mailboxes: HashMap<CallKey, mpsc::UnboundedSender<CallMsg>> = HashMap::new();
        loop {
            let wake = acd.next_wakeup().map(|at| {
                let now = Shared::now_ms();
                Duration::from_millis((at - now).max(0) as u64)
            });
            let msg = tokio::select! {
                msg = rx.recv() => match msg { Some(m) => Some(m), None => break },
                _ = async { match wake { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => None,
            };
            let now = Shared::now_ms();
            let assignments: Vec<Assignment> = match msg {
                None => acd.tick(now),
                Some(AcdMsg::SeatOnline { seat }) => acd.seat_online(&seat, now),
                Some(AcdMsg::SeatOffline { seat }) => {
                    acd.seat_offline(&seat);
                    Vec::new()
                }
                Some(AcdMsg::Enqueue {
                    call,
                    queue,
                    mailbox,
                }) => {
                    mailboxes.insert(call, mailbox);
                    acd.enqueue(call, &queue, now)
                }
                Some(AcdMsg::Abandon { call, queue }) => {
                    mailboxes.remove(&call);
                    acd.abandon(call, &queue, now)
                }
                Some(AcdMsg::Answered {
                    call,
                    seat,
                    queue,
                    waited_ms,
                }) => {
                    mailboxes.remove(&call);
                    acd.offer_answered(call, &seat, &queue, waited_ms);
                    Vec::new()
                }
                Some(AcdMsg::OfferFailed {
                    call,
                    seat,
                    queue,
                    waiting_since_ms,
                    mailbox,
                }) => {
                    mailboxes.insert(call, mailbox);
                    acd.offer_failed(call, &seat, &queue, waiting_since_ms, now, retry_ms)
                }
                Some(AcdMsg::Released { seat }) => acd.seat_released(&seat, now),
                Some(AcdMsg::Snapshot { reply }) => {
                    let _ = reply.send((acd.snapshot(now), acd.seats().cloned().collect()));
                    Vec::new()
                }
            };
            for a in assignments {
                match mailboxes.get(&a.call) {
                    Some(mb)
                        if mb
                            .send(CallMsg::SeatAssigned {
                                seat: a.seat.clone(),
                            })
                            .is_ok() => {}
                    // The call is gone: give the seat back at once.
                    _ => {
                        mailboxes.remove(&a.call);
                        let more = acd.withdraw(a.call, now);
                        for b in more {
                            if let Some(mb) = mailboxes.get(&b.call) {
                                let _ = mb.send(CallMsg::SeatAssigned { seat: b.seat });
                            }
                        }
                    }
                }
            }
            metrics::gauge!(m::QUEUE_WAITING).set(acd.waiting_count() as f64);
        }
    });
    handle
}
