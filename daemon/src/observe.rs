//! The daemon's side of the S3 server's per-request hook: metrics and the access log.
//!
//! Invariant: called exactly once per S3/STS request (the server guarantees it); records
//! only what `RequestRecord` carries, which holds no secret, signature or token. A 403 is
//! counted as an IAM denial (the S3 door answers 403 only for AccessDenied-class refusals);
//! a successful `sts:AssumeRole` as issued temporary credentials.

use std::sync::Arc;

use weka_s3::server::{Observer, RequestRecord};

use crate::access_log::{AccessLog, AccessRecord};
use crate::metrics::Metrics;

/// Feeds every finished S3 request to the metrics and the access log.
pub struct RequestObserver {
    pub metrics: Arc<Metrics>,
    pub access_log: Arc<AccessLog>,
}

impl Observer for RequestObserver {
    fn observe(&self, r: &RequestRecord) {
        self.metrics
            .s3_request(r.op, r.status, r.duration, r.bytes_in, r.bytes_out);
        if r.status == 403 {
            self.metrics.iam_denied();
        }
        if r.op.is_assume_role() && r.status == 200 {
            self.metrics.sts_issued();
        }
        self.access_log.record(&access_record(r));
    }
}

fn access_record(r: &RequestRecord) -> AccessRecord {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    AccessRecord {
        time: AccessRecord::now(),
        request_id: r.request_id.to_string(),
        remote: Some(r.remote),
        user: r.user.clone(),
        op: r.op,
        bucket: opt(&r.bucket),
        key: opt(&r.key),
        status: r.status,
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
        duration_ms: AccessRecord::millis(r.duration),
    }
}
