//! The daemon's life: start-up checks, start, readiness, signals, reload, drain, stop.
//!
//! Owns the order in which components come up and go down. Start: checks (FUSE, data
//! directory, mount point, ports), state, mount, listeners, then `endpoints.json` and
//! READY=1 once the mount answers and the S3 port accepts. SIGHUP: reload what can change
//! without a restart (the TLS certificate included, re-read every time) and say what
//! cannot. SIGTERM/SIGINT: STOPPING=1, stop accepting, drain
//! in-flight requests within the deadline, unmount (lazily if busy, saying so), close the
//! state, exit 0; a second signal during the drain cuts the requests, unmounts (lazily if
//! busy) and returns [`Error::StoppedAtOnce`] (exit 1).
//!
//! Invariants: `endpoints.json` exists only while the daemon serves (it is written after
//! readiness is verified and removed on a clean stop); nothing is mounted when start-up
//! fails after the mount step (the `Mounted` is dropped on the way out, and its drop
//! unmounts); every stop returns to `main`, never exits the process from here, so every
//! `Drop` runs.

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
use crate::config::{Config, Overrides, Reloaded};
use crate::doors::{self, S3Door};
use crate::error::{Error, Result};
use crate::logging::LogHandle;
use crate::metrics::Metrics;
use crate::notify;
use crate::observe::RequestObserver;
use crate::state::State;
use crate::status::{FuseFeatures, Places, StatusSource};

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
    /// The S3 port's certificate, read before anything is mounted.
    tls: Option<weka_s3::tls::TlsCerts>,
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

    /// Waits for the next signal.
    async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
        }
    }

    /// Waits for a stop request (SIGHUP is ignored while stopping).
    async fn next_stop(&mut self) {
        while self.next().await == Request::Reload {}
    }
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
}

/// Everything the running daemon holds.
struct Service {
    config: Config,
    reload: Reload,
    metrics: Arc<Metrics>,
    access_log: Arc<AccessLog>,
    status: Arc<StatusSource>,
    state: State,
    mounted: Option<weka_fs::fuse::Mounted>,
    s3: S3Door,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    endpoints_file: PathBuf,
}

