//! Configuration of the ticket service, read from the daemon's TOML.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::callback::CallbackPolicy;
use crate::deadline::DeadlineRules;
use crate::notify::NotifyConfig;
use crate::repeat::RepeatRules;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketConfig {
    /// `sqlite://var/hotline.db` (a file, WAL mode; created when missing) or `postgres://user@host/db`.
    pub database_url: String,
    /// Directory of the spool (journal) of call records not yet stored; created when missing.
    pub spool_dir: PathBuf,
    /// Capacity of the channel from the call path; when full, records only go to the spool until replayed.
    pub channel_capacity: usize,
    /// Deprecated: one shared bearer token, taken as a center-administrator account named `api_token` (the daemon
    /// warns). Use `[[admin.accounts]]`. Empty (the default) = no such account.
    pub api_token: String,
    pub deadlines: DeadlineRules,
    /// Yellow light when less than this share of a deadline's working time is left (0..1).
    pub yellow_share: f64,
    /// Department that owns call-back tickets for callers who hung up waiting (R-23, 2025 guidance).
    pub callback_department: String,
    /// Records written per database transaction at most.
    pub batch_size: usize,
    /// Connections in the pool (SQLite has one writer anyway).
    pub max_connections: u32,
    /// `[tickets.repeats]`: repeated requests merged, unreasonable repeats flagged.
    pub repeats: RepeatRules,
    /// `[tickets.callbacks]`: when and how often call-backs are placed.
    pub callbacks: CallbackPolicy,
    /// `[tickets.notify]`: reminder and provincial-push receivers of the outbox.
    pub notify: NotifyConfig,
}

impl Default for TicketConfig {
    fn default() -> Self {
        TicketConfig {
            database_url: "sqlite://var/hotline.db".into(),
            spool_dir: PathBuf::from("var/spool"),
            channel_capacity: 4096,
            api_token: String::new(),
            deadlines: DeadlineRules::default(),
            yellow_share: 0.2,
            callback_department: "callback".into(),
            batch_size: 256,
            max_connections: 4,
            repeats: RepeatRules::default(),
            callbacks: CallbackPolicy::default(),
            notify: NotifyConfig::default(),
        }
    }
}

impl TicketConfig {
    /// Checks what serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres:")
            || self.database_url.starts_with("postgresql:"))
        {
            return Err("database_url: must start with sqlite: or postgres:".into());
        }
        if self.channel_capacity == 0 {
            return Err("channel_capacity: must be at least 1".into());
        }
        if self.batch_size == 0 || self.batch_size > 1000 {
            return Err("batch_size: must be 1..=1000".into());
        }
        if !(0.0..1.0).contains(&self.yellow_share) {
            return Err("yellow_share: must be in [0, 1)".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections: must be at least 1".into());
        }
        self.repeats.validate()?;
        self.callbacks.validate()?;
        self.notify.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_refuses_unknown_fields() {
        let cfg: TicketConfig =
            toml::from_str("api_token = \"t\"\n[deadlines]\ncomplaint = 5\n").unwrap();
        assert_eq!(cfg.deadlines.complaint, 5);
        assert_eq!(cfg.deadlines.consultation, 3);
        assert_eq!(cfg.database_url, "sqlite://var/hotline.db");
        let err = toml::from_str::<TicketConfig>("api_tokn = \"t\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("api_tokn"), "{err}");
        let bad = TicketConfig {
            yellow_share: 1.5,
            ..TicketConfig::default()
        };
        assert!(bad.validate().unwrap_err().starts_with("yellow_share"));
    }

    #[test]
    fn lifecycle_sections_parse_and_are_checked() {
        let cfg: TicketConfig = toml::from_str(
            "[repeats]\nwindow_days = 15\n[repeats.unreasonable]\nrequests = 4\nwithin_days = 30\n\
             [callbacks]\nwindow_start = \"08:30\"\nmax_attempts = 2\n\
             [notify.webhooks.reminders]\nurl = \"http://127.0.0.1:9000/sms\"\n",
        )
        .unwrap();
        assert_eq!(cfg.repeats.window_days, 15);
        assert_eq!(cfg.repeats.unreasonable.requests, 4);
        assert_eq!(cfg.callbacks.max_attempts, 2);
        assert_eq!(cfg.callbacks.window_end, "20:00");
        assert_eq!(cfg.notify.webhooks["reminders"].timeout_ms, 5_000);
        assert!(cfg.validate().is_ok());
        for bad in [
            "[repeats]\nwindow_dayz = 1\n",
            "[callbacks]\nretry = 1\n",
            "[notify]\nbackof_ms = 1\n",
        ] {
            assert!(toml::from_str::<TicketConfig>(bad).is_err(), "{bad}");
        }
        let mut c = TicketConfig::default();
        c.callbacks.window_start = "25:00".into();
        assert!(c
            .validate()
            .unwrap_err()
            .starts_with("callbacks.window_start"));
    }
}
