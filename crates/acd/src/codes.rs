//! What an operator asks of the ACD: the feature codes dialled from the softphone (Asterisk-style `*2x`) and
//! the same actions through the admin API.

use crate::Reason;

/// An operator's request for its seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAction {
    /// Log in (as `operator`, else the seat's own operator) or, when logged in, become ready.
    Login {
        operator: Option<String>,
    },
    /// Take no calls for a while, saying why.
    NotReady {
        reason: Reason,
    },
    Logout,
    /// End the after-call work now.
    EndWrapUp,
}

impl AgentAction {
    /// The action's name in the API and logs.
    pub fn name(&self) -> &'static str {
        match self {
            AgentAction::Login { .. } => "login",
            AgentAction::NotReady { .. } => "not_ready",
            AgentAction::Logout => "logout",
            AgentAction::EndWrapUp => "end_wrap_up",
        }
    }
}

/// The numbers an operator dials for [`AgentAction`]s. Defaults: `*21` log in / ready (`*21` + operator id
/// logs in that operator), `*22` not ready (`*22` + a reason digit), `*23` log out, `*24` end wrap-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCodes {
    pub login: String,
    pub not_ready: String,
    pub logout: String,
    pub end_wrap_up: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            login: "*21".into(),
            not_ready: "*22".into(),
            logout: "*23".into(),
            end_wrap_up: "*24".into(),
        }
    }
}

impl FeatureCodes {
    fn all(&self) -> [&str; 4] {
        [
            &self.login,
            &self.not_ready,
            &self.logout,
            &self.end_wrap_up,
        ]
    }

    /// Codes must be distinct, start with `*` or `#`, and none may begin another: `*2` and `*21` together
    /// would make `*21` mean two things.
    pub fn check(&self) -> Result<(), String> {
        let all = self.all();
        for (i, a) in all.iter().enumerate() {
            if a.len() < 2 || !(a.starts_with('*') || a.starts_with('#')) {
                return Err(format!(
                    "feature code {a:?}: must start with * or # and have a digit"
                ));
            }
            if !a[1..].chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "feature code {a:?}: only digits after the first key"
                ));
            }
            for b in &all[i + 1..] {
                if a.starts_with(b) || b.starts_with(a) {
                    return Err(format!(
                        "feature codes {a:?} and {b:?}: one begins the other"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Does `dialled` start with one of the codes (an INVITE for the ACD, not a call)?
    pub fn is_feature(&self, dialled: &str) -> bool {
        self.all().iter().any(|c| dialled.starts_with(c))
    }

    /// The action `dialled` asks for; None when it is no feature code or its suffix is wrong (a reason of
    /// more than one digit, an operator id that is not digits). A trailing `#` is allowed.
    pub fn parse(&self, dialled: &str) -> Option<AgentAction> {
        let d = dialled.trim().strip_suffix('#').unwrap_or(dialled.trim());
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if let Some(rest) = d.strip_prefix(self.login.as_str()) {
            return match rest {
                "" => Some(AgentAction::Login { operator: None }),
                op if op.len() <= 16 && digits(op) => Some(AgentAction::Login {
                    operator: Some(op.to_string()),
                }),
                _ => None,
            };
        }
        if let Some(rest) = d.strip_prefix(self.not_ready.as_str()) {
            return match rest.as_bytes() {
                [] => Some(AgentAction::NotReady {
                    reason: Reason::Code(0),
                }),
                [c] if c.is_ascii_digit() => Some(AgentAction::NotReady {
                    reason: Reason::Code(c - b'0'),
                }),
                _ => None,
            };
        }
        if d == self.logout {
            return Some(AgentAction::Logout);
        }
        if d == self.end_wrap_up {
            return Some(AgentAction::EndWrapUp);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_with_their_suffixes() {
        let c = FeatureCodes::default();
        assert_eq!(c.parse("*21"), Some(AgentAction::Login { operator: None }));
        assert_eq!(
            c.parse("*217001#"),
            Some(AgentAction::Login {
                operator: Some("7001".into())
            })
        );
        assert_eq!(
            c.parse("*223"),
            Some(AgentAction::NotReady {
                reason: Reason::Code(3)
            })
        );
        assert_eq!(
            c.parse("*22"),
            Some(AgentAction::NotReady {
                reason: Reason::Code(0)
            })
        );
        assert_eq!(c.parse("*2234"), None, "one reason digit");
        assert_eq!(c.parse("*23"), Some(AgentAction::Logout));
        assert_eq!(c.parse("*24"), Some(AgentAction::EndWrapUp));
        assert_eq!(c.parse("*231"), None);
        assert_eq!(c.parse("12345"), None);
        assert!(c.is_feature("*2234") && !c.is_feature("12345") && !c.is_feature("*2"));
    }

    #[test]
    fn ambiguous_codes_are_refused() {
        assert!(FeatureCodes::default().check().is_ok());
        let c = FeatureCodes {
            login: "*2".into(),
            ..FeatureCodes::default()
        };
        assert!(c.check().unwrap_err().contains("begins"));
        let c = FeatureCodes {
            logout: "23".into(),
            ..FeatureCodes::default()
        };
        assert!(c.check().is_err());
    }
}
