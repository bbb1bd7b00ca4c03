//! Routing of the two example plans: every mode in and out of working hours, weekends, the 2021 National Day
//! holiday and its adjusted working days, before/during/after transition periods, with and without Diversion.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use dialplan::{Action, CallQuery, Decision, Dialplan, Mode};

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans")
}

fn jiujiang() -> &'static Dialplan {
    static P: OnceLock<Dialplan> = OnceLock::new();
    P.get_or_init(|| Dialplan::load_dir(&plans_dir().join("jiujiang")).unwrap())
}

fn jingjiang() -> &'static Dialplan {
    static P: OnceLock<Dialplan> = OnceLock::new();
    P.get_or_init(|| Dialplan::load_dir(&plans_dir().join("jingjiang")).unwrap())
}

/// Beijing wall time → UTC.
fn bj(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

fn call(p: &Dialplan, to: &str, diversion: Option<&str>, at: &str) -> Decision {
    p.route(&CallQuery {
        called: to,
        diversion,
        caller: None,
        at: bj(at),
        digits: "",
    })
}

/// The same decision whether the legacy number is dialled directly or forwarded by the carrier to 12345
/// with the legacy number in Diversion.
fn both_ways(p: &Dialplan, number: &str, at: &str) -> Decision {
    let direct = call(p, number, None, at);
    let forwarded = call(p, "12345", Some(number), at);
    assert!(!direct.via_diversion && forwarded.via_diversion);
    let mut f = forwarded.clone();
    f.via_diversion = false;
    assert_eq!(
        direct, f,
        "{number} at {at}: direct and forwarded calls differ"
    );
    forwarded
}

fn s(v: &Option<std::sync::Arc<str>>) -> Option<&str> {
    v.as_deref()
}

#[test]
fn example_plans_have_every_number_of_the_annexes() {
    let j = jiujiang();
    assert_eq!(j.count_by_mode(Mode::Whole), 22);
    assert_eq!(j.count_by_mode(Mode::Parallel), 14);
    assert_eq!(j.count_by_mode(Mode::Subcenter), 1);
    assert_eq!(j.name(), "九江市12345政务服务便民热线");
    let k = jingjiang();
    assert_eq!(k.count_by_mode(Mode::Whole), 12);
    assert_eq!(k.count_by_mode(Mode::Parallel), 22);
    assert_eq!(k.count_by_mode(Mode::Emergency), 4);
    assert_eq!(k.len(), 38);
    assert!(
        j.warnings().is_empty() && k.warnings().is_empty(),
        "{:?}",
        j.warnings()
    );
    assert_eq!(
        k.queues().collect::<Vec<_>>(),
        ["line1", "line2", "supervision"]
    );
    assert!(j.prompts().iter().all(|p| p.exists()));
}

#[test]
fn main_number_is_always_answered_by_operators() {
    let j = jiujiang();
    for at in [
        "2021-09-30 10:00",
        "2021-10-01 10:00",
        "2021-10-10 03:00",
        "2026-11-22 15:00",
    ] {
        let d = call(j, "12345", None, at);
        assert_eq!(
            (d.mode, d.action),
            (Mode::Main, Action::PromptThenQueue),
            "{at}"
        );
        assert_eq!(s(&d.queue), Some("general"));
        assert!(s(&d.prompt).unwrap().ends_with("prompts/greeting.wav"));
        assert!(d.working_hours, "12345 is staffed 7×24");
    }
    // Area code and country code forms of 12345 are the same number.
    assert_eq!(
        call(j, "079212345", None, "2021-09-30 10:00").mode,
        Mode::Main
    );
    assert_eq!(
        call(j, "+8679212345", None, "2021-09-30 10:00").mode,
        Mode::Main
    );
}

#[test]
fn jingjiang_menu_lines_and_supervision_key() {
    let k = jingjiang();
    let at = bj("2021-10-09 10:00");
    let q = |digits| {
        k.route(&CallQuery {
            called: "12345",
            diversion: None,
            caller: None,
            at,
            digits,
        })
    };
    let d = q("");
    assert_eq!(d.action, Action::Menu);
    assert_eq!(s(&d.queue), Some("line1"), "no input → line 1");
    assert!(s(&d.prompt).unwrap().ends_with("menu_jingjiang.wav"));
    assert_eq!(
        (q("1").action, s(&q("1").queue)),
        (Action::Queue, Some("line1"))
    );
    assert_eq!(s(&q("2").queue), Some("line2"));
    let nine = q("9");
    assert_eq!(
        (nine.action, s(&nine.queue)),
        (Action::Queue, Some("supervision"))
    );
    assert!(nine.reason.to_string().contains("监管专席"));
    let eight = q("8");
    assert_eq!(
        (eight.action, eight.queue.clone(), eight.target.clone()),
        (Action::SelfQuery, None, None),
        "key 8 is the progress self-query"
    );
    assert!(eight.reason.to_string().contains("进度查询"));
    let bad = q("5");
    assert_eq!(bad.action, Action::Menu, "an unknown key replays the menu");
    assert!(bad.reason.to_string().contains("key 5"));
}

#[test]
fn whole_number_before_during_and_after_transition() {
    let j = jiujiang();
    // 12396: 5-digit, transition 2021-11-22..=2021-12-21, then straight to 12345.
    let before = both_ways(j, "12396", "2021-11-21 23:59");
    assert_eq!(
        (before.mode, before.action, s(&before.prompt)),
        (Mode::Whole, Action::Queue, None)
    );
    assert!(before.reason.to_string().contains("2021-11-22"));

    for at in ["2021-11-22 00:00", "2021-12-05 03:00", "2021-12-21 23:59"] {
        let during = both_ways(j, "12396", at);
        assert_eq!(during.action, Action::PromptThenQueue, "{at}");
        assert!(s(&during.prompt)
            .unwrap()
            .ends_with("prompts/merged_transition.wav"));
        assert_eq!(s(&during.queue), Some("general"));
        assert_eq!(
            during.reason.to_string(),
            "transition period until 2021-12-21: merge announcement, then 12345 answers"
        );
        assert_eq!(s(&during.department), Some("市科技局"));
    }

    let after = both_ways(j, "12396", "2021-12-22 00:00");
    assert_eq!(
        (after.action, s(&after.queue), s(&after.prompt)),
        (Action::Queue, Some("general"), None)
    );
    assert!(after.reason.to_string().contains("ended on 2021-12-21"));

    // 8259110: 7-digit; after the period it no longer takes complaints: announce and hang up.
    let after7 = both_ways(j, "8259110", "2022-01-04 10:00");
    assert_eq!(after7.action, Action::PromptThenHangup);
    assert!(s(&after7.prompt)
        .unwrap()
        .ends_with("merged_transition.wav"));
    assert_eq!(after7.queue, None);
    let during7 = both_ways(j, "8259110", "2021-12-01 10:00");
    assert_eq!(during7.action, Action::PromptThenQueue);
    // Carrier formats of the same number.
    assert_eq!(
        call(j, "07928259110", None, "2022-01-04 10:00").action,
        Action::PromptThenHangup
    );
    assert_eq!(
        call(j, "12345", Some("+867928259110"), "2022-01-04 10:00").action,
        Action::PromptThenHangup
    );

    // Jingjiang: transition in December 2021, numbers keep forwarding to 12345 afterwards.
    let k = jingjiang();
    assert_eq!(
        both_ways(k, "12316", "2021-11-30 10:00").action,
        Action::Queue
    );
    assert_eq!(
        both_ways(k, "12316", "2021-12-31 23:00").action,
        Action::PromptThenQueue
    );
    assert_eq!(
        both_ways(k, "12316", "2022-01-01 00:00").action,
        Action::Queue
    );
}

#[test]
fn whole_number_reports_department_hours_on_holidays_and_adjusted_days() {
    let j = jiujiang();
    assert!(both_ways(j, "12300", "2021-09-30 10:00").working_hours);
    assert!(
        !both_ways(j, "12300", "2021-10-01 10:00").working_hours,
        "National Day"
    );
    assert!(
        both_ways(j, "12300", "2021-10-09 10:00").working_hours,
        "adjusted working Saturday"
    );
    assert!(
        !both_ways(j, "12300", "2021-10-16 10:00").working_hours,
        "plain Saturday"
    );
}

#[test]
fn parallel_number_rings_department_only_in_working_hours() {
    for (plan, number, target) in [
        (jiujiang(), "12333", "seats:rsj"),
        (jingjiang(), "12333", "sip:12333@trunk.invalid"),
    ] {
        for at in [
            "2021-09-30 09:00",
            "2021-09-30 16:59",
            "2021-10-09 10:00",
            "2021-09-26 10:00",
            "2021-10-08 14:00",
        ] {
            let d = both_ways(plan, number, at);
            assert_eq!(
                (d.mode, d.action),
                (Mode::Parallel, Action::Department),
                "{at}"
            );
            assert_eq!(s(&d.target), Some(target));
            assert!(d.working_hours);
            assert_eq!(d.transfer_answer_target_s, Some(15));
            assert_eq!(d.queue, None);
        }
        // Off hours: evening, early morning, weekend, National Day, Mid-Autumn.
        for at in [
            "2021-09-30 17:00",
            "2021-09-30 08:59",
            "2021-10-10 10:00",
            "2021-10-01 10:00",
            "2021-09-21 10:00",
        ] {
            let d = both_ways(plan, number, at);
            assert_eq!(
                (d.mode, d.action),
                (Mode::Parallel, Action::PromptThenQueue),
                "{at}"
            );
            assert!(!d.working_hours, "{at}");
            assert!(s(&d.prompt).unwrap().ends_with("off_hours.wav"));
            assert!(d.queue.is_some() && d.target.is_none());
            assert!(d.reason.to_string().contains("opens a ticket"));
        }
    }
    // Numbers 12315 absorbed earlier are aliases.
    let d = both_ways(jiujiang(), "12358", "2021-09-30 10:00");
    assert_eq!(
        (s(&d.matched), s(&d.target)),
        (Some("12315"), Some("seats:scj"))
    );
    // 8-digit Jingjiang numbers with the 0523 area code.
    let d = call(jingjiang(), "052389182131", None, "2022-03-01 10:00");
    assert_eq!(
        (d.action, s(&d.department)),
        (Action::Department, Some("国土资源局"))
    );
}

#[test]
fn subcenter_answers_around_the_clock() {
    let j = jiujiang();
    for at in ["2021-10-01 03:00", "2021-10-10 23:30", "2021-09-30 10:00"] {
        let d = both_ways(j, "12366", at);
        assert_eq!(
            (d.mode, d.action),
            (Mode::Subcenter, Action::Department),
            "{at}"
        );
        assert_eq!(s(&d.target), Some("sip:12366@tax-subcenter.invalid"));
        assert!(d.working_hours);
    }
}

#[test]
fn emergency_is_forwarded_never_queued() {
    let k = jingjiang();
    for at in [
        "2021-09-30 10:00",
        "2021-10-01 03:00",
        "2021-10-09 12:00",
        "2022-02-01 20:00",
    ] {
        for n in ["110", "119", "120", "96333"] {
            let d = call(k, n, None, at);
            assert_eq!(
                (d.mode, d.action),
                (Mode::Emergency, Action::Forward),
                "{n} {at}"
            );
            assert_eq!(d.queue, None);
            assert_eq!(
                d.target.as_deref(),
                Some(format!("sip:{n}@emergency-trunk.invalid").as_str())
            );
        }
    }
    // Addressed to 110, the call goes to 110 whatever the Diversion says.
    let d = call(k, "110", Some("12316"), "2021-12-05 10:00");
    assert_eq!(
        (d.mode, d.action, d.queue.clone()),
        (Mode::Emergency, Action::Forward, None)
    );
    // 110 hands a non-emergency call to 12345 (as Diversion or as caller): queued as a call to 12345.
    let handed = call(k, "12345", Some("110"), "2021-10-01 03:00");
    assert_eq!(
        (handed.mode, handed.action, s(&handed.queue)),
        (Mode::Main, Action::Queue, Some("line1"))
    );
    assert!(handed.reason.to_string().contains("handed over by 110"));
    let from110 = k.route(&CallQuery {
        called: "12345",
        diversion: None,
        caller: Some("110"),
        at: bj("2021-10-01 03:00"),
        digits: "",
    });
    assert_eq!(
        (from110.mode, from110.action, from110.via_diversion),
        (Mode::Main, Action::Queue, false)
    );
}

#[test]
fn no_emergency_decision_ever_queues() {
    // Every number of both plans, direct and forwarded, across a week of hours around the 2021 National Day.
    let numbers: Vec<String> = [
        "110", "119", "120", "122", "96333", "12345", "12366", "12333", "12396", "8259110",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for plan in [jiujiang(), jingjiang()] {
        for day in 25..=30 {
            for hour in [0, 8, 9, 12, 16, 17, 23] {
                let at = format!("2021-09-{day:02} {hour:02}:30");
                for n in &numbers {
                    for d in [call(plan, n, None, &at), call(plan, "12345", Some(n), &at)] {
                        if d.mode == Mode::Emergency {
                            assert_eq!(d.action, Action::Forward, "{n} {at}");
                            assert!(d.queue.is_none());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn upstream_is_forwarded_to_the_province() {
    let d = call(jiujiang(), "079112345", None, "2021-10-01 10:00");
    assert_eq!((d.mode, d.action), (Mode::Upstream, Action::Forward));
    assert_eq!(s(&d.target), Some("sip:12345@jiangxi-province.invalid"));
    // The province handing a call down arrives as a call to 12345.
    let down = call(jiujiang(), "12345", Some("079112345"), "2021-10-01 10:00");
    assert_eq!((down.mode, down.action), (Mode::Main, Action::Queue));
}

#[test]
fn unknown_numbers_are_refused() {
    for plan in [jiujiang(), jingjiang()] {
        let d = call(plan, "12399", None, "2021-09-30 10:00");
        assert_eq!((d.mode, d.action), (Mode::Unknown, Action::Reject));
        assert!(!d.working_hours && d.queue.is_none() && d.target.is_none());
        assert!(d.reason.to_string().contains("R-09"));
        assert_eq!(
            call(plan, "", None, "2021-09-30 10:00").action,
            Action::Reject
        );
        assert_eq!(
            call(plan, "not a number", Some("garbage"), "2021-09-30 10:00").action,
            Action::Reject
        );
    }
    // A Diversion that is not in the plan does not change a call to 12345.
    assert_eq!(
        call(jiujiang(), "12345", Some("13800000000"), "2021-09-30 10:00").mode,
        Mode::Main
    );
    // A number cancelled elsewhere (12312 is whole in Jingjiang but an alias in Jiujiang) is per plan.
    assert_eq!(
        call(jingjiang(), "12331", None, "2021-09-30 10:00").mode,
        Mode::Unknown
    );
}

#[test]
fn route_command_prints_the_documented_json() {
    let dir = plans_dir().join("jiujiang");
    let json = dialplan::route_command(
        &dir,
        "12345",
        Some("12396"),
        Some("13900000000"),
        Some("2021-12-01T10:00:00+08:00"),
        "",
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "mode",
        "action",
        "prompt",
        "queue",
        "target",
        "working_hours",
        "reason",
        "department",
        "transfer_answer_target_s",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(v["mode"], "whole");
    assert_eq!(v["action"], "prompt_then_queue");
    assert_eq!(v["queue"], "general");
    assert_eq!(v["target"], serde_json::Value::Null);
    assert_eq!(v["working_hours"], true);
    assert_eq!(
        v["reason"],
        "transition period until 2021-12-21: merge announcement, then 12345 answers"
    );
    assert!(v["prompt"]
        .as_str()
        .unwrap()
        .ends_with("merged_transition.wav"));

    let err =
        dialplan::route_command(&dir, "12345", None, None, Some("yesterday"), "").unwrap_err();
    assert!(err.contains("RFC 3339"), "{err}");
    let refused = dialplan::route_command(Path::new("/nonexistent"), "12345", None, None, None, "")
        .unwrap_err();
    assert!(refused.contains("plan refused"), "{refused}");
}

#[test]
fn check_command_passes_both_examples() {
    for name in ["jiujiang", "jingjiang"] {
        let (out, code) = dialplan::check_command(&plans_dir().join(name));
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(": ok,"), "{out}");
    }
}

/// A small plan exercising the options the example plans do not use.
fn custom_plan() -> (tempfile::TempDir, Dialplan) {
    let tmp = tempfile::tempdir().unwrap();
    let d = plans_dir().canonicalize().unwrap();
    let p = |n: &str| d.join("prompts").join(n).display().to_string();
    std::fs::write(
        tmp.path().join("center.toml"),
        format!(
            "[center]\nname = \"custom\"\nnumber = \"12345\"\ntimezone = \"Asia/Shanghai\"\ncalendar = {:?}\n\
             working_hours = \"08:30-12:00,14:00-17:30\"\nmain_queue = \"general\"\n\
             [[queue]]\nname = \"general\"\n[[queue]]\nname = \"tax\"\n",
            d.join("calendars/china.toml").display().to_string()
        ),
    )
    .unwrap();
    let t = |then: &str| {
        format!(
            "transition = {{ from = \"2021-11-22\", until = \"2021-12-21\", prompt = {:?}, then = \"{then}\" }}\n",
            p("merged_transition.wav")
        )
    };
    let numbers = format!(
        "[[number]]\nnumber = \"12301\"\nname = \"hangup\"\nmode = \"whole\"\n{}after = \"reject\"\n\
         [[number]]\nnumber = \"8000001\"\nname = \"back\"\nmode = \"whole\"\ntarget = \"sip:8000001@dept.invalid\"\n{}after = \"department\"\n\
         [[number]]\nnumber = \"8000002\"\nname = \"own prompt\"\nmode = \"whole\"\nafter = \"prompt_then_hangup\"\nafter_prompt = {:?}\n\
         [[number]]\nnumber = \"12366\"\nname = \"tax\"\nmode = \"subcenter\"\ntarget = \"seats:tax\"\nqueue = \"tax\"\n\
         working_hours = \"08:00-20:00\"\ndays = \"working_days\"\ntransfer_answer_target_s = 20\n",
        t("hangup"),
        t("queue"),
        p("please_wait.wav"),
    );
    std::fs::write(tmp.path().join("numbers.toml"), numbers).unwrap();
    let plan = Dialplan::load_dir(tmp.path()).unwrap();
    (tmp, plan)
}

#[test]
fn whole_number_options_hangup_department_reject() {
    let (_tmp, p) = custom_plan();
    let during = both_ways(&p, "12301", "2021-12-01 10:00");
    assert_eq!(
        (during.action, during.queue.is_none()),
        (Action::PromptThenHangup, true)
    );
    assert!(during.reason.to_string().contains("the call ends"));
    assert_eq!(
        both_ways(&p, "12301", "2021-12-22 10:00").action,
        Action::Reject
    );

    let back = both_ways(&p, "8000001", "2022-01-04 10:00");
    assert_eq!(
        (back.action, s(&back.target)),
        (Action::Department, Some("sip:8000001@dept.invalid"))
    );

    // No transition: the `after` rule applies from the start, with its own prompt.
    let own = both_ways(&p, "8000002", "2021-01-04 10:00");
    assert_eq!(own.action, Action::PromptThenHangup);
    assert!(s(&own.prompt).unwrap().ends_with("please_wait.wav"));
    assert!(own
        .reason
        .to_string()
        .starts_with("number merged into 12345"));
}

#[test]
fn lunch_break_and_subcenter_with_office_hours() {
    let (_tmp, p) = custom_plan();
    // Default hours 08:30-12:00,14:00-17:30: the whole number's flag follows the lunch break.
    assert!(both_ways(&p, "12301", "2021-09-30 11:59").working_hours);
    assert!(!both_ways(&p, "12301", "2021-09-30 12:30").working_hours);
    // A subcenter limited to working days 08:00-20:00 goes to its 12345 queue otherwise (no off-hours prompt).
    let open = both_ways(&p, "12366", "2021-10-09 19:00");
    assert_eq!(
        (open.action, s(&open.target), open.transfer_answer_target_s),
        (Action::Department, Some("seats:tax"), Some(20))
    );
    let closed = both_ways(&p, "12366", "2021-10-01 10:00");
    assert_eq!(
        (closed.action, s(&closed.queue), closed.prompt.clone()),
        (Action::Queue, Some("tax"), None)
    );
    // Whole URIs are accepted as well as user parts.
    assert_eq!(
        call(
            &p,
            "sip:12366@10.0.0.1;user=phone",
            None,
            "2021-10-09 19:00"
        )
        .action,
        Action::Department
    );
    assert_eq!(
        call(&p, "12345", Some("tel:+8612366"), "2021-10-09 19:00").action,
        Action::Department
    );
}

#[test]
fn as_str_names_match_the_json() {
    use dialplan::Action as A;
    for m in [
        Mode::Main,
        Mode::Whole,
        Mode::Parallel,
        Mode::Subcenter,
        Mode::Emergency,
        Mode::Upstream,
        Mode::Unknown,
    ] {
        assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
    }
    for a in [
        A::Queue,
        A::Menu,
        A::PromptThenQueue,
        A::PromptThenHangup,
        A::Department,
        A::Forward,
        A::Reject,
    ] {
        assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
    }
}
