//! wekad's error: why the daemon could not start or run, and its exit status.
//!
//! Every variant a start-up can fail with says what is wrong and what to do about it, in
//! words an operator can act on. `exit_code()` is the single translation to the process
//! exit status; no arm is a wildcard.

use crate::config::ConfigError;

/// Exit status for invalid configuration (`EX_CONFIG`); systemd does not restart on it.
pub const EX_CONFIG: u8 = 78;

/// Exit status for any other start-up or run-time failure.
pub const EX_FAILURE: u8 = 1;

/// Why wekad stopped with an error (or stopped without finishing the drain).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or a flag is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A start-up check failed: the environment is not fit to serve.
    #[error("{problem}\nhint: {hint}")]
    Check { problem: String, hint: String },
    /// A component failed to start or failed while running.
    #[error("{what}: {detail}")]
    Component { what: &'static str, detail: String },
    /// A second stop signal arrived during the drain: the requests still in flight were
    /// cut, the mount was unmounted (lazily if busy).
    #[error("stopped at once by a second stop signal: requests still in flight were cut")]
    StoppedAtOnce,
}

impl Error {
    /// A failed start-up check with its fix.
    pub fn check(problem: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Check {
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// A component failure; `detail` is the underlying error's text.
    pub fn component(what: &'static str, detail: impl std::fmt::Display) -> Error {
        Error::Component {
            what,
            detail: detail.to_string(),
        }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => EX_CONFIG,
            Error::Check { .. } => EX_FAILURE,
            Error::Component { .. } => EX_FAILURE,
            Error::StoppedAtOnce => EX_FAILURE,
        }
    }
}

/// Result with wekad's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
