//! `hotlined staffing`: operators needed per interval, from the measured traffic of a queue (the stored call
//! records) — next to how many were logged in (the stored presence history).
//!
//! Per interval: the offered calls give λ; the mean handle time is the measured talk time of the interval's
//! answered calls (else of the whole range) plus the configured wrap-up (`calls.wrap_up_s`: the record has no
//! wrap-up). Two requirements, and the advice is the larger:
//! - the service level (`acd.service_level_target` within `calls.service_level_s`) by **Erlang C** (M/M/n),
//! - the answer rate (`acd.answer_rate_target`, R-13's 95%) by **Erlang A** (M/M/n+M; Garnett, Mandelbaum &
//!   Reiman 2002), with the callers' mean patience estimated from the whole range as abandons / time waited
//!   (Brown et al. 2005). With no abandon measured, Erlang C's stability (n > A) stands in.
//!
//! See `acd::erlang` for the formulas and their published checks.

use acd::erlang;
use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use std::fmt::Write;
use ticket::queue_stats::{interval_tallies, Rules, Tally};

/// What the advice aims for.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub threshold_s: f64,
    pub service_level: f64,
    pub answer_rate: f64,
    pub wrap_up_s: f64,
}

/// One interval's advice.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub offered: u64,
    /// Mean handle time used (talk + wrap-up), None without traffic.
    pub aht_s: Option<f64>,
    pub erlangs: f64,
    pub for_service_level: u32,
    pub for_answer_rate: u32,
    pub advised: u32,
    /// Time-weighted mean of the operators logged in for the queue.
    pub logged_in: f64,
    /// What the interval measured.
    pub service_level: Option<f64>,
    pub answer_rate: Option<f64>,
}

/// The advice for each interval of `tallies` (each `interval_s` long).
pub fn advise(
    tallies: &[Tally],
    logged_in: &[f64],
    interval_s: f64,
    t: Targets,
    patience_s: Option<f64>,
) -> Vec<Advice> {
    let mut all = Tally::default();
    for x in tallies {
        all.merge(x);
    }
    let mean_talk = |x: &Tally| (x.talked > 0).then(|| x.talk_ms as f64 / x.talked as f64 / 1000.0);
    let day_talk = mean_talk(&all);
    let rules = Rules {
        threshold_ms: (t.threshold_s * 1000.0) as i64,
        short_abandon_ms: 0,
    };
    tallies
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let aht = (x.offered > 0)
                .then(|| mean_talk(x).or(day_talk))
                .flatten()
                .map(|talk| talk + t.wrap_up_s);
            let lambda = x.offered as f64 / interval_s;
            let (erlangs, sl, ar) = match aht {
                Some(h) if h > 0.0 => {
                    let a = lambda * h;
                    let sl = erlang::agents_for_service_level(a, h, t.threshold_s, t.service_level);
                    let ar = match patience_s {
                        Some(p) => erlang::agents_for_answer_rate(lambda, h, p, t.answer_rate),
                        None => a.floor() as u32 + 1,
                    };
                    (a, sl, ar)
                }
                _ => (0.0, 0, 0),
            };
            let f = x.figures(rules);
            Advice {
                offered: x.offered,
                aht_s: aht,
                erlangs,
                for_service_level: sl,
                for_answer_rate: ar,
                advised: sl.max(ar),
                logged_in: logged_in.get(i).copied().unwrap_or(0.0),
                service_level: f.service_level,
                answer_rate: f.answer_rate,
            }
        })
        .collect()
}

/// The table `hotlined staffing` prints.
pub fn render(
    queue: &str,
    from: DateTime<FixedOffset>,
    interval_s: i64,
    t: Targets,
    patience_s: Option<f64>,
    advice: &[Advice],
) -> String {
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.1}%", v * 100.0));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "queue {queue}: {} intervals of {} min from {}",
        advice.len(),
        interval_s / 60,
        from.format("%Y-%m-%d %H:%M %:z")
    );
    let _ = writeln!(
        out,
        "targets: {:.0}% answered within {:.0} s (Erlang C, M/M/n) and a {:.0}% answer rate (Erlang A, M/M/n+M, {})",
        t.service_level * 100.0,
        t.threshold_s,
        t.answer_rate * 100.0,
        match patience_s {
            Some(p) => format!("mean patience {p:.0} s measured"),
            None => "no abandon measured: Erlang C stability".to_string(),
        }
    );
    let _ = writeln!(
        out,
        "{:<13} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "interval",
        "offered",
        "AHT s",
        "Erlang",
        "for SL",
        "for rate",
        "advised",
        "logged in",
        "SL now",
        "rate now"
    );
    for (i, a) in advice.iter().enumerate() {
        let start = from + chrono::Duration::seconds(i as i64 * interval_s);
        let end = start + chrono::Duration::seconds(interval_s);
        let _ = writeln!(
            out,
            "{:<13} {:>7} {:>7} {:>7.2} {:>7} {:>8} {:>8} {:>9.1} {:>9} {:>9}",
            format!("{}-{}", start.format("%H:%M"), end.format("%H:%M")),
            a.offered,
            a.aht_s.map_or("–".to_string(), |h| format!("{h:.0}")),
            a.erlangs,
            a.for_service_level,
            a.for_answer_rate,
            a.advised,
            a.logged_in,
            pct(a.service_level),
            pct(a.answer_rate),
        );
    }
    let short: Vec<String> = advice
        .iter()
        .enumerate()
        .filter(|(_, a)| a.logged_in + 0.05 < f64::from(a.advised))
        .map(|(i, _)| {
            (from + chrono::Duration::seconds(i as i64 * interval_s))
                .format("%H:%M")
                .to_string()
        })
        .collect();
    let _ = writeln!(
        out,
        "understaffed (logged in < advised): {}",
        if short.is_empty() {
            "none".to_string()
        } else {
            short.join(" ")
        }
    );
    out
}

