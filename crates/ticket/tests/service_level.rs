//! The service level of the queues, end to end in simulated time: 20 scripted calls run through the real call
//! machine (`call::Call`) and the real ACD (`acd::Acd`) — seats that answer, ring out (RONA) or are not ready,
//! callers who hang up early or late, maximum waits that move a caller on and end in a call-back promise — and
//! their records go through the ticket service into the database. The figures equal a hand count, and a
//! restart of the service after the tenth call (figures seeded again from the database) changes none of them.

mod common;

use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use acd::{Acd, AcdConfig, AgentAction, Overflow, QueueSpec, Reason};
use call::{Call, CallPolicy, CallSetup, Input, LegId, OfferFailure, Output, Plan};
use ticket::queue_stats::{visits_of, QueueReport, Rolling, Rules};
use ticket::{CallRecord, EndReason};

/// Mon 2025-03-03 08:00 Beijing time, in epoch ms: the simulated day's origin.
const BASE: i64 = 1_740_960_000_000;
const MIN: i64 = 60_000;
const RULES: Rules = Rules {
    threshold_ms: 20_000,
    short_abandon_ms: 5_000,
};

struct NoRouter;
impl call::Router for NoRouter {
    fn route(&self, _: &dialplan::CallQuery<'_>) -> dialplan::Decision {
        decision()
    }
}

fn decision() -> dialplan::Decision {
    dialplan::Decision {
        mode: dialplan::Mode::Main,
        action: dialplan::Action::Queue,
        prompt: None,
        queue: Some("general".into()),
        target: None,
        working_hours: true,
        reason: dialplan::Reason::MainQueue,
        department: None,
        hotline: None,
        transfer_answer_target_s: None,
        matched: None,
        via_diversion: false,
    }
}

/// What one caller and the seats it reaches do.
#[derive(Clone)]
struct Script {
    /// Seats ready when the call starts (the others are made not ready).
    ready: &'static [&'static str],
    /// Per offer, in order: how long the seat rings before it answers; None: it rings out.
    answers: &'static [Option<i64>],
    /// The caller hangs up this long after calling, if nobody answered first.
    cancel_after: Option<i64>,
}

const ALL: &[&str] = &["1001", "1002", "3001"];
const NONE: &[Option<i64>] = &[];

fn script() -> Vec<Script> {
    let s = |ready, answers, cancel_after| Script {
        ready,
        answers,
        cancel_after,
    };
    vec![
        s(ALL, &[Some(3_000)], None),              // 1: answered 3 s
        s(ALL, &[None, Some(5_000)], None),        // 2: RONA, answered at 20.000 s (within)
        s(ALL, &[None, Some(5_001)], None),        // 3: answered at 20.001 s (late)
        s(ALL, &[None], Some(4_000)),              // 4: hangs up at 4 s (short)
        s(ALL, &[None], Some(5_000)),              // 5: at 5.000 s (short, inclusive)
        s(ALL, &[None], Some(5_001)),              // 6: at 5.001 s (abandoned)
        s(ALL, &[None, None], Some(29_000)),       // 7: RONA, then hangs up at 29 s
        s(ALL, &[Some(10_000)], None),             // 8: answered 10 s
        s(ALL, &[None, Some(10_000)], None),       // 9: answered 25 s
        s(&["3001"], &[Some(8_000)], None),        // 10: 120 s → backup, answered 8 s later
        s(ALL, &[Some(0)], None),                  // 11: answered at once
        s(&[], NONE, None),                        // 12: 120 s → backup, 60 s → call back
        s(ALL, &[Some(14_000)], None),             // 13: answered 14 s
        s(ALL, &[None], Some(2_000)),              // 14: hangs up at 2 s (short)
        s(ALL, &[None, Some(4_000)], None),        // 15: answered 19 s
        s(ALL, &[None, None, None], Some(50_000)), // 16: two RONAs, hangs up at 50 s
        s(ALL, &[None, Some(6_000)], None),        // 17: answered 21 s
        s(ALL, &[Some(1_000)], None),              // 18: answered 1 s
        s(ALL, &[None], Some(6_000)),              // 19: hangs up at 6 s
        s(ALL, &[None, Some(14_000)], None),       // 20: answered 29 s
    ]
}

