//! R-30 end to end against the built daemon over 127.0.0.1: every admin endpoint behind an account, the role
//! matrix on the admin routes, refusals in the access log under the account, HTTPS with a certificate made here,
//! and the refusal to start with the example secret on a non-loopback admin address.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;
use support::{admin_auth, basic_auth, Daemon, Options, TlsFiles};

const OPERATOR_TOKEN: &str = "operator-1001-token";
const SUPERVISOR_TOKEN: &str = "supervisor-token";
const AUDITOR_TOKEN: &str = "auditor-token";

fn sha(token: &str) -> String {
    access::token_sha256(token)
}

fn accounts() -> String {
    format!(
        "[[admin.accounts]]\nname = \"op-1001\"\nrole = \"operator\"\ntoken_sha256 = \"{}\"\n\
         [[admin.accounts]]\nname = \"sup\"\nrole = \"supervisor\"\ntoken_sha256 = \"{}\"\n\
         [[admin.accounts]]\nname = \"audit\"\nrole = \"auditor\"\ntoken_sha256 = \"{}\"\n",
        sha(OPERATOR_TOKEN),
        sha(SUPERVISOR_TOKEN),
        sha(AUDITOR_TOKEN)
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn admin_endpoints_need_an_account_and_the_right_role() {
    let d = Daemon::start(Options {
        extra_accounts: accounts(),
        ..Options::default()
    });
    // Done when: an unauthenticated reload gets 401.
    let r = d.request("POST", "/admin/reload", None).unwrap();
    assert_eq!(r.code, 401, "{r:?}");
    let head = r.head.to_ascii_lowercase();
    assert!(
        head.contains("www-authenticate: basic realm=\"hotline12345\""),
        "{}",
        r.head
    );
    let wrong = basic_auth("admin", "not-the-password");
    assert_eq!(
        d.request("POST", "/admin/reload", Some(&wrong))
            .unwrap()
            .code,
        401
    );
    // Role matrix: neither an operator nor a supervisor reloads; the center administrator does.
    for t in [OPERATOR_TOKEN, SUPERVISOR_TOKEN] {
        let r = d
            .request("POST", "/admin/reload", Some(&bearer(t)))
            .unwrap();
        assert_eq!(r.code, 403, "{t}: {r:?}");
    }
    let (code, body) = d.http_post("/admin/reload").unwrap();
    assert_eq!(code, 200, "{body}");
    // `hotlined reload` logs in from the environment (never a secret on the command line).
    let admin = d.admin.to_string();
    let cli = |password: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hotlined"));
        c.args(["reload", "--admin", &admin, "--user", "admin"])
            .env_remove("HOTLINED_ADMIN_TOKEN");
        match password {
            Some(p) => c.env("HOTLINED_ADMIN_PASSWORD", p),
            None => c.env_remove("HOTLINED_ADMIN_PASSWORD"),
        };
        c.output().unwrap()
    };
    let ok = cli(Some("change-me-example-token"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let refused = cli(None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("authentication required"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Status and the wallboard: supervisor yes, operator and auditor no, nobody without credentials.
    for path in ["/status", "/wallboard"] {
        assert_eq!(d.request("GET", path, None).unwrap().code, 401, "{path}");
        for (t, want) in [
            (OPERATOR_TOKEN, 403),
            (AUDITOR_TOKEN, 403),
            (SUPERVISOR_TOKEN, 200),
        ] {
            let r = d.request("GET", path, Some(&bearer(t))).unwrap();
            assert_eq!(r.code, want, "{path} as {t}: {r:?}");
        }
    }
    // A browser logs in with Basic (the example admin, argon2 PHC hash in deploy/hotlined.toml).
    let board = d.request("GET", "/wallboard", Some(&admin_auth())).unwrap();
    assert_eq!(board.code, 200);
    assert!(board.body.contains("12345 实时监控"), "{}", board.body);
    // On a loopback listener the probes stay open.
    for path in ["/metrics", "/healthz"] {
        assert_eq!(d.request("GET", path, None).unwrap().code, 200, "{path}");
    }
    // The ticket API is behind the same accounts.
    assert_eq!(d.request("GET", "/api/tickets", None).unwrap().code, 401);
    assert_eq!(
        d.request("GET", "/api/tickets", Some(&bearer(AUDITOR_TOKEN)))
            .unwrap()
            .code,
        403
    );

    // Every refusal is in the access log under the account that tried; the auditor reads it.
    let r = d
        .request(
            "GET",
            "/api/access-log?denied=true",
            Some(&bearer(AUDITOR_TOKEN)),
        )
        .unwrap();
    assert_eq!(r.code, 200, "{r:?}");
    let log: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let rows: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["what"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("op-1001", "POST /admin/reload"),
        ("sup", "POST /admin/reload"),
        ("op-1001", "GET /status"),
        ("audit", "GET /wallboard"),
        ("audit", "list tickets"),
    ] {
        assert!(
            rows.iter().any(|(a, w)| (a.as_str(), w.as_str()) == want),
            "{want:?} not in {rows:?}"
        );
    }
    assert_eq!(rows.len(), 7, "{rows:?}");
    // The operator may not read the log.
    assert_eq!(
        d.request("GET", "/api/access-log", Some(&bearer(OPERATOR_TOKEN)))
            .unwrap()
            .code,
        403
    );
}

#[test]
fn admin_port_speaks_https_with_the_configured_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let tls = TlsFiles::generate(certs.path());
    let client = tls.client();
    // Daemon::start waits for /healthz over HTTPS: it only returns once TLS works.
    let d = Daemon::start(Options {
        tls: Some(tls),
        ..Options::default()
    });
    let r = d.request("GET", "/status", Some(&admin_auth())).unwrap();
    assert_eq!(r.code, 200, "{r:?}");
    let st: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(st["calls"]["active"].is_number(), "{st}");
    let r = d
        .request("GET", "/api/tickets", Some(&admin_auth()))
        .unwrap();
    assert_eq!((r.code, r.body.trim()), (200, "[]"));
    assert_eq!(d.request("GET", "/status", None).unwrap().code, 401);

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = TcpStream::connect(d.admin).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );

    // A client that does not trust the certificate stops at the handshake.
    let untrusting = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    );
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(untrusting, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, TcpStream::connect(d.admin).unwrap());
    let err = s
        .write_all(b"GET /healthz HTTP/1.0\r\n\r\n")
        .and_then(|_| s.flush());
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    assert!(err.is_err() || read.is_err(), "handshake must fail");
    drop(client);
}

/// Run the binary on a config and return (exit code, stderr); it must exit on its own.
fn run_refused(opts: Options) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _, _) = support::write_config(&opts, dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotlined"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("hotlined kept running on {}", cfg.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refuses_to_start_off_loopback_with_the_example_secret_or_without_tls() {
    let certs = tempfile::tempdir().unwrap();
    let off_loopback = || Options {
        // Never bound: the config is refused before any socket opens.
        admin_listen: Some("0.0.0.0:0".into()),
        tls: Some(TlsFiles::generate(certs.path())),
        ..Options::default()
    };
    // The example admin account's password is the example secret.
    let (code, err) = run_refused(off_loopback());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("admin.accounts[0].password_hash")
            && err.contains("change-me-example-token")
            && err.contains("0.0.0.0:0"),
        "{err}"
    );
    // The old shared example token.
    let (code, err) = run_refused(Options {
        tickets_extra: "api_token = \"change-me-example-token\"".into(),
        ..off_loopback()
    });
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("tickets.api_token") && err.contains("change-me-example-token"),
        "{err}"
    );
    // Plain HTTP off loopback.
    let (code, err) = run_refused(Options {
        tls: None,
        ..off_loopback()
    });
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("admin.tls_cert"), "{err}");
}
