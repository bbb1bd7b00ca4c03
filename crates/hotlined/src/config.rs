//! The daemon's configuration: one TOML file, overridable by environment variables
//! `HOTLINED_<SECTION>__<KEY>` (e.g. `HOTLINED_SIP__LISTEN_UDP=0.0.0.0:5060`).
//! Every struct refuses unknown keys: a typo is an error, not a silently ignored setting.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use crate::flood_config::FloodConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub trunks: TrunkConfig,
    pub media: MediaSection,
    #[serde(default)]
    pub calls: CallsConfig,
    pub dialplan: DialplanSection,
    pub tickets: ticket::TicketConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub seats: Vec<SeatConfig>,
    /// Operators' log-in, feature codes, waits (docs/acd.md).
    #[serde(default)]
    pub acd: crate::acd_config::AcdSection,
    #[serde(default)]
    pub queues: Vec<crate::acd_config::QueueConfig>,
    #[serde(default)]
    pub operators: Vec<crate::acd_config::OperatorConfig>,
    /// The satisfaction survey after the operator's part.
    #[serde(default)]
    pub survey: crate::survey_config::SurveySection,
    /// Call-back calls placed from the call-back list.
    #[serde(default)]
    pub callback: crate::survey_config::CallbackSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    pub listen_udp: SocketAddr,
    /// TCP listener (Content-Length framed); omit to serve UDP only.
    #[serde(default)]
    pub listen_tcp: Option<SocketAddr>,
    /// SIP over TLS for remote seats (RFC 3261 §26), on its own port (5061 by convention), with the
    /// certificate and key below; legs on it carry SRTP (SDES). Omit to serve no TLS (docs/tls.md).
    #[serde(default)]
    pub listen_tls: Option<SocketAddr>,
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Digest realm and the domain in the URIs we build.
    pub domain: String,
    /// Largest SIP message accepted, in bytes.
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// Seat registration limits: expiry bounds, contacts per seat, brute-force lockout, nonce lifetime,
    /// digest algorithms offered (MD5 only by default: SIPp and baresip fail on SHA-256 challenges).
    #[serde(default)]
    pub registrar: sip::registrar::RegistrarLimits,
    /// Per-source flood limit (Kamailio pike + a ban): see [`FloodConfig`].
    #[serde(default)]
    pub flood: FloodConfig,
}

fn default_max_message() -> usize {
    65_535
}

/// `[trunks]`: in `trunk_config.rs`.
pub use crate::trunk_config::TrunkConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSection {
    pub bind_ip: IpAddr,
    pub port_min: u16,
    pub port_max: u16,
    #[serde(default = "default_media_timeout")]
    pub media_timeout_s: u64,
    /// RTCP per leg (RFC 3550; docs/quality.md): reports, the peer's loss in the record. Default on.
    #[serde(default = "default_rtcp")]
    pub rtcp: bool,
}

fn default_rtcp() -> bool {
    true
}

fn default_media_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Calls in progress beyond which new INVITEs get 503 + Retry-After.
    pub max_active: usize,
    /// New calls accepted per second (token bucket, burst = one second's worth); beyond it 503 +
    /// Retry-After at once. Protects signalling when CPU, not call count, runs out: measured clean to
    /// 2,000 calls/s on 2 cores with SIPp on the same box (docs/load.md).
    pub max_calls_per_second: u32,
    /// Seconds suggested in Retry-After when refusing for overload.
    pub retry_after_s: u32,
    /// Answer (200) a queued or menu call before its greeting (the default), instead of early media (183)
    /// until a seat answers.
    pub answer_before_queue: bool,
    /// With `answer_before_queue = false`: answer anyway after this long in early media, before the carriers'
    /// no-answer timers (60–180 s) release the call. 0 = never.
    pub early_media_max_s: u64,
    /// How long a seat may ring before the call goes back to the queue.
    pub seat_ring_timeout_s: u64,
    /// How long a seat that did not answer rests before the next offer.
    pub seat_retry_after_s: u64,
    /// After-call work of a seat before its next call.
    pub wrap_up_s: u64,
    /// Answer-time threshold of the service level shown on the wallboard.
    pub service_level_s: u64,
    /// Played in a loop while a caller waits for a seat.
    pub hold_prompt: Option<PathBuf>,
    /// How long a forwarded call (emergency line, province) may ring before it fails.
    pub connect_ring_timeout_s: u64,
    /// How long after a voice menu a caller may take to press a key before the menu's default queue.
    pub menu_timeout_s: u64,
    /// The one-key transfer (docs/transfer.md).
    pub transfer: TransferConfig,
    /// The progress self-query by phone (docs/tickets.md).
    pub self_query: crate::selfquery_config::SelfQueryConfig,
}

