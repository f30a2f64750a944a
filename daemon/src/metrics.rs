//! Prometheus metrics: the registry, the recording calls both doors make, and the
//! `/metrics` HTTP endpoint on its own listen address.
//!
//! Owns every metric name (all prefixed `wekad_`). Invariants: recording is lock-free or
//! holds a lock only for a label lookup, so it is safe on request paths; label values are
//! bounded sets (operation names, status codes, FUSE op names), never keys, bucket names or
//! user names, so the series count cannot grow with traffic. The endpoint is read-only and
//! serves nothing but `/metrics` (and `/` as a pointer to it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weka_fs::sync::{lock, Mutex};
use weka_s3::server::RequestOp;

/// The label values are `&'static str`: S3 operation names come from
/// [`RequestOp::as_str`], FUSE op names from the adapter's own table, so no request path
/// allocates a label and no value can come from a client.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpStatus {
    op: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildInfo {
    version: String,
}

type HistogramFamily = Family<Op, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Everything wekad counts. Cheap to share (`Arc<Metrics>`).
pub struct Metrics {
    registry: Registry,
    s3_requests: Family<OpStatus, Counter>,
    s3_latency: HistogramFamily,
    s3_bytes_in: Counter,
    s3_bytes_out: Counter,
    iam_denials: Counter,
    sts_issued: Counter,
    fuse_ops: Family<Op, Counter>,
    fuse_errors: Family<Op, Counter>,
    open_handles: Gauge,
    passthrough: Gauge,
    io_uring: Gauge,
    totals: Totals,
    fuse_source: OnceLock<FuseSource>,
    /// Serialises catching up with the FUSE counters, so concurrent scrapes never add twice.
    fuse_sampling: Mutex<()>,
}

/// What the FUSE adapter reports: cumulative (op, calls, errors) and open handles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuseSample {
    pub ops: Vec<(&'static str, u64, u64)>,
    pub open_handles: u64,
}

/// Reads the FUSE adapter's counters (they are owned by the adapter, sampled at scrape time).
pub type FuseSource = Box<dyn Fn() -> FuseSample + Send + Sync>;

