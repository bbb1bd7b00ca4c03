//! `check` on the broken plans under tests/dialplans/broken/: each directory holds one mistake and an
//! `expect` file (line 1: "file:line:col", line 2: a fragment of the message). Each must be refused with
//! exactly that position and reason, and the example plans must pass.

use std::path::Path;

use dialplan::{check_dir, Dialplan, Severity};

#[test]
fn every_broken_plan_is_refused_at_the_right_spot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dialplans/broken");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "need at least ten distinct mistakes, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let expect = std::fs::read_to_string(dir.join("expect")).unwrap();
        let mut lines = expect.lines();
        let (place, fragment) = (lines.next().unwrap(), lines.next().unwrap());
        let report = check_dir(dir);
        assert!(!report.is_ok(), "{} was accepted", dir.display());
        assert!(report.numbers.is_none());
        let wanted = format!("/{place}:");
        let hit = report
            .errors()
            .map(|d| d.to_string())
            .any(|s| s.contains(&wanted) && s.contains(": error: ") && s.contains(fragment));
        if !hit {
            let got: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
            failures.push(format!(
                "{}: expected {place} … {fragment}\n  got: {got:#?}",
                dir.display()
            ));
        }
        // The same errors refuse a load (and therefore a reload).
        let errs = Dialplan::load_dir(dir).unwrap_err();
        assert!(errs.iter().all(|d| d.severity == Severity::Error) && !errs.is_empty());
        let (out, code) = dialplan::check_command(dir);
        assert_eq!(code, 1, "{out}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn several_mistakes_are_all_reported_in_one_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    let cal = plans.join("calendars/china.toml");
    std::fs::write(
        tmp.path().join("center.toml"),
        format!(
            "[center]\nname = \"x\"\nnumber = \"12345\"\ntimezone = \"Asia/Shanghai\"\ncalendar = {:?}\n\
             working_hours = \"09:00-17:00\"\nmain_queue = \"general\"\n[[queue]]\nname = \"general\"\n",
            cal.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("a.toml"),
        "[[number]]\nnumber = \"12333\"\nname = \"a\"\nmode = \"parallel\"\ntarget = \"seats:a\"\nqueue = \"nope\"\n\
         [[number]]\nnumber = \"12A\"\nname = \"b\"\nmode = \"whole\"\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.toml"),
        "[[number]]\nnumber = \"12333\"\nname = \"dup\"\nmode = \"whole\"\n",
    )
    .unwrap();
    let report = check_dir(tmp.path());
    let text: Vec<String> = report.errors().map(|d| d.to_string()).collect();
    assert_eq!(text.len(), 3, "{text:#?}");
    assert!(
        text[0].contains("a.toml:6:9: error: unknown queue"),
        "{text:#?}"
    );
    assert!(
        text[1].contains("a.toml:8:10: error: number \"12A\""),
        "{text:#?}"
    );
    assert!(
        text[2].contains("b.toml:2:10: error: duplicate number 12333: already defined at"),
        "{text:#?}"
    );
    assert!(text[2].ends_with("a.toml:2:10"), "{text:#?}");
}

#[test]
fn five_digit_number_kept_alive_after_transition_is_a_warning_only() {
    let tmp = tempfile::tempdir().unwrap();
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    std::fs::write(
        tmp.path().join("center.toml"),
        format!(
            "[center]\nname = \"x\"\nnumber = \"12345\"\ntimezone = \"Asia/Shanghai\"\ncalendar = {:?}\n\
             working_hours = \"09:00-17:00\"\nmain_queue = \"general\"\n[[queue]]\nname = \"general\"\n",
            plans.join("calendars/china.toml").display().to_string()
        ),
    )
    .unwrap();
    let prompt = plans.join("prompts/merged_transition.wav");
    std::fs::write(
        tmp.path().join("n.toml"),
        format!(
            "[[number]]\nnumber = \"12396\"\nname = \"a\"\nmode = \"whole\"\nafter = \"prompt_then_hangup\"\n\
             transition = {{ from = \"2021-11-22\", until = \"2021-12-21\", prompt = {:?}, then = \"hangup\" }}\n",
            prompt.display().to_string()
        ),
    )
    .unwrap();
    let report = check_dir(tmp.path());
    assert!(report.is_ok());
    let w: Vec<String> = report.warnings().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("n.toml:5:9: warning: 5-digit number 12396"),
        "{w:?}"
    );
    let (out, code) = dialplan::check_command(tmp.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 warning(s)"));
}

#[test]
fn check_warns_when_the_calendar_lacks_the_current_year() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/jiujiang");
    let on = |y, m, d| dialplan::check_dir_on(&dir, chrono::NaiveDate::from_ymd_opt(y, m, d));
    let covered = on(2026, 11, 22);
    assert!(covered.is_ok() && covered.warnings().count() == 0);
    let missing = on(2027, 1, 2);
    assert!(missing.is_ok(), "only a warning");
    let w: Vec<String> = missing.warnings().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("calendars/china.toml: warning: calendar has no 2027"),
        "{w:?}"
    );
}
