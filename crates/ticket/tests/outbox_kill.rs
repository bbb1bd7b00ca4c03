//! The outbox loses nothing and delivers every notice once: a child process runs the delivery loop against a
//! webhook receiver on 127.0.0.1 that is down at first (connection refused), then up but failing (503), then
//! up; the child is killed with SIGKILL in the middle of the stream, a new one is started, and in the end every
//! notice reached the receiver, once by its `Idempotency-Key` (a copy is possible only for the notice in flight
//! at the kill, and it carries the same key).
//!
//! The child is this same test binary, re-run with `OUTBOX_KILL_CHILD_URL` set.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use ticket::notify::{run_outbox, Notifiers, NotifyConfig, WebhookConfig, REMINDERS};
use ticket::Store;

const CHILD_URL: &str = "OUTBOX_KILL_CHILD_URL";
const CHILD_PORT: &str = "OUTBOX_KILL_CHILD_PORT";
const NOTICES: usize = 60;

fn notify_config(port: u16) -> NotifyConfig {
    let mut cfg = NotifyConfig {
        backoff_ms: 100,
        max_backoff_ms: 400,
        poll_ms: 50,
        batch: 5,
        ..NotifyConfig::default()
    };
    cfg.webhooks.insert(
        REMINDERS.into(),
        WebhookConfig {
            url: format!("http://127.0.0.1:{port}/hook"),
            timeout_ms: 2_000,
            bearer_token: None,
        },
    );
    cfg
}

/// In the child: deliver forever.
fn child() {
    let url = std::env::var(CHILD_URL).unwrap();
    let port: u16 = std::env::var(CHILD_PORT).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(&url, 2).await.unwrap();
        let cfg = notify_config(port);
        let notifiers = Notifiers::from_config(&cfg).unwrap();
        let (_keep, rx) = tokio::sync::watch::channel(false);
        run_outbox(store, notifiers, cfg, rx).await;
    });
}

fn spawn_child(test_name: &str, url: &str, port: u16) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, url)
        .env(CHILD_PORT, port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What the receiver saw: every request's key, in order, and how many it refused with 503.
#[derive(Default)]
struct Received {
    keys: Vec<String>,
    refused: usize,
}

/// A webhook receiver: the first `fail_first` requests get 503, the others 200 after a short pause (so a kill
/// can land between the receiver's answer and the sender's bookkeeping).
async fn receiver(listener: TcpListener, seen: Arc<Mutex<Received>>, fail_first: usize) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
            };
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let key = header("idempotency-key").unwrap_or_default();
            let refuse = {
                let mut s = seen.lock().unwrap();
                if s.refused < fail_first {
                    s.refused += 1;
                    true
                } else {
                    s.keys.push(key);
                    false
                }
            };
            if refuse {
                let _ = sock
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        });
    }
}

async fn undelivered(url: &str) -> usize {
    let s = Store::connect(url, 1).await.unwrap();
    let n = s.outbox(true).await.unwrap().len();
    s.close().await;
    n
}

