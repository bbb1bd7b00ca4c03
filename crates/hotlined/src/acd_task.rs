//! The ACD's task: owns the one `acd::Acd`, turns what it decides into messages to call tasks (found by key
//! in the one call registry), publishes the seats' state changes and hands their presence changes to the
//! store (what a restart restores).

use crate::clock::Clock;
use crate::mailbox::{AcdHandle, AcdMsg, CallMsg};
use crate::metrics_names as m;
use crate::registry::CallRegistry;
use acd::{Acd, AcdConfig, Assignment, Presence, QueueSpec, Reason, SeatEvent};
use call::Input;
use std::sync::Arc;
use std::time::Duration;
use ticket::queues::PresenceRow;
use tokio::sync::mpsc;
use tracing::info;

/// A seat as configured.
pub struct SeatSpec {
    pub id: String,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
    pub operator: Option<String>,
}

/// Everything the ACD starts with.
pub struct AcdSetup {
    pub cfg: AcdConfig,
    pub queues: Vec<QueueSpec>,
    /// (id, name, skills)
    pub operators: Vec<(String, String, Vec<String>)>,
    pub seats: Vec<SeatSpec>,
    /// The presence stored before the restart.
    pub restored: Vec<PresenceRow>,
    /// How long a restored operator waits for the softphone to register again.
    pub grace_ms: i64,
}

/// The stored presence as the ACD's.
fn presence_of(row: &PresenceRow) -> Presence {
    match row.presence.as_str() {
        "ready" => Presence::Ready,
        "not_ready" => Presence::NotReady {
            reason: row
                .reason
                .as_deref()
                .and_then(Reason::parse)
                .unwrap_or(Reason::Code(0)),
        },
        _ => Presence::LoggedOut,
    }
}

/// A change worth storing, as its row (wall-clock time).
fn presence_row(e: &SeatEvent) -> PresenceRow {
    let p = e.state.presence();
    PresenceRow {
        seat: e.seat.to_string(),
        operator: e.operator.as_deref().map(str::to_string),
        presence: p.as_str().to_string(),
        reason: match p {
            Presence::NotReady { reason } => Some(reason.as_string()),
            _ => None,
        },
        held_out: e.held_out,
        changed_at_ms: Clock::wall_ms(),
        queues: e.queues.iter().map(|q| q.to_string()).collect(),
    }
}

