//! Working-day arithmetic shared by call routing and ticket deadlines.
//!
//! China's working days are Monday–Friday, minus the public holidays, plus the adjusted working days
//! (调休: a Saturday or Sunday worked to bridge a holiday). Both lists change every year with a State
//! Council notice, so they live in a data file ops edit (`dialplans/calendars/china.toml`), not in code.
//!
//! Everything here is pure: the current time is always an argument.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use serde::Deserialize;
use toml::Spanned;

/// An error in a calendar file (or in a working-hours text), pointing at the offending spot.
/// `line`/`column` are 1-based; both are 0 when there is no position (e.g. the file cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for CalendarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for CalendarError {}

/// 1-based line and column (in characters) of byte `offset` in `src`. Offsets past the end clamp to it.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    year: Vec<Spanned<YearFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: Spanned<i32>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    #[serde(default)]
    adjusted_working_days: Vec<Spanned<String>>,
}

/// Public holidays and adjusted working days, per year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    /// Sorted; binary search keeps `is_working_day` allocation-free and a few comparisons long.
    holidays: Vec<NaiveDate>,
    adjusted: Vec<NaiveDate>,
    years: Vec<i32>,
}

impl HolidayCalendar {
    /// Parses the TOML calendar format (see `dialplans/calendars/china.toml`). `file_name` is only used
    /// in error messages, which carry `file:line:column`.
    pub fn from_toml_str(src: &str, file_name: &str) -> Result<HolidayCalendar, CalendarError> {
        let err_at = |offset: usize, message: String| {
            let (line, column) = line_col(src, offset);
            CalendarError {
                file: file_name.to_string(),
                line,
                column,
                message,
            }
        };
        let parsed: CalendarFile = toml::from_str(src).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err_at(offset, e.message().trim_end().to_string())
        })?;

        let mut cal = HolidayCalendar::default();
        for y in &parsed.year {
            let y = y.get_ref();
            let year = *y.year.get_ref();
            if !(1900..=2999).contains(&year) {
                return Err(err_at(
                    y.year.span().start,
                    format!("year {year} is out of range"),
                ));
            }
            if cal.years.contains(&year) {
                return Err(err_at(
                    y.year.span().start,
                    format!("year {year} is listed twice"),
                ));
            }
            cal.years.push(year);
            // A notice may start a holiday in the previous December (New Year 2023 began 2022-12-31).
            let in_notice = |d: NaiveDate| d.year() == year || d.year() == year - 1;
            for h in &y.holidays {
                let (first, last) =
                    parse_date_or_range(h.get_ref()).map_err(|m| err_at(h.span().start, m))?;
                if !in_notice(first) || !in_notice(last) {
                    return Err(err_at(
                        h.span().start,
                        format!("holiday {} is not in year {year}", h.get_ref()),
                    ));
                }
                let mut d = first;
                loop {
                    cal.holidays.push(d);
                    match d.succ_opt() {
                        Some(n) if n <= last => d = n,
                        _ => break,
                    }
                }
            }
            for a in &y.adjusted_working_days {
                let d = parse_date(a.get_ref()).map_err(|m| err_at(a.span().start, m))?;
                if !in_notice(d) {
                    return Err(err_at(
                        a.span().start,
                        format!("adjusted working day {d} is not in year {year}"),
                    ));
                }
                if !is_weekend(d) {
                    return Err(err_at(
                        a.span().start,
                        format!("adjusted working day {d} is a {:?}; only a Saturday or Sunday can be one", d.weekday()),
                    ));
                }
                cal.adjusted.push(d);
            }
            for a in &y.adjusted_working_days {
                if let Ok(d) = parse_date(a.get_ref()) {
                    if cal.holidays.contains(&d) {
                        return Err(err_at(
                            a.span().start,
                            format!("{d} is both a holiday and an adjusted working day"),
                        ));
                    }
                }
            }
        }
        cal.holidays.sort_unstable();
        cal.holidays.dedup();
        cal.adjusted.sort_unstable();
        cal.adjusted.dedup();
        cal.years.sort_unstable();
        Ok(cal)
    }

    /// Reads and parses a calendar file.
    pub fn load(path: &Path) -> Result<HolidayCalendar, CalendarError> {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| CalendarError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read calendar: {e}"),
        })?;
        Self::from_toml_str(&src, &name)
    }

    /// Monday–Friday unless a public holiday; Saturday/Sunday only when an adjusted working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if is_weekend(d) {
            self.adjusted.binary_search(&d).is_ok()
        } else {
            self.holidays.binary_search(&d).is_err()
        }
    }

    /// Whether the file has that year's notice. Years not covered fall back to plain Monday–Friday.
    pub fn covers_year(&self, year: i32) -> bool {
        self.years.binary_search(&year).is_ok()
    }

    /// The years the file covers, ascending.
    pub fn years(&self) -> &[i32] {
        &self.years
    }

    /// The first working day strictly after `d`.
    pub fn next_working_day(&self, d: NaiveDate) -> NaiveDate {
        let mut n = d;
        // Longest run of days off is well under a month; the bound only guards against a corrupt calendar.
        for _ in 0..366 {
            match n.succ_opt() {
                Some(s) => n = s,
                None => return n,
            }
            if self.is_working_day(n) {
                return n;
            }
        }
        n
    }

    /// `d` itself when it is a working day, else the next one.
    pub fn working_day_on_or_after(&self, d: NaiveDate) -> NaiveDate {
        if self.is_working_day(d) {
            d
        } else {
            self.next_working_day(d)
        }
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("bad date {s:?}: expected YYYY-MM-DD"))
}

