//! After a known sequence of S3 requests, the Prometheus counters match it and the access
//! log has exactly one JSON line per request, none carrying a secret or a token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_s3::primitives::ByteStream;
use weka_e2e::{http_get, Daemon, DaemonOptions};

/// The value of the sample line `name` (exact series text, labels included).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_and_access_log_match_a_known_sequence_of_requests() {
    let logs = tempfile::tempdir().unwrap();
    let access_log = logs.path().join("access.log");
    let config = format!("[s3]\naccess_log = \"{}\"\n", access_log.display());
    let daemon = Daemon::start_with(DaemonOptions::default().config(config));
    let (ak, sk) = daemon.admin_keys();
    let s3 = daemon.admin_s3();

    s3.create_bucket().bucket("metrics").send().await.unwrap();
    for (key, body) in [("a", "1"), ("b", "22"), ("c", "333")] {
        s3.put_object()
            .bucket("metrics")
            .key(key)
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
    }
    let got = s3
        .get_object()
        .bucket("metrics")
        .key("c")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"333"
    );
    assert!(s3
        .get_object()
        .bucket("metrics")
        .key("missing")
        .send()
        .await
        .is_err());
    let (status, _) = http_get(&daemon.s3_addr(), "/metrics/a");
    assert_eq!(status, 403, "anonymous read of a private bucket");
    let creds = daemon
        .sts_client(&ak, &sk)
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/x")
        .role_session_name("metrics-session")
        .send()
        .await
        .unwrap();
    let creds = creds.credentials.unwrap();
    let temp = daemon.s3_client_with_token(
        &creds.access_key_id,
        &creds.secret_access_key,
        &creds.session_token,
    );
    temp.list_objects_v2()
        .bucket("metrics")
        .send()
        .await
        .unwrap();
    let requests = 9;

    let (code, metrics) = http_get(&daemon.metrics_addr(), "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(
            &metrics,
            "wekad_s3_requests_total{op=\"CreateBucket\",status=\"200\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "wekad_s3_requests_total{op=\"PutObject\",status=\"200\"}"
        ),
        3.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "wekad_s3_requests_total{op=\"GetObject\",status=\"200\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "wekad_s3_requests_total{op=\"GetObject\",status=\"404\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "wekad_s3_requests_total{op=\"ListObjectsV2\",status=\"200\"}"
        ),
        1.0,
        "{metrics}"
    );
    // 6 bytes of objects, plus the STS form body.
    assert!(
        sample(&metrics, "wekad_s3_received_bytes_total") >= 6.0,
        "{metrics}"
    );
    assert!(
        sample(&metrics, "wekad_s3_sent_bytes_total") >= 3.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "wekad_iam_denials_total"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "wekad_sts_credentials_issued_total"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "wekad_s3_request_duration_seconds_count{op=\"PutObject\"}"
        ),
        3.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "wekad_fuse_passthrough"),
        1.0,
        "passthrough on kernel 6.9+: {metrics}"
    );
    assert!(metrics.contains("wekad_build_info{version=\""), "{metrics}");
    assert!(metrics.contains("wekad_fuse_open_handles"), "{metrics}");

    // The mount's own counters move with FUSE traffic.
    let before = sample(&metrics, "wekad_fuse_operations_total{op=\"lookup\"}");
    let _ = std::fs::metadata(daemon.mount().join("metrics/a")).unwrap();
    let (_, metrics) = http_get(&daemon.metrics_addr(), "/metrics");
    assert!(
        sample(&metrics, "wekad_fuse_operations_total{op=\"lookup\"}") > before,
        "{metrics}"
    );

    let log = std::fs::read_to_string(&access_log).unwrap();
    assert_eq!(log.lines().count(), requests, "{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for field in [
        "time",
        "request_id",
        "remote",
        "user",
        "op",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
    ] {
        assert!(
            lines.iter().all(|l| l.get(field).is_some()),
            "missing {field}: {log}"
        );
    }
    assert_eq!(lines[1]["op"], "PutObject");
    assert_eq!(lines[1]["user"], "admin");
    assert_eq!(lines[1]["bucket"], "metrics");
    assert_eq!(lines[1]["key"], "a");
    assert_eq!(lines[5]["status"], 404);
    assert_eq!(lines[6]["user"], "anonymous");
    assert_eq!(lines[6]["status"], 403);

    let stderr = daemon.stderr();
    for secret in [
        sk.as_str(),
        creds.secret_access_key.as_str(),
        creds.session_token.as_str(),
    ] {
        assert!(
            !log.contains(secret),
            "a secret or token leaked into the access log"
        );
        assert!(
            !stderr.contains(secret),
            "a secret or token leaked into the daemon log"
        );
    }
}