fn every_notice_is_delivered_once_across_a_down_receiver_and_a_kill(
    test_name: &str,
    backend: common::Backend,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(common::fresh(backend)) else {
        return;
    };
    let port = rt.block_on(async {
        let s = Store::connect(&db.url, 1).await.unwrap();
        for i in 0..NOTICES {
            let payload = serde_json::json!({"kind": "dispatch", "ticket_id": format!("t-{i}")});
            assert!(s
                .enqueue_notice(&format!("n-{i:03}"), REMINDERS, &payload, 0)
                .await
                .unwrap());
        }
        s.close().await;
        // A free port, closed again: the receiver is down.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let mut first = spawn_child(test_name, &db.url, port);

    // Down for two seconds: the child tries, fails, backs off; nothing is marked delivered.
    std::thread::sleep(Duration::from_secs(2));
    let tried = rt.block_on(async {
        let s = Store::connect(&db.url, 1).await.unwrap();
        let out = s.outbox(false).await.unwrap();
        s.close().await;
        out
    });
    assert!(
        tried.iter().all(|e| e.delivered_at_ms.is_none()),
        "nothing delivered while down"
    );
    assert!(
        tried
            .iter()
            .any(|e| e.attempts > 0 && e.last_error.is_some()),
        "the child tried"
    );

    // Up, failing the first three requests with 503, then accepting.
    let seen = Arc::new(Mutex::new(Received::default()));
    let listener = rt
        .block_on(TcpListener::bind(("127.0.0.1", port)))
        .expect("the port is still free");
    rt.spawn(receiver(listener, seen.clone(), 3));

    // Kill the child once a third of the notices arrived.
    let t0 = Instant::now();
    while seen.lock().unwrap().keys.len() < NOTICES / 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "deliveries did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL: no destructor, no flush, no shutdown.
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = seen.lock().unwrap().keys.len();
    let owed = rt.block_on(undelivered(&db.url));
    assert!(
        owed > 0 && at_kill < NOTICES,
        "the kill landed mid-stream ({at_kill} received, {owed} owed)"
    );

    // A new process delivers the rest.
    let mut second = spawn_child(test_name, &db.url, port);
    let t1 = Instant::now();
    while rt.block_on(undelivered(&db.url)) > 0 {
        assert!(
            t1.elapsed() < Duration::from_secs(60),
            "not everything delivered after the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let a straggler (a second copy) show itself before counting.
    std::thread::sleep(Duration::from_millis(300));
    second.kill().unwrap();
    second.wait().unwrap();

    let seen = seen.lock().unwrap();
    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &seen.keys {
        *by_key.entry(k.as_str()).or_default() += 1;
    }
    let expected: Vec<String> = (0..NOTICES).map(|i| format!("n-{i:03}")).collect();
    assert_eq!(
        by_key.keys().copied().collect::<Vec<_>>(),
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "every notice arrived, and nothing else"
    );
    let copies: usize = by_key.values().map(|n| n - 1).sum();
    assert!(
        copies <= 1,
        "only the notice in flight at the kill may arrive twice: {by_key:?}"
    );
    assert_eq!(seen.refused, 3);
    eprintln!(
        "outbox kill test: {NOTICES} notices, {at_kill} received at the kill, {owed} owed, {copies} copies"
    );
}

#[test]
fn sigkill_outbox_sqlite() {
    if std::env::var(CHILD_URL).is_ok() {
        return child();
    }
    every_notice_is_delivered_once_across_a_down_receiver_and_a_kill(
        "sigkill_outbox_sqlite",
        common::Backend::Sqlite,
    );
}

#[test]
fn sigkill_outbox_postgres() {
    if std::env::var(CHILD_URL).is_ok() {
        return child();
    }
    every_notice_is_delivered_once_across_a_down_receiver_and_a_kill(
        "sigkill_outbox_postgres",
        common::Backend::Postgres,
    );
}

/// The daemon's wiring: a dispatch, through the producers and the delivery loop, reaches the configured
/// webhook without anyone calling the store by hand.
#[test]
fn background_loops_deliver_a_dispatch_reminder() {
    if std::env::var(CHILD_URL).is_ok() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = common::fresh(common::Backend::Sqlite).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Received::default()));
        tokio::spawn(receiver(listener, seen.clone(), 0));
        let mut cfg = db.config();
        cfg.notify = notify_config(port);
        cfg.notify.push_province = false;
        let store = Store::connect(&db.url, 2).await.unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        let t = store
            .create_ticket(
                &ticket::TicketInput {
                    category: ticket::Category::Help,
                    department: "water".into(),
                    text: "x".into(),
                    caller: None,
                    call_id: None,
                    accepted_at_ms: now,
                    source: "api".into(),
                },
                "op",
                now,
            )
            .await
            .unwrap();
        store
            .act(
                &t.id,
                &ticket::Action::Dispatch {
                    department: "water".into(),
                },
                "op",
                now,
            )
            .await
            .unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let clock: Arc<dyn ticket::WorkingClock> = Arc::new(common::schedule());
        let handles = ticket::notify::spawn_background(store.clone(), &cfg, clock, rx).unwrap();
        let t0 = Instant::now();
        while seen.lock().unwrap().keys.is_empty() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no reminder arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(seen.lock().unwrap().keys[0], "reminder:history:2");
    });
}
