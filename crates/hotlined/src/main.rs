//! `hotlined`: the 12345 hotline daemon and its operator commands.
//!
//! ```text
//! hotlined run   --config deploy/hotlined.toml
//! hotlined check --dialplan dialplans/jiujiang          (like `nginx -t`: exit 1 on error)
//! hotlined route --dialplan dialplans/jiujiang --to 12345 --diversion 12315 --at 2021-10-09T10:00:00+08:00
//! hotlined reload --admin 127.0.0.1:8080 --user admin   (same as SIGHUP; password in HOTLINED_ADMIN_PASSWORD)
//! hotlined drain --admin 127.0.0.1:8080 --user admin    (same as SIGUSR1: finish the calls up, then exit 0)
//! hotlined hash-password < password.txt                  (the PHC string for [[admin.accounts]] password_hash)
//! hotlined new-token                                     (an API token and its token_sha256)
//! hotlined staffing --queue general --from 2025-03-03T00:00:00+08:00 --to 2025-03-04T00:00:00+08:00
//! ```

/// mimalloc instead of glibc's malloc: glibc keeps what a burst of finished transactions freed
/// (RSS stays at its peak) and its per-thread arenas fragment under a load of small, short-lived
/// messages; see docs/load.md for the figures.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod acd_task;
mod admin;
mod admin_tls;
mod admission;
mod call_quality;
mod call_task;
mod callback_task;
mod clock;
mod consult;
mod daemon;
mod env;
mod features;
mod handover;
mod i18n;
mod intake;
mod kpi_page;
mod leg_events;
mod legs;
mod mailbox;
mod metrics_names;
mod operators_api;
mod plans;
mod registry;
mod respond;
mod seats;
mod selfquery;
mod service_level;
mod staffing;
mod stats;
mod timers;
mod tls;
mod trunk_legs;
mod trunk_probe;
mod trunks;
mod wallboard;

