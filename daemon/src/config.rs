//! wekad's configuration: one TOML file, overridden by command-line flags.
//!
//! Owns the option names, their defaults and their validation. Invariants: every value is
//! parsed and checked here, once, at start-up (or on SIGHUP); unknown keys and invalid values
//! are refused with the file, line and key plus a hint, never ignored or defaulted; the
//! resulting [`Config`] holds absolute paths. This module performs no I/O besides reading
//! the configuration file.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Where the example configuration (every option with its default) lives in the repository.
pub const HINT: &str = "every option and its default is listed in systemd/wekad.toml (installed as /etc/wekad/wekad.toml)";

/// A configuration error; the daemon exits 78 (`EX_CONFIG`) on any of them.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}\nhint: pass an existing file with --config, or omit --config to use the defaults")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: key `{key}`: {message}\nhint: {hint}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
        hint: String,
    },
    #[error("flag --{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    /// The TLS pair named by `s3.tls_cert` / `s3.tls_key` cannot be served (found when the
    /// daemon reads the files at start); `detail` names the file and the problem.
    #[error("TLS certificate or key unusable: {detail}\nhint: s3.tls_cert must be a PEM certificate chain (leaf first) and s3.tls_key its PEM private key, both readable by wekad")]
    Tls { detail: String },
}

/// The complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
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
    pub s3: S3Config,
    pub sts: StsConfig,
    pub metrics: MetricsConfig,
}

/// `[fuse]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
pub struct S3Config {
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
pub struct StsConfig {
    /// Answer STS over plain HTTP on a non-loopback listener too (its answers carry secret
    /// keys; without TLS they cross the network in clear text).
    pub allow_plaintext: bool,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("./wekad-data/data"),
            state: PathBuf::from("./wekad-data/state"),
            mount: PathBuf::from("./wekad-data/mnt"),
            socket: weka::api::default_socket_path(),
            log_level: LogLevel("info".into()),
            admin_group: "wekaadm".into(),
            drain_deadline: Duration::from_secs(30),
            fuse: FuseConfig::default(),
            s3: S3Config::default(),
            sts: StsConfig::default(),
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

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
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

/// Values given on the command line; each one, when present, wins over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub mount: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub s3_listen: Option<String>,
    pub s3_tls_cert: Option<PathBuf>,
    pub s3_tls_key: Option<PathBuf>,
    pub metrics_listen: Option<String>,
    pub log_level: Option<String>,
}

impl Config {
    /// Reads `file` (or the defaults when `None`), applies `overrides`, validates and
    /// makes every path absolute.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::read(path)?,
            None => Config::default(),
        };
        config.apply(overrides)?;
        config.check(file)?;
        config.absolutize();
        Ok(config)
    }

    /// Reads and parses one configuration file.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parses configuration text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| located(path, text, e.span(), e.message()))
    }

    fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
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

    /// Cross-field checks that serde cannot express.
    fn check(&self, file: Option<&Path>) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String, hint: &str| match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line: line_of_key(&text, key),
                    key: key.to_string(),
                    message,
                    hint: hint.to_string(),
                })
            }
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
            let valid = !region.is_empty()
                && region.len() <= 32
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
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
        match file {
            Some(_) => fail(present, message, TLS_PAIR_HINT),
            // Without a file the lone one came from its flag.
            None => Err(ConfigError::Flag {
                flag,
                message: format!("{message}; {TLS_PAIR_HINT}"),
            }),
        }
    }

    /// The certificate and key files when TLS is configured.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        match (&self.s3.tls_cert, &self.s3.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => None,
        }
    }

    fn absolutize(&mut self) {
        for p in [
            &mut self.data,
            &mut self.state,
            &mut self.mount,
            &mut self.socket,
        ] {
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = normalize(&abs);
            }
        }
        if let AccessLog::File(p) = &mut self.s3.access_log {
            *p = normalize(p);
        }
        for p in [&mut self.s3.tls_cert, &mut self.s3.tls_key]
            .into_iter()
            .flatten()
        {
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = normalize(&abs);
            }
        }
    }
}

const TLS_PAIR_HINT: &str =
    "set both s3.tls_cert and s3.tls_key (PEM files) for https, or neither for plain http";

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

/// Builds a located error from a toml error: file, 1-based line, dotted key and a hint.
fn located(path: &Path, text: &str, span: Option<Range<usize>>, message: &str) -> ConfigError {
    let start = span.map(|s| s.start).unwrap_or(0).min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let key = key_at(text, start, message);
    let hint = match message {
        m if m.starts_with("unknown field") => format!("check the spelling; {HINT}"),
        m if m.starts_with("unknown variant") => "use one of the values listed above".to_string(),
        _ => HINT.to_string(),
    };
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        key,
        message: message.to_string(),
        hint,
    }
}

/// The dotted key an error at byte `offset` is about: `[section]` + the key on that line
/// (or the unknown field named in the message).
fn key_at(text: &str, offset: usize, message: &str) -> String {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let named = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next());
    let key = named
        .map(str::to_string)
        .or_else(|| line.split_once('=').map(|(k, _)| k.trim().to_string()));
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (section, key) {
        (Some(s), Some(k)) => format!("{s}.{k}"),
        (None, Some(k)) => k,
        (Some(s), None) => s,
        (None, None) => line.trim().to_string(),
    }
}

