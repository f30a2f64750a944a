//! The configuration as the TOML file spells it: sections, keys, defaults and the checks
//! that serde cannot express.
//!
//! Owns the file's shape (`deny_unknown_fields` on every section, so a typo is an error),
//! the defaults, the command-line overrides (applied to this shape, since flags are named
//! after keys), the cross-field checks and the split into [`Config`]'s fixed and live
//! parts. Invariant: `into_config` destructures every section completely, so a new key
//! does not compile until it is placed in [`Fixed`] or [`Live`]. No I/O happens here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::source::Source;
use super::{Config, ConfigError, Fixed, Live, Overrides, S3Live, Scheme, TlsFiles};

/// The whole file: top-level keys and the `[fuse]`, `[s3]`, `[sts]`, `[metrics]` sections.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileConfig {
    /// The backing directory served by both doors.
    pub data: PathBuf,
    /// Where IAM (LMDB), the server key and endpoints.json live.
    pub state: PathBuf,
    /// The FUSE mount point.
    pub mount: PathBuf,
    /// The control socket for `weka`.
    pub socket: PathBuf,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace` or RUST_LOG directives).
    pub log_level: LogLevel,
    /// Group whose members may use the control socket (besides root).
    pub admin_group: String,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(deserialize_with = "duration")]
    pub drain_deadline: Duration,
    pub fuse: FuseConfig,
    pub s3: S3Section,
    pub sts: StsSection,
    pub metrics: MetricsConfig,
}

/// `[fuse]` (all of it needs a restart: it is how the mount was made).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FuseConfig {
    /// Let users other than the daemon's see the mount (needs user_allow_other for non-root).
    pub allow_other: bool,
    /// Use the kernel's FUSE passthrough for open files when available.
    pub passthrough: bool,
    /// Take requests over FUSE's io_uring transport when the kernel offers it (Linux
    /// 6.14+ with `echo Y > /sys/module/fuse/parameters/enable_uring`).
    pub io_uring: bool,
    /// FUSE dispatch threads.
    pub threads: usize,
}

/// `[s3]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct S3Section {
    /// S3 (and STS) listen address.
    pub listen: SocketAddr,
    /// `always`: fsync data and directory before a write returns; `never`: leave it to the kernel.
    pub sync: SyncMode,
    /// POSIX owner of what anonymous requests create.
    pub anonymous_uid: u32,
    pub anonymous_gid: u32,
    /// Domains for virtual-host-style requests (`bucket.<domain>`); empty = path style only.
    pub virtual_host_domains: Vec<String>,
    /// Largest accepted IAM policy, bytes (WEKA: 2048).
    pub policy_max_bytes: usize,
    /// Access log: `off`, `stderr` (the journal under systemd), or a file path.
    pub access_log: AccessLog,
    /// The region of this endpoint. Unset: requests signed for any region are accepted and
    /// GetBucketLocation answers `us-east-1`; set: SigV4 requests must be signed for it
    /// (`AuthorizationHeaderMalformed` names it otherwise), and GetBucketLocation answers it.
    pub region: Option<String>,
    /// PEM certificate chain (leaf first) for HTTPS on `listen`; set with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

/// `[sts]`
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct StsSection {
    /// Answer STS over plain HTTP on a non-loopback listener too (its answers carry secret
    /// keys; without TLS they cross the network in clear text).
    pub allow_plaintext: bool,
}

/// `[metrics]` (all of it needs a restart: the port is bound at start).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Prometheus listen address (`/metrics`).
    pub listen: SocketAddr,
    /// Serve metrics at all.
    pub enabled: bool,
}

/// `s3.sync`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Always,
    Never,
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    Stderr,
    File(PathBuf),
}

/// A validated tracing filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(String);

impl LogLevel {
    /// Parses and validates a filter such as `info` or `wekad=debug,warn`.
    pub fn parse(s: &str) -> Result<LogLevel, String> {
        tracing_subscriber::EnvFilter::builder()
            .parse(s)
            .map(|_| LogLevel(s.to_string()))
            .map_err(|e| format!("invalid log level `{s}`: {e} (use error, warn, info, debug, trace or RUST_LOG syntax)"))
    }

    /// The filter text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LogLevel::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for AccessLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "off" => Ok(AccessLog::Off),
            "stderr" | "journal" => Ok(AccessLog::Stderr),
            "" => Err(serde::de::Error::custom(
                "empty access log: use \"off\", \"stderr\" or an absolute file path",
            )),
            p if Path::new(p).is_absolute() => Ok(AccessLog::File(PathBuf::from(p))),
            p => Err(serde::de::Error::custom(format!(
                "access log `{p}` is not \"off\", \"stderr\" nor an absolute file path"
            ))),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration `{s}`: {e} (examples: \"30s\", \"2m\")"
        ))
    })
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            data: PathBuf::from("./wekad-data/data"),
            state: PathBuf::from("./wekad-data/state"),
            mount: PathBuf::from("./wekad-data/mnt"),
            socket: weka::api::default_socket_path(),
            log_level: LogLevel("info".into()),
            admin_group: "wekaadm".into(),
            drain_deadline: Duration::from_secs(30),
            fuse: FuseConfig::default(),
            s3: S3Section::default(),
            sts: StsSection::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for FuseConfig {
    fn default() -> Self {
        FuseConfig {
            allow_other: false,
            passthrough: true,
            io_uring: true,
            threads: 4,
        }
    }
}