/// Runs the daemon until it is told to stop.
pub async fn run(config: Config, reload: Reload) -> Result<()> {
    let mut signals = Signals::install()?;
    let listeners = preflight(&config)?;
    let mut service = start(config, reload, listeners).await?;
    while signals.next().await == Request::Reload {
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
    let fixed = &config.fixed;
    checks::data_dir_usable(&fixed.data)?;
    create_state_dir(&fixed.state)?;
    let tls = doors::load_tls(config)?;
    if checks::prepare_mountpoint(&fixed.mount)? == checks::MountpointState::ClearedStale {
        tracing::info!(mount = %fixed.mount.display(), "cleared the stale mount; mounting afresh");
    }
    let s3 = checks::bind(fixed.s3_listen, "S3", "s3.listen or --s3-listen")?;
    let metrics = match fixed.metrics.enabled {
        true => Some(checks::bind(
            fixed.metrics.listen,
            "metrics",
            "metrics.listen or --metrics-listen",
        )?),
        false => None,
    };
    Ok(Listeners { s3, metrics, tls })
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
    let access_log = Arc::new(AccessLog::open(&config.live.access_log).map_err(|e| {
        Error::check(
            format!(
                "cannot open the access log {:?}: {e}",
                config.live.access_log
            ),
            "fix s3.access_log (\"off\", \"stderr\" or a writable absolute path)",
        )
    })?);
    let s3_addr = local_addr(&listeners.s3)?;
    let metrics_addr = listeners.metrics.as_ref().map(local_addr).transpose()?;
    let state = State::open(&config.fixed)?;
    let counts = Some(Arc::new(state.clone()) as Arc<dyn crate::status::Counts>);
    let scheme = config.fixed.scheme.as_str();
    let status = Arc::new(StatusSource::new(
        places(&config, format!("{scheme}://{s3_addr}"), metrics_addr),
        metrics.clone(),
        counts,
    ));
    let mounted = doors::mount(&config, &state, &metrics)?;
    status.set_fuse_features(fuse_features(&mounted));
    let observer = Arc::new(RequestObserver {
        metrics: metrics.clone(),
        access_log: access_log.clone(),
    });
    let (shutdown, _) = watch::channel(false);
    let mut service = Service {
        endpoints_file: config.fixed.state.join("endpoints.json"),
        s3: S3Door::new(listeners.s3, state.clone(), observer, listeners.tls),
        config,
        reload,
        metrics,
        access_log,
        status,
        state,
        mounted: Some(mounted),
        shutdown,
        tasks: JoinSet::new(),
    };
    service.spawn_listeners(listeners.metrics)?;
    service.verify_serving(s3_addr).await?;
    service.announce(s3_addr, metrics_addr)?;
    Ok(service)
}

fn local_addr(l: &std::net::TcpListener) -> Result<SocketAddr> {
    l.local_addr().map_err(|e| Error::component("listener", e))
}

fn fuse_features(mounted: &weka_fs::fuse::Mounted) -> FuseFeatures {
    FuseFeatures {
        passthrough: mounted.passthrough_active(),
        io_uring: mounted.io_uring_active(),
    }
}

fn places(config: &Config, s3_url: String, metrics: Option<SocketAddr>) -> Places {
    let show = |p: &Path| p.display().to_string();
    let fixed = &config.fixed;
    Places {
        data: show(&fixed.data),
        mount: show(&fixed.mount),
        state: show(&fixed.state),
        socket: show(&fixed.socket),
        s3: Some(s3_url),
        metrics: metrics.map(|a| a.to_string()),
    }
}

impl Service {
    fn spawn_listeners(&mut self, metrics: Option<std::net::TcpListener>) -> Result<()> {
        if let Some(l) = metrics {
            let l = tokio::net::TcpListener::from_std(l)
                .map_err(|e| Error::component("metrics listener", e))?;
            self.tasks.spawn(crate::metrics::serve(
                l,
                self.metrics.clone(),
                self.shutdown.subscribe(),
            ));
        }
        self.s3.start(&self.config.live, &mut self.tasks)?;
        doors::control(
            &self.config,
            &self.state,
            self.status.clone(),
            self.shutdown.subscribe(),
            &mut self.tasks,
        )
    }

    /// READY only when the mount answers a stat and the S3 port accepts a connection.
    async fn verify_serving(&self, s3: SocketAddr) -> Result<()> {
        tokio::net::TcpStream::connect(s3)
            .await
            .map_err(|e| Error::component("S3 listener self-check", e))?;
        let mount = self.config.fixed.mount.clone();
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
        let s3_url = format!("{}://{s3}", self.s3.scheme());
        let fixed = &self.config.fixed;
        let endpoints = serde_json::json!({
            "s3": s3.to_string(),
            "s3_url": s3_url,
            "metrics": metrics.map(|a| a.to_string()),
            "mount": fixed.mount,
            "socket": fixed.socket,
            "data": fixed.data,
            "state": fixed.state,
            "pid": std::process::id(),
        });
        write_atomically(&self.endpoints_file, endpoints.to_string().as_bytes())
            .map_err(|e| Error::component("writing endpoints.json", e))?;
        let features = self.mounted.as_ref().map(fuse_features);
        let passthrough = match features.is_some_and(|f| f.passthrough) {
            true => "FUSE passthrough active",
            false => "FUSE passthrough not available: reads and writes go through the daemon",
        };
        let transport = match features.is_some_and(|f| f.io_uring) {
            true => "requests over io_uring",
            false => "requests over /dev/fuse",
        };
        let line = format!(
            "serving {} on {} and S3 on {s3_url} ({passthrough}; {transport})",
            self.config.fixed.data.display(),
            self.config.fixed.mount.display()
        );
        tracing::info!("{line}");
        notify::ready(&line);
        self.spawn_heartbeat();
        Ok(())
    }

    /// Pings the watchdog (when systemd asked for it) and refreshes the STATUS= line. The
    /// task is detached, not part of the drain: it keeps pinging while in-flight requests
    /// finish, and ends with the process.
    fn spawn_heartbeat(&self) {
        let watchdog = notify::watchdog_interval();
        if let Some(every) = watchdog {
            tracing::info!(interval = ?every, "systemd watchdog enabled");
        }
        let every = watchdog.map_or(STATUS_EVERY, |w| w.min(STATUS_EVERY));
        let mount = self.config.fixed.mount.clone();
        let status = self.status.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut last_status = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                if watchdog.is_some() {
                    watchdog_ping(&mount);
                }
                if last_status.elapsed() >= STATUS_EVERY {
                    notify::status(&status_line(&status.snapshot()));
                    last_status = tokio::time::Instant::now();
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

    /// The one place a reload takes effect: the new live settings replace the running ones
    /// and each is applied; changed fixed settings are named as needing a restart.
    fn apply(&mut self, new: Config) {
        let Reloaded {
            live,
            needs_restart,
        } = self.config.reloaded(new);
        let running = std::mem::replace(&mut self.config.live, live);
        let live = &self.config.live;
        match self.reload.log.set(&live.log_level) {
            Ok(Some(note)) => tracing::info!("log level: {note}"),
            Ok(None) => tracing::info!(level = live.log_level.as_str(), "log level reloaded"),
            Err(e) => tracing::warn!(error = %e, "could not reload the log level"),
        }
        match self.access_log.reopen(&live.access_log) {
            Ok(()) => tracing::info!(target = ?live.access_log, "access log reopened"),
            Err(e) => {
                tracing::warn!(error = %e, "could not reopen the access log; keeping the old one")
            }
        }
        for what in needs_restart {
            tracing::warn!("{what} changed but cannot be reloaded; restart wekad to apply it");
        }
        self.s3.reload_tls(live.tls.as_ref());
        if live.restarts_s3(&running) {
            match self.s3.start(live, &mut self.tasks) {
                Ok(()) => tracing::info!("S3 settings reloaded (anonymous owner, virtual-host domains, region, drain deadline, sts.allow_plaintext)"),
                Err(e) => tracing::error!("could not apply the new S3 settings; the previous S3 server keeps serving: {e}"),
            }
        }
    }

    /// Drains and stops every component.
    async fn stop(mut self, signals: &mut Signals) -> Result<()> {
        notify::stopping("stopping: draining in-flight requests");
        let deadline = self.config.live.drain_deadline;
        tracing::info!(
            ?deadline,
            "stopping: no new requests; draining in-flight ones"
        );
        // Receivers may all be gone already; then there is nothing left to tell.
        let _ = self.shutdown.send(true);
        self.s3.stop();
        let stats = self.mounted.as_ref().map(|m| m.stats());
        let open_files = move || stats.as_ref().map(|s| s.open_files()).unwrap_or(0);
        let drained = tokio::select! {
            d = tokio::time::timeout(deadline, drain(&mut self.tasks, open_files)) => d.is_ok(),
            () = signals.next_stop() => {
                tracing::warn!("second stop signal: stopping at once");
                self.tasks.abort_all();
                self.finish();
                return Err(Error::StoppedAtOnce);
            }
        };
        if !drained {
            tracing::warn!(
                ?deadline,
                "drain deadline passed; cutting the remaining requests"
            );
            self.tasks.abort_all();
        }
        self.finish();
        tracing::info!("stopped");
        Ok(())
    }

    /// Unmounts, removes endpoints.json and the socket; the IAM store closes when dropped.
    fn finish(&mut self) {
        if let Some(mounted) = self.mounted.take() {
            notify::status("stopping: unmounting");
            unmount(mounted);
        }
        for file in [&self.endpoints_file, &self.config.fixed.socket] {
            if let Err(e) = std::fs::remove_file(file) {
                tracing::debug!(file = %file.display(), error = %e, "already gone");
            }
        }
    }
}

/// How often the STATUS= line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(30);

/// One watchdog ping, unless the mount vanished (then systemd should restart us).
fn watchdog_ping(mount: &Path) {
    if checks::is_mounted(mount) {
        notify::watchdog();
    } else {
        tracing::error!(mount = %mount.display(), "the mount is gone; not pinging the watchdog");
    }
}

/// `systemctl status` line: traffic since start.
fn status_line(s: &weka::api::Status) -> String {
    let count = |k: &str| s.counters.get(k).copied().unwrap_or(0);
    format!(
        "serving: {} S3 requests ({} client errors, {} server errors), {} FUSE operations, passthrough {}, io_uring {}",
        count("s3_requests"),
        count("s3_client_errors"),
        count("s3_server_errors"),
        count("fuse_operations"),
        if s.passthrough { "on" } else { "off" },
        if s.io_uring { "on" } else { "off" },
    )
}

/// Waits for every task (S3 generations, control, metrics) to finish and for the files
/// open on the mount to be closed, so in-flight FUSE reads and writes complete too.
async fn drain(tasks: &mut JoinSet<()>, open_files: impl Fn() -> u64) {
    while tasks.join_next().await.is_some() {}
    let mut logged = false;
    loop {
        let open = open_files();
        if open == 0 {
            return;
        }
        if !logged {
            tracing::info!(open, "waiting for files open on the mount to be closed");
            logged = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Unmounts; the adapter detaches lazily when the mount is busy and says so. A second
/// signal takes the same path: `umount` returns at once either way (EBUSY, then the lazy
/// detach), and only after a clean unmount does the session loop get joined, which the
/// kernel has ended by then.
fn unmount(mounted: weka_fs::fuse::Mounted) {
    let mount = mounted.mountpoint().to_path_buf();
    match mounted.unmount() {
        Ok(()) => tracing::info!(mount = %mount.display(), "unmounted"),
        Err(e) => {
            tracing::error!(mount = %mount.display(), error = %e, "could not unmount; run `fusermount3 -u -z` on it")
        }
    }
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
    fn endpoints_are_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoints.json");
        write_atomically(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert!(!dir.path().join("endpoints.tmp").exists());
    }
}
