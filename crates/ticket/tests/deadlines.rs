//! Working-day deadlines and the traffic light across the 2021 National Day holiday (Oct 1–7 off; Sep 26 Sun and
//! Oct 9 Sat worked), with the shared calendar data (dialplans/calendars/china.toml), 09:00–17:00 Beijing.

mod common;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use ticket::deadline::{deadlines, DeadlineInput};
use ticket::{Category, DeadlineRules, Light};

fn bj(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

fn input(category: Category, accepted: &str) -> DeadlineInput {
    let ms = bj(accepted).timestamp_millis();
    DeadlineInput {
        category,
        accepted_at_ms: ms,
        dispatched_at_ms: Some(ms),
        signed_at_ms: None,
        closed_at_ms: None,
        extension_days: 0,
        restarted_at_ms: None,
    }
}

#[test]
fn complaint_accepted_the_day_before_national_day() {
    let s = common::schedule();
    let rules = DeadlineRules::default();
    let t = input(Category::Complaint, "2021-09-30 10:00");
    let d = deadlines(&s, &rules, 0.2, t, bj("2021-10-05 12:00"));
    // Working days after Sep 30: Oct 8 (Fri), Oct 9 (adjusted Sat), 11, 12, 13, 14, 15.
    assert_eq!(d.close_due, bj("2021-10-15 10:00"));
    assert_eq!(d.sign_due, Some(bj("2021-10-08 10:00")));
    // Unsigned: of its 8 working hours to sign (Sep 30 7 h + Oct 8 1 h) only 1 is left all through the holiday.
    assert_eq!(d.light, Light::Yellow);
    // Signed before the holiday: no working time passes during it, so the closing light is still green.
    let signed_early = DeadlineInput {
        signed_at_ms: Some(bj("2021-09-30 11:00").timestamp_millis()),
        ..t
    };
    assert_eq!(
        deadlines(&s, &rules, 0.2, signed_early, bj("2021-10-07 16:00")).light,
        Light::Green
    );
    // Not signed by the morning after the holiday: the sign deadline is red.
    assert_eq!(
        deadlines(&s, &rules, 0.2, t, bj("2021-10-08 10:01")).light,
        Light::Red
    );

    let signed = DeadlineInput {
        signed_at_ms: Some(bj("2021-10-08 09:30").timestamp_millis()),
        ..t
    };
    // 56 working hours in all (Sep 30 7 h, Oct 8–14 six days × 8 h, Oct 15 1 h); 20 % = 11.2 h.
    assert_eq!(
        deadlines(&s, &rules, 0.2, signed, bj("2021-10-13 12:00")).light,
        Light::Green
    ); // 14 h left
    assert_eq!(
        deadlines(&s, &rules, 0.2, signed, bj("2021-10-14 12:00")).light,
        Light::Yellow
    ); // 6 h left
    assert_eq!(
        deadlines(&s, &rules, 0.2, signed, bj("2021-10-15 10:01")).light,
        Light::Red
    );

    let consultation = input(Category::Consultation, "2021-09-30 10:00");
    let d = deadlines(&s, &rules, 0.2, consultation, bj("2021-09-30 10:00"));
    assert_eq!(d.close_due, bj("2021-10-11 10:00"));
}

#[test]
fn complaint_accepted_on_the_adjusted_working_saturday() {
    let s = common::schedule();
    let rules = DeadlineRules::default();
    let t = input(Category::Complaint, "2021-10-09 10:00");
    let d = deadlines(&s, &rules, 0.2, t, bj("2021-10-09 10:00"));
    // Oct 9 is a working day, so the clock starts at once: Oct 11, 12, 13, 14, 15, 18, 19.
    assert_eq!(d.close_due, bj("2021-10-19 10:00"));
    // Sunday Oct 10 is not worked: sign by Monday.
    assert_eq!(d.sign_due, Some(bj("2021-10-11 10:00")));
    assert_eq!(d.light, Light::Green);
    let consultation = input(Category::Consultation, "2021-10-09 10:00");
    assert_eq!(
        deadlines(&s, &rules, 0.2, consultation, bj("2021-10-09 10:00")).close_due,
        bj("2021-10-13 10:00")
    );
}

#[test]
fn a_request_taken_during_the_holiday_counts_from_the_first_working_morning() {
    let s = common::schedule();
    let t = input(Category::Consultation, "2021-10-03 15:00");
    let d = deadlines(
        &s,
        &DeadlineRules::default(),
        0.2,
        t,
        bj("2021-10-03 15:00"),
    );
    // Starts at 09:00 on Oct 8; three working days later: Oct 9, 11, 12.
    assert_eq!(d.close_due, bj("2021-10-12 09:00"));
}

#[test]
fn configured_days_per_category_are_used() {
    let s = common::schedule();
    let rules = DeadlineRules {
        complaint: 5,
        sign_days: 2,
        ..DeadlineRules::default()
    };
    let d = deadlines(
        &s,
        &rules,
        0.2,
        input(Category::Complaint, "2021-09-30 10:00"),
        bj("2021-09-30 10:00"),
    );
    assert_eq!(d.close_due, bj("2021-10-13 10:00"));
    assert_eq!(d.sign_due, Some(bj("2021-10-09 10:00")));
}
