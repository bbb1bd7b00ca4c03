//! Extensions (延期) and re-handling (重办) move the closing deadline by working days, across the 2022 Spring
//! Festival: Jan 31–Feb 6 off, Sat Jan 29 and Sun Jan 30 worked (dialplans/calendars/china.toml), 09:00–17:00
//! Beijing time. The state machine decides; the deadline is computed from what it left on the ticket.

mod common;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use ticket::deadline::{deadlines, DeadlineInput};
use ticket::model::{apply, TicketState};
use ticket::{Action, Category, DeadlineRules, Lifecycle, Light, Status};

fn bj(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

fn handling(accepted: &str) -> TicketState {
    let ms = bj(accepted).timestamp_millis();
    TicketState {
        status: Status::Handling,
        department: "water".into(),
        dispatched_at_ms: Some(ms),
        signed_at_ms: Some(ms),
        closed_at_ms: None,
        supervised: 0,
        satisfaction: None,
        lifecycle: Lifecycle::default(),
    }
}

/// Ask for `days`, approved at `at`.
fn extended(s: &TicketState, days: u32, at: &str) -> TicketState {
    let at = bj(at).timestamp_millis();
    let s = apply(
        s,
        &Action::RequestExtension {
            days,
            reason: "needs the owners' committee".into(),
        },
        at,
    )
    .unwrap();
    apply(&s, &Action::ApproveExtension {}, at).unwrap()
}

fn input(category: Category, accepted: &str, s: &TicketState) -> DeadlineInput {
    DeadlineInput {
        category,
        accepted_at_ms: bj(accepted).timestamp_millis(),
        dispatched_at_ms: s.dispatched_at_ms,
        signed_at_ms: s.signed_at_ms,
        closed_at_ms: s.closed_at_ms,
        extension_days: s.lifecycle.extension_days,
        restarted_at_ms: s.lifecycle.reopened_at_ms,
    }
}

fn close_due(category: Category, accepted: &str, s: &TicketState) -> DateTime<Utc> {
    let sched = common::schedule();
    deadlines(
        &sched,
        &DeadlineRules::default(),
        0.2,
        input(category, accepted, s),
        bj(accepted),
    )
    .close_due
}

#[test]
fn a_complaint_extended_over_the_spring_festival_skips_the_holiday_and_ordinary_weekends() {
    // Wed Jan 26: Thu 27 (1), Fri 28 (2), Sat 29 worked (3), Sun 30 worked (4), holiday, Feb 7 (5), 8 (6), 9 (7).
    let accepted = "2022-01-26 10:00";
    let s = handling(accepted);
    assert_eq!(
        close_due(Category::Complaint, accepted, &s),
        bj("2022-02-09 10:00")
    );
    // Three more: Feb 10, 11, then Sat 12 and Sun 13 are ordinary weekends: Mon Feb 14.
    let s = extended(&s, 3, "2022-02-08 11:00");
    assert_eq!(s.lifecycle.extension_days, 3);
    assert_eq!(
        close_due(Category::Complaint, accepted, &s),
        bj("2022-02-14 10:00")
    );
}

#[test]
fn an_extension_asked_before_the_holiday_counts_the_adjusted_weekend_as_working_days() {
    // Fri Jan 21 consultation: Mon 24, Tue 25, Wed 26.
    let accepted = "2022-01-21 11:00";
    let s = handling(accepted);
    assert_eq!(
        close_due(Category::Consultation, accepted, &s),
        bj("2022-01-26 11:00")
    );
    // Five more: Thu 27, Fri 28, Sat 29 (worked), Sun 30 (worked), then the holiday to Mon Feb 7.
    let s = extended(&s, 5, "2022-01-25 09:30");
    assert_eq!(
        close_due(Category::Consultation, accepted, &s),
        bj("2022-02-07 11:00")
    );
}

#[test]
fn two_approved_extensions_add_up_and_a_refused_one_moves_nothing() {
    // Fri Jan 28 consultation: Sat 29 (1), Sun 30 (2), holiday, Mon Feb 7 (3).
    let accepted = "2022-01-28 15:00";
    let s = handling(accepted);
    assert_eq!(
        close_due(Category::Consultation, accepted, &s),
        bj("2022-02-07 15:00")
    );
    let s = extended(&s, 1, "2022-01-29 10:00");
    let s = extended(&s, 1, "2022-01-30 10:00");
    assert_eq!(
        close_due(Category::Consultation, accepted, &s),
        bj("2022-02-09 15:00")
    );
    let asked = apply(
        &s,
        &Action::RequestExtension {
            days: 10,
            reason: "more".into(),
        },
        bj("2022-02-07 09:00").timestamp_millis(),
    )
    .unwrap();
    let refused = apply(
        &asked,
        &Action::RefuseExtension {
            note: "enough".into(),
        },
        bj("2022-02-07 10:00").timestamp_millis(),
    )
    .unwrap();
    assert_eq!(
        close_due(Category::Consultation, accepted, &refused),
        bj("2022-02-09 15:00")
    );
}

#[test]
fn the_extension_turns_a_red_ticket_green_again() {
    let accepted = "2022-01-21 11:00";
    let sched = common::schedule();
    let s = handling(accepted);
    let at = bj("2022-01-27 10:00");
    let before = deadlines(
        &sched,
        &DeadlineRules::default(),
        0.2,
        input(Category::Consultation, accepted, &s),
        at,
    );
    assert_eq!(before.light, Light::Red);
    let s = extended(&s, 5, "2022-01-27 09:30");
    let after = deadlines(
        &sched,
        &DeadlineRules::default(),
        0.2,
        input(Category::Consultation, accepted, &s),
        at,
    );
    assert_eq!(after.light, Light::Green);
}

#[test]
fn a_re_handled_ticket_gets_a_fresh_closing_deadline_from_its_re_handling() {
    let accepted = "2022-01-10 10:00";
    let mut s = handling(accepted);
    s = apply(
        &s,
        &Action::Reply {
            text: "done".into(),
        },
        bj("2022-01-11 10:00").timestamp_millis(),
    )
    .unwrap();
    s = apply(
        &s,
        &Action::Close {},
        bj("2022-01-11 11:00").timestamp_millis(),
    )
    .unwrap();
    // Re-handled on Fri Jan 28, 16:00: Sat 29 (1), Sun 30 (2), holiday, Mon Feb 7 (3) for a consultation.
    s = apply(
        &s,
        &Action::Rehandle {
            reason: "the caller says nothing changed".into(),
        },
        bj("2022-01-28 16:00").timestamp_millis(),
    )
    .unwrap();
    assert_eq!(s.lifecycle.reopened, 1);
    assert_eq!(
        close_due(Category::Consultation, accepted, &s),
        bj("2022-02-07 16:00")
    );
}
