//! The daemon's life: start-up checks, start, readiness, signals, reload, drain, stop.
//!
//! Owns the order in which components come up and go down. Start: checks (FUSE, data
//! directory, mount point, ports), state, mount, listeners, then `endpoints.json` and
//! READY=1 once the mount answers and the S3 port accepts. SIGHUP: reload what can change
//! without a restart and say what cannot. SIGTERM/SIGINT: STOPPING=1, stop accepting, drain
//! in-flight requests within the deadline, unmount (lazily if busy, saying so), close the
//! state, exit 0; a second signal during the drain stops at once.
//!
//! Invariants: `endpoints.json` exists only while the daemon serves (it is written after
//! readiness is verified and removed on a clean stop); nothing is mounted when start-up
//! fails after the mount step.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::access_log::AccessLog;
use crate::checks;
use crate::config::{Config, Overrides};
use crate::error::{Error, Result};
use crate::logging::LogHandle;
use crate::metrics::Metrics;
use crate::notify;
use crate::state::State;
use crate::status::{Places, StatusSource};

/// What SIGHUP needs to re-read the configuration.
pub struct Reload {
    pub config_file: Option<PathBuf>,
    pub overrides: Overrides,
    pub log: LogHandle,
}

/// The listeners bound during the checks (so a busy port fails before anything is mounted).
struct Listeners {
    s3: std::net::TcpListener,
    metrics: Option<std::net::TcpListener>,
}

/// The signals the daemon reacts to, installed before anything slow happens.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        let install = |kind| signal(kind).map_err(|e| Error::component("signal handlers", e));
        Ok(Signals {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
            hup: install(SignalKind::hangup())?,
        })
    }

    /// Waits for the next signal; true for a stop request, false for SIGHUP.
    async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.term.recv() => true,
            _ = self.int.recv() => true,
            _ = self.hup.recv() => false,
        }
    }

    /// Waits for a stop request (SIGHUP is ignored while stopping).
    async fn next_stop(&mut self) {
        while !self.next().await {}
    }
}

/// Everything the running daemon holds.
struct Service {
    config: Config,
    reload: Reload,
    metrics: Arc<Metrics>,
    access_log: Arc<AccessLog>,
    status: Arc<StatusSource>,
    state: State,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    endpoints_file: PathBuf,
}

/// Runs the daemon until it is told to stop.
pub async fn run(config: Config, reload: Reload) -> Result<()> {
    let mut signals = Signals::install()?;
    let listeners = preflight(&config)?;
    let mut service = start(config, reload, listeners).await?;
    loop {
        if signals.next().await {
            break;
        }
        service.reload();
    }
    service.stop(&mut signals).await
}

