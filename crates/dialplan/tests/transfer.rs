//! One-key transfer targets (R-05..R-08): look-up by number, alias and `transfer_code` for every
//! transferable mode, nothing for the center, merged or unknown numbers, the answer-target default and
//! override, every refusal of a bad code at its exact file:line:col, and the bundled plans' codes.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeZone, Utc};
use dialplan::{check_dir, CallQuery, Dialplan, LiveDialplan, Mode, TransferTarget};

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans")
}

/// A center file: 12345, area code 0792, the bundled calendar, one queue; `extra` goes into [center].
fn center(dir: &Path, extra: &str) {
    let cal = plans_dir().join("calendars/china.toml");
    std::fs::write(
        dir.join("center.toml"),
        format!(
            "[center]\nname = \"x\"\nnumber = \"12345\"\narea_code = \"0792\"\ntimezone = \"Asia/Shanghai\"\n\
             calendar = {:?}\nworking_hours = \"09:00-17:00\"\nmain_queue = \"general\"\n{extra}\
             [[queue]]\nname = \"general\"\n",
            cal.display().to_string()
        ),
    )
    .unwrap();
}

const NUMBERS: &str = r#"
[[number]]
number = "12348"
transfer_code = "8"
name = "公共法律服务"
department = "市司法局"
mode = "parallel"
target = "seats:sfj"

[[number]]
number = "12333"
aliases = ["12399"]
name = "人社"
mode = "parallel"
target = "seats:rsj"
working_hours = "00:00-24:00"
days = "every_day"

[[number]]
number = "12366"
transfer_code = "6"
name = "纳税缴费"
department = "市税务局"
mode = "subcenter"
target = "sip:12366@tax.invalid"
transfer_answer_target_s = 20

[[number]]
number = "110"
transfer_code = "11"
name = "报警"
mode = "emergency"
target = "sip:110@emergency.invalid"

[[number]]
number = "079112345"
transfer_code = "0"
name = "省热线"
mode = "upstream"
target = "sip:12345@province.invalid"

[[number]]
number = "8259110"
name = "企业投诉"
department = "市行政审批局"
mode = "whole"
"#;

fn good_plan(center_extra: &str) -> (tempfile::TempDir, Dialplan) {
    let tmp = tempfile::tempdir().unwrap();
    center(tmp.path(), center_extra);
    std::fs::write(tmp.path().join("numbers.toml"), NUMBERS).unwrap();
    let plan = Dialplan::load_dir(tmp.path()).unwrap_or_else(|e| panic!("{e:#?}"));
    (tmp, plan)
}

fn t(plan: &Dialplan, dialled: &str) -> TransferTarget {
    plan.transfer_target(dialled)
        .unwrap_or_else(|| panic!("{dialled:?} is no transfer target"))
}

#[test]
fn every_transferable_mode_by_number_and_by_code() {
    let (_tmp, p) = good_plan("");
    let law = t(&p, "12348");
    assert_eq!(
        law,
        TransferTarget {
            number: "12348".into(),
            code: Some("8".into()),
            name: Some("公共法律服务".into()),
            department: Some("市司法局".into()),
            mode: Mode::Parallel,
            target: "seats:sfj".into(),
            answer_target_s: 15,
            always_open: false,
        }
    );
    assert_eq!(t(&p, "8"), law);
    // The number forms route() accepts: area code, +86, a URI; and surrounding blanks.
    for form in [
        "079212348",
        "+86792 12348",
        "sip:12348@gw;user=phone",
        " 12348 ",
    ] {
        let form = form.replace(' ', "");
        assert_eq!(t(&p, &form), law, "{form}");
    }
    assert_eq!(t(&p, " 8 "), law);

    let tax = t(&p, "12366");
    assert_eq!(
        (tax.mode, &*tax.target, tax.code.as_deref()),
        (Mode::Subcenter, "sip:12366@tax.invalid", Some("6"))
    );
    assert!(tax.always_open);
    assert_eq!(t(&p, "6"), tax);

    let police = t(&p, "110");
    assert_eq!((police.mode, police.always_open), (Mode::Emergency, true));
    assert_eq!(&*police.target, "sip:110@emergency.invalid");
    assert_eq!(t(&p, "11"), police);

    let province = t(&p, "079112345");
    assert_eq!(
        (province.mode, province.always_open),
        (Mode::Upstream, true)
    );
    assert_eq!(t(&p, "0"), province);
    assert_eq!(province.department, None);

    // No code: by number and by alias, reported under the plan number.
    let hr = t(&p, "12399");
    assert_eq!((&*hr.number, hr.code.as_deref()), ("12333", None));
    assert_eq!(t(&p, "12333"), hr);
    assert!(
        hr.always_open,
        "a parallel number open 00:00-24:00 every day"
    );

    assert_eq!(p.transfer_targets().count(), 5);
    assert_eq!(p.transfer_code_count(), 4);
}

