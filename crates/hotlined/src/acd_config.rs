//! `[acd]`, `[[queues]]` and `[[operators]]`: how seats log in, the operators' feature codes, how each queue
//! distributes and how long a caller may wait (docs/acd.md). Every struct refuses unknown keys.

use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdSection {
    /// false (the default): a seat that registers takes calls at once, as before operators existed; true: it
    /// waits for its operator's `*21`.
    pub login_required: bool,
    pub codes: CodesConfig,
    /// Reason digit of `*22` → what the wallboard shows («小休», «用餐», …).
    pub not_ready_reasons: BTreeMap<String, String>,
    /// Callers who hang up within this many seconds are short abandons: counted, in no rate.
    pub short_abandon_s: u64,
    /// The maximum wait of queues that set none, then the call-back list: no caller waits for ever.
    /// 0 = no limit.
    pub default_max_wait_s: u64,
    /// Answer rate the staffing advice aims for (R-13: 95% in 24 hours).
    pub answer_rate_target: f64,
    /// Share of calls to answer within `calls.service_level_s`, for the staffing advice.
    pub service_level_target: f64,
    /// A restored operator whose softphone has not registered again within this many seconds after a
    /// restart is logged out (its registration would have expired by then).
    pub restore_grace_s: u64,
    pub prompts: AcdPrompts,
}

impl Default for AcdSection {
    fn default() -> Self {
        AcdSection {
            login_required: false,
            codes: CodesConfig::default(),
            not_ready_reasons: BTreeMap::new(),
            short_abandon_s: 5,
            default_max_wait_s: 900,
            answer_rate_target: 0.95,
            service_level_target: 0.8,
            restore_grace_s: 3600,
            prompts: AcdPrompts::default(),
        }
    }
}

/// The feature codes an operator dials (Asterisk-style).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodesConfig {
    /// Log in (or ready again); `*21` + an operator id logs that operator in.
    pub login: String,
    /// Not ready; `*22` + a reason digit.
    pub not_ready: String,
    pub logout: String,
    /// End the wrap-up now.
    pub end_wrap_up: String,
}

impl Default for CodesConfig {
    fn default() -> Self {
        let d = acd::FeatureCodes::default();
        CodesConfig {
            login: d.login,
            not_ready: d.not_ready,
            logout: d.logout,
            end_wrap_up: d.end_wrap_up,
        }
    }
}

impl CodesConfig {
    pub fn codes(&self) -> acd::FeatureCodes {
        acd::FeatureCodes {
            login: self.login.clone(),
            not_ready: self.not_ready.clone(),
            logout: self.logout.clone(),
            end_wrap_up: self.end_wrap_up.clone(),
        }
    }
}

/// What the softphone hears after a feature code, and the caller at a call-back promise.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdPrompts {
    pub logged_in: Option<PathBuf>,
    pub not_ready: Option<PathBuf>,
    pub logged_out: Option<PathBuf>,
    pub wrap_up_ended: Option<PathBuf>,
    /// The request could not be done (not logged in, unknown operator, …).
    pub refused: Option<PathBuf>,
    /// «您的来电号码已记录，我们将尽快给您回电»: the maximum wait ended the call.
    pub callback: Option<PathBuf>,
    /// The pieces of position announcements: `0.wav` … `9.wav`, `10.wav` (十), `ahead.wav` («您前面还有»),
    /// `callers.wav` («位在等候»), `expected.wav` («预计等待»), `minutes.wav` («分钟»).
    pub announce_dir: Option<PathBuf>,
}

impl AcdPrompts {
    pub fn all_mut(&mut self) -> [&mut Option<PathBuf>; 7] {
        [
            &mut self.logged_in,
            &mut self.not_ready,
            &mut self.logged_out,
            &mut self.wrap_up_ended,
            &mut self.refused,
            &mut self.callback,
            &mut self.announce_dir,
        ]
    }
}

/// `[[queues]]`: one queue's distribution and wait. Queues of the dial plan that have no entry get the
/// defaults (longest idle, the skill of their name, `acd.default_max_wait_s` then the call-back list).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    /// A seat serves the queue when its skills include all of these; default: the queue's own name.
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub strategy: acd::Strategy,
    /// Higher is served first when a seat serves several queues with callers waiting.
    #[serde(default)]
    pub priority: i32,
    /// Longest wait before the caller moves on; default `acd.default_max_wait_s`.
    #[serde(default)]
    pub max_wait_s: Option<u64>,
    /// `callback` (the default) or another queue's name.
    #[serde(default)]
    pub overflow: Option<String>,
    /// This queue's service-level threshold; default `calls.service_level_s`.
    #[serde(default)]
    pub service_level_s: Option<u64>,
    /// Tell waiting callers their position and expected wait this often (needs `acd.prompts.announce_dir`).
    #[serde(default)]
    pub announce_every_s: Option<u64>,
}

/// `[[operators]]`: someone who can log in at a seat with `*21<id>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Empty: the skills (`queues`) of the seat logged in at.
    #[serde(default)]
    pub skills: Vec<String>,
}

