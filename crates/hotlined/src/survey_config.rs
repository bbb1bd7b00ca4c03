//! `[survey]` and `[callback]`: the satisfaction survey after the operator's part of a call, and the call-back
//! calls the daemon places (回访, R-23). The rules are the `call` crate's (`survey.rs`, `callback.rs`) and the
//! ticket crate's (`[tickets.callbacks]`: hours, retries); this is only what the TOML says.

use anyhow::{bail, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What ends the operator's part of a call and starts the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyTrigger {
    /// The operator's seat hangs up.
    SeatHangup,
    /// The operator keys `code` (`*9`): the daemon hangs up the seat.
    Star9,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurveySection {
    /// Ask the caller after the operator's part instead of hanging up (R-23: every call).
    pub enabled: bool,
    pub on: Vec<SurveyTrigger>,
    pub code: String,
    /// After the question: how long the caller may take to press a key (no key = not evaluated).
    pub key_timeout_s: u64,
    /// «…满意请按1，基本满意请按2，不满意请按3».
    pub prompt: Option<PathBuf>,
    /// Played after the answer, then the daemon hangs up (none: at once).
    pub thanks_prompt: Option<PathBuf>,
}

impl Default for SurveySection {
    fn default() -> Self {
        SurveySection {
            enabled: false,
            on: vec![SurveyTrigger::SeatHangup, SurveyTrigger::Star9],
            code: "*9".into(),
            key_timeout_s: 8,
            prompt: None,
            thanks_prompt: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackSection {
    /// Place the call-back list's calls (`[tickets.callbacks]` says when and how often).
    pub enabled: bool,
    /// The URI dialled, `{number}` replaced by the caller's number; its host is a name of `[trunks] gateways`
    /// (or an IP literal), resolved like any forwarded call's target.
    pub uri: String,
    /// The From user of the call (what the citizen's phone shows).
    pub from: String,
    /// How often the list is looked at when nothing is due sooner.
    pub poll_interval_s: u64,
    /// How long a call-back rings before it counts as no answer.
    pub ring_timeout_s: u64,
    /// Played when the citizen answers, before the survey («您好，这里是幺二三四五热线…回访»).
    pub summary_prompt: Option<PathBuf>,
}

impl Default for CallbackSection {
    fn default() -> Self {
        CallbackSection {
            enabled: false,
            uri: "sip:{number}@callback-trunk.invalid".into(),
            from: "12345".into(),
            poll_interval_s: 30,
            ring_timeout_s: 40,
            summary_prompt: None,
        }
    }
}

impl SurveySection {
    pub fn paths_mut(&mut self) -> [&mut Option<PathBuf>; 2] {
        [&mut self.prompt, &mut self.thanks_prompt]
    }

    pub fn validate(&self, callback: &CallbackSection) -> Result<()> {
        if (self.enabled || callback.enabled) && self.prompt.is_none() {
            bail!("survey.prompt: needed when survey.enabled or callback.enabled is set");
        }
        if self.on.contains(&SurveyTrigger::Star9) && self.code.is_empty() {
            bail!("survey.code: empty while survey.on has \"star9\"");
        }
        if self.key_timeout_s == 0 {
            bail!("survey.key_timeout_s: must be at least 1");
        }
        Ok(())
    }

    /// The call's survey policy (None: the survey does not run after calls). Used by call-back calls too.
    pub fn policy(&self) -> Option<call::SurveyPolicy> {
        let prompt = path_ref(self.prompt.as_deref())?;
        Some(call::SurveyPolicy {
            prompt,
            thanks: path_ref(self.thanks_prompt.as_deref()),
            key_timeout_ms: self.key_timeout_s as i64 * 1000,
            on_seat_hangup: self.on.contains(&SurveyTrigger::SeatHangup),
            code: self
                .on
                .contains(&SurveyTrigger::Star9)
                .then(|| self.code.clone()),
        })
    }

    /// The survey after the operator's part, when enabled.
    pub fn after_call(&self) -> Option<call::SurveyPolicy> {
        self.policy().filter(|_| self.enabled)
    }
}

impl CallbackSection {
    pub fn validate(&self) -> Result<()> {
        if self.enabled && !self.uri.contains("{number}") {
            bail!("callback.uri: must contain {{number}}");
        }
        if self.poll_interval_s == 0 || self.ring_timeout_s == 0 {
            bail!("callback.poll_interval_s and callback.ring_timeout_s: must be at least 1");
        }
        Ok(())
    }

    /// The URI to dial for `number` (only the characters of a phone number are kept).
    pub fn uri_for(&self, number: &str) -> String {
        let n: String = number
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        self.uri.replace("{number}", &n)
    }
}

fn path_ref(p: Option<&Path>) -> Option<Arc<str>> {
    p.map(|p| Arc::from(p.to_string_lossy().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_and_codes_become_the_calls_policy() {
        let s: SurveySection = toml::from_str(
            "enabled = true\non = [\"star9\"]\ncode = \"*8\"\nprompt = \"s.wav\"\nkey_timeout_s = 5",
        )
        .unwrap();
        let p = s.after_call().unwrap();
        assert!(!p.on_seat_hangup);
        assert_eq!(p.code.as_deref(), Some("*8"));
        assert_eq!(p.key_timeout_ms, 5_000);
        assert!(toml::from_str::<SurveySection>("on = [\"hangup\"]").is_err());
        assert!(toml::from_str::<SurveySection>("enable = true").is_err());
        let off = SurveySection {
            prompt: Some("s.wav".into()),
            ..SurveySection::default()
        };
        assert!(off.after_call().is_none() && off.policy().is_some());
        assert!(SurveySection {
            enabled: true,
            ..SurveySection::default()
        }
        .validate(&CallbackSection::default())
        .is_err());
    }

    #[test]
    fn the_callback_uri_takes_only_the_numbers_digits() {
        let c = CallbackSection {
            uri: "sip:{number}@citizens".into(),
            ..CallbackSection::default()
        };
        assert_eq!(c.uri_for("138 0000-1234"), "sip:13800001234@citizens");
        assert_eq!(c.uri_for("1@evil;x"), "sip:1@citizens");
        assert!(CallbackSection {
            enabled: true,
            uri: "sip:x@y".into(),
            ..CallbackSection::default()
        }
        .validate()
        .is_err());
    }
}
