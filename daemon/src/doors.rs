//! The two doors and the control socket, started over the opened state: the FUSE mount, the
//! S3 listener (restartable in place for SIGHUP) and the control socket.
//!
//! Invariants: the S3 port never closes while the daemon runs. A reload builds a new S3
//! server generation on a duplicate of the same listening socket, starts it, and only then
//! tells the previous generation to stop accepting and drain, so no connection is refused
//! during a reload. Each generation is one task; stopping the door stops the current one.
//! With TLS, every generation serves the one [`TlsCerts`] the door holds; SIGHUP re-reads
//! its files in place, so a renewed certificate reaches the next connection of whichever
//! generation accepts it, and a bad pair leaves the current one serving.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use weka_fs::fuse::{MountOptions, Mounted};
use weka_fs::tree::Tree;
use weka_s3::server::{Observer, S3Config as ServerConfig, S3Server};
use weka_s3::tls::TlsCerts;

use crate::config::{Config, ConfigError, Live, TlsFiles};
use crate::control::{self, ControlContext};
use crate::error::{Error, Result};
use crate::metrics::{FuseSample, Metrics};
use crate::state::State;
use crate::status::StatusSource;

/// Mounts the tree and connects the adapter's counters to the metrics.
pub fn mount(config: &Config, state: &State, metrics: &Metrics) -> Result<Mounted> {
    let tree = Arc::new(Tree::new(state.root.clone()));
    let fixed = &config.fixed;
    let opts = MountOptions {
        allow_other: fixed.fuse.allow_other,
        threads: fixed.fuse.threads,
        passthrough: fixed.fuse.passthrough,
        io_uring: fixed.fuse.io_uring,
        fsname: format!("wekad:{}", fixed.data.display()),
    };
    let mounted = weka_fs::fuse::mount(tree, &fixed.mount, &opts).map_err(|e| {
        Error::check(
            format!("cannot mount on {}: {e}", fixed.mount.display()),
            "run wekad as root (or with CAP_SYS_ADMIN), check `fusermount3` works, and that the mount point is an empty directory",
        )
    })?;
    let stats = mounted.stats();
    metrics.set_fuse_source(Box::new(move || FuseSample {
        ops: stats
            .ops()
            .into_iter()
            .map(|o| (o.op, o.calls, o.errors))
            .collect(),
        open_handles: stats.open_files() + stats.open_dirs(),
    }));
    Ok(mounted)
}

/// Reads the configured TLS pair at start; an unusable one is a configuration error.
pub fn load_tls(config: &Config) -> Result<Option<TlsCerts>> {
    let Some(TlsFiles { cert, key }) = &config.live.tls else {
        return Ok(None);
    };
    TlsCerts::load(cert, key).map(Some).map_err(|e| {
        Error::Config(ConfigError::Tls {
            detail: e.to_string(),
        })
    })
}

/// An S3 server generation's settings, from the live configuration.
fn server_config(live: &Live, tls: Option<&TlsCerts>) -> ServerConfig {
    let s3 = &live.s3;
    ServerConfig {
        virtual_host_domains: s3.virtual_host_domains.clone(),
        anonymous_uid: s3.anonymous_uid,
        anonymous_gid: s3.anonymous_gid,
        tls: tls.cloned(),
        sts_allow_plaintext: s3.sts_allow_plaintext,
        region: s3
            .region
            .clone()
            .unwrap_or_else(|| ServerConfig::default().region),
        region_pinned: s3.region.is_some(),
    }
}

/// The S3 door: one listening socket, served by the current server generation.
pub struct S3Door {
    /// The listening socket; dropped on stop so the port closes once the last generation
    /// has stopped accepting.
    listener: Option<std::net::TcpListener>,
    state: State,
    observer: Arc<dyn Observer>,
    /// The served certificate when the port speaks TLS (fixed for the daemon's life).
    tls: Option<TlsCerts>,
    stop_current: Option<watch::Sender<bool>>,
}

impl S3Door {
    pub fn new(
        listener: std::net::TcpListener,
        state: State,
        observer: Arc<dyn Observer>,
        tls: Option<TlsCerts>,
    ) -> S3Door {
        S3Door {
            listener: Some(listener),
            state,
            observer,
            tls,
            stop_current: None,
        }
    }

    /// `https` when the port speaks TLS, `http` otherwise.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "https",
            None => "http",
        }
    }

    /// SIGHUP: re-reads the certificate and key named by `files`, for the next
    /// connection; an unusable pair is logged and the current one keeps serving.
    pub fn reload_tls(&self, files: Option<&TlsFiles>) {
        let (Some(certs), Some(TlsFiles { cert, key })) = (&self.tls, files) else {
            return;
        };
        match certs.reload(cert, key) {
            Ok(()) => {
                tracing::info!(cert = %cert.display(), key = %key.display(), "TLS certificate reloaded; new connections use it")
            }
            Err(e) => {
                tracing::warn!("could not reload the TLS certificate, keeping the current one: {e}")
            }
        }
    }

    /// Starts a server generation built from `live`, then retires the previous one.
    pub fn start(&mut self, live: &Live, tasks: &mut JoinSet<()>) -> Result<()> {
        let mut server = S3Server::new(
            server_config(live, self.tls.as_ref()),
            self.state.buckets.clone(),
        )
        .map_err(|e| {
            Error::check(
                format!("cannot start the S3 service: {e}"),
                "check the [s3] settings",
            )
        })?;
        server.set_observer(self.observer.clone());
        server.set_shutdown_grace(live.drain_deadline);
        let Some(master) = &self.listener else {
            return Err(Error::component("S3 listener", "already stopped"));
        };
        let dup = master
            .try_clone()
            .map_err(|e| Error::component("S3 listener", e))?;
        let listener = tokio::net::TcpListener::from_std(dup)
            .map_err(|e| Error::component("S3 listener", e))?;
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            // A dropped sender also means stop.
            let _ = stopped.wait_for(|s| *s).await;
        };
        tasks.spawn(async move {
            if let Err(e) = server.serve(listener, shutdown).await {
                tracing::error!(error = %e, "the S3 server stopped with an error");
            }
        });
        if let Some(previous) = self.stop_current.replace(stop) {
            // The previous generation may have ended already; then there is nobody to tell.
            let _ = previous.send(true);
        }
        Ok(())
    }

    /// Stops accepting; in-flight requests drain in the generation's task.
    pub fn stop(&mut self) {
        self.listener = None;
        if let Some(current) = self.stop_current.take() {
            let _ = current.send(true);
        }
    }
}

/// Binds the control socket and serves it until `shutdown`.
pub fn control(
    config: &Config,
    state: &State,
    status: Arc<StatusSource>,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    let group = Some(config.fixed.admin_group.as_str());
    let listener = control::bind(&config.fixed.socket, group)?;
    let status_fn: control::StatusFn = Arc::new(move || status.snapshot());
    let ctx = Arc::new(ControlContext::new(state.buckets.clone(), status_fn, group));
    tasks.spawn(control::serve(listener, ctx, shutdown));
    Ok(())
}