impl AcdSection {
    pub fn validate(&self, queues: &[QueueConfig], operators: &[OperatorConfig]) -> Result<()> {
        self.codes
            .codes()
            .check()
            .map_err(|e| anyhow::anyhow!("acd.codes: {e}"))?;
        for k in self.not_ready_reasons.keys() {
            if acd::Reason::parse(k).is_none_or(|r| r == acd::Reason::Rona) {
                bail!("acd.not_ready_reasons: key {k:?} must be one digit");
            }
        }
        for (name, v) in [
            ("answer_rate_target", self.answer_rate_target),
            ("service_level_target", self.service_level_target),
        ] {
            if !(v > 0.0 && v < 1.0) {
                bail!("acd.{name}: must be between 0 and 1");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for q in queues {
            if !seen.insert(q.name.as_str()) {
                bail!("queue {} is defined twice", q.name);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for o in operators {
            if o.id.is_empty() || !o.id.chars().all(|c| c.is_ascii_digit()) || o.id.len() > 16 {
                bail!(
                    "operator {:?}: the id is what follows *21, so digits only",
                    o.id
                );
            }
            if !seen.insert(o.id.as_str()) {
                bail!("operator {} is defined twice", o.id);
            }
        }
        Ok(())
    }

    /// The ACD's spec of every queue: the configured ones, and `others` (the dial plan's queues and the seats'
    /// groups) with the defaults. Overflow targets must exist and never go round.
    pub fn queue_specs(
        &self,
        queues: &[QueueConfig],
        others: impl IntoIterator<Item = String>,
    ) -> Result<Vec<acd::QueueSpec>> {
        let default_wait = (self.default_max_wait_s > 0).then_some(self.default_max_wait_s);
        let mut specs: Vec<acd::QueueSpec> = queues
            .iter()
            .map(|q| acd::QueueSpec {
                name: q.name.clone(),
                skills: q.skills.clone(),
                strategy: q.strategy,
                priority: q.priority,
                max_wait_ms: q
                    .max_wait_s
                    .or(default_wait)
                    .filter(|s| *s > 0)
                    .map(|s| s as i64 * 1000),
                overflow: match q.overflow.as_deref() {
                    None | Some("callback") => acd::Overflow::Callback,
                    Some(other) => acd::Overflow::Queue(other.to_string()),
                },
            })
            .collect();
        for name in others {
            if !specs.iter().any(|s| s.name == name) {
                specs.push(acd::QueueSpec {
                    max_wait_ms: default_wait.map(|s| s as i64 * 1000),
                    ..acd::QueueSpec::named(&name)
                });
            }
        }
        acd::check_overflow(&specs).map_err(|e| anyhow::anyhow!("[[queues]]: {e}"))?;
        Ok(specs)
    }

    /// The announcement pieces from `announce_dir` and each queue's interval; None without a directory or
    /// without a queue that announces.
    pub fn announcements(&self, queues: &[QueueConfig]) -> Option<call::Announcements> {
        let dir = self.prompts.announce_dir.as_ref()?;
        let every_ms: BTreeMap<String, i64> = queues
            .iter()
            .filter_map(|q| {
                Some((
                    q.name.clone(),
                    q.announce_every_s.filter(|s| *s > 0)? as i64 * 1000,
                ))
            })
            .collect();
        if every_ms.is_empty() {
            return None;
        }
        let p = |name: &str| -> call::PromptRef {
            std::sync::Arc::from(dir.join(format!("{name}.wav")).to_string_lossy().as_ref())
        };
        Some(call::Announcements {
            digits: (0..=10).map(|i| p(&i.to_string())).collect(),
            ahead: p("ahead"),
            callers: p("callers"),
            expected: p("expected"),
            minutes: p("minutes"),
            every_ms,
        })
    }

    /// What the wallboard shows for a not-ready reason.
    pub fn reason_name(&self, r: acd::Reason) -> String {
        match r {
            acd::Reason::Rona => "RONA (ring no answer)".into(),
            acd::Reason::Code(c) => self
                .not_ready_reasons
                .get(&c.to_string())
                .cloned()
                .unwrap_or_else(|| c.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, wait: Option<u64>, overflow: Option<&str>) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            skills: vec![],
            strategy: acd::Strategy::LongestIdle,
            priority: 0,
            max_wait_s: wait,
            overflow: overflow.map(Into::into),
            service_level_s: None,
            announce_every_s: None,
        }
    }

    #[test]
    fn queues_get_defaults_and_overflow_circles_are_refused() {
        let a = AcdSection::default();
        let specs = a
            .queue_specs(
                &[q("general", Some(60), Some("backup"))],
                ["backup".to_string()],
            )
            .unwrap();
        assert_eq!(specs[0].max_wait_ms, Some(60_000));
        assert_eq!(specs[0].overflow, acd::Overflow::Queue("backup".into()));
        assert_eq!(
            specs[1].max_wait_ms,
            Some(900_000),
            "the default maximum wait"
        );
        assert_eq!(specs[1].overflow, acd::Overflow::Callback);
        let err = a
            .queue_specs(
                &[q("a", Some(1), Some("b")), q("b", Some(1), Some("a"))],
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("circle"), "{err}");
        assert!(a
            .queue_specs(&[q("a", Some(1), Some("nowhere"))], [])
            .is_err());
        let no_limit = AcdSection {
            default_max_wait_s: 0,
            ..AcdSection::default()
        };
        assert_eq!(
            no_limit.queue_specs(&[], ["g".to_string()]).unwrap()[0].max_wait_ms,
            None
        );
    }

    #[test]
    fn codes_reasons_and_operator_ids_are_checked() {
        let mut a = AcdSection::default();
        assert!(a.validate(&[], &[]).is_ok());
        a.not_ready_reasons.insert("12".into(), "x".into());
        assert!(a.validate(&[], &[]).is_err());
        let a = AcdSection::default();
        let op = |id: &str| OperatorConfig {
            id: id.into(),
            name: String::new(),
            skills: vec![],
        };
        assert!(a.validate(&[], &[op("7001"), op("7001")]).is_err());
        assert!(a.validate(&[], &[op("wang")]).is_err());
        let bad = AcdSection {
            codes: CodesConfig {
                login: "*2".into(),
                ..CodesConfig::default()
            },
            ..AcdSection::default()
        };
        assert!(bad.validate(&[], &[]).is_err());
        assert_eq!(a.reason_name(acd::Reason::Code(3)), "3");
    }
}
