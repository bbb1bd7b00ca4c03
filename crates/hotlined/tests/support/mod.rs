//! End-to-end harness: starts the built `hotlined` on loopback ports of its own, drives it with SIPp
//! (the real peer carriers and softphones are modelled with), and owns RTP sockets so tests can assert
//! what audio really arrived. Everything stays on 127.0.0.1 and every wait is bounded.
#![allow(dead_code)]

pub mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn sipp_dir() -> PathBuf {
    repo().join("tests/sipp")
}

/// A free loopback port (UDP and TCP both free at the time of asking).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && port % 2 == 0 {
            return port;
        }
    }
}

pub struct Options {
    /// Plan directory; default: the repo's dialplans/jiujiang.
    pub dialplan: Option<PathBuf>,
    pub max_active: usize,
    pub trunk_allow: &'static str,
    /// `[trunks] gateways`: target host → address.
    pub gateways: Vec<(String, SocketAddr)>,
    pub seat_ring_timeout_s: u64,
    /// `[admin] listen`; default a free loopback port.
    pub admin_listen: Option<String>,
    /// `[admin] tls_cert`, `tls_key` (PEM files) and the certificate, to trust it.
    pub tls: Option<TlsFiles>,
    /// `[[admin.accounts]]` added after the example's admin (TOML text).
    pub extra_accounts: String,
    /// Replaces the example's `[tickets]` line `channel_capacity = …` with this text (e.g. to add `api_token`).
    pub tickets_extra: String,
    /// `acd.login_required`: seats wait for their operator's `*21`.
    pub login_required: bool,
    /// TOML appended to the config (`[[queues]]`, `[[seats]]`, `[[operators]]` entries).
    pub extra: String,
    /// The database to use (a restart test starts a second daemon on the first one's).
    pub db: Option<PathBuf>,
    /// `calls.answer_before_queue`. The example answers first; the SIPp caller scenarios (`caller*.xml`)
    /// model early-media carriers that take the 200 as the seat's answer, so tests choose it.
    pub answer_first: bool,
    /// `calls.early_media_max_s` (with `answer_first = false`); 0 = never.
    pub early_media_max_s: u64,
    /// `sip.listen_tls` on this port with `sip.tls_cert`/`tls_key` (SIP over TLS for remote seats).
    pub sip_tls: Option<(u16, TlsFiles)>,
    /// `survey.enabled`: the example asks every caller after the operator's part; the suite's tests were
    /// written for a caller hung up at once, so tests choose it.
    pub survey: bool,
    /// `tickets.database_url` instead of a SQLite file in the test's directory (a PostgreSQL variant).
    pub database_url: Option<String>,
    /// TOML put in `[trunks]` after `allow`/`gateways` (e.g. `asserted_identity`, `[[trunks.gateway]]`
    /// entries: an array of tables there closes `[trunks]` and the example's next section follows).
    pub trunks_extra: String,
    /// The SIP port (UDP and TCP); default a free one. A restart test passes the first run's.
    pub sip_port: Option<u16>,
    /// `tickets.spool_dir` (the state directory: record spool, live-call journal, registrations); default
    /// one in the test's directory. A restart test passes the first run's to see its spool replayed.
    pub spool_dir: Option<PathBuf>,
    /// The first port of the media range (100 ports); default one per test process. Two daemons in one test
    /// need a range each.
    pub media_base: Option<u16>,
}

/// A self-signed certificate for 127.0.0.1 / localhost (rcgen), written as PEM files.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_der: Vec<u8>,
}

impl TlsFiles {
    pub fn generate(dir: &Path) -> TlsFiles {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("self-signed certificate");
        let cert = dir.join("admin.crt");
        let key = dir.join("admin.key");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        TlsFiles {
            cert,
            key,
            cert_der: ck.cert.der().to_vec(),
        }
    }

    /// A rustls client that trusts only this certificate.
    pub fn client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            ))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// The example's admin account (`deploy/hotlined.toml`): HTTP Basic `admin` / the example password.
pub fn admin_auth() -> String {
    basic_auth("admin", "change-me-example-token")
}

/// An `Authorization` value for HTTP Basic.
pub fn basic_auth(name: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
    )
}