#[derive(Debug)]
enum Ev {
    Start(usize),
    Call(u64, Input),
    AcdTick,
}

/// The call machines and the ACD, wired as the daemon wires them, with a clock of our own.
struct Sim {
    acd: Acd,
    calls: BTreeMap<u64, (Call, Script, usize)>,
    events: BinaryHeap<std::cmp::Reverse<(i64, u64)>>,
    pending: BTreeMap<u64, Ev>,
    seq: u64,
    now: i64,
    work: VecDeque<(u64, Input)>,
    records: Vec<CallRecord>,
}

impl Sim {
    fn new() -> Sim {
        let mut acd = Acd::new(AcdConfig {
            wrap_up_ms: 0,
            rest_ms: 5_000,
            auto_login: true,
        });
        acd.add_queue(QueueSpec {
            skills: vec!["general".into()],
            max_wait_ms: Some(120_000),
            overflow: Overflow::Queue("backup".into()),
            ..QueueSpec::named("general")
        });
        acd.add_queue(QueueSpec {
            skills: vec!["backup".into()],
            max_wait_ms: Some(60_000),
            overflow: Overflow::Callback,
            ..QueueSpec::named("backup")
        });
        acd.add_seat("1001", vec!["general".into()]);
        acd.add_seat("1002", vec!["general".into()]);
        acd.add_seat("3001", vec!["backup".into()]);
        for s in ALL {
            acd.seat_online(s, 0);
        }
        Sim {
            acd,
            calls: BTreeMap::new(),
            events: BinaryHeap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            now: 0,
            work: VecDeque::new(),
            records: Vec::new(),
        }
    }

    fn at(&mut self, t: i64, ev: Ev) {
        self.seq += 1;
        self.events.push(std::cmp::Reverse((t, self.seq)));
        self.pending.insert(self.seq, ev);
    }

    /// Run until every event up to `until` is done; returns the records that came out.
    fn run_until(&mut self, until: i64) -> Vec<CallRecord> {
        while let Some(std::cmp::Reverse((t, id))) = self.events.peek().copied() {
            if t > until {
                break;
            }
            self.events.pop();
            self.now = t;
            match self.pending.remove(&id) {
                Some(Ev::Start(i)) => self.start(i),
                Some(Ev::Call(key, input)) => self.work.push_back((key, input)),
                Some(Ev::AcdTick) => {
                    // As the daemon does: a call hears it was moved on before it hears of a seat.
                    let got = self.acd.tick(t);
                    self.moved();
                    self.assigned(got);
                }
                None => {}
            }
            self.drain();
        }
        std::mem::take(&mut self.records)
    }

    fn start(&mut self, i: usize) {
        let sc = script()[i].clone();
        for seat in ALL {
            let action = if sc.ready.contains(seat) {
                AgentAction::Login { operator: None }
            } else {
                AgentAction::NotReady {
                    reason: Reason::Code(9),
                }
            };
            let got = self.acd.act(seat, &action, self.now).unwrap_or_default();
            self.assigned(got);
        }
        let key = i as u64 + 1;
        let setup = CallSetup {
            call_id: format!("call-{key:02}"),
            caller: "13800000000".into(),
            called: "12345".into(),
            original_called: None,
            wall_start_ms: BASE + self.now,
            decision: decision(),
            router: Arc::new(NoRouter),
        };
        let policy = CallPolicy {
            callback_prompt: Some("callback.wav".into()),
            ..CallPolicy::default()
        };
        let plan = Plan::Queue {
            prompt: None,
            queue: "general".into(),
            hold: Some("hold.wav".into()),
        };
        if let Some(after) = sc.cancel_after {
            self.at(self.now + after, Ev::Call(key, Input::CallerCancel));
        }
        let (call, out) = Call::with_plan(setup, policy, plan, self.now);
        self.calls.insert(key, (call, sc, 0));
        self.outputs(key, out);
    }

