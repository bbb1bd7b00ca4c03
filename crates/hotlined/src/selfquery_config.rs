//! `[calls.self_query]`: the progress self-query by phone — where its word prompts are and how long a
//! caller may take. The dial plan decides which menu key leads there (`self_query = true`, docs/dialplan.md).

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelfQueryConfig {
    /// A directory with one `<word>.wav` per word of `ticket::speech::VOCABULARY`
    /// (`dialplans/prompts/selfquery`). Without it a self-query menu key is answered 480/BYE.
    pub prompts_dir: Option<PathBuf>,
    /// After the entry prompt, how long before the caller's first key.
    pub first_key_timeout_s: u64,
    /// After a key, how long before the entry counts as complete (as if `#` had been pressed).
    pub inter_digit_timeout_s: u64,
    /// How often the entry prompt plays to a caller who keys nothing.
    pub attempts: u32,
}

impl Default for SelfQueryConfig {
    fn default() -> Self {
        SelfQueryConfig {
            prompts_dir: None,
            first_key_timeout_s: 10,
            inter_digit_timeout_s: 5,
            attempts: 2,
        }
    }
}

impl SelfQueryConfig {
    /// The call's policy, when the prompts are configured.
    pub fn policy(&self) -> Option<call::SelfQueryPolicy> {
        let dir = self.prompts_dir.as_ref()?;
        Some(call::SelfQueryPolicy {
            prompts_dir: dir.to_string_lossy().as_ref().into(),
            first_key_timeout_ms: self.first_key_timeout_s as i64 * 1000,
            inter_digit_timeout_ms: self.inter_digit_timeout_s as i64 * 1000,
            attempts: self.attempts.max(1),
        })
    }
}
