//! What the progress self-query by phone says, as word names the call turns into prompts
//! (`dialplans/prompts/selfquery/<word>.wav`): «您的诉求 正在办理，办理期限 二零二七年 三月 五日». Pure.
//!
//! Years are read digit by digit (二零二七年), months and days as Mandarin numbers (十二月, 二十五日), as people
//! say dates. A request that is over (closed, called back, evaluated, not accepted) has no due date to tell.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

use crate::model::Status;

/// Every word the self-query may say: the file names its prompt directory must hold.
pub const VOCABULARY: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "enter_number",
    "not_found",
    "goodbye",
    "your_request",
    "state_accepted",
    "state_dispatched",
    "state_signed",
    "state_handling",
    "state_replied",
    "state_returned",
    "state_closed",
    "state_called_back",
    "state_evaluated",
    "state_not_accepted",
    "due",
    "year",
    "month",
    "day",
];

/// The word of a ticket state.
pub fn state_word(status: Status) -> &'static str {
    match status {
        Status::Accepted => "state_accepted",
        Status::Dispatched => "state_dispatched",
        Status::Signed => "state_signed",
        Status::Handling => "state_handling",
        Status::Replied => "state_replied",
        Status::Returned => "state_returned",
        Status::Closed => "state_closed",
        Status::CalledBack => "state_called_back",
        Status::Evaluated => "state_evaluated",
        Status::NotAccepted => "state_not_accepted",
    }
}

const DIGITS: [&str; 11] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];

/// 1–31 as Mandarin says it, with 十 = "10": 7 → 七, 10 → 十, 12 → 十二, 20 → 二十, 25 → 二十五.
fn mandarin(n: u32, out: &mut Vec<&'static str>) {
    let n = n.min(99) as usize;
    match n {
        0..=10 => out.push(DIGITS[n]),
        11..=19 => out.extend([DIGITS[10], DIGITS[n - 10]]),
        _ if n % 10 == 0 => out.extend([DIGITS[n / 10], DIGITS[10]]),
        _ => out.extend([DIGITS[n / 10], DIGITS[10], DIGITS[n % 10]]),
    }
}

/// The sentence for a ticket in `status` due at `close_due`, the date as it is in `tz` (the center's zone).
pub fn progress_words(status: Status, close_due: DateTime<Utc>, tz: Tz) -> Vec<&'static str> {
    let mut out = vec!["your_request", state_word(status)];
    let over = matches!(
        status,
        Status::Closed | Status::CalledBack | Status::Evaluated | Status::NotAccepted
    );
    if over {
        return out;
    }
    let due = close_due.with_timezone(&tz).date_naive();
    out.push("due");
    for c in due.year().to_string().chars() {
        if let Some(d) = c.to_digit(10) {
            out.push(DIGITS[d as usize]);
        }
    }
    out.push("year");
    mandarin(due.month(), &mut out);
    out.push("month");
    mandarin(due.day(), &mut out);
    out.push("day");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn bj(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn an_open_ticket_says_its_state_and_due_date() {
        let words = progress_words(
            Status::Handling,
            bj(2027, 3, 5, 10),
            chrono_tz::Asia::Shanghai,
        );
        assert_eq!(
            words,
            [
                "your_request",
                "state_handling",
                "due",
                "2",
                "0",
                "2",
                "7",
                "year",
                "3",
                "month",
                "5",
                "day"
            ]
        );
    }

    #[test]
    fn months_and_days_are_mandarin_numbers() {
        let w = progress_words(
            Status::Accepted,
            bj(2022, 12, 25, 9),
            chrono_tz::Asia::Shanghai,
        );
        assert_eq!(
            w[7..],
            ["year", "10", "2", "month", "2", "10", "5", "day"],
            "十二月二十五日"
        );
        let w = progress_words(
            Status::Signed,
            bj(2022, 10, 20, 9),
            chrono_tz::Asia::Shanghai,
        );
        assert_eq!(
            w[7..],
            ["year", "10", "month", "2", "10", "day"],
            "十月二十日"
        );
        let w = progress_words(
            Status::Signed,
            bj(2022, 11, 10, 9),
            chrono_tz::Asia::Shanghai,
        );
        assert_eq!(
            w[7..],
            ["year", "10", "1", "month", "10", "day"],
            "十一月十日"
        );
    }

    #[test]
    fn the_date_is_the_centers_not_utcs() {
        // 2022-02-01 07:00 in Beijing is still 31 January in UTC.
        let w = progress_words(
            Status::Dispatched,
            bj(2022, 2, 1, 7),
            chrono_tz::Asia::Shanghai,
        );
        assert_eq!(w[8..], ["2", "month", "1", "day"]);
    }

    #[test]
    fn a_finished_request_has_no_due_date() {
        for s in [
            Status::Closed,
            Status::CalledBack,
            Status::Evaluated,
            Status::NotAccepted,
        ] {
            assert_eq!(
                progress_words(s, bj(2022, 2, 1, 7), chrono_tz::Asia::Shanghai),
                ["your_request", state_word(s)]
            );
        }
    }

    #[test]
    fn every_word_said_is_in_the_vocabulary() {
        for s in Status::ALL {
            for w in progress_words(s, bj(2029, 12, 31, 16), chrono_tz::Asia::Shanghai) {
                assert!(VOCABULARY.contains(&w), "{w}");
            }
        }
    }
}
