//! `weka s3 sts assume-role`: trade an S3 user's key pair for temporary credentials.
//!
//! Owns the parsing of `--duration` (`900s`, `60m`, `2d`, `1w`, `1d5h`, via `humantime`;
//! a bare number is seconds) and its bounds, 15 minutes to 1 week, checked here so a typo
//! is a usage error (exit 2) before anything is sent. The secret is prompted for without
//! echo when not given. The daemon checks the key pair exactly as the S3 door would.
//! This module never prints or logs the secret it was given.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use weka::api::{Credentials, Request, Response, Secret};

use super::{print, read_file, unexpected, Ctx, Failure};

/// Shortest session (15 minutes).
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// Longest session (1 week).
pub const MAX_DURATION: Duration = Duration::from_secs(604_800);

#[derive(Debug, Subcommand)]
pub enum StsCommand {
    /// Get temporary credentials (access key, secret, session token) for an S3 user
    AssumeRole(AssumeRoleArgs),
}

#[derive(Debug, Args)]
pub struct AssumeRoleArgs {
    /// The S3 user's access key (its user name)
    #[arg(long, value_name = "AK")]
    pub access_key: String,
    /// The S3 user's secret key (prompted for without echo when absent)
    #[arg(long, value_name = "SK")]
    pub secret_key: Option<Secret>,
    /// A session policy (JSON) that can only reduce what the user's policy allows
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// How long the credentials last: 15 minutes to 1 week, e.g. 900s, 60m, 2d, 1w, 1d5h
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Duration,
}

pub fn run(ctx: &mut Ctx, command: StsCommand) -> Result<(), Failure> {
    match command {
        StsCommand::AssumeRole(args) => assume_role(ctx, args),
    }
}

fn assume_role(ctx: &mut Ctx, args: AssumeRoleArgs) -> Result<(), Failure> {
    let policy = args.policy_file.as_deref().map(read_file).transpose()?;
    let secret_key = match args.secret_key {
        Some(s) => s,
        None => prompt_secret()?,
    };
    let request = Request::AssumeRole {
        access_key: args.access_key,
        secret_key,
        policy,
        duration_secs: args.duration.as_secs(),
    };
    match ctx.call(request)? {
        Response::Credentials(c) => print(&render(&c, ctx.json)),
        other => Err(unexpected(&other)),
    }
}

fn prompt_secret() -> Result<Secret, Failure> {
    let secret = rpassword::prompt_password("Secret-Key: ").map_err(|e| {
        Failure::Usage(format!(
            "cannot read the secret key (give --secret-key when there is no terminal): {e}"
        ))
    })?;
    Ok(Secret::new(secret))
}

/// The credentials as `Access-Key:`/`Secret-Key:`/`Session-Token:` lines, or JSON.
pub fn render(c: &Credentials, json: bool) -> String {
    if json {
        return crate::output::pretty(&serde_json::json!({
            "access_key_id": c.access_key_id,
            "secret_access_key": c.secret_access_key.expose(),
            "session_token": c.session_token.expose(),
            "expiration": c.expiration,
        }));
    }
    format!(
        "Access-Key: {}\nSecret-Key: {}\nSession-Token: {}\n",
        c.access_key_id,
        c.secret_access_key.expose(),
        c.session_token.expose()
    )
}

/// Parses a session duration and checks it lies within 15 minutes and 1 week.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let d = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let secs = text
            .parse::<u64>()
            .map_err(|_| format!("{text:?} is too large"))?;
        Duration::from_secs(secs)
    } else {
        humantime::parse_duration(text).map_err(|e| {
            format!("{text:?} is not a duration ({e}); write e.g. 900s, 60m, 2d, 1w or 1d5h")
        })?
    };
    if d.subsec_nanos() != 0 {
        return Err(format!("{text:?} is not a whole number of seconds"));
    }
    if d < MIN_DURATION || d > MAX_DURATION {
        return Err(format!(
            "{text:?} is {}s; the duration must be between 15 minutes (900s) and 1 week (604800s)",
            d.as_secs()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_range_parse() {
        let cases = [
            ("900s", 900),
            ("60m", 3600),
            ("2d", 172_800),
            ("1w", 604_800),
            ("1d5h", 104_400),
            ("1d 5h", 104_400),
            ("15m", 900),
            ("3600", 3600),
            ("2h30m", 9000),
            ("1.5h", 5400),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn durations_out_of_range_are_refused() {
        for text in ["899s", "14m", "1w1s", "2w", "0s"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("between 15 minutes"), "{text}: {err}");
        }
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "abc", "10x", "-5m", "1h1.5s", "900s500ms", "m"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn lines_output_has_exactly_the_three_fields() {
        let c = Credentials {
            access_key_id: "ASIAABCDEFGHIJKLMNOP".into(),
            secret_access_key: "s".repeat(40).into(),
            session_token: "a.b.c".into(),
            expiration: "2026-11-29T14:00:00Z".into(),
        };
        let text = render(&c, false);
        let keys: Vec<&str> = text
            .lines()
            .map(|l| l.split(": ").next().unwrap())
            .collect();
        assert_eq!(keys, ["Access-Key", "Secret-Key", "Session-Token"]);
        let json: serde_json::Value = serde_json::from_str(&render(&c, true)).unwrap();
        assert_eq!(json["access_key_id"], "ASIAABCDEFGHIJKLMNOP");
        assert_eq!(json["expiration"], "2026-11-29T14:00:00Z");
    }
}