    fn drain(&mut self) {
        while let Some((key, input)) = self.work.pop_front() {
            let Some((call, _, _)) = self.calls.get_mut(&key) else {
                continue;
            };
            let out = call.handle(input, self.now);
            self.outputs(key, out);
        }
        self.moved();
        if !self.work.is_empty() {
            return self.drain();
        }
        if let Some(t) = self.acd.next_wakeup() {
            self.at(t, Ev::AcdTick);
        }
    }

    fn moved(&mut self) {
        for m in self.acd.take_moves() {
            let to = m.to.map(|q| q.to_string());
            self.work.push_back((m.call, Input::Overflowed { to }));
        }
    }

    fn assigned(&mut self, got: Vec<acd::Assignment>) {
        for a in got {
            let seat = a.seat.to_string();
            self.work.push_back((a.call, Input::SeatAssigned { seat }));
        }
    }

    fn outputs(&mut self, key: u64, out: Vec<Output>) {
        let now = self.now;
        for o in out {
            match o {
                Output::Dial { leg, .. } => {
                    let Some((_, sc, offers)) = self.calls.get_mut(&key) else {
                        continue;
                    };
                    let ring = sc.answers.get(*offers).copied().flatten();
                    *offers += 1;
                    if let Some(ms) = ring {
                        self.at(now + ms, Ev::Call(key, Input::LegAnswered { leg }));
                    }
                }
                Output::StartTimer { kind, after_ms } => {
                    self.at(now + after_ms, Ev::Call(key, Input::Timer(kind)))
                }
                Output::Play { looped: false, .. } => self.at(
                    now + 3_000,
                    Ev::Call(key, Input::PromptFinished { leg: LegId::CALLER }),
                ),
                Output::Enqueue { queue } => {
                    let got = self.acd.enqueue(key, &queue, now);
                    self.assigned(got);
                }
                Output::Abandon { .. } => {
                    let got = self.acd.withdraw(key, now);
                    self.assigned(got);
                }
                Output::SeatAnswered { seat, queue, .. } => {
                    self.acd.offer_answered(key, &seat, &queue, now);
                    // Every answered caller talks a minute, then hangs up.
                    self.at(
                        now + MIN,
                        Ev::Call(key, Input::LegHangup { leg: LegId::CALLER }),
                    );
                }
                Output::SeatOfferFailed {
                    seat,
                    queue,
                    waiting_since_ms,
                    why,
                } => {
                    let why = match why {
                        OfferFailure::NoAnswer => acd::OfferFailure::NoAnswer,
                        OfferFailure::Refused => acd::OfferFailure::Refused,
                        OfferFailure::Returned => acd::OfferFailure::Returned,
                    };
                    let got = self
                        .acd
                        .offer_failed(key, &seat, &queue, waiting_since_ms, why, now);
                    self.assigned(got);
                }
                Output::SeatReleased { seat } => {
                    let got = self.acd.seat_released(&seat, now);
                    self.assigned(got);
                }
                Output::Finished(r) => self.records.push(*r),
                // Signalling and media: nothing to simulate.
                _ => {}
            }
        }
    }
}

fn figures(r: &QueueReport, queue: &str) -> ticket::queue_stats::Figures {
    r.queues
        .iter()
        .find(|q| q.queue == queue)
        .map(|q| q.figures.clone())
        .unwrap_or_else(|| panic!("no {queue} in {r:?}"))
}