/// Start-up checks, in the order that fails cheapest first.
fn preflight(config: &Config) -> Result<Listeners> {
    match checks::raise_nofile_limit() {
        Ok(n) => tracing::debug!(nofile = n, "raised the open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    checks::fuse_available(&checks::fuse_device())?;
    checks::data_dir_usable(&config.data)?;
    create_state_dir(&config.state)?;
    if checks::prepare_mountpoint(&config.mount)? == checks::MountpointState::ClearedStale {
        tracing::info!(mount = %config.mount.display(), "cleared the stale mount; mounting afresh");
    }
    let s3 = checks::bind(config.s3.listen, "S3", "s3.listen or --s3-listen")?;
    let metrics = match config.metrics.enabled {
        true => Some(checks::bind(
            config.metrics.listen,
            "metrics",
            "metrics.listen or --metrics-listen",
        )?),
        false => None,
    };
    Ok(Listeners { s3, metrics })
}

fn create_state_dir(state: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state)
        .map_err(|e| {
            Error::check(
                format!("cannot create state directory {}: {e}", state.display()),
                "fix its permissions or choose another with --state",
            )
        })
}

/// Brings every component up and announces readiness.
async fn start(config: Config, reload: Reload, listeners: Listeners) -> Result<Service> {
    let metrics = Arc::new(Metrics::new());
    let access_log = Arc::new(AccessLog::open(&config.s3.access_log).map_err(|e| {
        Error::check(
            format!("cannot open the access log {:?}: {e}", config.s3.access_log),
            "fix s3.access_log (\"off\", \"stderr\" or a writable absolute path)",
        )
    })?);
    let s3_addr = local_addr(&listeners.s3)?;
    let metrics_addr = listeners.metrics.as_ref().map(local_addr).transpose()?;
    let state = State::open(&config)?;
    let places = places(&config, s3_addr, metrics_addr);
    let status = Arc::new(StatusSource::new(
        places,
        metrics.clone(),
        Some(Arc::new(state.clone())),
    ));
    let (shutdown, _) = watch::channel(false);
    let endpoints_file = config.state.join("endpoints.json");
    let mut service = Service {
        config,
        reload,
        metrics,
        access_log,
        status,
        state,
        shutdown,
        tasks: JoinSet::new(),
        endpoints_file,
    };
    service.spawn_listeners(listeners)?;
    service.verify_serving(s3_addr).await?;
    service.announce(s3_addr, metrics_addr)?;
    Ok(service)
}

fn local_addr(l: &std::net::TcpListener) -> Result<SocketAddr> {
    l.local_addr().map_err(|e| Error::component("listener", e))
}

fn places(config: &Config, s3: SocketAddr, metrics: Option<SocketAddr>) -> Places {
    let show = |p: &Path| p.display().to_string();
    Places {
        data: show(&config.data),
        mount: show(&config.mount),
        state: show(&config.state),
        socket: show(&config.socket),
        s3: Some(s3.to_string()),
        metrics: metrics.map(|a| a.to_string()),
    }
}

impl Service {
    fn spawn_listeners(&mut self, listeners: Listeners) -> Result<()> {
        if let Some(l) = listeners.metrics {
            let l = tokio::net::TcpListener::from_std(l)
                .map_err(|e| Error::component("metrics listener", e))?;
            self.tasks.spawn(crate::metrics::serve(
                l,
                self.metrics.clone(),
                self.shutdown.subscribe(),
            ));
        }
        // The S3 listener is bound (its port is reserved and reported) before the S3
        // service is attached to it.
        let s3 = tokio::net::TcpListener::from_std(listeners.s3)
            .map_err(|e| Error::component("S3 listener", e))?;
        let mut stop = self.shutdown.subscribe();
        self.tasks.spawn(async move {
            let _keep = s3;
            let _ = stop.wait_for(|s| *s).await;
        });
        Ok(())
    }

    /// READY only when the mount answers a stat and the S3 port accepts a connection.
    async fn verify_serving(&self, s3: SocketAddr) -> Result<()> {
        tokio::net::TcpStream::connect(s3)
            .await
            .map_err(|e| Error::component("S3 listener self-check", e))?;
        let mount = self.config.mount.clone();
        let answered = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || std::fs::metadata(mount)),
        )
        .await;
        match answered {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err(e))) => Err(Error::component("mount self-check", e)),
            Ok(Err(e)) => Err(Error::component("mount self-check", e)),
            Err(_) => Err(Error::component(
                "mount self-check",
                "the mount did not answer a stat within 10 s",
            )),
        }
    }

    /// Writes endpoints.json, tells systemd READY=1, and starts the watchdog.
    fn announce(&mut self, s3: SocketAddr, metrics: Option<SocketAddr>) -> Result<()> {
        let endpoints = serde_json::json!({
            "s3": s3.to_string(),
            "metrics": metrics.map(|a| a.to_string()),
            "mount": self.config.mount,
            "socket": self.config.socket,
            "data": self.config.data,
            "state": self.config.state,
            "pid": std::process::id(),
        });
        write_atomically(&self.endpoints_file, endpoints.to_string().as_bytes())
            .map_err(|e| Error::component("writing endpoints.json", e))?;
        let line = format!(
            "serving {} on {} and S3 on http://{s3}",
            self.config.data.display(),
            self.config.mount.display()
        );
        tracing::info!("{line}");
        notify::ready(&line);
        self.spawn_watchdog();
        Ok(())
    }

    fn spawn_watchdog(&mut self) {
        let Some(every) = notify::watchdog_interval() else {
            return;
        };
        tracing::info!(interval = ?every, "systemd watchdog enabled");
        let mount = self.config.mount.clone();
        let mut stop = self.shutdown.subscribe();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                // A mount that vanished under us is not healthy: let systemd restart us.
                if checks::is_mounted(&mount) {
                    notify::watchdog();
                } else {
                    tracing::error!(mount = %mount.display(), "the mount is gone; not pinging the watchdog");
                }
            }
        });
    }

    /// SIGHUP: re-reads the configuration and applies what can change without a restart.
    fn reload(&mut self) {
        notify::reloading();
        match Config::load(self.reload.config_file.as_deref(), &self.reload.overrides) {
            Ok(new) => self.apply(new),
            Err(e) => tracing::error!(
                "configuration reload refused, keeping the running configuration: {e}"
            ),
        }
        notify::reloaded("configuration reloaded");
    }

    fn apply(&mut self, new: Config) {
        match self.reload.log.set(&new.log_level) {
            Ok(Some(note)) => tracing::info!("log level: {note}"),
            Ok(None) => tracing::info!(level = new.log_level.as_str(), "log level reloaded"),
            Err(e) => tracing::warn!(error = %e, "could not reload the log level"),
        }
        match self.access_log.reopen(&new.s3.access_log) {
            Ok(()) => tracing::info!(target = ?new.s3.access_log, "access log reopened"),
            Err(e) => {
                tracing::warn!(error = %e, "could not reopen the access log; keeping the old one")
            }
        }
        for what in needs_restart(&self.config, &new) {
            tracing::warn!("{what} changed but cannot be reloaded; restart wekad to apply it");
        }
        let old = std::mem::replace(&mut self.config, new);
        // Paths and listeners stay as started: the running values, not the file's, are true.
        self.config.data = old.data;
        self.config.state = old.state;
        self.config.mount = old.mount;
        self.config.socket = old.socket;
        self.config.s3.listen = old.s3.listen;
        self.config.metrics = old.metrics;
        self.config.fuse = old.fuse;
    }

    /// Drains and stops every component.
    async fn stop(mut self, signals: &mut Signals) -> Result<()> {
        notify::stopping("stopping: draining in-flight requests");
        tracing::info!(deadline = ?self.config.drain_deadline, "stopping: no new requests; draining in-flight ones");
        // Receivers may all be gone already; then there is nothing left to tell.
        let _ = self.shutdown.send(true);
        let drained = tokio::select! {
            d = tokio::time::timeout(self.config.drain_deadline, drain(&mut self.tasks)) => d.is_ok(),
            _ = signals.next_stop() => {
                tracing::warn!("second stop signal: stopping at once");
                self.tasks.abort_all();
                self.finish(true);
                std::process::exit(i32::from(crate::error::EX_FAILURE));
            }
        };
        if !drained {
            tracing::warn!(deadline = ?self.config.drain_deadline, "drain deadline passed; cutting the remaining requests");
            self.tasks.abort_all();
        }
        self.finish(false);
        tracing::info!("stopped");
        Ok(())
    }

    /// Unmounts and removes endpoints.json.
    fn finish(&mut self, at_once: bool) {
        unmount(&self.config.mount, at_once);
        if let Err(e) = std::fs::remove_file(&self.endpoints_file) {
            tracing::debug!(error = %e, "endpoints.json already gone");
        }
    }
}

