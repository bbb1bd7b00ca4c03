//! `[sip.flood]`, apart from `config.rs` (which re-exports it) to keep that file within its size.

use serde::Deserialize;

/// `[sip.flood]`: at most `max_per_window` messages per `window_s` from one address, then it is banned for
/// `ban_s` (its messages dropped unanswered). Trunk addresses (`trunks.allow`) and `trusted` networks (a
/// seat network behind one NAT address) have `trusted_max_per_window` instead (0 = unlimited).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodConfig {
    /// 0 switches the limit off.
    #[serde(default = "default_flood_max")]
    pub max_per_window: u32,
    #[serde(default = "default_flood_window")]
    pub window_s: u64,
    #[serde(default = "default_flood_ban")]
    pub ban_s: u64,
    #[serde(default)]
    pub trusted: Vec<String>,
    #[serde(default)]
    pub trusted_max_per_window: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            max_per_window: default_flood_max(),
            window_s: default_flood_window(),
            ban_s: default_flood_ban(),
            trusted: Vec::new(),
            trusted_max_per_window: 0,
        }
    }
}

/// One softphone sends a handful of messages per call and a REGISTER per interval; 100 per 2 s leaves a
/// NAT of a dozen busy seats room while a scanner (thousands per second) is banned within its first burst.
fn default_flood_max() -> u32 {
    100
}

fn default_flood_window() -> u64 {
    2
}

fn default_flood_ban() -> u64 {
    120
}
