//! Notices through a durable outbox (R-22 reminders, R-24 provincial push). A notice is written to the `outbox`
//! table (in the store, keyed so it is written once) and delivered by [`run_outbox`] through a pluggable
//! [`Notifier`] — a webhook ([`Webhook`]; an SMS gateway is one) — with retries and exponential back-off. It is
//! marked delivered only after the receiver answered 2xx, so a receiver that is down loses nothing, and a daemon
//! killed at any point delivers what is owed after its restart. Delivery is at least once: a notice in flight at
//! the kill is sent again with the same `Idempotency-Key` header, by which the receiver drops the copy.
//!
//! One delivery loop per database (the daemon's); two would send notices twice.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::store::{OutboxEntry, Store};

/// Channel of department reminders (dispatch, near due, supervision).
pub const REMINDERS: &str = "reminders";
/// Channel of the push to the provincial platform.
pub const PROVINCE: &str = "province";

/// `[notify]` in the daemon's TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Receivers by channel (`reminders`, `province`). Notices are only written for channels that have one.
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// First retry after this many ms; doubled per failed try up to `max_backoff_ms`.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How often the delivery loop looks for due notices when idle.
    pub poll_ms: u64,
    /// How often the producers write reminders and pushes and fill the call-back list.
    pub producers_ms: u64,
    /// Notices taken per round.
    pub batch: u32,
    /// Reminders: near due when less than this share of the closing deadline's working time is left.
    pub near_due_share: f64,
    /// Also push every ticket change (no personal data) to the `province` channel.
    pub push_province: bool,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: BTreeMap::new(),
            backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            poll_ms: 1_000,
            producers_ms: 10_000,
            batch: 100,
            near_due_share: 0.2,
            push_province: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://host:port/path` (plain HTTP: a receiver on the same network, or a local TLS relay).
    pub url: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default)]
    pub bearer_token: Option<String>,
}

fn default_timeout_ms() -> u64 {
    5_000
}

impl NotifyConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (channel, w) in &self.webhooks {
            HttpTarget::parse(&w.url).map_err(|e| format!("notify.webhooks.{channel}.url: {e}"))?;
            if w.timeout_ms == 0 {
                return Err(format!(
                    "notify.webhooks.{channel}.timeout_ms: must be at least 1"
                ));
            }
        }
        if self.backoff_ms == 0 || self.max_backoff_ms < self.backoff_ms {
            return Err("notify.backoff_ms: must be at least 1 and at most max_backoff_ms".into());
        }
        if self.poll_ms == 0 || self.producers_ms == 0 || self.batch == 0 {
            return Err(
                "notify.poll_ms, notify.producers_ms, notify.batch: must be at least 1".into(),
            );
        }
        if !(0.0..1.0).contains(&self.near_due_share) {
            return Err("notify.near_due_share: must be in [0, 1)".into());
        }
        Ok(())
    }

    /// Delay before the try after `attempts` failed ones: `backoff_ms × 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(32);
        let ms = self
            .backoff_ms
            .saturating_mul(1u64 << exp)
            .min(self.max_backoff_ms);
        Duration::from_millis(ms)
    }
}

/// Delivers one notice; `Err` = try again later (the text goes to `last_error`).
pub trait Notifier: Send + Sync {
    fn deliver<'a>(
        &'a self,
        notice: &'a OutboxEntry,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// One receiver per channel.
#[derive(Default)]
pub struct Notifiers {
    by_channel: BTreeMap<String, Arc<dyn Notifier>>,
}

impl Notifiers {
    pub fn from_config(cfg: &NotifyConfig) -> Result<Notifiers, String> {
        let mut n = Notifiers::default();
        for (channel, w) in &cfg.webhooks {
            n.insert(channel, Arc::new(Webhook::new(w)?));
        }
        Ok(n)
    }

    pub fn insert(&mut self, channel: &str, notifier: Arc<dyn Notifier>) {
        self.by_channel.insert(channel.to_string(), notifier);
    }

    pub fn channels(&self) -> Vec<String> {
        self.by_channel.keys().cloned().collect()
    }

    fn get(&self, channel: &str) -> Option<&Arc<dyn Notifier>> {
        self.by_channel.get(channel)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpTarget {
    host: String,
    port: u16,
    path: String,
}

impl HttpTarget {
    fn parse(url: &str) -> Result<HttpTarget, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// URLs"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() || host.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
            return Err(format!("{url:?}: bad host or path"));
        }
        Ok(HttpTarget {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// POST of the notice's JSON payload, one connection per notice. Headers: `Idempotency-Key` (the notice key),
/// `X-Hotline-Channel`. Delivered = a 2xx status line.
pub struct Webhook {
    target: HttpTarget,
    timeout: Duration,
    bearer: Option<String>,
}

impl Webhook {
    pub fn new(cfg: &WebhookConfig) -> Result<Webhook, String> {
        Ok(Webhook {
            target: HttpTarget::parse(&cfg.url)?,
            timeout: Duration::from_millis(cfg.timeout_ms),
            bearer: cfg.bearer_token.clone(),
        })
    }

    async fn post(&self, n: &OutboxEntry) -> Result<(), String> {
        let t = &self.target;
        let mut stream = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let auth = match &self.bearer {
            Some(b) => format!("Authorization: Bearer {b}\r\n"),
            None => String::new(),
        };
        // Keys and channels are ours ([A-Za-z0-9:_-]); refuse anything that could break the header.
        if n.key.contains(['\r', '\n']) || n.channel.contains(['\r', '\n']) {
            return Err("notice key or channel with a line break".into());
        }
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Idempotency-Key: {}\r\nX-Hotline-Channel: {}\r\n{auth}Connection: close\r\n\r\n",
            t.path,
            t.host,
            t.port,
            n.payload.len(),
            n.key,
            n.channel
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        stream
            .write_all(n.payload.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 256];
        // The status line is all we need.
        while !buf.contains(&b'\n') && buf.len() < 4096 {
            let k = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if k == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..k]);
        }
        let line = String::from_utf8_lossy(&buf);
        let status = line
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| "no HTTP status line".to_string())?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }
}

impl Notifier for Webhook {
    fn deliver<'a>(
        &'a self,
        notice: &'a OutboxEntry,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.post(notice)).await {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {} ms", self.timeout.as_millis())),
            }
        })
    }
}

