//! wekad's configuration: one TOML file, overridden by command-line flags.
//!
//! Owns the option names, their defaults, their validation, and which of them a reload
//! (SIGHUP) may change. Invariants: every value is parsed and checked here, once, at start-up
//! (or on SIGHUP); unknown keys and invalid values are refused with the file, line and key
//! plus a hint, never ignored or defaulted; the resulting [`Config`] holds absolute paths.
//! [`Config`] is split into [`Fixed`] (what only a restart applies) and [`Live`] (what a
//! reload applies), and [`Config::reloaded`] is the one place that decides what a reload
//! keeps and what it takes. This module performs no I/O besides reading the configuration
//! file.
//!
//! `file` holds the file's shape and checks, `source` the spans that locate errors.

mod file;
mod source;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::{AccessLog, FuseConfig, LogLevel, MetricsConfig, SyncMode};

use file::FileConfig;
use source::Source;

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
    /// The file is not TOML, so no key can be named: the column and the line's text are.
    #[error("{path}:{line}:{column}: {message} (in `{text}`)\nhint: check the quoting and brackets there; {HINT}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        text: String,
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
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// What only a restart applies.
    pub fixed: Fixed,
    /// What a reload applies.
    pub live: Live,
}

/// The settings a running daemon cannot change: what it mounted, bound and opened at start.
/// A reload that changes one logs it as needing a restart and keeps the running value.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    /// The backing directory served by both doors.
    pub data: PathBuf,
    /// Where IAM (LMDB), the server key and endpoints.json live.
    pub state: PathBuf,
    /// The FUSE mount point.
    pub mount: PathBuf,
    /// The control socket for `weka`.
    pub socket: PathBuf,
    /// Group whose members may use the control socket (besides root).
    pub admin_group: String,
    /// `[fuse]`: how the mount is made.
    pub fuse: FuseConfig,
    /// `s3.listen`: the S3 (and STS) port.
    pub s3_listen: SocketAddr,
    /// `s3.sync`: whether writes are fsynced before they return.
    pub sync: SyncMode,
    /// `s3.policy_max_bytes`: the largest accepted IAM policy (the IAM store's limit).
    pub policy_max_bytes: usize,
    /// `[metrics]`: the Prometheus port.
    pub metrics: MetricsConfig,
    /// Whether the S3 port speaks TLS (`s3.tls_cert` and `s3.tls_key` set): it changes the
    /// URL clients use. The certificate files themselves are live.
    pub scheme: Scheme,
}

/// The settings a reload applies to the running daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace` or RUST_LOG directives).
    pub log_level: LogLevel,
    /// How long in-flight requests may take to finish after SIGTERM (also the S3 server's
    /// shutdown grace).
    pub drain_deadline: Duration,
    /// `s3.access_log`: reopened on every reload (for rotation).
    pub access_log: AccessLog,
    /// `s3.tls_cert` and `s3.tls_key`: re-read on every reload while TLS is on.
    pub tls: Option<TlsFiles>,
    /// What an S3 server generation is built with.
    pub s3: S3Live,
}

/// The settings an S3 server generation is built with; a reload that changes one starts a
/// new generation.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Live {
    /// `s3.anonymous_uid` / `s3.anonymous_gid`: POSIX owner of what anonymous requests create.
    pub anonymous_uid: u32,
    pub anonymous_gid: u32,
    /// `s3.virtual_host_domains`: domains for virtual-host-style requests.
    pub virtual_host_domains: Vec<String>,
    /// `s3.region`: the region of this endpoint (unset: any region is accepted).
    pub region: Option<String>,
    /// `sts.allow_plaintext`: answer STS over plain HTTP on a non-loopback listener too.
    pub sts_allow_plaintext: bool,
}

/// The TLS certificate chain and private key of the S3 port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
}

/// What the S3 port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// `http` or `https`, as in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
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

/// What a reload runs with: the new live settings, and the fixed settings that changed in
/// the file but wait for a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Reloaded {
    pub live: Live,
    /// The changed fixed settings, named as in the file.
    pub needs_restart: Vec<&'static str>,
}