async fn drain(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}

/// What changed between `old` and `new` that only a restart applies.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |changed: bool, what| {
        if changed {
            out.push(what);
        }
    };
    check(old.data != new.data, "data");
    check(old.state != new.state, "state");
    check(old.mount != new.mount, "mount");
    check(old.socket != new.socket, "socket");
    check(old.admin_group != new.admin_group, "admin_group");
    check(old.fuse != new.fuse, "[fuse]");
    check(old.s3.listen != new.s3.listen, "s3.listen");
    check(old.s3.sync != new.s3.sync, "s3.sync");
    check(
        old.s3.policy_max_bytes != new.s3.policy_max_bytes,
        "s3.policy_max_bytes",
    );
    check(old.metrics != new.metrics, "[metrics]");
    out
}

/// Unmounts `mount`; if it is busy (or we must hurry), detaches it lazily and says so.
fn unmount(mount: &Path, at_once: bool) {
    if !checks::is_mounted(mount) {
        return;
    }
    if !at_once && run_quiet("fusermount3", &["-u"], mount) {
        tracing::info!(mount = %mount.display(), "unmounted");
        return;
    }
    if checks::lazy_unmount(mount) {
        tracing::warn!(mount = %mount.display(), "mount busy: unmounted lazily; it disappears once the last open file on it is closed");
    } else {
        tracing::error!(mount = %mount.display(), "could not unmount; run `fusermount3 -u -z` on it");
    }
}

fn run_quiet(cmd: &str, args: &[&str], path: &Path) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_listen_address_needs_a_restart_but_the_log_level_does_not() {
        let old = Config::default();
        let mut new = old.clone();
        new.log_level = crate::config::LogLevel::parse("debug").unwrap();
        new.s3.anonymous_uid = 1;
        assert!(needs_restart(&old, &new).is_empty());
        new.s3.listen = "127.0.0.1:1".parse().unwrap();
        new.fuse.allow_other = true;
        assert_eq!(needs_restart(&old, &new), vec!["[fuse]", "s3.listen"]);
    }

    #[test]
    fn endpoints_are_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoints.json");
        write_atomically(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert!(!dir.path().join("endpoints.tmp").exists());
    }
}
