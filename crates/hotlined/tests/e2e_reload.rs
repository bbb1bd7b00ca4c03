//! Hot reload with calls in progress: a broken plan is refused with file:line:column and the plan in
//! service keeps routing; a good plan (by SIGHUP) takes effect for new calls while the call in progress
//! keeps going and ends normally.

mod support;

use std::process::Command;
use std::time::Duration;
use support::*;

#[test]
fn reload_refuses_a_broken_plan_and_applies_a_good_one_while_a_call_waits() {
    let plans = copy_dialplans();
    let dir = plans.path().join("dialplans/jiujiang");
    let whole = dir.join("whole.toml");
    let original = std::fs::read_to_string(&whole).unwrap();
    let d = Daemon::start(Options {
        dialplan: Some(dir.clone()),
        ..Options::default()
    });

    // A call in progress: greeting, then queued (no seat), gives up after 9 s.
    let rtp = RtpPeer::new();
    let mut waiting = dial(&d, "caller_cancel.xml", "12345", rtp.port(), 9000);
    wait_for(Duration::from_secs(10), "the waiting call's audio", || {
        !rtp.packets().is_empty()
    });

    // 1. An ops typo: a number defined twice. Refused with file:line:column; the old plan keeps serving.
    let first_entry: String = original
        .lines()
        .skip_while(|l| !l.starts_with("[[number]]"))
        .take(6)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&whole, format!("{original}\n{first_entry}")).unwrap();
    let (code, body) = d.http_post("/admin/reload").unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("whole.toml:") && body.contains("duplicate number"),
        "{body}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let p = free_port().to_string();
    let mut still_old = Sipp::spawn(
        d.sip,
        &scenario_expecting(tmp.path(), 404),
        &["-i", "127.0.0.1", "-p", &p, "-s", "99999"],
    );
    assert!(
        still_old.wait(Duration::from_secs(20)).success(),
        "{}",
        still_old.messages()
    );

    // 2. A good edit — a new merged number 99999 — applied by SIGHUP, like `systemctl reload`.
    std::fs::write(
        &whole,
        format!(
            "{original}\n[[number]]\nnumber = \"99999\"\nname = \"测试热线\"\ndepartment = \"测试局\"\nmode = \"whole\"\nafter = \"queue\"\n"
        ),
    )
    .unwrap();
    let before = d.status()["dialplan"]["reloads"].as_u64().unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for(Duration::from_secs(10), "the SIGHUP reload", || {
        d.status()["dialplan"]["reloads"].as_u64().unwrap() > before
    });
    assert_eq!(d.status()["dialplan"]["numbers"].as_u64(), Some(49));
    let rtp2 = RtpPeer::new();
    let mut new_number = dial(&d, "caller_cancel.xml", "99999", rtp2.port(), 1000);
    assert!(
        new_number.wait(Duration::from_secs(20)).success(),
        "{}",
        new_number.messages()
    );

    // 3. The call that was waiting through both reloads ends normally and is recorded.
    let st = waiting.wait(Duration::from_secs(30));
    assert!(st.success(), "{}\n{}", waiting.messages(), d.log());
    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(3);
    let first = records
        .iter()
        .find(|r| r.caller == "13900005678" && r.called == "12345");
    assert_eq!(
        first.map(|r| r.end_reason),
        Some(ticket::EndReason::AbandonedInQueue),
        "{records:?}"
    );
    assert!(records
        .iter()
        .any(|r| r.called == "99999" && r.route_mode.as_deref() == Some("whole")));
}
