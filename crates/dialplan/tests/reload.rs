//! Hot reload: plans are swapped while other threads route; every decision comes wholly from the old or the
//! new plan, a call in progress keeps its plan, and a broken plan is refused while the old one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dialplan::{Action, CallQuery, LiveDialplan};

fn repo_dialplans() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../dialplans")
        .canonicalize()
        .unwrap()
}

/// Plan variant `v` ("a" or "b"): the center's off-hours prompt, the queue list and the number's target,
/// department and queue all differ, and are spread over two files.
fn write_plan(dir: &Path, v: &str) {
    let d = repo_dialplans();
    let prompt = if v == "a" {
        "off_hours.wav"
    } else {
        "please_wait.wav"
    };
    let center = format!(
        "[center]\nname = \"plan {v}\"\nnumber = \"12345\"\ntimezone = \"Asia/Shanghai\"\ncalendar = {cal:?}\n\
         working_hours = \"09:00-17:00\"\nmain_queue = \"general\"\noff_hours_prompt = {p:?}\n\
         [[queue]]\nname = \"general\"\n[[queue]]\nname = \"q{v}\"\n",
        cal = d.join("calendars/china.toml").display().to_string(),
        p = d.join("prompts").join(prompt).display().to_string(),
    );
    let numbers = format!(
        "[[number]]\nnumber = \"12333\"\nname = \"人社\"\ndepartment = \"dept-{v}\"\nmode = \"parallel\"\n\
         target = \"seats:{v}\"\nqueue = \"q{v}\"\n"
    );
    // Editors replace files by rename; do the same so a reader never sees half a file.
    for (name, text) in [("center.toml", center), ("numbers.toml", numbers)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

fn query(at_hour: u32) -> CallQuery<'static> {
    let at = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2021, 9, 30, at_hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    CallQuery {
        called: "12345",
        diversion: Some("12333"),
        caller: None,
        at,
        digits: "",
    }
}

/// Which plan a decision came from; panics if its fields come from different plans.
fn variant(d: &dialplan::Decision) -> &'static str {
    let dept = d.department.as_deref().unwrap();
    let v = if dept == "dept-a" { "a" } else { "b" };
    assert_eq!(dept, format!("dept-{v}"));
    match d.action {
        Action::Department => assert_eq!(
            d.target.as_deref(),
            Some(format!("seats:{v}").as_str()),
            "torn: {d:?}"
        ),
        Action::PromptThenQueue => {
            assert_eq!(
                d.queue.as_deref(),
                Some(format!("q{v}").as_str()),
                "torn: {d:?}"
            );
            let p = if v == "a" {
                "off_hours.wav"
            } else {
                "please_wait.wav"
            };
            assert!(d.prompt.as_deref().unwrap().ends_with(p), "torn: {d:?}");
        }
        other => panic!("unexpected action {other:?}"),
    }
    v
}

#[test]
fn reload_while_other_threads_route_is_never_torn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    write_plan(&dir, "a");
    let live = Arc::new(LiveDialplan::load(&dir).unwrap());
    let stop = Arc::new(AtomicBool::new(false));

    // seen[reader][variant]: shared so the writer can keep switching until every reader saw both plans
    // (a starved reader on a loaded machine would otherwise make the test flaky).
    let seen: Arc<[[AtomicU64; 2]; 3]> = Arc::new(Default::default());
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let (live, stop, seen) = (live.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                // Off hours (20:00) and in hours (10:00) exercise different tables of the plan.
                let queries = [query(10), query(20)];
                while !stop.load(Ordering::Relaxed) {
                    let d = live.route(&queries[i % 2]);
                    seen[i][(variant(&d) == "b") as usize].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let all_saw_both = || {
        seen.iter()
            .all(|r| r.iter().all(|c| c.load(Ordering::Relaxed) > 0))
    };

    // A call in progress: takes the plan once and keeps it across reloads.
    let in_call = live.current();
    let first = variant(&in_call.route(&query(10)));

    let started = std::time::Instant::now();
    let mut round = 0;
    while round < 60 || (!all_saw_both() && started.elapsed() < Duration::from_secs(30)) {
        round += 1;
        let v = if round % 2 == 0 { "b" } else { "a" };
        write_plan(&dir, v);
        live.reload(&dir).unwrap();
        assert_eq!(live.current().name(), format!("plan {v}"));
        if round % 10 == 5 {
            // A broken edit is refused and the plan in service keeps serving.
            std::fs::write(
                dir.join("numbers.toml"),
                "[[number]]\nnumber = \"12333\"\nmode = \"parallel\"\n",
            )
            .unwrap();
            let errs = live.reload(&dir).unwrap_err();
            assert!(
                errs[0]
                    .to_string()
                    .contains("numbers.toml:1:1: error: missing field `name`"),
                "{errs:?}"
            );
            assert_eq!(live.current().name(), format!("plan {v}"));
            write_plan(&dir, v);
        }
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            variant(&in_call.route(&query(10))),
            first,
            "a call in progress changed plans"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        all_saw_both(),
        "each reader must have seen both plans: {seen:?}"
    );
}

#[test]
fn watcher_reloads_on_change_and_keeps_old_plan_on_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    write_plan(&dir, "a");
    let live = Arc::new(LiveDialplan::load(&dir).unwrap());
    let (tx, rx) = mpsc::channel();
    let watcher = dialplan::watch(&dir, live.clone(), move |r| {
        let _ = tx.send(r.map_err(|e| e.iter().map(|d| d.to_string()).collect::<Vec<_>>()));
    })
    .unwrap();
    assert!(
        watcher.watched().len() >= 3,
        "plan, calendar and prompt directories: {:?}",
        watcher.watched()
    );

    let wait_for = |want_ok: bool| loop {
        let r = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no reload within 20 s");
        if r.is_ok() == want_ok {
            return r;
        }
    };

    write_plan(&dir, "b");
    wait_for(true).unwrap();
    // Debounced: several events may produce more than one reload; settle, then look.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(live.current().name(), "plan b");

    std::fs::write(
        dir.join("numbers.toml"),
        "[[number]]\nnumber = \"12333\"\nname = \"x\"\nmode = \"paralel\"\n",
    )
    .unwrap();
    let errs = wait_for(false).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.contains("numbers.toml:4:8: error: unknown variant `paralel`")),
        "{errs:?}"
    );
    assert_eq!(live.current().name(), "plan b", "old plan keeps serving");
    drop(watcher);
}