// The configuration is the library target's, so the fuzz targets parse it exactly as the daemon does.
use hotlined::config;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hotlined",
    version,
    about = "12345 hotline call-routing daemon"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon.
    Run {
        #[arg(long, default_value = "deploy/hotlined.toml")]
        config: PathBuf,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
    },
    /// Check a dial plan (syntax and meaning) without running anything. Exit 1 on error.
    Check {
        /// Plan directory; defaults to the one in --config.
        #[arg(long)]
        dialplan: Option<PathBuf>,
        #[arg(long, default_value = "deploy/hotlined.toml")]
        config: PathBuf,
    },
    /// Say what a call would do, as JSON (a dry run of the routing).
    Route {
        #[arg(long)]
        dialplan: PathBuf,
        /// Called number (Request-URI user).
        #[arg(long)]
        to: String,
        /// Original called number from Diversion / History-Info.
        #[arg(long)]
        diversion: Option<String>,
        /// Caller number.
        #[arg(long)]
        from: Option<String>,
        /// When (RFC 3339, e.g. 2021-10-09T10:00:00+08:00); default now.
        #[arg(long)]
        at: Option<String>,
        /// DTMF digits pressed so far.
        #[arg(long, default_value = "")]
        digits: String,
    },
    /// Ask a running daemon to reload its dial plan (same as SIGHUP). Credentials: HOTLINED_ADMIN_TOKEN
    /// (Bearer), or --user with the password in HOTLINED_ADMIN_PASSWORD.
    Reload {
        #[arg(long, default_value = "127.0.0.1:8080")]
        admin: String,
        /// Center-administrator account for HTTP Basic.
        #[arg(long)]
        user: Option<String>,
    },
    /// Drain a running daemon for a restart (same as SIGUSR1): new calls and the balancer's OPTIONS get 503,
    /// the calls up finish, then it exits 0. Credentials as for `reload`.
    Drain {
        #[arg(long, default_value = "127.0.0.1:8080")]
        admin: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Read a password from stdin (first line) and print its argon2id PHC string for `password_hash`.
    HashPassword,
    /// Print a new random API token and the `token_sha256` that goes in the config (keep the token, not the file).
    NewToken,
    /// Operators needed per interval for a queue, from the measured calls (Erlang C for the service level,
    /// Erlang A for the answer rate), next to how many were logged in.
    Staffing {
        #[arg(long, default_value = "deploy/hotlined.toml")]
        config: PathBuf,
        /// The database to read; defaults to the one in --config.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value = "general")]
        queue: String,
        /// Start (RFC 3339, e.g. 2025-03-03T00:00:00+08:00); intervals are shown in its offset.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 30)]
        interval_min: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { config, json_logs } => {
            init_logs(json_logs);
            // A panic in any task (a bug) must not leave a daemon that looks alive but no longer reads its
            // socket: log it and abort, so the supervisor (systemd) restarts us and ops see why.
            let default_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                tracing::error!("panic: {info}; aborting so the supervisor restarts hotlined");
                default_hook(info);
                std::process::abort();
            }));
            let cfg = match config::Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("hotlined: {e:#}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("hotlined")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("hotlined: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            match rt.block_on(daemon::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("hotlined: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Check { dialplan, config } => {
            let dir = match dialplan {
                Some(d) => d,
                None => match config::Config::load(&config) {
                    Ok(c) => c.dialplan.dir,
                    Err(e) => {
                        eprintln!("hotlined: {e:#}");
                        return ExitCode::from(2);
                    }
                },
            };
            let (report, code) = dialplan::check_command(&dir);
            // `| head` closes the pipe early: not an error worth a panic.
            let _ = write!(std::io::stdout(), "{report}");
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Cmd::Route {
            dialplan,
            to,
            diversion,
            from,
            at,
            digits,
        } => match dialplan::route_command(
            &dialplan,
            &to,
            diversion.as_deref(),
            from.as_deref(),
            at.as_deref(),
            &digits,
        ) {
            Ok(json) => {
                let _ = writeln!(std::io::stdout(), "{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Cmd::Staffing {
            config,
            database_url,
            queue,
            from,
            to,
            interval_min,
        } => staffing_command(config, database_url, &queue, &from, &to, interval_min),
        Cmd::HashPassword => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut line) {
                eprintln!("hotlined: reading the password from stdin: {e}");
                return ExitCode::from(1);
            }
            let password = line.trim_end_matches(['\r', '\n']);
            if password.chars().count() < 12 {
                eprintln!("hotlined: password shorter than 12 characters; choose a longer one");
                return ExitCode::from(1);
            }
            match access::hash_password(password) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hotlined: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::NewToken => {
            let token = access::new_token();
            println!("token        = {token}");
            println!("token_sha256 = \"{}\"", access::token_sha256(&token));
            ExitCode::SUCCESS
        }
        Cmd::Drain { admin, user } => {
            match admin::post_admin(&admin, "/admin/drain", reload_auth(user).as_deref()) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hotlined: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Reload { admin, user } => {
            match admin::post_reload(&admin, reload_auth(user).as_deref()) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hotlined: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The `Authorization` value for `hotlined reload`, from the environment (never a command-line secret: `ps`
/// shows arguments).
fn reload_auth(user: Option<String>) -> Option<String> {
    use base64::Engine;
    if let Ok(t) = std::env::var("HOTLINED_ADMIN_TOKEN") {
        return Some(format!("Bearer {t}"));
    }
    let user = user?;
    let pw = std::env::var("HOTLINED_ADMIN_PASSWORD").unwrap_or_default();
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    ))
}

fn staffing_command(
    config: PathBuf,
    database_url: Option<String>,
    queue: &str,
    from: &str,
    to: &str,
    interval_min: u32,
) -> ExitCode {
    let run = || -> anyhow::Result<String> {
        let cfg = config::Config::load(&config)?;
        let parse = |name: &str, v: &str| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map_err(|e| anyhow::anyhow!("--{name} {v:?}: not an RFC 3339 time ({e})"))
        };
        let (from, to) = (parse("from", from)?, parse("to", to)?);
        let threshold_s = cfg
            .queues
            .iter()
            .find(|q| q.name == queue)
            .and_then(|q| q.service_level_s)
            .unwrap_or(cfg.calls.service_level_s) as f64;
        let targets = staffing::Targets {
            threshold_s,
            service_level: cfg.acd.service_level_target,
            answer_rate: cfg.acd.answer_rate_target,
            wrap_up_s: cfg.calls.wrap_up_s as f64,
        };
        let url = database_url.unwrap_or(cfg.tickets.database_url);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(staffing::command(
            &url,
            queue,
            from,
            to,
            interval_min,
            targets,
        ))
    };
    match run() {
        Ok(text) => {
            let _ = write!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hotlined: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logs(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
}