#[test]
fn nothing_for_the_center_merged_or_unknown_numbers() {
    let (_tmp, p) = good_plan("");
    for dialled in [
        "12345",
        "079212345",
        "8259110",
        "07928259110",
        "12349",
        "7",
        "",
        "*28#",
        "seats:sfj",
    ] {
        assert_eq!(p.transfer_target(dialled), None, "{dialled:?}");
    }
}

#[test]
fn answer_target_is_the_numbers_override_else_the_centers() {
    let (_tmp, p) = good_plan("");
    assert_eq!(t(&p, "12348").answer_target_s, 15, "default");
    assert_eq!(t(&p, "12366").answer_target_s, 20, "override");
    assert_eq!(t(&p, "110").answer_target_s, 15);
    let (_tmp, p) = good_plan("transfer_answer_target_s = 12\n");
    assert_eq!(t(&p, "8").answer_target_s, 12, "center value");
    assert_eq!(t(&p, "0").answer_target_s, 12);
    assert_eq!(t(&p, "6").answer_target_s, 20, "override wins");
}

#[test]
fn the_same_fields_as_the_routing_decision() {
    let (_tmp, p) = good_plan("");
    // A working day inside 09:00-17:00 Beijing time: parallel numbers ring their department.
    let naive = NaiveDateTime::parse_from_str("2021-11-25 10:00", "%Y-%m-%d %H:%M").unwrap();
    let at = chrono_tz::Asia::Shanghai
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc);
    for tt in p.transfer_targets() {
        let d = p.route(&CallQuery {
            called: &tt.number,
            diversion: None,
            caller: None,
            at,
            digits: "",
        });
        assert_eq!(d.mode, tt.mode);
        assert_eq!(d.target.as_ref(), Some(&tt.target), "{}", tt.number);
        assert_eq!(d.department, tt.department);
        assert_eq!(d.hotline, tt.name);
        assert_eq!(d.matched.as_ref(), Some(&tt.number));
        if let Some(s) = d.transfer_answer_target_s {
            assert_eq!(s, tt.answer_target_s);
        }
        assert_eq!(p.transfer_target(&tt.number).as_ref(), Some(&tt));
        if let Some(code) = &tt.code {
            assert_eq!(p.transfer_target(code).as_ref(), Some(&tt));
        }
    }
}

#[test]
fn live_plan_answers_from_the_plan_in_service() {
    let (tmp, p) = good_plan("");
    let live = LiveDialplan::new(p);
    assert_eq!(
        live.transfer_target("8").map(|t| t.number),
        Some("12348".into())
    );
    // Move code 8 to 12333 and reload: the new plan answers.
    let moved = NUMBERS.replace("transfer_code = \"8\"\n", "").replace(
        "aliases = [\"12399\"]\n",
        "aliases = [\"12399\"]\ntransfer_code = \"8\"\n",
    );
    std::fs::write(tmp.path().join("numbers.toml"), moved).unwrap();
    live.reload(tmp.path()).unwrap();
    assert_eq!(
        live.transfer_target("8").map(|t| t.number),
        Some("12333".into())
    );
    assert_eq!(live.transfer_target("12348").and_then(|t| t.code), None);
}

