//! Call records stored per second on SQLite (a WAL file in a temp dir), batched as the writer does.
//! `cargo bench -p ticket --bench store` — divan prints items/s (= records/s) in the throughput columns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use divan::counter::ItemsCount;
use divan::Bencher;
use ticket::{CallRecord, EndReason, Store, TicketConfig};

fn main() {
    divan::main();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn rec() -> CallRecord {
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    CallRecord {
        call_id: format!("bench-{i}@carrier.example"),
        caller: "13812341234".into(),
        called: "12345".into(),
        original_called: Some("96116".into()),
        route_mode: Some("main".into()),
        department: None,
        started_at_ms: 1_700_000_000_000 + i as i64,
        answered_at_ms: Some(1_700_000_005_000 + i as i64),
        ended_at_ms: 1_700_000_060_000 + i as i64,
        wait_ms: 5_000,
        seat: Some("1001".into()),
        end_reason: EndReason::CallerHangup,
        digits: "1".into(),
        off_hours: false,
        transfer_unanswered: None,
        transfers: Vec::new(),
        handed_over_by: None,
        system_answered_at_ms: None,
        queue_visits: Vec::new(),
        survey: None,
        quality: Vec::new(),
    }
}

/// Store::insert_call_records with a batch of `n` new records per transaction.
#[divan::bench(args = [1, 64, 256], sample_count = 30)]
fn sqlite_insert_batch(bencher: Bencher, n: usize) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(Store::connect(&url, 2)).unwrap();
    bencher
        .counter(ItemsCount::new(n))
        .with_inputs(|| (0..n).map(|_| rec()).collect::<Vec<_>>())
        .bench_local_values(|batch| {
            rt.block_on(store.insert_call_records(&batch, 0, "callback"))
                .unwrap()
        });
}

/// End to end: 10,000 records through RecordSink::submit (journal + channel + writer), until all are stored.
#[divan::bench(sample_count = 5)]
fn sqlite_sink_end_to_end(bencher: Bencher) {
    const N: usize = 10_000;
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let cfg = TicketConfig {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        spool_dir: dir.path().join("spool"),
        api_token: "t".into(),
        ..TicketConfig::default()
    };
    let schedule = calendar::Schedule {
        calendar: Arc::new(
            calendar::HolidayCalendar::load(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../dialplans/calendars/china.toml"),
            )
            .unwrap(),
        ),
        hours: calendar::WorkingHours::nine_to_five(),
        tz: chrono_tz::Asia::Shanghai,
    };
    bencher
        .counter(ItemsCount::new(N))
        .with_inputs(|| (0..N).map(|_| rec()).collect::<Vec<_>>())
        .bench_local_values(|recs| {
            rt.block_on(async {
                let svc = ticket::start(cfg.clone(), schedule.clone()).await.unwrap();
                let sink = svc.sink();
                for r in recs {
                    sink.submit(r);
                }
                svc.shutdown().await;
            })
        });
}
