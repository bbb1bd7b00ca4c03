//! Dual-number parallel off hours: the department's number is answered by 12345 (off-hours prompt,
//! then the 12345 queue, then an operator) and the call opens a ticket for the department.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn off_hours_call_to_a_parallel_number_is_answered_by_12345_and_opens_a_department_ticket() {
    let plans = copy_dialplans();
    let dir = plans.path().join("dialplans/jiujiang");
    // A department whose one working minute is never now, so the test does not depend on the wall clock.
    let beijing_hour = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%H")
        .to_string();
    let hours = if beijing_hour == "03" {
        "05:00-05:01"
    } else {
        "03:00-03:01"
    };
    let parallel = dir.join("parallel.toml");
    let mut text = std::fs::read_to_string(&parallel).unwrap();
    text.push_str(&format!(
        "\n[[number]]\nnumber = \"12399\"\nname = \"测试热线\"\ndepartment = \"测试局\"\nmode = \"parallel\"\ntarget = \"seats:csj\"\nworking_hours = \"{hours}\"\n"
    ));
    std::fs::write(&parallel, text).unwrap();
    let d = Daemon::start(Options {
        dialplan: Some(dir),
        ..Options::default()
    });

    let seat_rtp = RtpPeer::new();
    let _seat = register_seat(&d, "1005", "seat_answer.xml", seat_rtp.port());
    let caller_rtp = RtpPeer::new();
    let mut caller = dial(&d, "caller.xml", "12399", caller_rtp.port(), 1000);
    let st = caller.wait(Duration::from_secs(40));
    assert!(
        st.success(),
        "caller failed:\n{}\n{}",
        caller.messages(),
        d.log()
    );
    // The off-hours prompt (8.7 s of 16-bit PCM, sent as the caller's A-law) came first.
    assert!(
        caller_rtp.packets().len() >= 400,
        "{}",
        caller_rtp.packets().len()
    );

    d.wait_idle(Duration::from_secs(5));
    let records = d.call_records(1);
    let r = &records[0];
    assert!(r.off_hours);
    assert_eq!(r.route_mode.as_deref(), Some("parallel"));
    assert_eq!(r.department.as_deref(), Some("测试局"));
    assert_eq!(r.seat.as_deref(), Some("1005"), "a 12345 operator took it");

    // The ticket API shows the department's ticket, opened automatically from the record.
    let mut found = String::new();
    wait_for(Duration::from_secs(10), "the automatic ticket", || {
        let (code, body) = d.api_get("/api/tickets").unwrap_or((0, String::new()));
        found = format!("{code} {body}");
        code == 200 && body.contains("测试局")
    });
    assert!(
        found.contains("auto_off_hours") || found.contains("off-hours"),
        "{found}"
    );
}
