//! Accounts and roles of the admin/API port: who may see and do what.
//!
//! - `role`: the role × permission matrix and the authenticated [`Principal`] (pure).
//! - `account`: accounts as configured, argon2 password hashes (PHC strings), SHA-256 token hashes.
//! - `verify`: checking an `Authorization` header (Basic or Bearer) with a cache of verified passwords (pure,
//!   time is an argument).
//! - `http`: the axum middleware, the [`Principal`] extractor, 401/403 answers.

pub mod account;
pub mod http;
pub mod role;
pub mod verify;

pub use account::{
    hash_password, hash_password_with, new_token, token_sha256, verify_password, AccountConfig,
    EXAMPLE_SECRET,
};
pub use http::{authenticate, forbidden, unauthorized, Gate};
pub use role::{scope, Permission, Principal, Role, Scope};
pub use verify::{Accounts, AuthError, Credential};