fn parse_date_or_range(s: &str) -> Result<(NaiveDate, NaiveDate), String> {
    match s.split_once("..") {
        None => parse_date(s).map(|d| (d, d)),
        Some((a, b)) => {
            let (a, b) = (parse_date(a)?, parse_date(b)?);
            if b < a {
                return Err(format!("range {s:?} ends before it starts"));
            }
            if (b - a).num_days() > 31 {
                return Err(format!(
                    "range {s:?} is longer than a month; is a date mistyped?"
                ));
            }
            Ok((a, b))
        }
    }
}

/// Daily opening periods, e.g. 09:00–17:00, or 08:30–12:00 + 14:00–17:30. Sorted, non-overlapping,
/// each half-open `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    periods: Vec<(NaiveTime, NaiveTime)>,
}

impl WorkingHours {
    /// Validates: at least one period, each start before its end, sorted and not overlapping.
    pub fn new(periods: Vec<(NaiveTime, NaiveTime)>) -> Result<WorkingHours, String> {
        if periods.is_empty() {
            return Err("working hours need at least one period".into());
        }
        for (i, &(s, e)) in periods.iter().enumerate() {
            if s >= e {
                return Err(format!(
                    "working period {}–{} ends before it starts",
                    fmt_t(s),
                    fmt_t(e)
                ));
            }
            if i > 0 && periods[i - 1].1 > s {
                return Err(format!(
                    "working period {}–{} overlaps or precedes the one before it",
                    fmt_t(s),
                    fmt_t(e)
                ));
            }
        }
        Ok(WorkingHours { periods })
    }

    /// Parses "09:00-17:00" or "08:30-12:00,14:00-17:30" (an en dash also works as separator).
    pub fn parse(s: &str) -> Result<WorkingHours, String> {
        let mut periods = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (a, b) = part
                .split_once('-')
                .or_else(|| part.split_once('–'))
                .ok_or_else(|| format!("bad working period {part:?}: expected HH:MM-HH:MM"))?;
            periods.push((parse_time(a)?, parse_time(b)?));
        }
        WorkingHours::new(periods)
    }

    /// 09:00–17:00, the department default of the example plans.
    pub fn nine_to_five() -> WorkingHours {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        WorkingHours {
            periods: vec![(t(9), t(17))],
        }
    }

    pub fn periods(&self) -> &[(NaiveTime, NaiveTime)] {
        &self.periods
    }

    /// First opening time of the day.
    pub fn opening(&self) -> NaiveTime {
        self.periods.first().map_or(NaiveTime::MIN, |p| p.0)
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        self.periods.iter().any(|&(s, e)| s <= t && t < e)
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(s, e)) in self.periods.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}-{}", fmt_t(s), fmt_t(e))?;
        }
        Ok(())
    }
}