/// The line of a dotted key in the file text, for checks made after parsing (1 if unknown).
fn line_of_key(text: &str, dotted: &str) -> usize {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            current = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if current == section && l.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return i + 1;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/wekad/wekad.toml"), text)
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn a_typoed_key_names_file_line_and_key() {
        let err = parse("data = \"/srv\"\n\n[s3]\nlisten = \"127.0.0.1:1\"\nanonymus_uid = 7\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/wekad/wekad.toml:5: key `s3.anonymus_uid`: unknown field"),
            "{text}"
        );
        assert!(text.contains("hint:"), "{text}");
    }

    #[test]
    fn an_invalid_value_names_file_line_and_key() {
        let err = parse("[metrics]\nenabled = true\nlisten = \"nowhere\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/wekad/wekad.toml:3: key `metrics.listen`:"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_sync_mode_lists_the_valid_ones() {
        let text = parse("[s3]\nsync = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains(":2: key `s3.sync`"), "{text}");
        assert!(text.contains("always"), "{text}");
    }

    #[test]
    fn a_region_is_optional_and_checked() {
        assert_eq!(parse("").unwrap().s3.region, None);
        let c = parse("[s3]\nregion = \"eu-central-1\"\n").unwrap();
        assert_eq!(c.s3.region.as_deref(), Some("eu-central-1"));
        let mut bad = Config::default();
        bad.s3.region = Some("EU Central".into());
        assert!(bad.check(None).is_err());
    }

    #[test]
    fn durations_log_levels_and_access_logs_are_parsed() {
        let c = parse("drain_deadline = \"2m\"\nlog_level = \"debug\"\n[s3]\naccess_log = \"/var/log/wekad.log\"\n").unwrap();
        assert_eq!(c.drain_deadline, Duration::from_secs(120));
        assert_eq!(c.log_level.as_str(), "debug");
        assert_eq!(
            c.s3.access_log,
            AccessLog::File("/var/log/wekad.log".into())
        );
        assert!(parse("drain_deadline = \"soon\"\n").is_err());
        assert!(parse("[s3]\naccess_log = \"relative.log\"\n").is_err());
    }

    #[test]
    fn flags_override_the_file_and_paths_become_absolute() {
        let o = Overrides {
            data: Some("rel/data".into()),
            s3_listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let c = Config::load(None, &o).unwrap();
        assert!(c.data.is_absolute() && c.data.ends_with("rel/data"));
        assert_eq!(c.s3.listen.port(), 0);
        let bad = Overrides {
            s3_listen: Some("nope".into()),
            ..Default::default()
        };
        assert!(matches!(
            Config::load(None, &bad),
            Err(ConfigError::Flag {
                flag: "s3-listen",
                ..
            })
        ));
    }

    #[test]
    fn a_too_small_policy_limit_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(&path, "[s3]\n\npolicy_max_bytes = 10\n").unwrap();
        let text = Config::load(Some(&path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("w.toml:3: key `s3.policy_max_bytes`"),
            "{text}"
        );
    }

    #[test]
    fn a_tls_pair_and_allow_plaintext_are_parsed_and_made_absolute() {
        let c = parse("[s3]\ntls_cert = \"/etc/wekad/tls.crt\"\ntls_key = \"/etc/wekad/tls.key\"\n[sts]\nallow_plaintext = true\n").unwrap();
        assert_eq!(
            c.tls_files(),
            Some((
                Path::new("/etc/wekad/tls.crt"),
                Path::new("/etc/wekad/tls.key")
            ))
        );
        assert!(c.sts.allow_plaintext);
        assert_eq!(Config::default().tls_files(), None);
        assert!(!Config::default().sts.allow_plaintext);
        let o = Overrides {
            s3_tls_cert: Some("rel/c.pem".into()),
            s3_tls_key: Some("rel/k.pem".into()),
            ..Default::default()
        };
        let c = Config::load(None, &o).unwrap();
        let (cert, key) = c.tls_files().unwrap();
        assert!(
            cert.is_absolute() && cert.ends_with("rel/c.pem"),
            "{cert:?}"
        );
        assert!(key.is_absolute() && key.ends_with("rel/k.pem"), "{key:?}");
    }

    #[test]
    fn a_tls_cert_without_its_key_is_refused_naming_the_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(
            &path,
            "[s3]\nlisten = \"127.0.0.1:1\"\ntls_cert = \"/c.pem\"\n",
        )
        .unwrap();
        let text = Config::load(Some(&path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("w.toml:3: key `s3.tls_cert`"), "{text}");
        assert!(text.contains("s3.tls_key"), "{text}");
        std::fs::write(&path, "[s3]\ntls_key = \"/k.pem\"\n").unwrap();
        let text = Config::load(Some(&path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("w.toml:2: key `s3.tls_key`"), "{text}");
        assert!(text.contains("s3.tls_cert"), "{text}");
        let flag_only = Overrides {
            s3_tls_key: Some("/k.pem".into()),
            ..Default::default()
        };
        let text = Config::load(None, &flag_only).unwrap_err().to_string();
        assert!(
            text.starts_with("flag --s3-tls-key: set without s3.tls_cert"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_sts_key_is_refused() {
        let text = parse("[sts]\nallow_plain = true\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains(":2: key `sts.allow_plain`"), "{text}");
    }
}
