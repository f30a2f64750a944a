//! `weka status`: what the daemon reports about itself.
//!
//! Owns the assembly of [`weka::api::Status`] from the running components. Invariant: a
//! snapshot only reads (counters, the IAM snapshot, a directory listing of bucket names,
//! `/proc/self/mountinfo`); it never blocks on the FUSE mount itself, so `weka status`
//! answers even when the mount is wedged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use weka::api::Status;

use crate::metrics::Metrics;

/// Counts of IAM objects and buckets, supplied by the components that own them.
pub trait Counts: Send + Sync {
    /// (users, policies)
    fn iam(&self) -> (u64, u64);
    /// Number of buckets.
    fn buckets(&self) -> u64;
}

/// Where the daemon's listeners and paths are.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub data: String,
    pub mount: String,
    pub state: String,
    pub socket: String,
    pub s3: Option<String>,
    pub metrics: Option<String>,
}

/// The FUSE features the kernel accepted at mount time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FuseFeatures {
    /// Opened files are read and written by the kernel directly on the backing files.
    pub passthrough: bool,
    /// Requests arrive over FUSE's io_uring transport rather than `/dev/fuse` reads.
    pub io_uring: bool,
}

/// Builds status snapshots on demand. Cheap to share.
pub struct StatusSource {
    started: Instant,
    places: Places,
    metrics: Arc<Metrics>,
    passthrough: AtomicBool,
    io_uring: AtomicBool,
    counts: Option<Arc<dyn Counts>>,
}

impl StatusSource {
    pub fn new(
        places: Places,
        metrics: Arc<Metrics>,
        counts: Option<Arc<dyn Counts>>,
    ) -> StatusSource {
        StatusSource {
            started: Instant::now(),
            places,
            metrics,
            passthrough: AtomicBool::new(false),
            io_uring: AtomicBool::new(false),
            counts,
        }
    }

    /// Records which FUSE features the kernel accepted.
    pub fn set_fuse_features(&self, features: FuseFeatures) {
        let FuseFeatures {
            passthrough,
            io_uring,
        } = features;
        self.passthrough.store(passthrough, Ordering::Relaxed);
        self.io_uring.store(io_uring, Ordering::Relaxed);
        self.metrics.set_fuse_features(passthrough, io_uring);
    }

    /// The current status.
    pub fn snapshot(&self) -> Status {
        let (users, policies) = self.counts.as_ref().map(|c| c.iam()).unwrap_or_default();
        let buckets = self
            .counts
            .as_ref()
            .map(|c| c.buckets())
            .unwrap_or_default();
        let p = &self.places;
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: self.started.elapsed().as_secs(),
            data: p.data.clone(),
            mount: p.mount.clone(),
            state: p.state.clone(),
            socket: p.socket.clone(),
            mounted: crate::checks::is_mounted(std::path::Path::new(&p.mount)),
            passthrough: self.passthrough.load(Ordering::Relaxed),
            io_uring: self.io_uring.load(Ordering::Relaxed),
            s3_endpoint: p.s3.clone(),
            metrics_endpoint: p.metrics.clone(),
            users,
            policies,
            buckets,
            counters: self.metrics.totals(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Counts for Fixed {
        fn iam(&self) -> (u64, u64) {
            (2, 5)
        }
        fn buckets(&self) -> u64 {
            3
        }
    }

    #[test]
    fn a_snapshot_reports_counts_counters_and_places() {
        let metrics = Arc::new(Metrics::new());
        metrics.s3_request(
            weka_s3::server::RequestOp::S3(weka_s3::op::Op::GetObject),
            500,
            std::time::Duration::ZERO,
            0,
            0,
        );
        let places = Places {
            mount: "/".into(),
            s3: Some("127.0.0.1:9000".into()),
            ..Places::default()
        };
        let source = StatusSource::new(places, metrics, Some(Arc::new(Fixed)));
        source.set_fuse_features(FuseFeatures {
            passthrough: true,
            io_uring: false,
        });
        let s = source.snapshot();
        assert_eq!((s.users, s.policies, s.buckets), (2, 5, 3));
        assert!(s.mounted && s.passthrough);
        assert_eq!(s.counters["s3_server_errors"], 1);
        assert_eq!(s.s3_endpoint.as_deref(), Some("127.0.0.1:9000"));
    }
}