pub fn spawn(
    setup: AcdSetup,
    handle: AcdHandle,
    calls: Arc<CallRegistry>,
    clock: Clock,
    presence: mpsc::UnboundedSender<PresenceRow>,
    mut rx: mpsc::UnboundedReceiver<AcdMsg>,
) {
    let mut acd = Acd::new(setup.cfg);
    for q in setup.queues {
        acd.add_queue(q);
    }
    for (id, name, skills) in setup.operators {
        acd.add_operator(&id, &name, skills);
    }
    for s in setup.seats {
        acd.add_seat_with(&s.id, s.skills, s.tags, s.operator.as_deref());
    }
    let now = clock.now_ms();
    for row in &setup.restored {
        acd.restore(
            &row.seat,
            row.operator.as_deref(),
            presence_of(row),
            row.held_out,
            now + setup.grace_ms,
            now,
        );
    }
    if !setup.restored.is_empty() {
        info!(seats = setup.restored.len(), "seat presence restored");
    }
    // The restore itself is stored already.
    acd.take_events();
    tokio::spawn(async move {
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        loop {
            let wake = acd.next_wakeup().map(|at| clock.instant_at(at));
            let msg = tokio::select! {
                msg = rx.recv() => match msg { Some(m) => Some(m), None => break },
                _ = async { match wake { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => None,
                _ = gauges.tick() => {
                    export(&acd, clock.now_ms());
                    continue;
                }
            };
            let now = clock.now_ms();
            let assignments = handle_msg(&mut acd, msg, &calls, now);
            // A call hears it was moved on before it hears of a seat.
            for mv in acd.take_moves() {
                let to = mv.to.as_deref().map(str::to_string);
                info!(call = mv.call, from = %mv.from, ?to, "maximum wait: moved on");
                if calls
                    .send(mv.call, CallMsg::Acd(Input::Overflowed { to }))
                    .is_err()
                {
                    acd.withdraw(mv.call, now);
                }
            }
            route(&mut acd, assignments, &calls, now);
            for e in acd.take_events() {
                if e.presence_changed {
                    let _ = presence.send(presence_row(&e));
                }
                handle.publish(e);
            }
            metrics::gauge!(m::QUEUE_WAITING).set(acd.waiting_count() as f64);
        }
    });
}

fn handle_msg(
    acd: &mut Acd,
    msg: Option<AcdMsg>,
    calls: &CallRegistry,
    now: i64,
) -> Vec<Assignment> {
    let Some(msg) = msg else {
        return acd.tick(now);
    };
    match msg {
        AcdMsg::SeatOnline { seat } => acd.seat_online(&seat, now),
        AcdMsg::SeatOffline { seat } => {
            acd.seat_offline(&seat, now);
            Vec::new()
        }
        AcdMsg::Enqueue { call, queue } => acd.enqueue(call, &queue, now),
        AcdMsg::Answered { call, seat, queue } => {
            acd.offer_answered(call, &seat, &queue, now);
            Vec::new()
        }
        AcdMsg::OfferFailed {
            call,
            seat,
            queue,
            waiting_since_ms,
            why,
        } => acd.offer_failed(call, &seat, &queue, waiting_since_ms, why, now),
        AcdMsg::Released { seat } => acd.seat_released(&seat, now),
        AcdMsg::Reserve {
            call,
            attempt,
            queue,
        } => {
            let seats: Vec<String> = acd
                .reserve(call, &queue, now)
                .iter()
                .map(|s| s.to_string())
                .collect();
            info!(call, attempt, seats = ?seats, "transfer: the group's free seats");
            let input = Input::GroupSeats { attempt, seats };
            if calls.send(call, CallMsg::Acd(input)).is_err() {
                // The call is gone: its reservation too.
                acd.withdraw(call, now)
            } else {
                Vec::new()
            }
        }
        AcdMsg::Taken { call, seat } => {
            acd.seat_taken(call, &seat, now);
            Vec::new()
        }
        AcdMsg::Withdraw { call } => acd.withdraw(call, now),
        AcdMsg::Requeue {
            call,
            queue,
            waiting_since_ms,
        } => acd.requeue_front(call, &queue, waiting_since_ms, now),
        AcdMsg::Position { call } => {
            if let Some(position) = acd.position(call) {
                let input = Input::QueuePosition {
                    position,
                    expected_wait_ms: acd.expected_wait_ms(call),
                };
                let _ = calls.send(call, CallMsg::Acd(input));
            }
            Vec::new()
        }
        AcdMsg::Snapshot { reply } => {
            let _ = reply.send((acd.snapshot(now), acd.seats().cloned().collect()));
            Vec::new()
        }
        AcdMsg::Act {
            seat,
            action,
            reply,
        } => {
            let result = acd.act(&seat, &action, now);
            info!(
                seat,
                action = action.name(),
                ok = result.is_ok(),
                "operator request"
            );
            let (assignments, answer) = match result {
                Ok(got) => (
                    got,
                    acd.seat(&seat)
                        .cloned()
                        .ok_or(acd::ActionError::UnknownSeat),
                ),
                Err(e) => (Vec::new(), Err(e)),
            };
            let _ = reply.send(answer);
            assignments
        }
    }
}

/// Tell each call its seat(s); a call that is gone gives them back at once, which may assign them to the next.
fn route(acd: &mut Acd, mut assignments: Vec<Assignment>, calls: &CallRegistry, now: i64) {
    let mut i = 0;
    while i < assignments.len() {
        let a = &assignments[i];
        let call = a.call;
        let input = if a.also.is_empty() {
            Input::SeatAssigned {
                seat: a.seat.to_string(),
            }
        } else {
            Input::SeatsAssigned {
                seats: std::iter::once(&a.seat)
                    .chain(&a.also)
                    .map(|s| s.to_string())
                    .collect(),
            }
        };
        if calls.send(call, CallMsg::Acd(input)).is_err() {
            let more = acd.withdraw(call, now);
            assignments.extend(more);
        }
        i += 1;
    }
}

/// Per queue, once a second: callers waiting, the longest wait, seats by state.
fn export(acd: &Acd, now: i64) {
    for q in acd.snapshot(now) {
        let name = q.name.clone();
        metrics::gauge!(m::QUEUE_WAITING_BY_QUEUE, "queue" => name.clone()).set(q.waiting as f64);
        metrics::gauge!(m::QUEUE_LONGEST_WAIT_SECONDS, "queue" => name.clone())
            .set(q.longest_wait_ms as f64 / 1000.0);
        let s = &q.seats;
        for (state, n) in [
            ("logged_in", s.logged_in),
            ("ready", s.ready),
            ("ringing", s.ringing),
            ("talking", s.talking),
            ("wrap_up", s.wrap_up),
            ("resting", s.resting),
            ("not_ready", s.not_ready),
            ("unregistered", s.unregistered),
        ] {
            metrics::gauge!(m::QUEUE_SEATS, "queue" => name.clone(), "state" => state)
                .set(n as f64);
        }
    }
}

/// Stores presence changes as they come, a batch at a time (a restart restores the last of each seat).
pub fn spawn_presence_writer(store: ticket::Store, mut rx: mpsc::UnboundedReceiver<PresenceRow>) {
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
                if batch.len() >= 256 {
                    break;
                }
            }
            if let Err(e) = store.save_presence(&batch).await {
                tracing::warn!(error = %e, rows = batch.len(), "seat presence not stored");
            }
        }
    });
}
