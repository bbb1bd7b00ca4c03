//! The ACD's task: owns the one `acd::Acd`, turns its assignments into messages to call tasks (found
//! by key in the one call registry).

use crate::clock::Clock;
use crate::mailbox::{AcdMsg, CallMsg};
use crate::metrics_names as m;
use crate::registry::CallRegistry;
use acd::{Acd, AcdConfig, Assignment};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The ACD's tunables, in ms.
pub struct AcdSettings {
    pub wrap_up_ms: i64,
    pub seat_retry_after_ms: i64,
}

pub fn spawn(
    settings: AcdSettings,
    seats: Vec<(String, Vec<String>)>,
    calls: Arc<CallRegistry>,
    clock: Clock,
    mut rx: mpsc::UnboundedReceiver<AcdMsg>,
) {
    let mut acd = Acd::new(AcdConfig {
        wrap_up_ms: settings.wrap_up_ms,
        rest_ms: settings.seat_retry_after_ms,
        auto_login: true,
    });
    for (id, queues) in seats {
        acd.add_seat(&id, queues);
    }
    tokio::spawn(async move {
        loop {
            let wake = acd.next_wakeup().map(|at| clock.instant_at(at));
            let msg = tokio::select! {
                msg = rx.recv() => match msg { Some(m) => Some(m), None => break },
                _ = async { match wake { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => None,
            };
            let now = clock.now_ms();
            let mut assignments: Vec<Assignment> = match msg {
                None => acd.tick(now),
                Some(AcdMsg::SeatOnline { seat }) => acd.seat_online(&seat, now),
                Some(AcdMsg::SeatOffline { seat }) => {
                    acd.seat_offline(&seat, now);
                    Vec::new()
                }
                Some(AcdMsg::Enqueue { call, queue }) => acd.enqueue(call, &queue, now),
                Some(AcdMsg::Answered { call, seat, queue }) => {
                    acd.offer_answered(call, &seat, &queue, now);
                    Vec::new()
                }
                Some(AcdMsg::OfferFailed {
                    call,
                    seat,
                    queue,
                    waiting_since_ms,
                    why,
                }) => acd.offer_failed(call, &seat, &queue, waiting_since_ms, why, now),
                Some(AcdMsg::Released { seat }) => acd.seat_released(&seat, now),
                Some(AcdMsg::Reserve {
                    call,
                    attempt,
                    queue,
                }) => {
                    let seats = acd
                        .reserve(call, &queue, now)
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    if let Err(CallMsg::GroupSeats { .. }) =
                        calls.send(call, CallMsg::GroupSeats { attempt, seats })
                    {
                        // The call is gone: its reservation too.
                        acd.withdraw(call, now)
                    } else {
                        Vec::new()
                    }
                }
                Some(AcdMsg::Taken { call, seat }) => {
                    acd.seat_taken(call, &seat, now);
                    Vec::new()
                }
                Some(AcdMsg::Withdraw { call }) => acd.withdraw(call, now),
                Some(AcdMsg::Requeue {
                    call,
                    queue,
                    waiting_since_ms,
                }) => acd.requeue_front(call, &queue, waiting_since_ms, now),
                Some(AcdMsg::Snapshot { reply }) => {
                    let _ = reply.send((acd.snapshot(now), acd.seats().cloned().collect()));
                    Vec::new()
                }
            };
            // A call that is gone gives its seat back at once, which may assign it to the next call.
            let mut i = 0;
            while i < assignments.len() {
                let a = &assignments[i];
                let (call, seat) = (a.call, a.seat.to_string());
                if calls.send(call, CallMsg::SeatAssigned { seat }).is_err() {
                    let more = acd.withdraw(call, now);
                    assignments.extend(more);
                }
                i += 1;
            }
            metrics::gauge!(m::QUEUE_WAITING).set(acd.waiting_count() as f64);
        }
    });
}