/// One round: deliver the notices due at `now_ms` (oldest first) for the channels that have a receiver.
/// Returns how many were delivered.
pub async fn deliver_due(
    store: &Store,
    notifiers: &Notifiers,
    cfg: &NotifyConfig,
    now_ms: i64,
) -> Result<usize, crate::TicketError> {
    let due = store
        .due_notices(&notifiers.channels(), now_ms, cfg.batch)
        .await?;
    let mut delivered = 0;
    for n in &due {
        let Some(notifier) = notifiers.get(&n.channel) else {
            continue;
        };
        match notifier.deliver(n).await {
            Ok(()) => {
                store.notice_delivered(n.id, now_ms).await?;
                delivered += 1;
            }
            Err(e) => {
                let attempts = n.attempts.saturating_add(1);
                let next = now_ms.saturating_add(cfg.backoff(attempts).as_millis() as i64);
                tracing::debug!(notice = %n.key, error = %e, attempts, "notice not delivered; will retry");
                store.notice_failed(n.id, attempts, next, &e).await?;
            }
        }
    }
    Ok(delivered)
}

fn now_ms_wall() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The delivery loop: a round, then a pause (`poll_ms`) when nothing was delivered, until `shutdown` turns
/// true. Database errors are logged and retried the next round.
pub async fn run_outbox(
    store: Store,
    notifiers: Notifiers,
    cfg: NotifyConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let n = match deliver_due(&store, &notifiers, &cfg, now_ms_wall()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "outbox round failed");
                0
            }
        };
        if n == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(cfg.poll_ms)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The producers' loop: every `every`, write the due reminders and pushes ([`Store::enqueue_reminders`]) and
/// fill the call-back list from the tickets ([`Store::sync_callbacks`]). Errors are logged and retried.
pub async fn run_producers(
    store: Store,
    cfg: crate::TicketConfig,
    clock: Arc<dyn crate::WorkingClock>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = now_ms_wall();
        if let Err(e) = store
            .enqueue_reminders(&cfg.notify, &cfg.deadlines, clock.as_ref(), now)
            .await
        {
            tracing::warn!(error = %e, "reminder round failed");
        }
        if let Err(e) = store
            .sync_callbacks(&cfg.callbacks, clock.as_ref(), now)
            .await
        {
            tracing::warn!(error = %e, "call-back list round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Start both background loops the daemon needs for item 6 and the call-back list: the producers (every
/// `notify.producers_ms`) and the delivery through the configured webhooks. Stop them by sending `true` on the
/// watch channel `shutdown` belongs to, then await the handles.
pub fn spawn_background(
    store: Store,
    cfg: &crate::TicketConfig,
    clock: Arc<dyn crate::WorkingClock>,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    cfg.notify.validate()?;
    let notifiers = Notifiers::from_config(&cfg.notify)?;
    let every = Duration::from_millis(cfg.notify.producers_ms);
    Ok(vec![
        tokio::spawn(run_producers(
            store.clone(),
            cfg.clone(),
            clock,
            every,
            shutdown.clone(),
        )),
        tokio::spawn(run_outbox(store, notifiers, cfg.notify.clone(), shutdown)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let cfg = NotifyConfig {
            backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..NotifyConfig::default()
        };
        let got: Vec<u128> = (1..=6).map(|a| cfg.backoff(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(cfg.backoff(1_000).as_millis(), 1_000);
    }

    #[test]
    fn webhook_urls_are_checked() {
        assert_eq!(
            HttpTarget::parse("http://127.0.0.1:8080/hook").unwrap(),
            HttpTarget {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/hook".into()
            }
        );
        assert_eq!(HttpTarget::parse("http://sms.local").unwrap().port, 80);
        assert!(HttpTarget::parse("https://x/").is_err());
        assert!(HttpTarget::parse("http://x:99999/").is_err());
        let mut cfg = NotifyConfig::default();
        cfg.webhooks.insert(
            "reminders".into(),
            WebhookConfig {
                url: "ftp://x".into(),
                timeout_ms: 10,
                bearer_token: None,
            },
        );
        assert!(cfg
            .validate()
            .unwrap_err()
            .contains("notify.webhooks.reminders.url"));
        let err = toml::from_str::<NotifyConfig>(
            "[webhooks.reminders]\nurl = \"http://x/\"\nretries = 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("retries"), "{err}");
    }
}