/// `[calls.transfer]`: the operator's feature codes and what each side hears.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    /// Then the target's number (or its plan `transfer_code`), then `end_key`.
    pub code: String,
    /// Leaves the three-way call: caller and department stay connected.
    pub drop_code: String,
    /// Gives up the attempt while the target rings: back to the caller.
    pub cancel_code: String,
    pub end_key: char,
    /// A code keyed this long after its last digit is forgotten.
    pub key_timeout_s: u64,
    /// The caller hears it in a loop while the target rings («正在为您转接»).
    pub caller_prompt: Option<PathBuf>,
    /// The operator hears it while the target rings.
    pub ringback_prompt: Option<PathBuf>,
    /// Played once to caller and operator when an attempt falls back (and to the operator for a number
    /// that is no transfer target).
    pub fallback_prompt: Option<PathBuf>,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            code: "*2".into(),
            drop_code: "*0".into(),
            cancel_code: "*#".into(),
            end_key: '#',
            key_timeout_s: 5,
            caller_prompt: None,
            ringback_prompt: None,
            fallback_prompt: None,
        }
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            max_active: 5_000,
            max_calls_per_second: 2_000,
            retry_after_s: 5,
            answer_before_queue: true,
            early_media_max_s: 45,
            seat_ring_timeout_s: 15,
            seat_retry_after_s: 5,
            wrap_up_s: 0,
            service_level_s: 20,
            hold_prompt: None,
            connect_ring_timeout_s: 60,
            menu_timeout_s: 5,
            transfer: TransferConfig::default(),
            self_query: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialplanSection {
    /// The center's plan directory (see docs/dialplan.md).
    pub dir: PathBuf,
    /// Reload automatically when files in the directory change (SIGHUP and the admin API always work).
    #[serde(default = "default_true")]
    pub watch: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin HTTP: metrics, wallboard, reload, ticket API. Keep it on a management network. Plain HTTP on a
    /// loopback address only; anywhere else it needs `tls_cert` and `tls_key`.
    pub listen: SocketAddr,
    /// PEM certificate chain (leaf first) for HTTPS on `listen`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Who may log in, and as what (docs/access.md).
    #[serde(default)]
    pub accounts: Vec<access::AccountConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            accounts: Vec::new(),
        }
    }
}

impl AdminConfig {
    /// `/metrics` and `/healthz` answer without credentials only here.
    pub fn is_loopback(&self) -> bool {
        self.listen.ip().is_loopback()
    }

