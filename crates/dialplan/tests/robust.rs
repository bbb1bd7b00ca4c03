//! Malformed input never panics: arbitrary call data routes to a decision, and damaged plan files are refused
//! with positioned errors.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use dialplan::{check_dir, Action, CallQuery, Dialplan, Mode};
use proptest::prelude::*;

fn jiujiang() -> &'static Dialplan {
    static P: OnceLock<Dialplan> = OnceLock::new();
    P.get_or_init(|| {
        Dialplan::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/jiujiang"))
            .unwrap()
    })
}

proptest! {
    #[test]
    fn any_call_data_gets_a_decision(
        called in "\\PC{0,24}",
        diversion in proptest::option::of("[0-9+@:;a-z]{0,20}"),
        caller in proptest::option::of("\\PC{0,20}"),
        digits in "\\PC{0,4}",
        secs in 0i64..4_000_000_000,
    ) {
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        let d = jiujiang().route(&CallQuery { called: &called, diversion: diversion.as_deref(), caller: caller.as_deref(), at, digits: &digits });
        if d.mode == Mode::Unknown {
            prop_assert_eq!(d.action, Action::Reject);
        }
        if d.mode == Mode::Emergency {
            prop_assert_eq!(d.action, Action::Forward);
        }
        let json = serde_json::to_string(&d).unwrap();
        prop_assert!(json.contains("\"reason\":"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn damaged_plan_files_never_panic(cut in 0usize..4000, len in 1usize..40, junk in "\\PC{0,6}") {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/jiujiang");
        let tmp = tempfile::tempdir().unwrap();
        for name in ["center.toml", "parallel.toml"] {
            let mut text = std::fs::read_to_string(src.join(name)).unwrap();
            text = text.replace("\"../", &format!("\"{}/../", src.display()));
            if name == "parallel.toml" {
                let mut at = cut.min(text.len());
                while !text.is_char_boundary(at) { at -= 1; }
                let mut end = (at + len).min(text.len());
                while !text.is_char_boundary(end) { end -= 1; }
                text.replace_range(at..end, &junk);
            }
            std::fs::write(tmp.path().join(name), text).unwrap();
        }
        let report = check_dir(tmp.path());
        for d in report.errors() {
            prop_assert!(d.line >= 1 && d.column >= 1, "unpositioned error: {}", d);
        }
    }
}
