//! One call's whole life in the ACD (enqueue → offer → answer → release) with thousands of seats online,
//! most of them busy — the load test's shape at 1,200 calls/s. The seat events every change records are drained
//! each cycle, as the daemon's ACD task does.
//!   cargo bench -p acd --bench distribute
use acd::{Acd, AcdConfig};
use divan::{black_box, Bencher};

fn main() {
    divan::main();
}

#[divan::bench(args = [100, 1_000, 4_000])]
fn call_cycle(bencher: Bencher, seats: usize) {
    let mut a = Acd::new(AcdConfig::default());
    let ids: Vec<String> = (0..seats).map(|i| format!("{}", 100_000 + i)).collect();
    for id in &ids {
        a.add_seat(id, vec!["main".into()]);
        a.seat_online(id, 0);
    }
    // Three quarters of the seats on a call.
    let mut call = 0u64;
    let mut now = 1i64;
    for _ in 0..seats * 3 / 4 {
        call += 1;
        for g in a.enqueue(call, "main", now) {
            a.offer_answered(g.call, &g.seat, "main", now);
        }
    }
    a.take_events();
    bencher.bench_local(|| {
        call += 1;
        now += 1;
        let got = a.enqueue(call, "main", now);
        for g in &got {
            a.offer_answered(g.call, &g.seat, "main", now);
            black_box(a.seat_released(&g.seat, now));
        }
        black_box(a.take_events());
    });
}

/// The same cycle as the daemon runs it by default: the queue has a maximum wait (900 s), so every call also
/// enters and leaves the deadline index.
#[divan::bench(args = [4_000])]
fn call_cycle_with_max_wait(bencher: Bencher, seats: usize) {
    let mut a = Acd::new(AcdConfig::default());
    a.add_queue(acd::QueueSpec {
        max_wait_ms: Some(900_000),
        ..acd::QueueSpec::named("main")
    });
    for i in 0..seats {
        let id = format!("{}", 100_000 + i);
        a.add_seat(&id, vec!["main".into()]);
        a.seat_online(&id, 0);
    }
    let mut call = 0u64;
    let mut now = 1i64;
    for _ in 0..seats * 3 / 4 {
        call += 1;
        for g in a.enqueue(call, "main", now) {
            a.offer_answered(g.call, &g.seat, "main", now);
        }
    }
    a.take_events();
    bencher.bench_local(|| {
        call += 1;
        now += 1;
        let got = a.enqueue(call, "main", now);
        for g in &got {
            a.offer_answered(g.call, &g.seat, "main", now);
            black_box(a.seat_released(&g.seat, now));
        }
        black_box(a.take_events());
    });
}
