//! `hotlined`: the 12345 hotline daemon and its operator commands.
//!
//! ```text
//! hotlined run   --config deploy/hotlined.toml
//! hotlined check --dialplan dialplans/jiujiang          (like `nginx -t`: exit 1 on error)
//! hotlined route --dialplan dialplans/jiujiang --to 12345 --diversion 12315 --at 2021-10-09T10:00:00+08:00
//! hotlined reload --admin 127.0.0.1:8080                 (same as SIGHUP)
//! ```

mod acd_config;
mod acd_task;
mod admin;
mod admission;
mod call_task;
mod clock;
mod config;
mod daemon;
mod env;
mod features;
mod intake;
mod legs;
mod mailbox;
mod metrics_names;
mod operators_api;
mod plans;
mod registry;
mod respond;
mod seats;
mod service_level;
mod stats;
mod timers;
mod wallboard;

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
    /// Ask a running daemon to reload its dial plan (same as SIGHUP).
    Reload {
        #[arg(long, default_value = "127.0.0.1:8080")]
        admin: String,
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
        Cmd::Reload { admin } => match admin::post_reload(&admin) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("hotlined: {e:#}");
                ExitCode::from(1)
            }
        },
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
