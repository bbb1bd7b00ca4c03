//! Checking presented credentials against the accounts. Sans-IO: time is an argument, and the one slow step
//! (argon2) is a separate call the HTTP layer runs off the async threads.
//!
//! argon2 costs tens of milliseconds by design, far too much per request (the wallboard refreshes every 2 s,
//! SSE clients reconnect); so a password that verified is remembered for [`CACHE_TTL`] under a keyed digest
//! (SHA-256 of a per-process random key, the account and the password), never the password itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::account::{verify_password, AccountConfig};
use crate::role::{Principal, Role};

/// How long a verified password is taken without hashing again.
pub const CACHE_TTL: Duration = Duration::from_secs(600);
/// Remembered passwords at most (accounts × browsers; beyond it the cache starts over).
const CACHE_MAX: usize = 4096;

/// An `Authorization` header, parsed (RFC 7617 Basic, RFC 6750 Bearer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Basic { name: String, password: String },
    Bearer(String),
}

impl Credential {
    /// `None` for a missing, malformed or other-scheme header.
    pub fn parse(header: &str) -> Option<Credential> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        let rest = rest.trim();
        // Auth schemes are case-insensitive (RFC 9110 §11.1).
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (name, password) = text.split_once(':')?;
            Some(Credential::Basic {
                name: name.to_string(),
                password: password.to_string(),
            })
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Some(Credential::Bearer(rest.to_string()))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No usable `Authorization` header.
    Missing,
    /// Unknown account, wrong password or token.
    Wrong,
}

/// The outcome of the fast check.
#[derive(Debug)]
pub enum Check {
    Ok(Principal),
    /// The password must go through argon2: [`Accounts::verify_slow`], then [`Accounts::remember`].
    NeedsHash(SlowCheck),
    Refused(AuthError),
}

/// A pending argon2 verification.
#[derive(Debug)]
pub struct SlowCheck {
    account: usize,
    password: String,
    digest: [u8; 32],
}

struct Account {
    principal: Principal,
    password_hash: Option<String>,
    token_sha256: Option<[u8; 32]>,
    /// The deprecated single `api_token`, compared as is.
    legacy_token: Option<String>,
}

pub struct Accounts {
    accounts: Vec<Account>,
    key: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], (usize, Instant)>>,
}

impl Accounts {
    /// From validated [`AccountConfig`]s (see [`AccountConfig::validate`]); an invalid one is an error here too.
    pub fn new(configs: &[AccountConfig]) -> Result<Accounts, String> {
        let mut accounts = Vec::with_capacity(configs.len());
        for c in configs {
            c.validate()?;
            if accounts
                .iter()
                .any(|a: &Account| a.principal.account == c.name)
            {
                return Err(format!("{}: name: defined twice", c.name));
            }
            let token_sha256 = match &c.token_sha256 {
                Some(t) => {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(t, &mut out)
                        .map_err(|e| format!("{}: token_sha256: {e}", c.name))?;
                    Some(out)
                }
                None => None,
            };
            accounts.push(Account {
                principal: Principal {
                    account: c.name.clone(),
                    role: c.role,
                    department: c.department.as_ref().map(|d| d.trim().to_string()),
                },
                password_hash: c.password_hash.clone(),
                token_sha256,
                legacy_token: None,
            });
        }
        Ok(Accounts {
            accounts,
            key: rand::random(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Add the deprecated single bearer token as a center-administrator account named `name`.
    pub fn with_legacy_token(mut self, name: &str, token: &str) -> Accounts {
        if !token.is_empty() {
            self.accounts.push(Account {
                principal: Principal {
                    account: name.to_string(),
                    role: Role::CenterAdmin,
                    department: None,
                },
                password_hash: None,
                token_sha256: None,
                legacy_token: Some(token.to_string()),
            });
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// The fast part: tokens (a SHA-256) and cached passwords.
    pub fn check(&self, header: Option<&str>, now: Instant) -> Check {
        let Some(cred) = header.and_then(Credential::parse) else {
            return Check::Refused(AuthError::Missing);
        };
        match cred {
            Credential::Bearer(token) => {
                let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                // Every account is compared (no early exit), each in constant time.
                let mut found = None;
                for (i, a) in self.accounts.iter().enumerate() {
                    let hashed = a
                        .token_sha256
                        .is_some_and(|t| bool::from(t.ct_eq(&presented)));
                    let legacy = a
                        .legacy_token
                        .as_ref()
                        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())));
                    if (hashed || legacy) && found.is_none() {
                        found = Some(i);
                    }
                }
                match found {
                    Some(i) => Check::Ok(self.accounts[i].principal.clone()),
                    None => Check::Refused(AuthError::Wrong),
                }
            }
            Credential::Basic { name, password } => {
                let Some((i, _)) = self
                    .accounts
                    .iter()
                    .enumerate()
                    .find(|(_, a)| a.principal.account == name && a.password_hash.is_some())
                else {
                    return Check::Refused(AuthError::Wrong);
                };
                let digest = self.digest(i, &password);
                let cached = self.cache.lock().ok().and_then(|c| c.get(&digest).copied());
                match cached {
                    Some((idx, at))
                        if idx == i && now.saturating_duration_since(at) < CACHE_TTL =>
                    {
                        Check::Ok(self.accounts[i].principal.clone())
                    }
                    _ => Check::NeedsHash(SlowCheck {
                        account: i,
                        password,
                        digest,
                    }),
                }
            }
        }
    }

    /// The slow part (argon2, tens of ms): run it on a blocking thread.
    pub fn verify_slow(&self, c: &SlowCheck) -> bool {
        self.accounts[c.account]
            .password_hash
            .as_deref()
            .is_some_and(|h| verify_password(&c.password, h))
    }

    /// After a successful [`Accounts::verify_slow`]: remember it, and the principal.
    pub fn remember(&self, c: &SlowCheck, now: Instant) -> Principal {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, at)| now.saturating_duration_since(*at) < CACHE_TTL);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(c.digest, (c.account, now));
        }
        self.accounts[c.account].principal.clone()
    }