/// One answer of the admin port.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dialplan: None,
            max_active: 5000,
            trunk_allow: "127.0.0.1/32",
            gateways: Vec::new(),
            seat_ring_timeout_s: 15,
            admin_listen: None,
            tls: None,
            extra_accounts: String::new(),
            tickets_extra: String::new(),
            login_required: false,
            extra: String::new(),
            db: None,
            answer_first: false,
            early_media_max_s: 0,
            sip_tls: None,
            survey: false,
            database_url: None,
            trunks_extra: String::new(),
            sip_port: None,
            spool_dir: None,
            media_base: None,
        }
    }
}

pub struct Daemon {
    pub child: Child,
    pub sip: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub log: Arc<Mutex<String>>,
    /// Set when the admin port speaks HTTPS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The example config with the test's ports, paths and options, written into `dir`; returns its path, the
/// SIP port and the admin port.
pub fn write_config(opts: &Options, dir: &Path) -> (PathBuf, u16, u16) {
    let sip_port = opts.sip_port.unwrap_or_else(free_port);
    let admin_port = free_port();
    // A media range of our own, so tests running at the same time never share ports.
    let media_base = opts
        .media_base
        .unwrap_or(20_000 + (std::process::id() % 300) as u16 * 100);
    let db = opts.db.clone().unwrap_or_else(|| dir.join("hotline.db"));
    let db_url = opts
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", db.display()));
    let example = std::fs::read_to_string(repo().join("deploy/hotlined.toml")).unwrap();
    let mut cfg = String::new();
    let mut section = "";
    for line in example.lines() {
        if line.starts_with('[') {
            section = line.split_whitespace().next().unwrap_or("");
        }
        let key = line.split('=').next().unwrap_or("").trim();
        let v = match key {
            "enabled" if section == "[survey]" => format!("enabled = {}", opts.survey),
            "listen_udp" => format!("listen_udp = \"127.0.0.1:{sip_port}\""),
            "listen_tcp" => {
                let mut v = format!("listen_tcp = \"127.0.0.1:{sip_port}\"");
                if let Some((port, t)) = &opts.sip_tls {
                    v += &format!(
                        "\nlisten_tls = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
                        t.cert.display(),
                        t.key.display()
                    );
                }
                v
            }
            "port_min" => format!("port_min = {media_base}"),
            "port_max" => format!("port_max = {}", media_base + 99),
            "max_active" => format!("max_active = {}", opts.max_active),
            "allow" => {
                let gw: Vec<String> = opts
                    .gateways
                    .iter()
                    .map(|(h, a)| format!("\"{h}\" = \"{a}\""))
                    .collect();
                format!(
                    "allow = [\"{}\"]\ngateways = {{ {} }}\n{}",
                    opts.trunk_allow,
                    gw.join(", "),
                    opts.trunks_extra
                )
            }
            "seat_ring_timeout_s" => {
                format!("seat_ring_timeout_s = {}", opts.seat_ring_timeout_s)
            }
            "watch" => "watch = false".to_string(),
            "dir" => format!(
                "dir = \"{}\"",
                opts.dialplan
                    .clone()
                    .unwrap_or_else(|| repo().join("dialplans/jiujiang"))
                    .display()
            ),
            "hold_prompt" => format!(
                "hold_prompt = \"{}\"",
                repo().join("dialplans/prompts/please_wait.wav").display()
            ),
            "login_required" => format!("login_required = {}", opts.login_required),
            "answer_before_queue" => format!("answer_before_queue = {}", opts.answer_first),
            "early_media_max_s" => format!("early_media_max_s = {}", opts.early_media_max_s),
            "prompts_dir" => format!(
                "prompts_dir = \"{}\"",
                repo().join("dialplans/prompts/selfquery").display()
            ),
            "announce_dir" => format!(
                "announce_dir = \"{}\"",
                repo().join("dialplans/prompts/announce").display()
            ),
            // Prompt paths (`not_ready` is also a feature code: only .wav values are paths).
            "caller_prompt" | "ringback_prompt" | "fallback_prompt" | "logged_in" | "not_ready"
            | "logged_out" | "wrap_up_ended" | "refused" | "callback" | "prompt"
            | "thanks_prompt"
                if line.contains(".wav\"") =>
            {
                // Relative to the example's directory: make it absolute for our temp config.
                let rel = line.split('"').nth(1).unwrap_or("");
                format!("{key} = \"{}\"", repo().join("deploy").join(rel).display())
            }
            "database_url" => format!("database_url = \"{db_url}\""),
            "spool_dir" => format!(
                "spool_dir = \"{}\"",
                opts.spool_dir
                    .clone()
                    .unwrap_or_else(|| dir.join("spool"))
                    .display()
            ),
            "listen" => {
                let listen = opts
                    .admin_listen
                    .clone()
                    .unwrap_or_else(|| format!("127.0.0.1:{admin_port}"));
                let mut v = format!("listen = \"{listen}\"");
                if let Some(t) = &opts.tls {
                    v += &format!(
                        "\ntls_cert = \"{}\"\ntls_key = \"{}\"",
                        t.cert.display(),
                        t.key.display()
                    );
                }
                v
            }
            "channel_capacity" if !opts.tickets_extra.is_empty() => {
                format!("{line}\n{}", opts.tickets_extra)
            }
            _ => line.to_string(),
        };
        cfg.push_str(&v);
        cfg.push('\n');
    }
    // The example ends with its [[admin.accounts]]: more entries of the same array go right after.
    cfg.push_str(&opts.extra_accounts);
    cfg.push_str(&opts.extra);
    let cfg_path = dir.join("hotlined.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    (cfg_path, sip_port, admin_port)
}

impl Daemon {
    pub fn start(opts: Options) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let (cfg_path, sip_port, admin_port) = write_config(&opts, dir.path());
        let db_url = opts.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                opts.db
                    .clone()
                    .unwrap_or_else(|| dir.path().join("hotline.db"))
                    .display()
            )
        });
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotlined"))
            .args(["run", "--config"])
            .arg(&cfg_path)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hotlined");
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&line);
                    log.lock().unwrap().push('\n');
                }
            });
        }
        let d = Daemon {
            child,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            dir,
            db_url,
            log,
            tls: opts.tls.as_ref().map(TlsFiles::client),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if d.http_get("/healthz").is_some_and(|b| b.contains("ok")) {
                return d;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("hotlined did not come up:\n{}", d.log());
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// One request to the admin port (HTTPS when the daemon has TLS), with `authorization` as the header value.
    pub fn request(&self, method: &str, path: &str, authorization: Option<&str>) -> Option<Reply> {
        let mut tcp = TcpStream::connect_timeout(&self.admin, Duration::from_millis(500)).ok()?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\n\r\n"
        );
        let mut raw = Vec::new();
        match &self.tls {
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").ok()?;
                let conn = rustls::ClientConnection::new(cfg.clone(), name).ok()?;
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                tls.write_all(req.as_bytes()).ok()?;
                // HTTP/1.0: the server closes after the answer (some close without close_notify).
                let _ = tls.read_to_end(&mut raw);
            }
            None => {
                tcp.write_all(req.as_bytes()).ok()?;
                tcp.read_to_end(&mut raw).ok()?;
            }
        }
        let resp = String::from_utf8_lossy(&raw).to_string();
        let code = resp.get(9..12)?.parse().ok()?;
        let (head, body) = resp.split_once("\r\n\r\n")?;
        Some(Reply {
            code,
            head: head.to_string(),
            body: body.to_string(),
        })
    }

    /// GET as the example's center administrator; the body.
    pub fn http_get(&self, path: &str) -> Option<String> {
        self.request("GET", path, Some(&admin_auth()))
            .map(|r| r.body)
    }

    /// GET as the example's center administrator; (status code, body).
    pub fn api_get(&self, path: &str) -> Option<(u16, String)> {
        self.request("GET", path, Some(&admin_auth()))
            .map(|r| (r.code, r.body))
    }

    /// POST with an empty body as the example's center administrator; (status code, body).
    pub fn http_post(&self, path: &str) -> Option<(u16, String)> {
        self.request("POST", path, Some(&admin_auth()))
            .map(|r| (r.code, r.body))
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.http_get("/status").expect("status")).expect("status json")
    }

    /// Wait until `seat` is ready in the ACD (it registered and, without a login requirement, logged in).
    pub fn wait_seat_available(&self, seat: &str) {
        self.wait_seat_state(seat, "ready", Duration::from_secs(15));
    }

    /// `seat` as `/status` shows it.
    pub fn seat_status(&self, seat: &str) -> serde_json::Value {
        self.status()["seats"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == seat)
            .cloned()
            .unwrap_or_default()
    }

    /// Wait until `seat`'s state in `/status` is `state` (ready, not_ready, logged_out, talking, …).
    pub fn wait_seat_state(&self, seat: &str, state: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let s = self.seat_status(seat);
            if s["state"]["state"] == state {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "seat {seat} never became {state}: {}\n{}",
            self.seat_status(seat),
            self.log()
        );
    }

    /// Wait until no call is active (every call ended and was recorded).
    pub fn wait_idle(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.status()["calls"]["active"] == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("calls still active:\n{}", self.status());
    }

    /// The call records in the daemon's SQLite database (waits for the writer to store `want`).
    pub fn call_records(&self, want: usize) -> Vec<ticket::CallRecord> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = ticket::Store::connect(&self.db_url, 1).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let ids: Vec<(String,)> = sqlx::query_as("SELECT call_id FROM call_records")
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                if ids.len() >= want || Instant::now() > deadline {
                    let mut out = Vec::new();
                    for (id,) in ids {
                        if let Some(r) = store.call_record(&id).await.unwrap() {
                            out.push(r);
                        }
                    }
                    store.close().await;
                    return out;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SIPp process.
pub struct Sipp {
    pub child: Child,
    pub dir: tempfile::TempDir,
}

pub fn sipp_available() -> bool {
    Command::new("sipp").arg("-v").output().is_ok()
}

impl Sipp {
    /// `sipp <daemon> -sf <scenario> -i 127.0.0.1 -m 1 <args>` in a temp dir of its own (its logs land there).
    pub fn spawn(daemon: SocketAddr, scenario: &Path, args: &[&str]) -> Sipp {
        assert!(
            sipp_available(),
            "sipp not found: apt-get install -y sip-tester (.ci/run does this)"
        );
        let dir = tempfile::tempdir().unwrap();
        // SIPp binds a media socket even when the test owns the call's RTP; its default (6000) is shared by
        // every SIPp on the box, so each gets a free one unless the test chose.
        let media_port = free_port().to_string();
        let mp: &[&str] = if args.contains(&"-mp") {
            &[]
        } else {
            &["-mp", &media_port]
        };
        let child = Command::new("sipp")
            .arg(daemon.to_string())
            .arg("-sf")
            .arg(scenario)
            .args([
                "-m",
                "1",
                "-mi",
                "127.0.0.1",
                "-nostdin",
                "-trace_msg",
                "-trace_err",
            ])
            .args(["-timeout", "60s"])
            .args(mp)
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp");
        Sipp { child, dir }
    }

    /// Wait for the exit (bounded); SIPp exits 0 when every call of the scenario succeeded.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sipp did not finish in {within:?}:\n{}", self.messages());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything SIPp logged (messages and errors).
    pub fn messages(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                if let Ok(s) = std::fs::read_to_string(e.path()) {
                    out.push_str(&format!("==== {}\n{s}\n", e.path().display()));
                }
            }
        }
        out
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A seat that registers (digest auth, password `hotline-<id>`) and answers with `ooc` (an out-of-call
/// scenario, e.g. seat_answer.xml), its media on `rtp_port`; returns once the ACD has it available.
pub fn register_seat(d: &Daemon, seat: &str, ooc: &str, rtp_port: u16) -> Sipp {
    register_seat_on(d, seat, ooc, rtp_port, "u1")
}

/// [`register_seat`] on a given SIPp transport: `u1` (UDP) or `t1` (one TCP connection).
pub fn register_seat_on(d: &Daemon, seat: &str, ooc: &str, rtp_port: u16, transport: &str) -> Sipp {
    register_seat_with(d, seat, ooc, rtp_port, transport, 40_000)
}

/// [`register_seat_on`] with the scenario's default pause (`-d`, e.g. how long a seat rings or talks).
pub fn register_seat_with(
    d: &Daemon,
    seat: &str,
    ooc: &str,
    rtp_port: u16,
    transport: &str,
    pause_ms: u32,
) -> Sipp {
    register_seat_through(d, d.sip, seat, ooc, rtp_port, transport, pause_ms)
}

/// [`register_seat_with`], the REGISTER sent to `registrar` (e.g. a Kamailio in front of `d`) rather than to
/// `d` itself; waits until `d` has the seat.
pub fn register_seat_through(
    d: &Daemon,
    registrar: SocketAddr,
    seat: &str,
    ooc: &str,
    rtp_port: u16,
    transport: &str,
    pause_ms: u32,
) -> Sipp {
    let pause = pause_ms.to_string();
    let port = free_port().to_string();
    let ooc = sipp_dir().join(ooc);
    let password = format!("hotline-{seat}");
    let media = rtp_port.to_string();
    let sipp = Sipp::spawn(
        registrar,
        &sipp_dir().join("seat_register.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-oocsf",
            ooc.to_str().unwrap(),
            "-key",
            "seat",
            seat,
            "-au",
            seat,
            "-ap",
            &password,
            "-key",
            "seat_rtp_port",
            &media,
            "-d",
            &pause,
            "-t",
            transport,
        ],
    );
    d.wait_seat_available(seat);
    sipp
}

/// A carrier call with `scenario` to `number`, its media on `rtp_port`; `pause_ms` is the scenario's
/// pause (talk time, or waiting time before a CANCEL).
pub fn dial(d: &Daemon, scenario: &str, number: &str, rtp_port: u16, pause_ms: u32) -> Sipp {
    let port = free_port().to_string();
    let media = rtp_port.to_string();
    let pause = pause_ms.to_string();
    Sipp::spawn(
        d.sip,
        &sipp_dir().join(scenario),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            number,
            "-key",
            "caller_rtp_port",
            &media,
            "-d",
            &pause,
        ],
    )
}

/// A carrier call whose media SIPp sends itself (e.g. `play_pcap_audio` DTMF) from a port of its own.
pub fn dial_with_sipp_media(d: &Daemon, scenario: &str, number: &str) -> Sipp {
    let port = free_port().to_string();
    let media_port = free_port().to_string();
    Sipp::spawn(
        d.sip,
        &sipp_dir().join(scenario),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            number,
            "-mp",
            &media_port,
        ],
    )
}

