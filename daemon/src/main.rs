//! wekad: one POSIX directory tree served through a FUSE mount and over S3.
//!
//! This file owns the process boundary: command-line parsing, configuration loading,
//! logging set-up, the tokio runtime, and the translation of errors into exit codes (78 for
//! invalid configuration, 1 for any other failure or a stop cut short by a second signal,
//! 0 after a clean stop). The process ends only by returning from `main`. Everything else
//! lives in modules: `config` (options), `checks` (start-up checks), `lifecycle` (start,
//! serve, drain, stop), `metrics`, `access_log`, `status`, `notify` (systemd).

mod access_log;
mod checks;
mod config;
mod control;
mod doors;
mod error;
mod lifecycle;
mod logging;
mod metrics;
mod notify;
mod observe;
mod state;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use config::{Config, Overrides};

/// wekad serves one directory tree through a FUSE mount and over S3 at the same time.
///
/// Flags override the configuration file. Exit status: 0 after a clean stop, 78 when the
/// configuration is invalid, 1 when start-up fails (the message says what to fix).
#[derive(Debug, Parser)]
#[command(name = "wekad", version, args_override_self = true)]
struct Cli {
    /// TOML configuration file (every option: systemd/wekad.toml).
    #[arg(long, env = "WEKAD_CONFIG")]
    config: Option<PathBuf>,
    /// Backing directory served by both doors [default: ./wekad-data/data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// FUSE mount point [default: ./wekad-data/mnt].
    #[arg(long)]
    mount: Option<PathBuf>,
    /// State directory: IAM database, server key, endpoints.json [default: ./wekad-data/state].
    #[arg(long)]
    state: Option<PathBuf>,
    /// Control socket for `weka` [default: /run/wekad/wekad.sock for root].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// S3 listen address [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR")]
    s3_listen: Option<String>,
    /// PEM certificate chain for HTTPS on the S3 port (needs --s3-tls-key).
    #[arg(long, value_name = "FILE")]
    s3_tls_cert: Option<PathBuf>,
    /// PEM private key of --s3-tls-cert.
    #[arg(long, value_name = "FILE")]
    s3_tls_key: Option<PathBuf>,
    /// Prometheus metrics listen address [default: 127.0.0.1:9100].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Log level or filter (RUST_LOG, when set, wins) [default: info].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides {
            data: self.data.clone(),
            state: self.state.clone(),
            mount: self.mount.clone(),
            socket: self.socket.clone(),
            s3_listen: self.s3_listen.clone(),
            s3_tls_cert: self.s3_tls_cert.clone(),
            s3_tls_key: self.s3_tls_key.clone(),
            metrics_listen: self.metrics_listen.clone(),
            log_level: self.log_level.clone(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = cli.overrides();
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wekad: invalid configuration: {e}");
            return ExitCode::from(error::EX_CONFIG);
        }
    };
    let log = logging::init(&config.live.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wekad")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wekad: cannot start the async runtime: {e}");
            return ExitCode::from(error::EX_FAILURE);
        }
    };
    let reload = lifecycle::Reload {
        config_file: cli.config,
        overrides,
        log,
    };
    match runtime.block_on(lifecycle::run(config, reload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Whatever still runs was cut (a second stop signal) or belongs to a start that
            // failed; a blocking task may be stuck on a wedged disk or mount, so do not wait
            // for it. Everything that must be undone (the mount) was dropped in `run`.
            runtime.shutdown_background();
            tracing::error!("{e}");
            eprintln!("wekad: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