/// The command: read the range from the database, advise, render.
pub async fn command(
    database_url: &str,
    queue: &str,
    from: DateTime<FixedOffset>,
    to: DateTime<FixedOffset>,
    interval_min: u32,
    t: Targets,
) -> Result<String> {
    let store = ticket::Store::connect(database_url, 1)
        .await
        .with_context(|| format!("opening {database_url}"))?;
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    anyhow::ensure!(from_ms < to_ms, "--to must be after --from");
    let interval_ms = i64::from(interval_min.max(1)) * 60_000;
    let calls = store.queue_calls(from_ms, to_ms).await?;
    let visits: Vec<_> = calls.into_iter().flatten().collect();
    let rules = Rules {
        threshold_ms: (t.threshold_s * 1000.0) as i64,
        short_abandon_ms: 0,
    };
    let tallies = interval_tallies(&visits, queue, from_ms, to_ms, interval_ms, rules);
    let history = store.presence_history(from_ms, to_ms).await?;
    let logged_in =
        ticket::queues::logged_in_per_interval(&history, queue, from_ms, to_ms, interval_ms);
    store.close().await;
    let mut all = Tally::default();
    for x in &tallies {
        all.merge(x);
    }
    let patience = erlang::patience_estimate_s(
        all.abandoned + all.short_abandoned,
        all.exposed_wait_ms as f64 / 1000.0,
    );
    let advice = advise(
        &tallies,
        &logged_in,
        interval_ms as f64 / 1000.0,
        t,
        patience,
    );
    Ok(render(
        queue,
        from,
        interval_ms / 1000,
        t,
        patience,
        &advice,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Targets = Targets {
        threshold_s: 20.0,
        service_level: 0.8,
        answer_rate: 0.95,
        wrap_up_s: 0.0,
    };

    fn tally(offered: u64, talk_s: i64) -> Tally {
        Tally {
            offered,
            answered: offered,
            talked: offered,
            talk_ms: offered as i64 * talk_s * 1000,
            ..Tally::default()
        }
    }

    /// The textbook case: 100 calls an hour (50 per half hour) of 180 s, 80% within 20 s → 8 operators
    /// (Erlang C tables: 7 give 74.0%, 8 give 88.0%); 200 an hour → 14 (Call Centre Helper's example).
    #[test]
    fn the_textbook_erlang_c_cases() {
        let a = advise(
            &[tally(50, 180), tally(100, 180), Tally::default()],
            &[7.5, 14.0, 0.0],
            1800.0,
            T,
            None,
        );
        assert_eq!((a[0].erlangs, a[0].for_service_level), (5.0, 8));
        assert_eq!((a[1].erlangs, a[1].for_service_level), (10.0, 14));
        assert_eq!(a[0].advised, 8);
        assert_eq!((a[2].offered, a[2].advised, a[2].aht_s), (0, 0, None));
        let text = render(
            "general",
            DateTime::parse_from_rfc3339("2025-03-03T08:00:00+08:00").unwrap(),
            1800,
            T,
            None,
            &a,
        );
        assert!(text.contains("08:00-08:30"), "{text}");
        assert!(
            text.contains("understaffed (logged in < advised): 08:00"),
            "{text}"
        );
    }

    /// Wrap-up lengthens the handle time; an interval without answers borrows the range's talk time; impatient
    /// callers make the answer rate the binding requirement.
    #[test]
    fn handle_time_and_the_answer_rate_requirement() {
        let wrap = Targets {
            wrap_up_s: 20.0,
            ..T
        };
        let quiet = Tally {
            offered: 10,
            ..Tally::default()
        };
        let a = advise(&[tally(45, 180), quiet], &[], 1800.0, wrap, None);
        assert_eq!(a[0].aht_s, Some(200.0));
        assert_eq!(a[0].erlangs, 5.0);
        assert_eq!(a[1].aht_s, Some(200.0), "the range's talk time");
        // Very impatient callers (10 s): 95% answered needs more than 80% in 20 s does.
        let strict = Targets {
            service_level: 0.5,
            ..T
        };
        let a = advise(&[tally(50, 180)], &[], 1800.0, strict, Some(10.0));
        assert!(a[0].for_answer_rate > a[0].for_service_level, "{a:?}");
        assert_eq!(a[0].advised, a[0].for_answer_rate);
    }
}
