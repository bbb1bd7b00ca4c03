//! Each leg's RTCP figures into the call record, and the calls' quality on the wallboard. The media engine
//! measures (RFC 3550 receive statistics, the peer's reports, the E-model: `media::rtcp`); the call task reads a
//! leg's figures when the leg ends (given up, or at the call's end) and attaches them to the record on
//! `Finished` — the call core never sees them.

use call::LegId;
use media::rtcp::LegQualityReport;
use media::MediaLeg;
use record::{CallRecord, LegQuality};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The wallboard keeps this many calls (and never more than 24 hours of them).
const KEPT: usize = 20_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// G.107 Table B.1: below R = 70 (MOS ≈ 3.6) "many users dissatisfied".
const POOR_MOS: f64 = 3.6;
/// The wallboard lists this many of the latest calls.
const LATEST: usize = 10;

/// A leg's figures as the record stores them (µs, ms, 1/256, MOS × 100); `None` for a leg that received
/// no RTP and no report (nothing to say, and no row to store: load tests run thousands of those a second).
pub fn leg_quality(leg: LegId, m: &MediaLeg) -> Option<LegQuality> {
    let q = m.quality();
    (q.packets_received > 0 || q.reports_received > 0).then(|| from_report(leg, &q))
}

fn from_report(leg: LegId, q: &LegQualityReport) -> LegQuality {
    let us = |ms: f64| (ms * 1000.0).round() as i64;
    LegQuality {
        leg: leg.0,
        packets_received: i64::try_from(q.packets_received).unwrap_or(i64::MAX),
        lost: q.lost,
        jitter_us: us(q.jitter_ms),
        peer_reported_lost: q.peer_reported_lost,
        peer_reported_fraction_256: q.peer_reported_fraction.map(|f| (f * 256.0).round() as i64),
        peer_jitter_us: q.peer_jitter_ms.map(us),
        rtt_ms: q.rtt_ms.map(|r| r.round() as i64),
        mos_x100: q.mos.map(|m| (m * 100.0).round() as i64),
    }
}

/// One finished call on the wallboard.
#[derive(Debug, Clone, Serialize)]
pub struct CallQuality {
    pub ended_at_ms: i64,
    pub seat: Option<String>,
    /// The caller leg's estimated MOS.
    pub caller_mos: Option<f64>,
    /// Loss we measured on the caller's stream, %.
    pub caller_loss_pct: f64,
    /// Loss the caller reported of ours (its last RTCP interval), %.
    pub caller_reported_loss_pct: Option<f64>,
    /// The answering seat's leg (the first leg after the caller's).
    pub seat_mos: Option<f64>,
}

/// The quality figures of the wallboard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QualitySummary {
    /// Calls of the last 24 hours with a caller MOS (since the daemon started).
    pub calls: usize,
    pub mean_caller_mos: Option<f64>,
    /// Of those, how many were below MOS 3.6.
    pub poor_calls: usize,
    /// The latest calls, newest first.
    pub latest: Vec<CallQuality>,
}

/// The last day's calls' quality, counted as the records go out.
#[derive(Default)]
pub struct QualityBoard {
    calls: Mutex<VecDeque<CallQuality>>,
}

impl QualityBoard {
    pub fn count(&self, r: &CallRecord) {
        let Some(caller) = r.quality.iter().find(|q| q.leg == LegId::CALLER.0) else {
            return;
        };
        let seat = r.quality.iter().find(|q| q.leg != LegId::CALLER.0);
        let entry = CallQuality {
            ended_at_ms: r.ended_at_ms,
            seat: r.seat.clone(),
            caller_mos: caller.mos(),
            caller_loss_pct: caller.loss_fraction() * 100.0,
            caller_reported_loss_pct: caller
                .peer_reported_fraction_256
                .map(|f| f as f64 * 100.0 / 256.0),
            seat_mos: seat.and_then(LegQuality::mos),
        };
        if let Ok(mut calls) = self.calls.lock() {
            calls.push_back(entry);
            while calls.len() > KEPT {
                calls.pop_front();
            }
        }
    }

    /// The figures over the calls that ended in the 24 hours before `now_wall_ms`.
    pub fn summary(&self, now_wall_ms: i64) -> QualitySummary {
        let Ok(mut calls) = self.calls.lock() else {
            return QualitySummary::default();
        };
        while calls
            .front()
            .is_some_and(|c| c.ended_at_ms < now_wall_ms - DAY_MS)
        {
            calls.pop_front();
        }
        let scores: Vec<f64> = calls.iter().filter_map(|c| c.caller_mos).collect();
        QualitySummary {
            calls: scores.len(),
            mean_caller_mos: (!scores.is_empty())
                .then(|| scores.iter().sum::<f64>() / scores.len() as f64),
            poor_calls: scores.iter().filter(|m| **m < POOR_MOS).count(),
            latest: calls.iter().rev().take(LATEST).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ended: i64, caller_mos: Option<i64>) -> CallRecord {
        let json = format!(
            r#"{{"call_id":"c{ended}","caller":"1","called":"12345","original_called":null,"route_mode":null,
            "department":null,"started_at_ms":0,"answered_at_ms":null,"ended_at_ms":{ended},"wait_ms":0,
            "seat":"1001","end_reason":"caller_hangup","digits":"","off_hours":false,"transfer_unanswered":null}}"#
        );
        let mut r: CallRecord = serde_json::from_str(&json).unwrap();
        r.quality = vec![from_report(
            LegId::CALLER,
            &LegQualityReport {
                packets_received: 90,
                lost: 10,
                peer_reported_fraction: Some(0.25),
                mos: caller_mos.map(|m| m as f64 / 100.0),
                ..LegQualityReport::default()
            },
        )];
        r
    }

    #[test]
    fn the_day_average_and_the_latest_calls() {
        let b = QualityBoard::default();
        b.count(&record(1_000, Some(420)));
        b.count(&record(DAY_MS + 2_000, Some(300)));
        b.count(&record(DAY_MS + 3_000, None));
        let s = b.summary(DAY_MS + 5_000);
        // The first call is more than a day old.
        assert_eq!((s.calls, s.poor_calls), (1, 1));
        assert_eq!(s.mean_caller_mos, Some(3.0));
        assert_eq!(s.latest.len(), 2);
        assert_eq!(s.latest[1].caller_reported_loss_pct, Some(25.0));
        assert!((s.latest[1].caller_loss_pct - 10.0).abs() < 1e-9);
    }

    #[test]
    fn figures_keep_their_units() {
        let q = from_report(
            LegId(1),
            &LegQualityReport {
                jitter_ms: 4.25,
                peer_jitter_ms: Some(2.0),
                peer_reported_fraction: Some(0.25),
                rtt_ms: Some(41.6),
                mos: Some(4.409),
                ..LegQualityReport::default()
            },
        );
        assert_eq!(q.leg, 1);
        assert_eq!(
            (q.jitter_us, q.peer_jitter_us, q.peer_reported_fraction_256),
            (4_250, Some(2_000), Some(64))
        );
        assert_eq!((q.rtt_ms, q.mos_x100), (Some(42), Some(441)));
    }
}