    /// accounts valid and unique, TLS off loopback, and the example secret never reachable from elsewhere.
    /// `legacy_token` is the deprecated `tickets.api_token`.
    fn validate(&self, legacy_token: &str) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            a.validate()
                .map_err(|e| anyhow::anyhow!("admin.accounts[{i}]: {e}"))?;
            if !names.insert(a.name.as_str()) {
                bail!("admin.accounts[{i}]: account {} is defined twice", a.name);
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("admin.tls_cert and admin.tls_key: set both or neither");
        }
        if self.is_loopback() {
            return Ok(());
        }
        let addr = self.listen;
        if self.tls_cert.is_none() {
            bail!(
                "admin.listen = {addr} is not a loopback address: set admin.tls_cert and admin.tls_key \
                 (plain HTTP is allowed on loopback only; passwords and citizens' data would cross the network \
                 in clear)"
            );
        }
        if legacy_token == access::EXAMPLE_SECRET {
            bail!(
                "tickets.api_token is the example token {:?} and admin.listen = {addr} is not loopback: \
                 refusing to start; remove tickets.api_token and give each person an account in \
                 [[admin.accounts]] (docs/access.md)",
                access::EXAMPLE_SECRET
            );
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if let Some(key) = a.uses_example_secret() {
                bail!(
                    "admin.accounts[{i}].{key} (account {:?}) accepts the example secret {:?} and admin.listen \
                     = {addr} is not loopback: refusing to start; set a new one (`hotlined hash-password`)",
                    a.name,
                    access::EXAMPLE_SECRET
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatConfig {
    pub id: String,
    pub password: String,
    /// The seat's skills: the queues it serves (a queue asks for the skill of its name unless `[[queues]]`
    /// says otherwise); default: every queue of the dial plan. An operator with skills brings their own.
    #[serde(default)]
    pub queues: Option<Vec<String>>,
    /// Labels shown with the seat, e.g. `["remote"]` for a county's remote seat.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The operator `*21` logs in here when it names none (and the one a registering seat logs in with when
    /// `acd.login_required` is false).
    #[serde(default)]
    pub operator: Option<String>,
    /// A remote seat: its REGISTER over UDP/TCP gets 403 TLS Required (needs `sip.listen_tls`).
    #[serde(default)]
    pub tls_only: bool,
}

impl Config {
    /// Read the file, apply `HOTLINED_…` environment overrides, check meaning.
    /// Relative paths in the file are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config> {
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("HOTLINED")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(config_env())),
            )
            .build()
            .with_context(|| format!("reading {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::finish(raw, base, &path.display().to_string())
    }

    /// [`Config::load`] on TOML text, without the file system or the environment: the same
    /// deserialisation and checks, with relative paths taken relative to `base`. For the fuzz
    /// targets, which feed it arbitrary text.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Config> {
        let raw = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .context("reading the configuration")?;
        Config::finish(raw, base, "the configuration")
    }

    fn finish(raw: config::Config, base: &Path, origin: &str) -> Result<Config> {
        let mut cfg: Config = raw
            .try_deserialize()
            .with_context(|| format!("in {origin}"))?;
        cfg.dialplan.dir = rebase(base, &cfg.dialplan.dir);
        cfg.tickets.spool_dir = rebase(base, &cfg.tickets.spool_dir);
        let t = &mut cfg.calls.transfer;
        let [a, b, c, d, e, f, g] = cfg.acd.prompts.all_mut();
        for p in [
            &mut cfg.calls.hold_prompt,
            &mut t.caller_prompt,
            &mut t.ringback_prompt,
            &mut t.fallback_prompt,
            &mut cfg.sip.tls_cert,
            &mut cfg.sip.tls_key,
            a,
            b,
            c,
            d,
            e,
            f,
            g,
        ] {
            if let Some(h) = p.as_ref() {
                *p = Some(rebase(base, h));
            }
        }
        let [s, t] = cfg.survey.paths_mut();
        for p in [
            &mut cfg.admin.tls_cert,
            &mut cfg.admin.tls_key,
            s,
            t,
            &mut cfg.callback.summary_prompt,
            &mut cfg.calls.self_query.prompts_dir,
        ] {
            if let Some(h) = p.as_ref() {
                *p = Some(rebase(base, h));
            }
        }
        if let Some(rest) = cfg.tickets.database_url.strip_prefix("sqlite://") {
            if !rest.starts_with('/') && !rest.starts_with(':') {
                let file = rebase(base, Path::new(rest.split('?').next().unwrap_or(rest)));
                let query = rest.split_once('?').map(|(_, q)| q);
                cfg.tickets.database_url = match query {
                    Some(q) => format!("sqlite://{}?{q}", file.display()),
                    None => format!("sqlite://{}", file.display()),
                };
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        if self.media.port_min >= self.media.port_max {
            bail!(
                "media.port_min ({}) must be below media.port_max ({})",
                self.media.port_min,
                self.media.port_max
            );
        }
        self.admin.validate(&self.tickets.api_token)?;
        let seats = self.seats.iter().map(|x| (x.id.as_str(), x.tls_only));
        let s = &self.sip;
        crate::tls_config::validate(s.listen_tls, &s.tls_cert, &s.tls_key, seats)?;
        for a in &self.trunks.allow {
            parse_cidr(a).with_context(|| format!("trunks.allow entry {a:?}"))?;
        }
        self.trunks.validate()?;
        for a in &self.sip.flood.trusted {
            parse_cidr(a).with_context(|| format!("sip.flood.trusted entry {a:?}"))?;
        }
        if self.sip.flood.max_per_window > 0 && self.sip.flood.window_s == 0 {
            bail!("sip.flood.window_s must be at least 1 when sip.flood.max_per_window is set");
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.seats {
            if !seen.insert(&s.id) {
                bail!("seat {} is defined twice", s.id);
            }
            if s.password.len() < 8 {
                bail!("seat {}: password shorter than 8 characters", s.id);
            }
            if let Some(op) = &s.operator {
                if !self.operators.iter().any(|o| &o.id == op) {
                    bail!("seat {}: operator {op} is not in [[operators]]", s.id);
                }
            }
        }
        self.acd.validate(&self.queues, &self.operators)?;
        self.survey.validate(&self.callback)?;
        self.callback.validate()?;
        Ok(())
    }

    /// The flood limit as the SIP endpoint takes it: trunks and `sip.flood.trusted` share the trusted limit.
    pub fn flood_limits(&self) -> sip::flood::FloodLimits {
        let f = &self.sip.flood;
        let mut trusted = self.trunk_acl();
        trusted.extend(f.trusted.iter().filter_map(|a| parse_cidr(a).ok()));
        sip::flood::FloodLimits {
            max_per_window: f.max_per_window,
            window: std::time::Duration::from_secs(f.window_s),
            ban: std::time::Duration::from_secs(f.ban_s),
            trusted,
            trusted_max_per_window: f.trusted_max_per_window,
            ..sip::flood::FloodLimits::default()
        }
    }

    pub fn trunk_acl(&self) -> Vec<(IpAddr, u8)> {
        self.trunks
            .allow
            .iter()
            .filter_map(|a| parse_cidr(a).ok())
            .collect()
    }
}

/// The environment variables that are config keys: `HOTLINED_<SECTION>__<KEY>`. Others that merely share
/// the prefix (`HOTLINED_BIN` in a script) are not ours and must not stop the daemon as unknown keys.
fn config_env() -> config::Map<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("HOTLINED_") && k.contains("__"))
        .collect()
}

fn rebase(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// "10.0.0.0/8" or a bare address (a /32 or /128).
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().context("not an IP address")?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.trim().parse::<u8>().context("bad prefix length")?,
        None => max,
    };
    if len > max {
        bail!("prefix length {len} is longer than {max}");
    }
    Ok((ip, len))
}

/// Is `ip` inside one of the blocks?
pub fn acl_allows(acl: &[(IpAddr, u8)], ip: IpAddr) -> bool {
    acl.iter().any(|&(net, len)| match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_matches_blocks() {
        let acl = vec![
            parse_cidr("127.0.0.1/32").unwrap(),
            parse_cidr("10.20.0.0/16").unwrap(),
        ];
        assert!(acl_allows(&acl, "127.0.0.1".parse().unwrap()));
        assert!(!acl_allows(&acl, "127.0.0.2".parse().unwrap()));
        assert!(acl_allows(&acl, "10.20.255.1".parse().unwrap()));
        assert!(!acl_allows(&acl, "10.21.0.1".parse().unwrap()));
        assert!(!acl_allows(&acl, "::1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("nonsense").is_err());
    }

    #[test]
    fn example_config_loads_and_typos_are_refused() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/hotlined.toml");
        let cfg = Config::load(&example).unwrap();
        assert_eq!(cfg.seats.len(), 14, "12 operator seats, 2 department seats");
        let t = &cfg.calls.transfer;
        assert_eq!((t.code.as_str(), t.end_key), ("*2", '#'));
        for p in [&t.caller_prompt, &t.ringback_prompt, &t.fallback_prompt] {
            let p = p.as_ref().expect("the example sets every transfer prompt");
            assert!(p.is_file(), "{} (relative to the config file)", p.display());
        }
        assert!(cfg.dialplan.dir.is_dir(), "{}", cfg.dialplan.dir.display());
        // the bundled example runs with no setup because it stays on loopback, with one example admin.
        assert!(cfg.admin.is_loopback() && cfg.admin.tls_cert.is_none());
        let names: Vec<&str> = cfg.admin.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["admin"]);
        assert_eq!(
            cfg.admin.accounts[0].uses_example_secret(),
            Some("password_hash")
        );
        assert!(cfg.tickets.api_token.is_empty(), "no deprecated token");

        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(&example)
            .unwrap()
            .replace("max_active", "max_actve");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let err = format!("{:#}", Config::load(&bad).unwrap_err());
        assert!(err.contains("max_actve"), "{err}");

        // Variables that only share the prefix are not config keys; SECTION__KEY ones are.
        std::env::set_var("HOTLINED_BIN", "/usr/local/bin/hotlined");
        std::env::set_var("HOTLINED_CALLS__MAX_ACTIVE", "77");
        let cfg = Config::load(&example);
        std::env::remove_var("HOTLINED_BIN");
        std::env::remove_var("HOTLINED_CALLS__MAX_ACTIVE");
        assert_eq!(cfg.unwrap().calls.max_active, 77);
    }
}