/// The hand count of the 20 calls (see the script's comments).
fn check_hand_count(r: &QueueReport) {
    let g = figures(r, "general");
    let t = g.tally;
    assert_eq!(t.offered, 20);
    assert_eq!((t.answered, t.answered_within_threshold), (11, 7));
    assert_eq!((t.abandoned, t.short_abandoned), (4, 3));
    assert_eq!((t.overflowed, t.callbacks, t.ended), (2, 0, 0));
    assert_eq!(g.service_level, Some(7.0 / 15.0));
    assert_eq!(g.answer_rate, Some(11.0 / 15.0));
    // 3 + 20 + 20.001 + 10 + 25 + 0 + 14 + 19 + 21 + 1 + 29 s over 11 answers; every call talked 60 s.
    assert_eq!(g.asa_ms, Some(162_001.0 / 11.0));
    assert_eq!(g.aht_ms, Some(60_000.0));
    let b = figures(r, "backup");
    assert_eq!(
        (b.tally.offered, b.tally.answered, b.tally.callbacks),
        (2, 1, 1)
    );
    assert_eq!(b.service_level, Some(0.5));
    // The center counts each call once from its first queue: call 10 waited 128 s, call 12 got a call back.
    let o = &r.overall;
    assert_eq!((o.tally.offered, o.tally.answered), (20, 12));
    assert_eq!(
        (o.tally.answered_within_threshold, o.tally.callbacks),
        (7, 1)
    );
    assert_eq!(o.answer_rate, Some(12.0 / 17.0));
    assert_eq!(o.service_level, Some(7.0 / 17.0));
}

async fn stored(store: &ticket::Store, want: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.count_call_records().await.unwrap() < want {
        assert!(std::time::Instant::now() < deadline, "records not stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn seeded(store: &ticket::Store, now: i64) -> Rolling {
    let mut r = Rolling::new(86_400_000, MIN);
    for call in store.queue_calls(now - 86_400_000, now + 1).await.unwrap() {
        r.add_call(&call, now, &|_| RULES, RULES);
    }
    r
}

async fn twenty_calls_and_a_restart(db: common::TestDb) {
    let mut sim = Sim::new();
    for i in 0..20 {
        // One call every ten minutes: each is over before the next.
        sim.at(i as i64 * 10 * MIN, Ev::Start(i));
    }
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let mut continuous = Rolling::new(86_400_000, MIN);
    let half = 95 * MIN;
    for r in sim.run_until(half) {
        continuous.add_call(&visits_of(&r), BASE + half, &|_| RULES, RULES);
        svc.sink().submit(r);
    }
    stored(svc.store(), 10).await;
    let before = continuous.report(BASE + half, &|_| RULES, RULES);
    assert_eq!(figures(&before, "general").tally.offered, 10);

    // Restart: the service goes, a new one starts on the same database and the live figures come from it.
    svc.shutdown().await;
    let svc = ticket::start(db.config(), common::schedule())
        .await
        .unwrap();
    let mut restarted = seeded(svc.store(), BASE + half).await;
    assert_eq!(restarted.report(BASE + half, &|_| RULES, RULES), before);

    let end = 205 * MIN;
    let rest = sim.run_until(end);
    assert_eq!(rest.len(), 10);
    let reasons: Vec<EndReason> = rest.iter().map(|r| r.end_reason).collect();
    assert_eq!(reasons[1], EndReason::Callback, "call 12");
    for r in rest {
        let v = visits_of(&r);
        continuous.add_call(&v, BASE + end, &|_| RULES, RULES);
        restarted.add_call(&v, BASE + end, &|_| RULES, RULES);
        svc.sink().submit(r);
    }
    let live = restarted.report(BASE + end, &|_| RULES, RULES);
    check_hand_count(&live);
    assert_eq!(live, continuous.report(BASE + end, &|_| RULES, RULES));
    // And once more from nothing but the database.
    stored(svc.store(), 20).await;
    let mut from_db = seeded(svc.store(), BASE + end).await;
    assert_eq!(from_db.report(BASE + end, &|_| RULES, RULES), live);
    // The call-back promise opened a call-back ticket.
    let tickets = svc
        .store()
        .list_tickets(&ticket::TicketFilter::default())
        .await
        .unwrap();
    assert!(
        tickets.iter().any(|t| t.source == "auto_callback"),
        "{tickets:?}"
    );
    svc.shutdown().await;
}

both_backends!(twenty_calls, twenty_calls_and_a_restart);