/// A scenario with `[expect_status]` filled in (SIPp substitutes keys in messages only).
pub fn scenario_expecting(dir: &Path, status: u16) -> PathBuf {
    let text = std::fs::read_to_string(sipp_dir().join("caller_refused.xml"))
        .unwrap()
        .replace("[expect_status]", &status.to_string());
    let p = dir.join(format!("caller_refused_{status}.xml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Rtp {
    pub at: Instant,
    pub from: SocketAddr,
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// An RTP endpoint the test owns: records everything it receives; can send a constant tone back to
/// whoever sent to it (symmetric RTP), so a test can tell relayed audio from prompts.
pub struct RtpPeer {
    pub sock: Arc<UdpSocket>,
    pub got: Arc<Mutex<Vec<Rtp>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RtpPeer {
    pub fn new() -> RtpPeer {
        let sock = loop {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            if s.local_addr().unwrap().port() % 2 == 0 {
                break s;
            }
        };
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let sock = Arc::new(sock);
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, g, st) = (sock.clone(), got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    if n >= 12 {
                        let b = &buf[..n];
                        g.lock().unwrap().push(Rtp {
                            at: Instant::now(),
                            from,
                            pt: b[1] & 0x7f,
                            marker: b[1] & 0x80 != 0,
                            seq: u16::from_be_bytes([b[2], b[3]]),
                            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
                            payload: b[12..].to_vec(),
                        });
                    }
                }
            }
        });
        RtpPeer { sock, got, stop }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    pub fn packets(&self) -> Vec<Rtp> {
        self.got.lock().unwrap().clone()
    }

    /// Send `count` 20 ms frames of a constant byte to `to`, paced, with payload type `pt`.
    pub fn send_tone(&self, to: SocketAddr, pt: u8, byte: u8, count: u16) {
        send_tone(&self.sock, to, pt, byte, count)
    }
}

/// Send `count` 20 ms frames of a constant byte from `sock` to `to`, paced, with payload type `pt`.
pub fn send_tone(sock: &UdpSocket, to: SocketAddr, pt: u8, byte: u8, count: u16) {
    {
        let ssrc: u32 = 0x5eed_0000 | u32::from(byte);
        let start = Instant::now();
        for i in 0..count {
            let mut pkt = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            pkt[2..4].copy_from_slice(&i.to_be_bytes());
            pkt[4..8].copy_from_slice(&(u32::from(i) * 160).to_be_bytes());
            pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
            pkt.extend(std::iter::repeat_n(byte, 160));
            let _ = sock.send_to(&pkt, to);
            let next = start + Duration::from_millis(20 * (u64::from(i) + 1));
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Frames whose 160 bytes are all one value: the tone a peer sent, never a spoken prompt.
pub fn is_tone(p: &Rtp) -> bool {
    p.payload.len() == 160 && p.payload.iter().all(|&b| b == p.payload[0])
}

/// A copy of the repo's dialplans/ in a temp dir, so a test can edit a plan.
pub fn copy_dialplans() -> tempfile::TempDir {
    let plans = tempfile::tempdir().unwrap();
    let ok = Command::new("cp")
        .arg("-r")
        .arg(repo().join("dialplans"))
        .arg(plans.path())
        .status()
        .unwrap();
    assert!(ok.success());
    plans
}

/// Wait (bounded) until `f` is true.
pub fn wait_for(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

impl Daemon {
    /// POST a JSON body as the example's center administrator; returns (status code, body).
    pub fn api_post(&self, path: &str, body: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.admin, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "POST {path} HTTP/1.0\r\nHost: x\r\nAuthorization: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            admin_auth(),
            body.len()
        )
        .ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        let code = resp.get(9..12)?.parse().ok()?;
        Some((code, resp.split_once("\r\n\r\n")?.1.to_string()))
    }

    /// The wallboard's data endpoint, and one seat of it.
    pub fn wallboard_seat(&self, seat: &str) -> serde_json::Value {
        let board: serde_json::Value =
            serde_json::from_str(&self.http_get("/wallboard/data").expect("wallboard data"))
                .expect("wallboard json");
        board["seats"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == seat)
            .cloned()
            .unwrap_or_default()
    }
}

/// A headless baresip softphone registered as `seat` (password `hotline-<seat>`, auto-answer), driven through
/// its ctrl_tcp module: commands in, every event recorded.
pub struct Baresip {
    pub child: Child,
    pub dir: tempfile::TempDir,
    ctrl: TcpStream,
    pub events: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Baresip {
    pub fn start(d: &Daemon, seat: &str) -> Baresip {
        let account = format!(
            "<sip:{seat}@127.0.0.1:{}>;auth_pass=hotline-{seat};answermode=auto;regint=60",
            d.sip.port()
        );
        Baresip::start_with(&account, "")
    }

    /// A baresip with this account line and `extra` config lines (modules, `sip_cafile`, `snd_path` …).
    pub fn start_with(account: &str, extra: &str) -> Baresip {
        let dir = tempfile::tempdir().unwrap();
        let (sip, ctrl) = (free_port(), free_port());
        // A long tone as the microphone: baresip hangs up when its audio file ends.
        let tone = dir.path().join("tone.wav");
        let ok = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed"])
            .arg(&tone)
            .args(["synth", "600", "sine", "440", "vol", "0.1"])
            .status()
            .expect("sox");
        assert!(ok.success());
        std::fs::write(
            dir.path().join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\n\
                 audio_player aubridge,nil\naudio_alert aubridge,nil\naudio_source aufile,{}\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n\
                 module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n{extra}",
                tone.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("accounts"), format!("{account}\n")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start baresip (apt-get install baresip-core)");
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", ctrl)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("baresip ctrl_tcp: {e}"),
            }
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let (mut rd, ev) = (stream.try_clone().unwrap(), events.clone());
        std::thread::spawn(move || {
            // Netstrings: <len>:<json>,
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = rd.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(colon) = buf.iter().position(|&b| b == b':') {
                    let Some(len) = std::str::from_utf8(&buf[..colon])
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                    else {
                        buf.clear();
                        break;
                    };
                    if buf.len() < colon + 1 + len + 1 {
                        break;
                    }
                    if let Ok(v) = serde_json::from_slice(&buf[colon + 1..colon + 1 + len]) {
                        ev.lock().unwrap().push(v);
                    }
                    buf.drain(..colon + 1 + len + 1);
                }
            }
        });
        Baresip {
            child,
            dir,
            ctrl: stream,
            events,
        }
    }

    pub fn command(&mut self, command: &str, params: &str) {
        let body =
            serde_json::json!({"command": command, "params": params, "token": "t"}).to_string();
        write!(self.ctrl, "{}:{body},", body.len()).unwrap();
    }

    /// Events of `kind` (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK…) so far.
    pub fn count(&self, kind: &str, direction: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind && (direction.is_empty() || e["direction"] == direction))
            .count()
    }

    /// Wait until there are `n` events of `kind` in `direction` ("" for any).
    pub fn wait(&self, kind: &str, direction: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.count(kind, direction) < n {
            assert!(
                Instant::now() < deadline,
                "baresip: no {n}×{kind} {direction}: {:?}",
                self.events.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
