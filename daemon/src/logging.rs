//! Logging: `tracing` to stderr (the journal under systemd), filter reloadable on SIGHUP.
//!
//! Invariants: `RUST_LOG`, when set, wins over the configured level at start and on reload,
//! so an operator debugging with RUST_LOG is never silently overridden. Whatever the level
//! or RUST_LOG, libraries that see raw requests never reach the log: s3s (it logs request
//! bodies, Authorization headers, session tokens and whole responses, AssumeRole's secret
//! key included, at error and debug levels) is dropped entirely, and the HTTP and TLS
//! libraries (hyper, h2, rustls) above `info`. The S3 server logs one line per refused or
//! failed request instead. Our own code never logs bodies or credentials (`skip_all` on
//! spans).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::LogLevel;

/// Handle to change the log filter at run time.
pub struct LogHandle {
    handle: reload::Handle<EnvFilter, Registry>,
}

/// Installs the global subscriber with `level` (or `RUST_LOG`).
pub fn init(level: &LogLevel) -> LogHandle {
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A subscriber may already be installed (never in the binary); logging then goes there.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::filter::filter_fn(may_log))
        .with(fmt)
        .try_init();
    LogHandle { handle }
}

/// Targets whose events may carry request bodies or credentials (see the module doc).
fn may_log(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    let is = |name: &str| {
        target == name
            || target
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with("::"))
    };
    if is("s3s") {
        return false;
    }
    let wire = is("hyper") || is("hyper_util") || is("h2") || is("rustls") || is("tokio_rustls");
    !(wire && *meta.level() > tracing::Level::INFO)
}

fn filter_for(level: &LogLevel) -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::builder().parse_lossy(env),
        _ => EnvFilter::builder().parse_lossy(level.as_str()),
    }
}

impl LogHandle {
    /// Applies a new level; returns a note when RUST_LOG pins the filter instead.
    pub fn set(&self, level: &LogLevel) -> Result<Option<&'static str>, String> {
        self.handle
            .reload(filter_for(level))
            .map_err(|e| e.to_string())?;
        let pinned = std::env::var("RUST_LOG").is_ok_and(|v| !v.is_empty());
        Ok(pinned.then_some("RUST_LOG is set and wins over log_level"))
    }
}