    /// Both parts in one call, hashing on this thread (tests, tools).
    pub fn authenticate_blocking(
        &self,
        header: Option<&str>,
        now: Instant,
    ) -> Result<Principal, AuthError> {
        match self.check(header, now) {
            Check::Ok(p) => Ok(p),
            Check::Refused(e) => Err(e),
            Check::NeedsHash(c) if self.verify_slow(&c) => Ok(self.remember(&c, now)),
            Check::NeedsHash(_) => Err(AuthError::Wrong),
        }
    }

    fn digest(&self, account: usize, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update((account as u64).to_be_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{hash_password_with, token_sha256};

    fn basic(name: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{name}:{pw}"))
        )
    }

    fn accounts() -> Accounts {
        Accounts::new(&[
            AccountConfig {
                name: "sup".into(),
                role: Role::Supervisor,
                department: None,
                password_hash: Some(hash_password_with("sup-password", 64, 1, 1).unwrap()),
                token_sha256: Some(token_sha256("sup-token")),
            },
            AccountConfig {
                name: "water".into(),
                role: Role::Department,
                department: Some(" water ".into()),
                password_hash: None,
                token_sha256: Some(token_sha256("water-token")),
            },
        ])
        .unwrap()
        .with_legacy_token("api_token", "old-token")
    }

    #[test]
    fn parses_basic_and_bearer() {
        assert_eq!(
            Credential::parse(&basic("a", "p:q")),
            Some(Credential::Basic {
                name: "a".into(),
                password: "p:q".into()
            })
        );
        assert_eq!(
            Credential::parse("bearer  tok "),
            Some(Credential::Bearer("tok".into()))
        );
        for bad in ["Basic !!!", "Bearer ", "Digest x", "Basic", ""] {
            assert_eq!(Credential::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_passwords_and_the_cache() {
        let a = accounts();
        let t0 = Instant::now();
        let p = a
            .authenticate_blocking(Some("Bearer water-token"), t0)
            .unwrap();
        assert_eq!(
            (p.account.as_str(), p.role, p.department.as_deref()),
            ("water", Role::Department, Some("water"))
        );
        assert_eq!(
            a.authenticate_blocking(Some("Bearer old-token"), t0)
                .unwrap()
                .role,
            Role::CenterAdmin
        );
        assert_eq!(
            a.authenticate_blocking(Some("Bearer nope"), t0),
            Err(AuthError::Wrong)
        );
        assert_eq!(a.authenticate_blocking(None, t0), Err(AuthError::Missing));
        // A token-only account has no password login.
        assert!(matches!(
            a.check(Some(&basic("water", "water-token")), t0),
            Check::Refused(AuthError::Wrong)
        ));

        let good = basic("sup", "sup-password");
        assert!(matches!(a.check(Some(&good), t0), Check::NeedsHash(_)));
        assert_eq!(
            a.authenticate_blocking(Some(&good), t0).unwrap().account,
            "sup"
        );
        assert!(matches!(
            a.check(Some(&good), t0 + Duration::from_secs(1)),
            Check::Ok(_)
        ));
        assert!(
            matches!(a.check(Some(&good), t0 + CACHE_TTL), Check::NeedsHash(_)),
            "expired"
        );
        let wrong = basic("sup", "sup-passwort");
        assert_eq!(
            a.authenticate_blocking(Some(&wrong), t0),
            Err(AuthError::Wrong)
        );
        assert!(
            matches!(a.check(Some(&wrong), t0), Check::NeedsHash(_)),
            "failures are not cached as successes"
        );
        assert_eq!(
            a.authenticate_blocking(Some(&basic("nobody", "x")), t0),
            Err(AuthError::Wrong)
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let c = AccountConfig {
            name: "x".into(),
            role: Role::Auditor,
            department: None,
            password_hash: None,
            token_sha256: Some(token_sha256("t")),
        };
        let err = Accounts::new(&[c.clone(), c]).err().unwrap();
        assert!(err.contains("defined twice"), "{err}");
    }
}