fn fmt_t(t: NaiveTime) -> String {
    if t == end_of_day() {
        return "24:00".into();
    }
    t.format("%H:%M").to_string()
}

/// "24:00": the last representable instant of the day, so `[start, 24:00)` covers the whole evening.
fn end_of_day() -> NaiveTime {
    NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap_or(NaiveTime::MIN)
}

/// Parses "HH:MM" (or "HH:MM:SS"); "24:00" means end of day.
pub fn parse_time(s: &str) -> Result<NaiveTime, String> {
    let s = s.trim();
    if s == "24:00" {
        return Ok(end_of_day());
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .map_err(|_| format!("bad time {s:?}: expected HH:MM"))
}

/// A calendar, daily hours and the time zone they are read in: "is this office open at `at`?".
#[derive(Debug, Clone)]
pub struct Schedule {
    pub calendar: Arc<HolidayCalendar>,
    pub hours: WorkingHours,
    pub tz: chrono_tz::Tz,
}

impl Schedule {
    /// Working day AND inside working hours, both in `tz`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz).naive_local();
        self.calendar.is_working_day(local.date()) && self.hours.contains(local.time())
    }

    /// Ticket deadline: `n` working days after `from`.
    ///
    /// Rule: when `from` falls (in `tz`) on a working day, the deadline is the same clock time on the n-th
    /// following working day (the time of day is kept even outside opening hours). When `from` falls on a
    /// non-working day, the clock starts at the opening of the next working day, and the deadline is the
    /// opening time n working days after that. `n == 0` returns that start.
    pub fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let local = from.with_timezone(&self.tz).naive_local();
        let (mut day, time) = if self.calendar.is_working_day(local.date()) {
            (local.date(), local.time())
        } else {
            (
                self.calendar.next_working_day(local.date()),
                self.hours.opening(),
            )
        };
        for _ in 0..n {
            day = self.calendar.next_working_day(day);
        }
        self.to_utc(day.and_time(time))
    }

    /// Open time between `a` and `b` (zero when `b <= a`): the overlap of `[a, b)` with working hours on
    /// working days. Used for the supervision "traffic light" of a ticket.
    pub fn working_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        let la = a.with_timezone(&self.tz).naive_local();
        let lb = b.with_timezone(&self.tz).naive_local();
        let mut total = Duration::zero();
        let mut day = la.date();
        while day <= lb.date() {
            if self.calendar.is_working_day(day) {
                for &(s, e) in &self.hours.periods {
                    let (ps, pe) = (day.and_time(s), day.and_time(e));
                    let start = ps.max(la);
                    let end = pe.min(lb);
                    if end > start {
                        total += end - start;
                    }
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        total
    }

    /// Local wall time → UTC. A time skipped by a DST jump moves forward by an hour; an ambiguous one takes
    /// the earlier instant. (China has no DST; other zones are handled anyway.)
    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => self
                .tz
                .from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn china() -> HolidayCalendar {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/calendars/china.toml");
        HolidayCalendar::load(&path).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Beijing wall time → UTC.
    fn bj(s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Asia::Shanghai
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(hours: &str) -> Schedule {
        Schedule {
            calendar: Arc::new(china()),
            hours: WorkingHours::parse(hours).unwrap(),
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    #[test]
    fn golden_week_2021() {
        let c = china();
        assert!(
            !c.is_working_day(d("2021-10-01")),
            "National Day is a holiday"
        );
        assert!(!c.is_working_day(d("2021-10-07")));
        assert!(
            c.is_working_day(d("2021-10-08")),
            "Friday after the holiday is worked"
        );
        assert!(
            c.is_working_day(d("2021-10-09")),
            "adjusted working Saturday"
        );
        assert!(c.is_working_day(d("2021-09-26")), "adjusted working Sunday");
        assert!(!c.is_working_day(d("2021-10-10")), "plain Sunday");
        assert!(c.is_working_day(d("2021-09-30")));
        assert!(!c.is_working_day(d("2021-09-21")), "Mid-Autumn");
        assert!(
            c.is_working_day(d("2021-09-18")),
            "Mid-Autumn adjusted Saturday"
        );
        assert_eq!(c.next_working_day(d("2021-09-30")), d("2021-10-08"));
        assert_eq!(c.next_working_day(d("2021-10-08")), d("2021-10-09"));
        assert_eq!(c.next_working_day(d("2021-10-09")), d("2021-10-11"));
    }

    #[test]
    fn every_year_2020_to_2026_is_covered_and_sane() {
        let c = china();
        for y in 2020..=2026 {
            assert!(c.covers_year(y), "{y}");
        }
        assert!(!c.covers_year(2019));
        assert!(!c.covers_year(2027));
        // Spot checks from each notice.
        assert!(!c.is_working_day(d("2020-01-31")), "2020 COVID extension");
        assert!(
            !c.is_working_day(d("2020-02-01")),
            "2020 adjusted Saturday cancelled"
        );
        assert!(c.is_working_day(d("2020-02-03")));
        assert!(c.is_working_day(d("2022-01-29")) && c.is_working_day(d("2022-01-30")));
        assert!(!c.is_working_day(d("2023-01-02")), "2023 New Year Monday");
        assert!(c.is_working_day(d("2024-02-18")));
        assert!(
            !c.is_working_day(d("2025-01-28")),
            "2025 Spring Festival eve"
        );
        assert!(c.is_working_day(d("2026-01-04")));
        assert!(!c.is_working_day(d("2026-02-23")));
        assert!(
            c.is_working_day(d("2026-11-23")),
            "a Monday in November 2026"
        );
        assert!(!c.is_working_day(d("2026-11-22")), "today, a Sunday");
        // Uncovered years: plain Monday–Friday.
        assert!(c.is_working_day(d("2027-01-01")));
        assert!(!c.is_working_day(d("2027-01-02")));
    }

    #[test]
    fn deadlines_across_golden_week() {
        let s = schedule("09:00-17:00");
        let from = bj("2021-09-30 10:00");
        assert_eq!(s.add_working_days(from, 0), from);
        assert_eq!(s.add_working_days(from, 1), bj("2021-10-08 10:00"));
        assert_eq!(s.add_working_days(from, 3), bj("2021-10-11 10:00"));
        assert_eq!(s.add_working_days(from, 7), bj("2021-10-15 10:00"));
        let sat = bj("2021-10-09 16:30");
        assert_eq!(s.add_working_days(sat, 1), bj("2021-10-11 16:30"));
        assert_eq!(s.add_working_days(sat, 5), bj("2021-10-15 16:30"));
        // Start on a holiday: the clock starts at the next working day's opening.
        let hol = bj("2021-10-03 22:00");
        assert_eq!(s.add_working_days(hol, 0), bj("2021-10-08 09:00"));
        assert_eq!(s.add_working_days(hol, 1), bj("2021-10-09 09:00"));
        assert_eq!(s.add_working_days(hol, 2), bj("2021-10-11 09:00"));
    }

    #[test]
    fn open_hours_with_lunch_break() {
        let s = schedule("08:30-12:00,14:00-17:30");
        assert!(s.is_open(bj("2021-10-09 08:30")));
        assert!(!s.is_open(bj("2021-10-09 12:00")));
        assert!(!s.is_open(bj("2021-10-09 13:59")));
        assert!(s.is_open(bj("2021-10-09 17:29")));
        assert!(!s.is_open(bj("2021-10-09 17:30")));
        assert!(!s.is_open(bj("2021-10-01 10:00")), "holiday");
        assert!(!s.is_open(bj("2021-10-10 10:00")), "Sunday");
        assert!(s.is_open(bj("2021-09-26 10:00")), "adjusted Sunday");
        // 10:00 Beijing is 02:00 UTC: the time zone matters.
        assert!(!s.is_open(Utc.with_ymd_and_hms(2021, 9, 30, 10, 0, 0).unwrap()));
    }

    #[test]
    fn working_time_between_skips_nights_holidays_and_lunch() {
        let s = schedule("08:30-12:00,14:00-17:30");
        let day = Duration::hours(7);
        assert_eq!(
            s.working_time_between(bj("2021-09-30 08:00"), bj("2021-09-30 20:00")),
            day
        );
        assert_eq!(
            s.working_time_between(bj("2021-09-30 11:00"), bj("2021-09-30 15:00")),
            Duration::hours(2)
        );
        // Thu 16:00 → Sat(adjusted) 09:00 spans the whole Golden Week: 1.5 h + 7 h (Fri 8th) + 0.5 h.
        assert_eq!(
            s.working_time_between(bj("2021-09-30 16:00"), bj("2021-10-09 09:00")),
            Duration::minutes(90) + day + Duration::minutes(30)
        );
        assert_eq!(
            s.working_time_between(bj("2021-10-01 09:00"), bj("2021-10-07 17:00")),
            Duration::zero()
        );
        assert_eq!(
            s.working_time_between(bj("2021-10-09 09:00"), bj("2021-10-08 09:00")),
            Duration::zero()
        );
    }

    #[test]
    fn errors_name_file_line_column() {
        let bad_weekday = "[[year]]\nyear = 2021\nadjusted_working_days = [\"2021-09-27\"]\n";
        let e = HolidayCalendar::from_toml_str(bad_weekday, "cal.toml").unwrap_err();
        assert_eq!((e.line, e.column), (3, 26), "{e}");
        assert!(e.message.contains("Saturday or Sunday"), "{e}");
        assert!(e.to_string().starts_with("cal.toml:3:26: error: "), "{e}");

        let typo = "[[year]]\nyear = 2021\nholiday = []\n";
        let e = HolidayCalendar::from_toml_str(typo, "cal.toml").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown field"), "{e}");

        let bad_date = "[[year]]\nyear = 2021\nholidays = [\"2021-02-30\"]\n";
        let e = HolidayCalendar::from_toml_str(bad_date, "cal.toml").unwrap_err();
        assert_eq!((e.line, e.column), (3, 13), "{e}");

        let wrong_year = "[[year]]\nyear = 2021\nholidays = [\"2019-10-01\"]\n";
        assert!(HolidayCalendar::from_toml_str(wrong_year, "c")
            .unwrap_err()
            .message
            .contains("not in year"));

        let twice = "[[year]]\nyear = 2021\n[[year]]\nyear = 2021\n";
        let e = HolidayCalendar::from_toml_str(twice, "c").unwrap_err();
        assert_eq!(e.line, 4);

        let both = "[[year]]\nyear = 2021\nholidays = [\"2021-10-01..2021-10-10\"]\nadjusted_working_days = [\"2021-10-09\"]\n";
        assert!(HolidayCalendar::from_toml_str(both, "c")
            .unwrap_err()
            .message
            .contains("both"));

        let missing = HolidayCalendar::load(Path::new("/nonexistent/cal.toml")).unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("/nonexistent/cal.toml: error: cannot read"));
    }

    #[test]
    fn working_hours_parsing() {
        assert!(WorkingHours::parse("17:00-09:00").is_err());
        assert!(WorkingHours::parse("09:00-12:00,11:00-17:00").is_err());
        assert!(WorkingHours::parse("9am-5pm").is_err());
        let h = WorkingHours::parse("08:30-12:00, 14:00–17:30").unwrap();
        assert_eq!(h.to_string(), "08:30-12:00,14:00-17:30");
        assert_eq!(h, WorkingHours::parse("08:30-12:00,14:00-17:30").unwrap());
        assert_eq!(WorkingHours::nine_to_five().to_string(), "09:00-17:00");
        let all_day = WorkingHours::parse("00:00-24:00").unwrap();
        assert_eq!(all_day.to_string(), "00:00-24:00");
        assert!(all_day.contains(NaiveTime::from_hms_opt(23, 59, 59).unwrap()));
        assert!(all_day.contains(NaiveTime::MIN));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("名称 = x", 3), (1, 2));
        assert_eq!(line_col("x", 99), (1, 2));
    }
}