/// Every refusal of a bad `transfer_code`, each at the code's value.
#[test]
fn bad_codes_are_refused_at_their_value() {
    let tmp = tempfile::tempdir().unwrap();
    center(tmp.path(), "");
    let a = "\
[[number]]
number = \"12348\"
transfer_code = \"8\"
name = \"a\"
mode = \"parallel\"
target = \"seats:a\"

[[number]]
number = \"12333\"
transfer_code = \"8\"
name = \"duplicate code\"
mode = \"parallel\"
target = \"seats:b\"

[[number]]
number = \"12329\"
transfer_code = \"12366\"
name = \"code = a number defined in a later file\"
mode = \"parallel\"
target = \"seats:c\"

[[number]]
number = \"12328\"
transfer_code = \"12345\"
name = \"code = the center number\"
mode = \"parallel\"
target = \"seats:d\"

[[number]]
number = \"12350\"
transfer_code = \"12399\"
name = \"code = an alias\"
mode = \"parallel\"
target = \"seats:e\"

[[number]]
number = \"12319\"
transfer_code = \"2a\"
name = \"not digits\"
mode = \"parallel\"
target = \"seats:f\"

[[number]]
number = \"12369\"
transfer_code = \"123456789\"
name = \"too long\"
mode = \"parallel\"
target = \"seats:g\"

[[number]]
number = \"12385\"
transfer_code = \"\"
name = \"empty\"
mode = \"parallel\"
target = \"seats:h\"

[[number]]
number = \"8259110\"
transfer_code = \"7\"
name = \"merged: no transfer target\"
mode = \"whole\"

[[number]]
number = \"12358\"
transfer_code = \"0792110\"
name = \"area code + 110\"
mode = \"parallel\"
target = \"seats:i\"
";
    let b = "\
[[number]]
number = \"12366\"
aliases = [\"12399\"]
name = \"tax\"
mode = \"subcenter\"
target = \"sip:12366@tax.invalid\"

[[number]]
number = \"110\"
name = \"police\"
mode = \"emergency\"
target = \"sip:110@emergency.invalid\"
";
    std::fs::write(tmp.path().join("a.toml"), a).unwrap();
    std::fs::write(tmp.path().join("b.toml"), b).unwrap();
    let report = check_dir(tmp.path());
    let errors: Vec<String> = report.errors().map(|d| d.to_string()).collect();
    let a_path = tmp.path().join("a.toml").display().to_string();
    let b_path = tmp.path().join("b.toml").display().to_string();
    let center_path = tmp.path().join("center.toml").display().to_string();
    let expected = [
        (
            "a.toml:10:17",
            format!("duplicate transfer code 8: already given at {a_path}:3:17"),
        ),
        (
            "a.toml:17:17",
            format!("transfer code 12366 is also the number at {b_path}:2:10: a dialled string must mean one thing"),
        ),
        (
            "a.toml:24:17",
            format!("transfer code 12345 is also the number at {center_path}:3:10 (the center number)"),
        ),
        (
            "a.toml:31:17",
            format!("transfer code 12399 is also the number at {b_path}:3:12"),
        ),
        ("a.toml:38:17", "transfer code \"2a\" must be 1–8 digits".to_string()),
        (
            "a.toml:45:17",
            "transfer code \"123456789\" must be 1–8 digits".to_string(),
        ),
        ("a.toml:52:17", "transfer code \"\" must be 1–8 digits".to_string()),
        (
            "a.toml:59:17",
            "transfer code 7 points at no transfer target: 8259110 is a `whole` number".to_string(),
        ),
        (
            "a.toml:65:17",
            format!("transfer code 0792110 is area code 0792 + number 110 (at {b_path}:9:10)"),
        ),
    ];
    for (place, fragment) in &expected {
        let hit = errors
            .iter()
            .any(|e| e.contains(&format!("/{place}: error: ")) && e.contains(fragment.as_str()));
        assert!(hit, "expected {place} … {fragment}\n got: {errors:#?}");
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    assert!(report.numbers.is_none() && report.transfer_targets.is_none());
    assert!(Dialplan::load_dir(tmp.path()).is_err());
    let (out, code) = dialplan::check_command(tmp.path());
    assert_eq!(code, 1, "{out}");
}

#[test]
fn transfer_code_is_a_known_key_and_typos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    center(tmp.path(), "");
    std::fs::write(
        tmp.path().join("n.toml"),
        "[[number]]\nnumber = \"12348\"\ntransfer_cod = \"8\"\nname = \"a\"\nmode = \"parallel\"\ntarget = \"seats:a\"\n",
    )
    .unwrap();
    let errors: Vec<String> = check_dir(tmp.path())
        .errors()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("/n.toml:3:1: error: unknown field `transfer_cod`"),
        "{errors:#?}"
    );
}

#[test]
fn bundled_plans_codes_resolve() {
    let j = Dialplan::load_dir(&plans_dir().join("jiujiang")).unwrap();
    for (code, number, mode, target) in [
        ("1", "8121135", Mode::Parallel, "seats:ybj"),
        ("8", "12348", Mode::Parallel, "seats:sfj"),
        ("3", "12333", Mode::Parallel, "seats:rsj"),
        ("9", "12329", Mode::Parallel, "seats:gjj"),
        ("5", "12315", Mode::Parallel, "seats:scj"),
        (
            "6",
            "12366",
            Mode::Subcenter,
            "sip:12366@tax-subcenter.invalid",
        ),
        (
            "0",
            "079112345",
            Mode::Upstream,
            "sip:12345@jiangxi-province.invalid",
        ),
    ] {
        let tt = t(&j, code);
        assert_eq!(
            (&*tt.number, tt.mode, &*tt.target, tt.code.as_deref()),
            (number, mode, target, Some(code)),
            "code {code}"
        );
        assert_eq!(tt.answer_target_s, 15);
        assert_eq!(t(&j, number), tt);
    }
    assert_eq!(j.transfer_code_count(), 7);
    // 14 parallel + 1 subcenter + 4 emergency + 1 upstream.
    assert_eq!(j.transfer_targets().count(), 20);
    assert_eq!(t(&j, "120").mode, Mode::Emergency);
    assert_eq!(t(&j, "12312").number, "12315".into(), "an alias of 12315");
    assert_eq!(j.transfer_target("12396"), None, "whole");
    assert_eq!(j.transfer_target("2"), None, "no such code");

    let k = Dialplan::load_dir(&plans_dir().join("jingjiang")).unwrap();
    assert_eq!(k.transfer_code_count(), 0);
    assert!(k.transfer_targets().all(|tt| tt.code.is_none()));
    assert_eq!(
        k.transfer_targets().count(),
        k.count_by_mode(Mode::Parallel)
            + k.count_by_mode(Mode::Subcenter)
            + k.count_by_mode(Mode::Emergency)
            + k.count_by_mode(Mode::Upstream)
    );
    let (out, code) = dialplan::check_command(&plans_dir().join("jiujiang"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("20 transfer targets (7 with a code)"), "{out}");
}
