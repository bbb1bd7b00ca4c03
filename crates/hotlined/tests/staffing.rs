//! `hotlined staffing` over a synthetic day of traffic: a day's calls of the general queue (a morning and an
//! afternoon peak, quiet nights) and the operators' log-ins are written to a database the way the daemon writes
//! them; the command reads them back and advises, per half hour, next to who was logged in. Run with
//! `--no-capture` to see the table.

use std::process::Command;

use ticket::queues::PresenceRow;
use ticket::record::{QueueVisit, VisitOutcome};
use ticket::{CallRecord, EndReason};

/// 2025-03-03 00:00 Beijing time.
const DAY: i64 = 1_740_931_200_000;
const HALF: i64 = 1_800_000;

/// Calls offered per half hour, 00:00 … 23:30.
const PROFILE: [u32; 48] = [
    4, 3, 3, 2, 2, 2, 2, 3, 3, 4, 5, 6, 8, 10, 16, 24, // 00:00–07:30
    40, 52, 60, 64, 62, 58, 50, 44, 36, 32, 38, 48, // 08:00–13:30
    56, 60, 58, 54, 48, 40, 30, 24, 20, 18, 16, 14, // 14:00–19:30
    12, 10, 9, 8, 7, 6, 5, 4, // 20:00–23:30
];

/// A small deterministic generator: the same synthetic day every run.
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Exponential with this mean, in ms.
    fn exp_ms(&mut self, mean_s: f64) -> i64 {
        (-mean_s * self.unit().ln() * 1000.0) as i64
    }
}

fn day_records() -> (Vec<CallRecord>, Vec<(usize, u32, f64)>) {
    let mut rng = Lcg(12345);
    let mut out = Vec::new();
    let mut talk_by_interval = Vec::new();
    for (i, &n) in PROFILE.iter().enumerate() {
        let (mut talk_sum, mut talked) = (0i64, 0u32);
        for k in 0..n {
            let start = DAY + i as i64 * HALF + (k as i64 * HALF) / n as i64;
            let entered = start + 6_000; // after the greeting
            let patience = rng.exp_ms(90.0);
            let wait = rng.exp_ms(15.0);
            let talk = 30_000 + rng.exp_ms(150.0);
            let answered = wait <= patience;
            let left = entered + if answered { wait } else { patience };
            let ended = if answered { left + talk } else { left };
            if answered {
                talk_sum += talk;
                talked += 1;
            }
            out.push(CallRecord {
                call_id: format!("day-{i:02}-{k:03}"),
                caller: "13800000000".into(),
                called: "12345".into(),
                original_called: None,
                route_mode: Some("main".into()),
                department: None,
                started_at_ms: start,
                answered_at_ms: answered.then_some(left),
                ended_at_ms: ended,
                wait_ms: left - start,
                seat: answered.then(|| "1001".to_string()),
                end_reason: if answered {
                    EndReason::CallerHangup
                } else {
                    EndReason::AbandonedInQueue
                },
                digits: String::new(),
                off_hours: false,
                transfer_unanswered: None,
                transfers: Vec::new(),
                handed_over_by: None,
                system_answered_at_ms: None,
                queue_visits: vec![QueueVisit {
                    queue: "general".into(),
                    entered_at_ms: entered,
                    left_at_ms: left,
                    outcome: if answered {
                        VisitOutcome::Answered
                    } else {
                        VisitOutcome::Abandoned
                    },
                }],
                survey: None,
                quality: Vec::new(),
            });
        }
        talk_by_interval.push((
            i,
            n,
            if talked > 0 {
                talk_sum as f64 / talked as f64 / 1000.0
            } else {
                0.0
            },
        ));
    }
    (out, talk_by_interval)
}

/// Operators logging in and out through the day (a seat per operator).
fn shifts() -> Vec<PresenceRow> {
    let row = |seat: u32, at_h: f64, presence: &str| PresenceRow {
        seat: seat.to_string(),
        operator: Some(format!("70{seat:02}")),
        presence: presence.into(),
        reason: None,
        held_out: presence == "logged_out",
        changed_at_ms: DAY + (at_h * 3_600_000.0) as i64,
        queues: vec!["general".into()],
    };
    let mut v = Vec::new();
    // The night shift was on since the evening before.
    for s in 1..=2 {
        v.push(row(s, -2.0, "ready"));
    }
    for s in 3..=12 {
        v.push(row(s, 8.0, "ready"));
        v.push(row(s, 18.0, "logged_out"));
    }
    // A lunch break for four of them.
    for s in 9..=12 {
        v.push(row(s, 12.0, "not_ready"));
        v.push(row(s, 13.0, "ready"));
    }
    v
}

#[test]
fn staffing_advice_for_a_synthetic_day() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("day.db").display());
    let (records, talks) = day_records();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = ticket::Store::connect(&url, 1).await.unwrap();
        store
            .insert_call_records(&records, DAY, "callback")
            .await
            .unwrap();
        store.save_presence(&shifts()).await.unwrap();
        store.close().await;
    });
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/hotlined.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_hotlined"))
        .args(["staffing", "--config"])
        .arg(&config)
        .args([
            "--database-url",
            &url,
            "--queue",
            "general",
            "--from",
            "2025-03-03T00:00:00+08:00",
            "--to",
            "2025-03-04T00:00:00+08:00",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.as_bytes().get(2) == Some(&b':') && l.contains('-'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 48, "{text}");
    assert!(
        text.contains("Erlang A") && text.contains("mean patience"),
        "{text}"
    );
    // 09:30: what was offered, who was logged in, and the Erlang C requirement for the measured handle time
    // (the example config has no wrap-up).
    let (i, n, talk) = talks[19];
    let r = &rows[i];
    assert_eq!(r[0], "09:30-10:00");
    assert_eq!(r[1], n.to_string());
    let a = f64::from(n) * talk / 1800.0;
    let want = acd::erlang::agents_for_service_level(a, talk, 20.0, 0.8);
    assert_eq!(r[4], want.to_string(), "{r:?} talk {talk} A {a}");
    assert_eq!(r[7], "12.0", "two from the night, ten from 08:00");
    // Lunch: four on a break are still logged in (not ready), the night shift counts all day.
    assert_eq!(rows[24][7], "12.0");
    assert_eq!(rows[40][7], "2.0", "20:00: only the night shift");
    // Before the day shift the two on duty are too few for the morning's rise; the peak itself is covered.
    let understaffed = text
        .lines()
        .find(|l| l.starts_with("understaffed"))
        .unwrap_or_default();
    assert!(
        understaffed.contains("07:00") && !understaffed.contains("09:30"),
        "{understaffed}"
    );
    let advised: u32 = rows[19][6].parse().unwrap();
    assert!(advised >= want && advised <= 12, "{advised}");
}