impl Default for Config {
    fn default() -> Self {
        FileConfig::default().into_config()
    }
}

impl Config {
    /// Reads `file` (or the defaults when `None`), applies `overrides`, validates and
    /// makes every path absolute.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let source = file.map(read).transpose()?;
        let mut config = match &source {
            Some(source) => source.deserialize::<FileConfig>()?,
            None => FileConfig::default(),
        };
        config.apply(overrides)?;
        config.check(source.as_ref())?;
        config.absolutize();
        Ok(config.into_config())
    }

    /// Parses configuration text without the checks `load` makes; `path` only names the
    /// file in errors.
    #[cfg(test)]
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: FileConfig = Source::parse(path, text)?.deserialize()?;
        Ok(config.into_config())
    }

    /// A reload from this running configuration to `new`: `new`'s live settings, except
    /// that the TLS files stay while turning TLS on or off waits for a restart.
    pub fn reloaded(&self, new: Config) -> Reloaded {
        let needs_restart = self.fixed.changes(&new.fixed);
        let mut live = new.live;
        if new.fixed.scheme != self.fixed.scheme {
            live.tls.clone_from(&self.live.tls);
        }
        Reloaded {
            live,
            needs_restart,
        }
    }
}

/// Reads and parses one configuration file.
fn read(path: &Path) -> Result<Source, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Source::parse(path, &text)
}

impl Fixed {
    /// The settings that differ in `new`, named as in the file. Every field is listed (the
    /// destructuring does not compile otherwise), so a new fixed setting is never reloaded
    /// silently.
    pub fn changes(&self, new: &Fixed) -> Vec<&'static str> {
        let Fixed {
            data,
            state,
            mount,
            socket,
            admin_group,
            fuse,
            s3_listen,
            sync,
            policy_max_bytes,
            metrics,
            scheme,
        } = self;
        [
            (*data != new.data, "data"),
            (*state != new.state, "state"),
            (*mount != new.mount, "mount"),
            (*socket != new.socket, "socket"),
            (*admin_group != new.admin_group, "admin_group"),
            (*fuse != new.fuse, "[fuse]"),
            (*s3_listen != new.s3_listen, "s3.listen"),
            (*sync != new.sync, "s3.sync"),
            (
                *policy_max_bytes != new.policy_max_bytes,
                "s3.policy_max_bytes",
            ),
            (*metrics != new.metrics, "[metrics]"),
            (
                *scheme != new.scheme,
                "s3.tls_cert/s3.tls_key (turning TLS on or off)",
            ),
        ]
        .into_iter()
        .filter_map(|(changed, name)| changed.then_some(name))
        .collect()
    }
}

