//! Test backends: every integration test runs against SQLite (a temp file) and PostgreSQL (a fresh database on
//! the server named by TICKET_TEST_PG_URL; `scripts/pg-test.sh start` provides one). Without that variable the
//! PostgreSQL variants are skipped with a loud message.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::Connection;
use ticket::{CallRecord, EndReason, TicketConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    pub fn config(&self) -> TicketConfig {
        TicketConfig {
            database_url: self.url.clone(),
            spool_dir: self.spool(),
            ..TicketConfig::default()
        }
    }
}

/// Bearer tokens of the fixture accounts (see [`gate`]).
pub const OPERATOR_TOKEN: &str = "secret-token";
pub const WATER_TOKEN: &str = "water-dept-token";
pub const SUPERVISOR_TOKEN: &str = "supervisor-token";
pub const AUDITOR_TOKEN: &str = "auditor-token";
/// HTTP Basic password of `power-dept`.
pub const POWER_PASSWORD: &str = "power-dept-password";

/// One account per role: `op-42` (operator), `water-dept` and `power-dept` (department users of `water` and
/// `power`), `sup` (supervisor), `audit` (auditor). The password hash uses cheap argon2 parameters (the PHC
/// string carries them): the real ones take seconds in a debug build.
pub fn gate() -> access::Gate {
    use access::{token_sha256, AccountConfig, Role};
    let acc = |name: &str, role, dept: Option<&str>, token: Option<&str>, pw: Option<&str>| {
        AccountConfig {
            name: name.into(),
            role,
            department: dept.map(str::to_string),
            password_hash: pw.map(|p| access::hash_password_with(p, 64, 1, 1).unwrap()),
            token_sha256: token.map(token_sha256),
        }
    };
    let accounts = access::Accounts::new(&[
        acc("op-42", Role::Operator, None, Some(OPERATOR_TOKEN), None),
        acc(
            "water-dept",
            Role::Department,
            Some("water"),
            Some(WATER_TOKEN),
            None,
        ),
        acc(
            "power-dept",
            Role::Department,
            Some("power"),
            None,
            Some(POWER_PASSWORD),
        ),
        acc("sup", Role::Supervisor, None, Some(SUPERVISOR_TOKEN), None),
        acc("audit", Role::Auditor, None, Some(AUDITOR_TOKEN), None),
    ])
    .unwrap();
    access::Gate::new(accounts)
}

/// A fresh, empty database, or None (with a loud message) when PostgreSQL is not configured.
pub async fn fresh(backend: Backend) -> Option<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => Some(TestDb {
            url: format!("sqlite://{}", dir.path().join("t.db").display()),
            dir,
        }),
        Backend::Postgres => {
            let Ok(base) = std::env::var("TICKET_TEST_PG_URL") else {
                // Straight to the stream, not eprintln!: the test harness would swallow it for a passing test.
                static ONCE: std::sync::Once = std::sync::Once::new();
                ONCE.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n!!!!!!!! PostgreSQL tests SKIPPED: TICKET_TEST_PG_URL is not set \
                         (eval \"$(scripts/pg-test.sh start)\") !!!!!!!!\n"
                    );
                });
                return None;
            };
            sqlx::any::install_default_drivers();
            let name = format!("t_{}", uuid_like());
            let mut conn = sqlx::AnyConnection::connect(&base).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            Some(TestDb {
                url: with_db(&base, &name),
                dir,
            })
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        t,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `postgres://u@h:p/base?q` → `postgres://u@h:p/<db>?q`.
fn with_db(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base, String::new()),
    };
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let root = match head[after_scheme..].find('/') {
        Some(i) => &head[..after_scheme + i],
        None => head,
    };
    format!("{root}/{db}{query}")
}

/// The China calendar the dialplans use, 09:00–17:00 Beijing time.
pub fn schedule() -> calendar::Schedule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/calendars/china.toml");
    calendar::Schedule {
        calendar: Arc::new(calendar::HolidayCalendar::load(&path).unwrap()),
        hours: calendar::WorkingHours::nine_to_five(),
        tz: chrono_tz::Asia::Shanghai,
    }
}

pub fn rec(id: &str) -> CallRecord {
    CallRecord {
        call_id: id.to_string(),
        caller: "13812341234".into(),
        called: "12345".into(),
        original_called: None,
        route_mode: Some("main".into()),
        department: None,
        started_at_ms: 1_700_000_000_000,
        answered_at_ms: Some(1_700_000_005_000),
        ended_at_ms: 1_700_000_060_000,
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

/// A call that opens exactly one (call-back) ticket.
pub fn abandoned(id: &str) -> CallRecord {
    CallRecord {
        answered_at_ms: None,
        seat: None,
        end_reason: EndReason::AbandonedInQueue,
        ..rec(id)
    }
}

/// Generate `#[tokio::test]`s `sqlite` and `postgres` in a module named after the test.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(db) = common::fresh(common::Backend::Sqlite).await {
                    $body(db).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = common::fresh(common::Backend::Postgres).await {
                    $body(db).await;
                }
            }
        }
    };
}
