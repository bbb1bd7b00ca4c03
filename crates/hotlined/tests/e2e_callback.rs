//! Call-back calls end to end (回访, R-23): a ticket closed through the API lands on the call-back list, the
//! daemon dials its caller through the trunk gateway (`[trunks] gateways`: "citizens" → a SIPp UAS on
//! loopback), plays the summary and the survey. A citizen who answers and presses 1: the entry is done and the
//! ticket is evaluated satisfied (source call_back). One whose phone answers 480 every time: retried per the
//! policy (seconds here) until given up. On SQLite and on PostgreSQL.

#[path = "support/pg.rs"]
mod pg;
mod support;

use std::time::{Duration, Instant};
use support::*;
use ticket::callback::CallbackState;

fn daemon(citizen: std::net::SocketAddr, database_url: Option<String>) -> Daemon {
    let summary = repo().join("dialplans/prompts/callback_summary.wav");
    Daemon::start(Options {
        gateways: vec![("citizens".into(), citizen)],
        database_url,
        // Every hour of every day, three tries two seconds apart: the test cannot wait for office hours.
        extra: format!(
            "\n[callback]\nenabled = true\nuri = \"sip:{{number}}@citizens\"\npoll_interval_s = 1\n\
             ring_timeout_s = 10\nsummary_prompt = \"{}\"\n\n[tickets.callbacks]\nwindow_start = \"00:00\"\n\
             window_end = \"23:59\"\nworking_days_only = false\nmax_attempts = 3\nretry_after_seconds = [2]\n",
            summary.display()
        ),
        ..Options::default()
    })
}

