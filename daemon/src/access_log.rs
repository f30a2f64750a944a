//! The S3 access log: one JSON line per S3/STS request, to a file, stderr (the journal
//! under systemd), or nowhere.
//!
//! Owns the line format and the sink. Invariants: a line carries only the fields of
//! [`AccessRecord`], none of which is a secret, a signature, a session token or an
//! `Authorization` header (the user is the access key's user name or `anonymous`); each
//! line is written with one `write_all` under a lock so concurrent requests never
//! interleave; the sink can be reopened (SIGHUP) for log rotation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::AccessLog as Target;
use weka_fs::sync::{lock, Mutex};
use weka_s3::server::RequestOp;

/// What is logged about one request.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord {
    /// RFC 3339, UTC, when the request finished.
    pub time: String,
    pub request_id: String,
    pub remote: Option<SocketAddr>,
    /// The user name, or `anonymous`.
    pub user: String,
    /// The AWS operation name (`PutObject`, `AssumeRole`, ...), `-` when not routed.
    pub op: RequestOp,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: f64,
}

impl AccessRecord {
    /// The current time formatted for [`AccessRecord::time`].
    pub fn now() -> String {
        let now = time::OffsetDateTime::from(SystemTime::now());
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// Milliseconds with microsecond precision.
    pub fn millis(d: Duration) -> f64 {
        (d.as_micros() as f64) / 1000.0
    }
}

enum Sink {
    Off,
    Stderr,
    File(File),
}

/// The access log sink.
pub struct AccessLog {
    sink: Mutex<Sink>,
}

impl AccessLog {
    /// Opens the configured target.
    pub fn open(target: &Target) -> std::io::Result<AccessLog> {
        Ok(AccessLog {
            sink: Mutex::new(open_sink(target)?),
        })
    }

    /// Switches to `target` (or reopens the same file after rotation).
    pub fn reopen(&self, target: &Target) -> std::io::Result<()> {
        let sink = open_sink(target)?;
        *lock(&self.sink) = sink;
        Ok(())
    }

    /// Writes one line for `record`.
    pub fn record(&self, record: &AccessRecord) {
        let mut sink = lock(&self.sink);
        if matches!(*sink, Sink::Off) {
            return;
        }
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let written = match &mut *sink {
            Sink::Off => Ok(()),
            Sink::Stderr => std::io::stderr().lock().write_all(&line),
            Sink::File(f) => f.write_all(&line),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not write the access log");
        }
    }
}

fn open_sink(target: &Target) -> std::io::Result<Sink> {
    Ok(match target {
        Target::Off => Sink::Off,
        Target::Stderr => Sink::Stderr,
        Target::File(path) => Sink::File(open_append(path)?),
    })
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> AccessRecord {
        AccessRecord {
            time: AccessRecord::now(),
            request_id: "17A0".into(),
            remote: Some("127.0.0.1:5555".parse().unwrap()),
            user: "alice".into(),
            op: RequestOp::S3(weka_s3::op::Op::PutObject),
            bucket: Some("b1".into()),
            key: Some(key.into()),
            status: 200,
            bytes_in: 3,
            bytes_out: 0,
            duration_ms: AccessRecord::millis(Duration::from_micros(1500)),
        }
    }

    #[test]
    fn each_request_is_one_json_line_and_reopen_follows_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&Target::File(path.clone())).unwrap();
        log.record(&record("a"));
        log.record(&record("b\nc"));
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        log.reopen(&Target::File(path.clone())).unwrap();
        log.record(&record("d"));
        let old = std::fs::read_to_string(dir.path().join("access.log.1")).unwrap();
        assert_eq!(old.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(old.lines().next().unwrap()).unwrap();
        assert_eq!(first["user"], "alice");
        assert_eq!(first["duration_ms"], 1.5);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn off_writes_nothing() {
        let log = AccessLog::open(&Target::Off).unwrap();
        log.record(&record("a"));
    }
}