impl Live {
    /// Whether the S3 server must be rebuilt to run with `self` instead of `running`: its
    /// settings changed, or its shutdown grace (the drain deadline) did.
    pub fn restarts_s3(&self, running: &Live) -> bool {
        self.s3 != running.s3 || self.drain_deadline != running.drain_deadline
    }
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
        assert_eq!(parse("").unwrap().live.s3.region, None);
        let c = parse("[s3]\nregion = \"eu-central-1\"\n").unwrap();
        assert_eq!(c.live.s3.region.as_deref(), Some("eu-central-1"));
        let mut bad = FileConfig::default();
        bad.s3.region = Some("EU Central".into());
        assert!(bad.check(None).is_err());
    }

    #[test]
    fn durations_log_levels_and_access_logs_are_parsed() {
        let c = parse("drain_deadline = \"2m\"\nlog_level = \"debug\"\n[s3]\naccess_log = \"/var/log/wekad.log\"\n").unwrap();
        assert_eq!(c.live.drain_deadline, Duration::from_secs(120));
        assert_eq!(c.live.log_level.as_str(), "debug");
        assert_eq!(
            c.live.access_log,
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
        assert!(c.fixed.data.is_absolute() && c.fixed.data.ends_with("rel/data"));
        assert_eq!(c.fixed.s3_listen.port(), 0);
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
            c.live.tls,
            Some(TlsFiles {
                cert: "/etc/wekad/tls.crt".into(),
                key: "/etc/wekad/tls.key".into()
            })
        );
        assert_eq!(c.fixed.scheme, Scheme::Https);
        assert!(c.live.s3.sts_allow_plaintext);
        assert_eq!(Config::default().live.tls, None);
        assert!(!Config::default().live.s3.sts_allow_plaintext);
        let o = Overrides {
            s3_tls_cert: Some("rel/c.pem".into()),
            s3_tls_key: Some("rel/k.pem".into()),
            ..Default::default()
        };
        let c = Config::load(None, &o).unwrap();
        let TlsFiles { cert, key } = c.live.tls.unwrap();
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

    #[test]
    fn a_changed_listen_address_needs_a_restart_but_the_log_level_does_not() {
        let old = Config::default();
        let mut new = old.clone();
        new.live.log_level = LogLevel::parse("debug").unwrap();
        new.live.s3.anonymous_uid = 1;
        assert!(old.reloaded(new.clone()).needs_restart.is_empty());
        new.fixed.s3_listen = "127.0.0.1:1".parse().unwrap();
        new.fixed.fuse.allow_other = true;
        assert_eq!(old.reloaded(new).needs_restart, vec!["[fuse]", "s3.listen"]);
    }

    #[test]
    fn turning_tls_on_needs_a_restart_but_new_certificate_paths_apply() {
        let load = |text: &str| parse(text).unwrap();
        let plain = load("");
        let tls = load("[s3]\ntls_cert = \"/a.crt\"\ntls_key = \"/a.key\"\n");
        let applied = plain.reloaded(tls.clone());
        assert_eq!(
            applied.needs_restart,
            vec!["s3.tls_cert/s3.tls_key (turning TLS on or off)"]
        );
        assert_eq!(applied.live.tls, None, "TLS stays off until a restart");
        let renewed = load("[s3]\ntls_cert = \"/b.crt\"\ntls_key = \"/a.key\"\n");
        let applied = tls.reloaded(renewed);
        assert!(applied.needs_restart.is_empty());
        assert_eq!(applied.live.tls.unwrap().cert, PathBuf::from("/b.crt"));
    }

    #[test]
    fn each_setting_is_either_named_for_a_restart_or_applied_live() {
        // A key set to a value other than its default changes either a fixed setting
        // (named as needing a restart, the running value kept) or a live one (applied).
        let cases = [
            ("data = \"/elsewhere\"", Some("data")),
            ("admin_group = \"other\"", Some("admin_group")),
            ("[fuse]\nthreads = 3", Some("[fuse]")),
            ("[s3]\nsync = \"never\"", Some("s3.sync")),
            ("[s3]\npolicy_max_bytes = 4096", Some("s3.policy_max_bytes")),
            ("[metrics]\nenabled = false", Some("[metrics]")),
            ("log_level = \"debug\"", None),
            ("drain_deadline = \"5s\"", None),
            ("[s3]\naccess_log = \"off\"", None),
            ("[s3]\nregion = \"eu-west-1\"", None),
            ("[s3]\nvirtual_host_domains = [\"s3.local\"]", None),
            ("[sts]\nallow_plaintext = true", None),
        ];
        let running = Config::default();
        for (text, fixed) in cases {
            let new = parse(text).unwrap();
            let reloaded = running.reloaded(new.clone());
            assert_eq!(reloaded.needs_restart, Vec::from_iter(fixed), "{text}");
            if fixed.is_none() {
                assert_ne!(reloaded.live, running.live, "{text} applies");
                assert_eq!(reloaded.live, new.live, "{text}");
            }
        }
    }

    #[test]
    fn only_s3_settings_and_the_drain_deadline_restart_the_s3_server() {
        let running = Config::default().live;
        let mut new = running.clone();
        new.log_level = LogLevel::parse("debug").unwrap();
        new.access_log = AccessLog::Off;
        assert!(!new.restarts_s3(&running));
        new.drain_deadline = Duration::from_secs(1);
        assert!(new.restarts_s3(&running));
        let mut new = running.clone();
        new.s3.region = Some("eu-west-1".into());
        assert!(new.restarts_s3(&running));
    }
}
