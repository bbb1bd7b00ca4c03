//! The on-disk format (TOML) exactly as ops staff write it. Every struct refuses unknown keys so a typo is an
//! error with a position instead of a silently ignored setting. Values that later checks may complain about
//! are `Spanned` so the complaint can point at them.

use serde::Deserialize;
use toml::Spanned;

/// `center.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CenterFile {
    pub center: Spanned<CenterSection>,
    #[serde(default)]
    pub queue: Vec<QueueSection>,
    pub menu: Option<Spanned<MenuSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CenterSection {
    pub name: String,
    pub number: Spanned<String>,
    #[serde(default)]
    pub area_code: Option<Spanned<String>>,
    pub timezone: Spanned<String>,
    pub calendar: Spanned<String>,
    /// Default department working hours.
    pub working_hours: Spanned<String>,
    pub main_queue: Spanned<String>,
    pub greeting: Option<Spanned<String>>,
    pub off_hours_prompt: Option<Spanned<String>>,
    #[serde(default = "default_transfer_target")]
    pub transfer_answer_target_s: u32,
}

pub(crate) fn default_transfer_target() -> u32 {
    15
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueSection {
    pub name: Spanned<String>,
    /// For the people reading the file; routing does not use it.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MenuSection {
    pub prompt: Spanned<String>,
    /// Queue for a caller who presses nothing (the daemon's DTMF timeout).
    pub no_input_queue: Option<Spanned<String>>,
    #[serde(default)]
    pub option: Vec<Spanned<MenuOptionSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MenuOptionSection {
    pub key: Spanned<String>,
    #[serde(default)]
    pub label: String,
    pub queue: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    /// The progress self-query by phone instead of a queue or a target.
    pub self_query: Option<Spanned<bool>>,
}

/// Any other `*.toml` in the plan directory: a list of numbers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NumbersFile {
    #[serde(default)]
    pub number: Vec<Spanned<NumberSection>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileMode {
    Whole,
    Parallel,
    Subcenter,
    Emergency,
    Upstream,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    Queue,
    Hangup,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum After {
    /// Straight to 12345 (a cancelled 5-digit number).
    Queue,
    /// Keep announcing the merge, then hang up (a 7-digit number that no longer takes complaints).
    PromptThenHangup,
    /// Back to the department's own target.
    Department,
    /// Refuse the call.
    Reject,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Days {
    WorkingDays,
    EveryDay,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NumberSection {
    pub number: Spanned<String>,
    #[serde(default)]
    pub aliases: Vec<Spanned<String>>,
    pub name: String,
    pub department: Option<String>,
    pub mode: Spanned<FileMode>,
    /// For the people reading the file (e.g. the annex's 备注); routing does not use it.
    #[serde(default)]
    #[allow(dead_code)]
    pub note: String,
    pub queue: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    pub working_hours: Option<Spanned<String>>,
    pub days: Option<Days>,
    pub transfer_answer_target_s: Option<u32>,
    /// Short code an operator may dial instead of the number in a one-key transfer (`*2` CODE `#`).
    pub transfer_code: Option<Spanned<String>>,
    pub transition: Option<Spanned<TransitionSection>>,
    pub after: Option<Spanned<After>>,
    pub after_prompt: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionSection {
    pub from: Spanned<String>,
    pub until: Spanned<String>,
    pub prompt: Spanned<String>,
    pub then: Then,
}
