//! The axum side: one middleware that authenticates every request it guards and hands the handlers a
//! [`Principal`]; the 401 and 403 answers.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::Semaphore;

use crate::role::Principal;
use crate::verify::{Accounts, AuthError, Check};

/// The realm browsers show in their login dialog.
pub const REALM: &str = "hotline12345";

/// Accounts plus a bound on concurrent argon2 verifications: a flood of wrong passwords queues here instead of
/// taking every core from the call path.
#[derive(Clone)]
pub struct Gate {
    accounts: Arc<Accounts>,
    hashing: Arc<Semaphore>,
}

impl Gate {
    pub fn new(accounts: Accounts) -> Gate {
        Gate {
            accounts: Arc::new(accounts),
            hashing: Arc::new(Semaphore::new(2)),
        }
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Who sent this `Authorization` header?
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        match self.accounts.check(header, Instant::now()) {
            Check::Ok(p) => Ok(p),
            Check::Refused(e) => Err(e),
            Check::NeedsHash(slow) => {
                let Ok(_permit) = self.hashing.acquire().await else {
                    return Err(AuthError::Wrong);
                };
                let accounts = self.accounts.clone();
                let verified = tokio::task::spawn_blocking(move || {
                    let ok = accounts.verify_slow(&slow);
                    ok.then(|| accounts.remember(&slow, Instant::now()))
                })
                .await;
                match verified {
                    Ok(Some(p)) => Ok(p),
                    _ => Err(AuthError::Wrong),
                }
            }
        }
    }
}

/// Middleware (`axum::middleware::from_fn_with_state(gate, authenticate)`): 401 unless the request carries a
/// valid account's credential; otherwise the [`Principal`] goes into the request's extensions.
pub async fn authenticate(State(gate): State<Gate>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match gate.authenticate(header).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => {
            if e == AuthError::Wrong {
                tracing::warn!(path = %req.uri().path(), "admin/API: wrong credentials");
            }
            unauthorized()
        }
    }
}

/// 401 with both challenges (RFC 9110 §11.6.1): browsers prompt for Basic, API clients send a Bearer token.
pub fn unauthorized() -> Response {
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        Json(
            serde_json::json!({"error": "authentication required (HTTP Basic or a Bearer token)"}),
        ),
    )
        .into_response();
    let h = resp.headers_mut();
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"hotline12345\", charset=\"UTF-8\""),
    );
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hotline12345\""),
    );
    resp
}

/// 403: authenticated, but the role (or department) does not allow it.
pub fn forbidden(p: &Principal, what: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({
            "error": format!("account {} ({}) may not {what}", p.account, p.role.as_str())
        })),
    )
        .into_response()
}

/// A handler argument: the account the middleware authenticated. Without the middleware in front, 401.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(unauthorized)
    }
}