/// A ticket from `caller` taken through to closed: the call-back list picks it up.
fn closed_ticket(d: &Daemon, caller: &str) -> String {
    let body = serde_json::json!({
        "accepted_at": chrono::Utc::now().to_rfc3339(),
        "category": "complaint",
        "department": "市水务局",
        "text": "路灯不亮",
        "caller": caller,
    });
    let (code, resp) = d.api_post("/api/tickets", &body.to_string()).unwrap();
    assert_eq!(code, 201, "{resp}");
    let id = serde_json::from_str::<serde_json::Value>(&resp).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for step in [
        serde_json::json!({"action": "dispatch", "department": "市水务局"}),
        serde_json::json!({"action": "sign"}),
        serde_json::json!({"action": "handle"}),
        serde_json::json!({"action": "reply", "text": "已修复"}),
        serde_json::json!({"action": "close"}),
    ] {
        let (code, resp) = d
            .api_post(&format!("/api/tickets/{id}/actions"), &step.to_string())
            .unwrap();
        assert_eq!(code, 200, "{step}: {resp}");
    }
    id
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The list's entries in `state`, from the daemon's database.
fn entries(d: &Daemon, state: CallbackState) -> Vec<ticket::store::CallbackRow> {
    block_on(async {
        let store = ticket::Store::connect(&d.db_url, 1).await.unwrap();
        store.callbacks(state).await.unwrap()
    })
}

fn wait_entry(d: &Daemon, state: CallbackState, within: Duration) -> ticket::store::CallbackRow {
    let deadline = Instant::now() + within;
    loop {
        if let Some(e) = entries(d, state).pop() {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "no call-back entry {state:?}:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn citizen(scenario: &str, calls: &str) -> (Sipp, std::net::SocketAddr) {
    let port = free_port();
    let media = free_port().to_string();
    // SIPp as the citizen's phone: a UAS on its own port (the remote address is unused).
    let sipp = Sipp::spawn(
        "127.0.0.1:9".parse().unwrap(),
        &sipp_dir().join(scenario),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mp",
            &media,
            "-m",
            calls,
        ],
    );
    (sipp, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

fn a_citizen_who_answers_and_presses_1_evaluates_the_ticket_satisfied(
    database_url: Option<String>,
) {
    let (mut phone, addr) = citizen("citizen_answer_key1.xml", "1");
    let d = daemon(addr, database_url);
    let id = closed_ticket(&d, "13900001111");
    let done = wait_entry(&d, CallbackState::Done, Duration::from_secs(40));
    assert_eq!(done.ticket_id.as_deref(), Some(id.as_str()));
    assert_eq!(done.caller, "13900001111");
    assert_eq!(done.attempts, 1);
    assert_eq!(done.outcome.as_deref(), Some("evaluated"));
    let st = phone.wait(Duration::from_secs(20));
    assert!(
        st.success(),
        "the citizen's phone:\n{}\n{}",
        phone.messages(),
        d.log()
    );
    let (ticket, evaluations, attempts) = block_on(async {
        let store = ticket::Store::connect(&d.db_url, 1).await.unwrap();
        (
            store.ticket(&id).await.unwrap().unwrap(),
            store.evaluations(&id).await.unwrap(),
            store.callback_attempts(&done.id).await.unwrap(),
        )
    });
    assert_eq!(ticket.status, ticket::Status::Evaluated, "{ticket:?}");
    assert_eq!(ticket.satisfaction, Some(ticket::Satisfaction::Satisfied));
    assert_eq!(evaluations.len(), 1, "{evaluations:?}");
    assert_eq!(evaluations[0].source, ticket::EvaluationSource::CallBack);
    assert_eq!(evaluations[0].evaluation, ticket::Evaluation::Satisfied);
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].evaluation, Some(ticket::Evaluation::Satisfied));
    // The KPI API counts the call-back's rating and the coverage.
    let (code, kpi) = d.api_get("/api/stats/kpi").unwrap();
    assert_eq!(code, 200, "{kpi}");
    let kpi: serde_json::Value = serde_json::from_str(&kpi).unwrap();
    assert_eq!(kpi["satisfaction_call_back"]["satisfied"], 1, "{kpi}");
}

fn a_citizen_not_reached_is_retried_per_the_policy_then_given_up(database_url: Option<String>) {
    let (mut phone, addr) = citizen("citizen_unavailable.xml", "3");
    let d = daemon(addr, database_url);
    let id = closed_ticket(&d, "13900002222");
    // Three tries (max_attempts), each 480, two seconds apart (retry_after_seconds), then given up.
    let gave_up = wait_entry(&d, CallbackState::GivenUp, Duration::from_secs(40));
    assert_eq!(gave_up.ticket_id.as_deref(), Some(id.as_str()));
    assert_eq!(gave_up.attempts, 3);
    assert_eq!(gave_up.outcome.as_deref(), Some("no_answer"));
    let attempts = block_on(async {
        let store = ticket::Store::connect(&d.db_url, 1).await.unwrap();
        store.callback_attempts(&gave_up.id).await.unwrap()
    });
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for pair in attempts.windows(2) {
        let gap = pair[1].at_ms - pair[0].at_ms;
        assert!(
            (2_000..6_000).contains(&gap),
            "retried after {gap} ms, the policy says 2 s"
        );
    }
    assert!(attempts.iter().all(|a| a.outcome == "no_answer"));
    let st = phone.wait(Duration::from_secs(20));
    assert!(
        st.success(),
        "the citizen's phone took three INVITEs:\n{}",
        phone.messages()
    );
    // Nothing more is dialled once given up.
    std::thread::sleep(Duration::from_secs(3));
    assert!(entries(&d, CallbackState::Pending).is_empty());
    assert_eq!(d.log().matches("call-back call ").count(), 3, "{}", d.log());
}

#[test]
fn call_back_answered_and_rated_sqlite() {
    a_citizen_who_answers_and_presses_1_evaluates_the_ticket_satisfied(None);
}

#[test]
fn call_back_answered_and_rated_postgres() {
    if let Some(url) = pg::fresh_database() {
        a_citizen_who_answers_and_presses_1_evaluates_the_ticket_satisfied(Some(url));
    }
}

#[test]
fn call_back_not_reached_is_retried_then_given_up_sqlite() {
    a_citizen_not_reached_is_retried_per_the_policy_then_given_up(None);
}

#[test]
fn call_back_not_reached_is_retried_then_given_up_postgres() {
    if let Some(url) = pg::fresh_database() {
        a_citizen_not_reached_is_retried_per_the_policy_then_given_up(Some(url));
    }
}
