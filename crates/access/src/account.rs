//! Accounts as ops write them (`[[admin.accounts]]`), and the hashes they carry. No plaintext secret is ever
//! stored: passwords as argon2 PHC strings, API tokens as SHA-256.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::role::Role;

/// The secret the bundled example config ships with (the example admin's password, and the old example
/// `api_token`). Accepted on a loopback admin address only: a daemon reachable from elsewhere refuses to start.
pub const EXAMPLE_SECRET: &str = "change-me-example-token";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Login name; the actor in the ticket history and the access log.
    pub name: String,
    pub role: Role,
    /// The department a `department` account belongs to (the tickets' `department` value); only for that role.
    #[serde(default)]
    pub department: Option<String>,
    /// For HTTP Basic: an argon2 PHC string (`hotlined hash-password` makes one).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// For `Authorization: Bearer`: the SHA-256 (hex) of an API token (`hotlined new-token` makes both).
    #[serde(default)]
    pub token_sha256: Option<String>,
}

impl AccountConfig {
    /// What serde cannot check; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(format!(
                "name {n:?}: 1–64 characters of A–Z a–z 0–9 . _ - @ (HTTP Basic forbids ':')"
            ));
        }
        match (self.role, self.department.as_deref().map(str::trim)) {
            (Role::Department, None | Some("")) => {
                return Err(format!(
                    "{n}: department: a department account needs its department"
                ))
            }
            (Role::Department, Some(_)) | (_, None) => {}
            (r, Some(_)) => {
                return Err(format!(
                    "{n}: department: only department accounts have one (this one is {})",
                    r.as_str()
                ))
            }
        }
        if self.password_hash.is_none() && self.token_sha256.is_none() {
            return Err(format!(
                "{n}: password_hash or token_sha256: an account needs a credential"
            ));
        }
        if let Some(h) = &self.password_hash {
            parse_phc(h).map_err(|e| format!("{n}: password_hash: {e}"))?;
        }
        if let Some(t) = &self.token_sha256 {
            if t.len() != 64 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "{n}: token_sha256: expected 64 hex digits (the SHA-256 of the token, not the token)"
                ));
            }
        }
        Ok(())
    }

    /// Does this account accept the example secret (as password or token)? Slow: one argon2 verification.
    pub fn uses_example_secret(&self) -> Option<&'static str> {
        if self
            .password_hash
            .as_deref()
            .is_some_and(|h| verify_password(EXAMPLE_SECRET, h))
        {
            return Some("password_hash");
        }
        if self
            .token_sha256
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&token_sha256(EXAMPLE_SECRET)))
        {
            return Some("token_sha256");
        }
        None
    }
}

fn parse_phc(h: &str) -> Result<PasswordHash, String> {
    let parsed = PasswordHash::new(h).map_err(|e| format!("not a PHC string ({e})"))?;
    let alg = parsed.algorithm.as_str();
    if !alg.starts_with("argon2") {
        return Err(format!(
            "algorithm {alg:?}: only argon2 hashes are accepted"
        ));
    }
    Ok(parsed)
}

/// A PHC string of `password` with the recommended argon2id parameters (m = 19 MiB, t = 2, p = 1).
pub fn hash_password(password: &str) -> Result<String, String> {
    hash_with(Argon2::default(), password)
}

/// A PHC string with explicit (e.g. cheap, for test fixtures) parameters; the string carries them, so
/// verification needs nothing else.
pub fn hash_password_with(
    password: &str,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
) -> Result<String, String> {
    let params = Params::new(m_cost_kib, t_cost, p_cost, None).map_err(|e| e.to_string())?;
    hash_with(Argon2::from(params), password)
}

fn hash_with(a: Argon2<'_>, password: &str) -> Result<String, String> {
    PasswordHasher::<PasswordHash>::hash_password(&a, password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Constant-time argon2 verification with the parameters the PHC string carries. A malformed string verifies
/// nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match parse_phc(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// What `token_sha256` holds for `token`.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh API token: 32 random bytes, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(toml_text: &str) -> Result<AccountConfig, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let h = hash_password_with("s3cret-pass", 64, 1, 1).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(verify_password("s3cret-pass", &h));
        assert!(!verify_password("s3cret-pasS", &h));
        assert!(!verify_password("s3cret-pass", "$argon2id$garbage"));
        assert_ne!(
            h,
            hash_password_with("s3cret-pass", 64, 1, 1).unwrap(),
            "salted"
        );
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, new_token());
    }

    #[test]
    fn validation_names_the_field() {
        let ok = account(&format!(
            "name = \"water-1\"\nrole = \"department\"\ndepartment = \"water\"\ntoken_sha256 = \"{}\"",
            token_sha256("t")
        ))
        .unwrap();
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            ("name = \"w\"\nrole = \"department\"\ntoken_sha256 = \"00\"", "department"),
            ("name = \"a:b\"\nrole = \"auditor\"\ntoken_sha256 = \"00\"", "name"),
            ("name = \"s\"\nrole = \"supervisor\"\ndepartment = \"x\"\ntoken_sha256 = \"00\"", "department"),
            ("name = \"s\"\nrole = \"supervisor\"", "password_hash or token_sha256"),
            ("name = \"s\"\nrole = \"supervisor\"\ntoken_sha256 = \"secret\"", "token_sha256"),
            ("name = \"s\"\nrole = \"supervisor\"\npassword_hash = \"plain\"", "password_hash"),
            (
                "name = \"s\"\nrole = \"supervisor\"\npassword_hash = \"$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA\"",
                "password_hash",
            ),
        ];
        for (text, field) in cases {
            let err = account(text).unwrap().validate().unwrap_err();
            assert!(err.contains(field), "{text}: {err}");
        }
        let err = account("name = \"s\"\nrole = \"boss\"\ntoken_sha256 = \"00\"").unwrap_err();
        assert!(err.contains("boss"), "{err}");
        let err = account("name = \"s\"\nrole = \"auditor\"\npassword = \"x\"").unwrap_err();
        assert!(err.contains("password"), "{err}");
    }

    #[test]
    fn example_secret_is_recognised_as_password_or_token() {
        let mut a = AccountConfig {
            name: "admin".into(),
            role: Role::CenterAdmin,
            department: None,
            password_hash: Some(hash_password_with(EXAMPLE_SECRET, 64, 1, 1).unwrap()),
            token_sha256: None,
        };
        assert_eq!(a.uses_example_secret(), Some("password_hash"));
        a.password_hash = Some(hash_password_with("a-real-password", 64, 1, 1).unwrap());
        assert_eq!(a.uses_example_secret(), None);
        a.token_sha256 = Some(token_sha256(EXAMPLE_SECRET).to_uppercase());
        assert_eq!(a.uses_example_secret(), Some("token_sha256"));
    }
}