/// Plain totals for `weka status`.
#[derive(Default)]
struct Totals {
    s3_requests: AtomicU64,
    s3_client_errors: AtomicU64,
    s3_server_errors: AtomicU64,
    iam_denials: AtomicU64,
    sts_issued: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every wekad metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wekad");
        let m = Metrics {
            registry: Registry::default(),
            s3_requests: Family::default(),
            s3_latency: HistogramFamily::new_with_constructor(latency_histogram),
            s3_bytes_in: Counter::default(),
            s3_bytes_out: Counter::default(),
            iam_denials: Counter::default(),
            sts_issued: Counter::default(),
            fuse_ops: Family::default(),
            fuse_errors: Family::default(),
            open_handles: Gauge::default(),
            passthrough: Gauge::default(),
            io_uring: Gauge::default(),
            totals: Totals::default(),
            fuse_source: OnceLock::new(),
            fuse_sampling: Mutex::new(()),
        };
        registry.register(
            "s3_requests",
            "S3 and STS requests by operation and HTTP status",
            m.s3_requests.clone(),
        );
        registry.register(
            "s3_request_duration_seconds",
            "S3 request latency by operation",
            m.s3_latency.clone(),
        );
        registry.register(
            "s3_received_bytes",
            "Request body bytes received over S3",
            m.s3_bytes_in.clone(),
        );
        registry.register(
            "s3_sent_bytes",
            "Response body bytes sent over S3",
            m.s3_bytes_out.clone(),
        );
        registry.register(
            "iam_denials",
            "S3 requests denied by IAM or bucket policy",
            m.iam_denials.clone(),
        );
        registry.register(
            "sts_credentials_issued",
            "Temporary credentials issued by STS",
            m.sts_issued.clone(),
        );
        registry.register(
            "fuse_operations",
            "FUSE operations by type",
            m.fuse_ops.clone(),
        );
        registry.register(
            "fuse_errors",
            "FUSE operations that returned an error, by type",
            m.fuse_errors.clone(),
        );
        registry.register(
            "fuse_open_handles",
            "Open FUSE file handles",
            m.open_handles.clone(),
        );
        registry.register(
            "fuse_passthrough",
            "1 when the kernel's FUSE passthrough is active",
            m.passthrough.clone(),
        );
        registry.register(
            "fuse_io_uring",
            "1 when FUSE requests arrive over io_uring (one queue per CPU)",
            m.io_uring.clone(),
        );
        let info = Family::<BuildInfo, Gauge>::default();
        info.get_or_create(&BuildInfo {
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .set(1);
        registry.register("build_info", "wekad build information", info);
        Metrics { registry, ..m }
    }

    /// Records one finished S3/STS request.
    pub fn s3_request(
        &self,
        op: RequestOp,
        status: u16,
        duration: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let op = op.as_str();
        self.s3_requests
            .get_or_create(&OpStatus { op, status })
            .inc();
        self.s3_latency
            .get_or_create(&Op { op })
            .observe(duration.as_secs_f64());
        self.s3_bytes_in.inc_by(bytes_in);
        self.s3_bytes_out.inc_by(bytes_out);
        self.totals.s3_requests.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => self.totals.s3_client_errors.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.totals.s3_server_errors.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// Records a request denied by policy.
    pub fn iam_denied(&self) {
        self.iam_denials.inc();
        self.totals.iam_denials.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one set of temporary credentials issued.
    pub fn sts_issued(&self) {
        self.sts_issued.inc();
        self.totals.sts_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports whether FUSE passthrough and the io_uring transport are active.
    pub fn set_fuse_features(&self, passthrough: bool, io_uring: bool) {
        self.passthrough.set(i64::from(passthrough));
        self.io_uring.set(i64::from(io_uring));
    }

    /// Where the FUSE counters are read at scrape time (set once, after mounting).
    pub fn set_fuse_source(&self, source: FuseSource) {
        // Set once at start-up; a second call would be a wiring bug, and keeping the
        // first source is the harmless outcome.
        let _ = self.fuse_source.set(source);
    }

    /// Brings the FUSE series up to the adapter's cumulative counters; returns the sample.
    fn sample_fuse(&self) -> FuseSample {
        let Some(source) = self.fuse_source.get() else {
            return FuseSample::default();
        };
        let _one_at_a_time = lock(&self.fuse_sampling);
        let sample = source();
        for &(op, calls, errors) in &sample.ops {
            let label = Op { op };
            catch_up(&self.fuse_ops.get_or_create(&label), calls);
            catch_up(&self.fuse_errors.get_or_create(&label), errors);
        }
        self.open_handles
            .set(i64::try_from(sample.open_handles).unwrap_or(i64::MAX));
        sample
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        self.sample_fuse();
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        out
    }

    /// Totals since start, for `weka status`.
    pub fn totals(&self) -> BTreeMap<String, u64> {
        let t = &self.totals;
        let fuse = self.sample_fuse();
        let fuse_calls: u64 = fuse.ops.iter().map(|o| o.1).sum();
        let fuse_errors: u64 = fuse.ops.iter().map(|o| o.2).sum();
        let mut totals: BTreeMap<String, u64> = [
            ("s3_requests", &t.s3_requests),
            ("s3_client_errors", &t.s3_client_errors),
            ("s3_server_errors", &t.s3_server_errors),
            ("iam_denials", &t.iam_denials),
            ("sts_credentials_issued", &t.sts_issued),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
        .collect();
        totals.insert("fuse_operations".into(), fuse_calls);
        totals.insert("fuse_errors".into(), fuse_errors);
        totals
    }
}

/// Raises a monotonic counter to `target` (the source's cumulative value).
fn catch_up(counter: &Counter, target: u64) {
    let now = counter.get();
    if target > now {
        counter.inc_by(target - now);
    }
}

/// Serves `/metrics` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let metrics = metrics.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&metrics, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

fn respond(metrics: &Metrics, req: &Request<Incoming>) -> Response<String> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        (&hyper::Method::GET, "/") => (
            StatusCode::OK,
            "text/plain",
            "wekad metrics: see /metrics\n".into(),
        ),
        (&hyper::Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        ),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_requests_appear_with_op_and_status_labels() {
        let m = Metrics::new();
        use weka_s3::op::Op::{GetObject, PutObject};
        m.s3_request(
            RequestOp::S3(PutObject),
            200,
            Duration::from_millis(3),
            10,
            0,
        );
        m.s3_request(
            RequestOp::S3(PutObject),
            200,
            Duration::from_millis(3),
            5,
            0,
        );
        m.s3_request(
            RequestOp::S3(GetObject),
            404,
            Duration::from_millis(1),
            0,
            7,
        );
        m.set_fuse_source(Box::new(|| FuseSample {
            ops: vec![("lookup", 4, 1)],
            open_handles: 0,
        }));
        m.iam_denied();
        let text = m.encode();
        assert!(
            text.contains("wekad_s3_requests_total{op=\"PutObject\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("wekad_s3_requests_total{op=\"GetObject\",status=\"404\"} 1"),
            "{text}"
        );
        assert!(text.contains("wekad_s3_received_bytes_total 15"), "{text}");
        assert!(
            text.contains("wekad_fuse_errors_total{op=\"lookup\"} 1"),
            "{text}"
        );
        assert!(text.contains("wekad_build_info{version="), "{text}");
        assert!(
            text.contains("wekad_s3_request_duration_seconds_bucket"),
            "{text}"
        );
        let totals = m.totals();
        assert_eq!(totals["s3_requests"], 3);
        assert_eq!(totals["s3_client_errors"], 1);
        assert_eq!(totals["iam_denials"], 1);
    }

    #[test]
    fn fuse_counters_and_open_handles_are_read_at_scrape_time() {
        let m = Metrics::new();
        let calls = Arc::new(AtomicU64::new(1));
        let c = calls.clone();
        m.set_fuse_source(Box::new(move || FuseSample {
            ops: vec![("read", c.load(Ordering::Relaxed), 0)],
            open_handles: 42,
        }));
        assert!(m.encode().contains("wekad_fuse_open_handles 42"));
        calls.store(7, Ordering::Relaxed);
        let text = m.encode();
        assert!(
            text.contains("wekad_fuse_operations_total{op=\"read\"} 7"),
            "{text}"
        );
        assert_eq!(m.totals()["fuse_operations"], 7);
    }
}
