//! Repeated requests (重复诉求并单, R-27). Pure: the store hands in what it found, times are arguments.
//!
//! Rules:
//! - a request's *matter* is its category, its department and a normalised address/keywords field
//!   ([`matter_key`]);
//! - a new request from the same caller about the same matter is merged into that caller's **open** ticket for
//!   the matter when the ticket's first request is at most `window_days` (calendar days) older; otherwise it
//!   opens a new ticket. Requests without a caller number are never merged (nobody to recognise);
//! - unreasonable repeats: when the caller's requests about the matter (merged or not, the new one included)
//!   within the last `unreasonable.within_days` reach `unreasonable.requests`, the ticket is flagged for
//!   supervision. `requests = 0` turns the rule off.

use serde::{Deserialize, Serialize};

use crate::model::Category;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatRules {
    /// Calendar days during which a repeat is merged into the open ticket. 0 = never merge.
    pub window_days: u32,
    pub unreasonable: UnreasonableRule,
}

/// N requests in M days → flagged for supervision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnreasonableRule {
    /// N; 0 = off.
    pub requests: u32,
    /// M, calendar days.
    pub within_days: u32,
}

impl Default for RepeatRules {
    fn default() -> Self {
        RepeatRules {
            window_days: 30,
            unreasonable: UnreasonableRule::default(),
        }
    }
}

impl Default for UnreasonableRule {
    fn default() -> Self {
        UnreasonableRule {
            requests: 5,
            within_days: 30,
        }
    }
}

impl RepeatRules {
    pub fn validate(&self) -> Result<(), String> {
        if self.unreasonable.requests > 0 && self.unreasonable.within_days == 0 {
            return Err(
                "repeats.unreasonable.within_days: must be at least 1 when requests is set".into(),
            );
        }
        Ok(())
    }

    /// Whether an open ticket whose first request was at `first_at_ms` takes a repeat made at `at_ms`.
    pub fn merges(&self, first_at_ms: i64, at_ms: i64) -> bool {
        self.window_days > 0
            && at_ms >= first_at_ms
            && at_ms - first_at_ms <= i64::from(self.window_days) * DAY_MS
    }

    /// Start (inclusive) of the window the unreasonable rule counts requests in, for a request at `at_ms`.
    pub fn unreasonable_since(&self, at_ms: i64) -> i64 {
        at_ms - i64::from(self.unreasonable.within_days) * DAY_MS
    }

    /// `requests_in_window` counts the new request too.
    pub fn is_unreasonable(&self, requests_in_window: u64) -> bool {
        self.unreasonable.requests > 0
            && requests_in_window >= u64::from(self.unreasonable.requests)
    }
}

/// An open ticket the caller already has about the matter, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMatter {
    pub ticket_id: String,
    pub first_at_ms: i64,
}

/// The open ticket a request at `at_ms` is merged into: the most recent one still in the window.
pub fn merge_target<'a>(
    rules: &RepeatRules,
    open: &'a [OpenMatter],
    at_ms: i64,
) -> Option<&'a OpenMatter> {
    open.iter()
        .filter(|m| rules.merges(m.first_at_ms, at_ms))
        .max_by(|a, b| {
            a.first_at_ms
                .cmp(&b.first_at_ms)
                .then_with(|| a.ticket_id.cmp(&b.ticket_id))
        })
}

/// The address/keywords field made comparable: full-width ASCII to half-width, lower case, spaces and
/// punctuation dropped inside an item; items (separated by `，,、;；|/`) sorted and deduplicated, so
/// «朝阳区 建国路８８号，漏水» and «漏水、朝阳区建国路88号» are one matter.
pub fn normalise(field: &str) -> String {
    let mut items: Vec<String> = field
        .split(['，', ',', '、', ';', '；', '|', '/'])
        .map(|item| {
            item.chars()
                .map(|c| match c {
                    // Full-width forms U+FF01..U+FF5E → ASCII; the ideographic space goes with the others.
                    '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                    _ => c,
                })
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    items.sort();
    items.dedup();
    items.join("|")
}

/// The key requests are compared by.
pub fn matter_key(category: Category, department: &str, address_or_keywords: &str) -> String {
    format!(
        "{}/{}/{}",
        category.as_str(),
        department.trim(),
        normalise(address_or_keywords)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_spaces_widths_and_order_do_not_make_another_matter() {
        assert_eq!(
            normalise("朝阳区 建国路８８号，漏水"),
            normalise("漏水、朝阳区建国路88号")
        );
        assert_eq!(normalise("ＡＢＣ小区 3栋"), normalise("abc小区3栋"));
        assert_eq!(normalise("漏水,漏水"), "漏水");
        assert_ne!(normalise("建国路88号"), normalise("建国路86号"));
        assert_eq!(
            matter_key(Category::Complaint, "water", "建国路88号"),
            "complaint/water/建国路88号"
        );
        assert_ne!(
            matter_key(Category::Complaint, "water", "x"),
            matter_key(Category::Help, "water", "x")
        );
    }

    #[test]
    fn the_window_is_inclusive_and_the_newest_open_ticket_takes_the_repeat() {
        let rules = RepeatRules {
            window_days: 7,
            ..RepeatRules::default()
        };
        let open = [
            OpenMatter {
                ticket_id: "old".into(),
                first_at_ms: 0,
            },
            OpenMatter {
                ticket_id: "new".into(),
                first_at_ms: DAY_MS,
            },
        ];
        assert_eq!(
            merge_target(&rules, &open, 2 * DAY_MS).map(|m| m.ticket_id.as_str()),
            Some("new")
        );
        assert_eq!(
            merge_target(&rules, &open, 8 * DAY_MS).map(|m| m.ticket_id.as_str()),
            Some("new")
        );
        assert_eq!(merge_target(&rules, &open, 8 * DAY_MS + 1), None);
        let off = RepeatRules {
            window_days: 0,
            ..rules
        };
        assert_eq!(merge_target(&off, &open, 2 * DAY_MS), None);
    }

    #[test]
    fn n_in_m_days_is_unreasonable_and_zero_turns_it_off() {
        let rules = RepeatRules {
            window_days: 7,
            unreasonable: UnreasonableRule {
                requests: 3,
                within_days: 10,
            },
        };
        assert!(!rules.is_unreasonable(2));
        assert!(rules.is_unreasonable(3));
        assert_eq!(rules.unreasonable_since(10 * DAY_MS), 0);
        let off = RepeatRules {
            unreasonable: UnreasonableRule {
                requests: 0,
                within_days: 10,
            },
            ..rules
        };
        assert!(!off.is_unreasonable(100));
        let bad = RepeatRules {
            unreasonable: UnreasonableRule {
                requests: 3,
                within_days: 0,
            },
            ..RepeatRules::default()
        };
        assert!(bad.validate().is_err());
    }
}
