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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpStatus {
    op: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    op: String,
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
    totals: Totals,
    open_handles_source: OnceLock<Box<dyn Fn() -> i64 + Send + Sync>>,
}

/// Plain totals for `weka status`.
#[derive(Default)]
struct Totals {
    s3_requests: AtomicU64,
    s3_client_errors: AtomicU64,
    s3_server_errors: AtomicU64,
    fuse_ops: AtomicU64,
    fuse_errors: AtomicU64,
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
            totals: Totals::default(),
            open_handles_source: OnceLock::new(),
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
        op: &str,
        status: u16,
        duration: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        self.s3_requests
            .get_or_create(&OpStatus {
                op: op.to_string(),
                status,
            })
            .inc();
        self.s3_latency
            .get_or_create(&Op { op: op.to_string() })
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

    /// Records one FUSE operation and whether it failed.
    pub fn fuse_op(&self, op: &str, failed: bool) {
        let label = Op { op: op.to_string() };
        self.fuse_ops.get_or_create(&label).inc();
        self.totals.fuse_ops.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.fuse_errors.get_or_create(&label).inc();
            self.totals.fuse_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reports whether FUSE passthrough is active.
    pub fn set_passthrough(&self, active: bool) {
        self.passthrough.set(i64::from(active));
    }

    /// Where the open-handle gauge reads its value at scrape time (set once).
    pub fn set_open_handles_source(&self, source: Box<dyn Fn() -> i64 + Send + Sync>) {
        // Set once at start-up; a second call would be a wiring bug, and keeping the
        // first source is the harmless outcome.
        let _ = self.open_handles_source.set(source);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        if let Some(source) = self.open_handles_source.get() {
            self.open_handles.set(source());
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        out
    }

    /// Totals since start, for `weka status`.
    pub fn totals(&self) -> BTreeMap<String, u64> {
        let t = &self.totals;
        [
            ("s3_requests", &t.s3_requests),
            ("s3_client_errors", &t.s3_client_errors),
            ("s3_server_errors", &t.s3_server_errors),
            ("fuse_operations", &t.fuse_ops),
            ("fuse_errors", &t.fuse_errors),
            ("iam_denials", &t.iam_denials),
            ("sts_credentials_issued", &t.sts_issued),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
        .collect()
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
        m.s3_request("PutObject", 200, Duration::from_millis(3), 10, 0);
        m.s3_request("PutObject", 200, Duration::from_millis(3), 5, 0);
        m.s3_request("GetObject", 404, Duration::from_millis(1), 0, 7);
        m.fuse_op("lookup", true);
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
    fn open_handles_are_read_at_scrape_time() {
        let m = Metrics::new();
        m.set_open_handles_source(Box::new(|| 42));
        assert!(m.encode().contains("wekad_fuse_open_handles 42"));
    }
}