impl Default for S3Section {
    fn default() -> Self {
        S3Section {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            sync: SyncMode::Always,
            anonymous_uid: 65534,
            anonymous_gid: 65534,
            virtual_host_domains: Vec::new(),
            policy_max_bytes: 2048,
            access_log: AccessLog::Stderr,
            tls_cert: None,
            tls_key: None,
            region: None,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
            enabled: true,
        }
    }
}

const TLS_PAIR_HINT: &str =
    "set both s3.tls_cert and s3.tls_key (PEM files) for https, or neither for plain http";

impl FileConfig {
    /// Applies the command-line flags given; each one wins over the file.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        let set = |dst: &mut PathBuf, src: &Option<PathBuf>| {
            if let Some(v) = src {
                *dst = v.clone();
            }
        };
        set(&mut self.data, &o.data);
        set(&mut self.state, &o.state);
        set(&mut self.mount, &o.mount);
        set(&mut self.socket, &o.socket);
        if o.s3_tls_cert.is_some() {
            self.s3.tls_cert.clone_from(&o.s3_tls_cert);
        }
        if o.s3_tls_key.is_some() {
            self.s3.tls_key.clone_from(&o.s3_tls_key);
        }
        if let Some(v) = &o.s3_listen {
            self.s3.listen = parse_addr("s3-listen", v)?;
        }
        if let Some(v) = &o.metrics_listen {
            self.metrics.listen = parse_addr("metrics-listen", v)?;
        }
        if let Some(v) = &o.log_level {
            self.log_level = LogLevel::parse(v).map_err(|message| ConfigError::Flag {
                flag: "log-level",
                message,
            })?;
        }
        Ok(())
    }

    /// Cross-field checks that serde cannot express; `source` locates the key in the file
    /// (without a file, the value came from a default or a flag).
    pub fn check(&self, source: Option<&Source>) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String, hint: &str| match source {
            Some(source) => Err(source.invalid(key, message, hint)),
            None => Err(ConfigError::Flag {
                flag: "config",
                message: format!("{key}: {message}"),
            }),
        };
        if self.s3.policy_max_bytes < 2048 {
            return fail(
                "s3.policy_max_bytes",
                format!("{} is below WEKA's 2048", self.s3.policy_max_bytes),
                "use 2048 or more",
            );
        }
        if let Some(region) = &self.s3.region {
            if !is_region_name(region) {
                return fail(
                    "s3.region",
                    format!("`{region}` is not a region name"),
                    "use lowercase letters, digits and dashes, such as \"us-east-1\"",
                );
            }
        }
        if self.fuse.threads == 0 || self.fuse.threads > 256 {
            return fail(
                "fuse.threads",
                format!("{} is out of range", self.fuse.threads),
                "use 1 to 256",
            );
        }
        if self.drain_deadline > Duration::from_secs(3600) {
            return fail(
                "drain_deadline",
                "more than an hour".into(),
                "use at most \"1h\"",
            );
        }
        let (present, flag, missing) = match (&self.s3.tls_cert, &self.s3.tls_key) {
            (Some(_), None) => ("s3.tls_cert", "s3-tls-cert", "s3.tls_key"),
            (None, Some(_)) => ("s3.tls_key", "s3-tls-key", "s3.tls_cert"),
            (Some(_), Some(_)) | (None, None) => return Ok(()),
        };
        let message = format!("set without {missing}: both are needed");
        match source {
            Some(_) => fail(present, message, TLS_PAIR_HINT),
            // Without a file the lone one came from its flag.
            None => Err(ConfigError::Flag {
                flag,
                message: format!("{message}; {TLS_PAIR_HINT}"),
            }),
        }
    }

    /// Makes every path absolute (relative ones are taken from the working directory).
    pub fn absolutize(&mut self) {
        let paths = [
            &mut self.data,
            &mut self.state,
            &mut self.mount,
            &mut self.socket,
        ];
        let tls = [&mut self.s3.tls_cert, &mut self.s3.tls_key];
        for p in paths.into_iter().chain(tls.into_iter().flatten()) {
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = normalize(&abs);
            }
        }
        if let AccessLog::File(p) = &mut self.s3.access_log {
            *p = normalize(p);
        }
    }

    /// Splits the file into what needs a restart and what a reload applies.
    pub fn into_config(self) -> Config {
        let FileConfig {
            data,
            state,
            mount,
            socket,
            log_level,
            admin_group,
            drain_deadline,
            fuse,
            s3,
            sts,
            metrics,
        } = self;
        let S3Section {
            listen,
            sync,
            anonymous_uid,
            anonymous_gid,
            virtual_host_domains,
            policy_max_bytes,
            access_log,
            region,
            tls_cert,
            tls_key,
        } = s3;
        let StsSection { allow_plaintext } = sts;
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            // `check` refuses a lone one (`parse` in tests skips the checks).
            _ => None,
        };
        let scheme = match tls {
            Some(_) => Scheme::Https,
            None => Scheme::Http,
        };
        Config {
            fixed: Fixed {
                data,
                state,
                mount,
                socket,
                admin_group,
                fuse,
                s3_listen: listen,
                sync,
                policy_max_bytes,
                metrics,
                scheme,
            },
            live: Live {
                log_level,
                drain_deadline,
                access_log,
                tls,
                s3: S3Live {
                    anonymous_uid,
                    anonymous_gid,
                    virtual_host_domains,
                    region,
                    sts_allow_plaintext: allow_plaintext,
                },
            },
        }
    }
}

/// Lowercase letters, digits and dashes, 1 to 32 of them (`us-east-1`).
fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Drops `.` components (std::path::absolute keeps `./x` as `/cwd/./x`).
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn parse_addr(flag: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|e| ConfigError::Flag {
        flag,
        message: format!("`{v}` is not an address like 127.0.0.1:9000: {e}"),
    })
}
