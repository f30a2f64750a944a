//! `weka s3 bucket ...`: create, list, destroy, policy, quota.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use weka::api::{Request, Response};

use super::{print, read_file, unexpected, Ctx, Failure};
use crate::output::{self, Column, ListOpts};

/// Anonymous access presets.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    None,
    Download,
    Upload,
    Public,
}

impl Preset {
    fn as_str(self) -> &'static str {
        match self {
            Preset::None => "none",
            Preset::Download => "download",
            Preset::Upload => "upload",
            Preset::Public => "public",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum BucketCommand {
    /// Create a bucket (a top-level directory)
    Create {
        name: String,
        /// Anonymous access preset
        #[arg(long, value_enum, conflicts_with = "policy_json")]
        policy: Option<Preset>,
        /// Anonymous access policy from a JSON file
        #[arg(long, value_name = "FILE")]
        policy_json: Option<PathBuf>,
        /// Hard quota, e.g. 10GiB
        #[arg(long, value_name = "SIZE")]
        hard_quota: Option<String>,
    },
    /// List buckets
    List(ListOpts),
    /// Destroy an empty bucket
    Destroy {
        name: String,
        /// Do not ask for confirmation
        #[arg(short = 'f', long = "force")]
        force: bool,
    },
    /// Anonymous access policy of a bucket
    Policy {
        #[command(subcommand)]
        command: BucketPolicyCommand,
    },
    /// Hard quota of a bucket
    Quota {
        #[command(subcommand)]
        command: QuotaCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BucketPolicyCommand {
    /// Set a preset: none, download, upload or public
    Set {
        bucket_name: String,
        #[arg(value_enum)]
        bucket_policy: Preset,
    },
    /// Show the preset name (or custom)
    Get { bucket_name: String },
    /// Show the policy JSON
    GetJson { bucket_name: String },
    /// Remove anonymous access
    Unset { bucket_name: String },
    /// Set a custom policy from a JSON file (no s3:* allowed)
    SetCustom {
        bucket_name: String,
        policy_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set the hard quota, e.g. 10GiB
    Set {
        bucket_name: String,
        hard_quota: String,
    },
    /// Remove the hard quota
    Unset { bucket_name: String },
}

const COLUMNS: [Column; 5] = [
    Column::text("name", "NAME"),
    Column::bytes("hard", "HARD LIMIT"),
    Column::bytes("used", "USED"),
    Column::text("path", "PATH"),
    Column::extra("policy", "POLICY", output::Kind::Text),
];

pub fn run(ctx: &mut Ctx, command: BucketCommand) -> Result<(), Failure> {
    match command {
        BucketCommand::Create {
            name,
            policy,
            policy_json,
            hard_quota,
        } => {
            let policy_json = policy_json.as_deref().map(read_file).transpose()?;
            let hard_quota = hard_quota.as_deref().map(parse_size).transpose()?;
            ctx.call_done(Request::BucketCreate {
                name,
                policy: policy.map(|p| p.as_str().to_owned()),
                policy_json,
                hard_quota,
            })
        }
        BucketCommand::List(opts) => list(ctx, &opts),
        BucketCommand::Destroy { name, force } => {
            confirm_destroy(&name, force)?;
            ctx.call_done(Request::BucketDestroy { name })
        }
        BucketCommand::Policy { command } => policy(ctx, command),
        BucketCommand::Quota {
            command:
                QuotaCommand::Set {
                    bucket_name,
                    hard_quota,
                },
        } => {
            let hard_quota = parse_size(&hard_quota)?;
            ctx.call_done(Request::BucketQuotaSet {
                bucket: bucket_name,
                hard_quota,
            })
        }
        BucketCommand::Quota {
            command: QuotaCommand::Unset { bucket_name },
        } => ctx.call_done(Request::BucketQuotaUnset {
            bucket: bucket_name,
        }),
    }
}

fn policy(ctx: &mut Ctx, command: BucketPolicyCommand) -> Result<(), Failure> {
    match command {
        BucketPolicyCommand::Set {
            bucket_name,
            bucket_policy,
        } => ctx.call_done(Request::BucketPolicySet {
            bucket: bucket_name,
            kind: bucket_policy.as_str().into(),
        }),
        BucketPolicyCommand::Get { bucket_name } => get(ctx, bucket_name, false),
        BucketPolicyCommand::GetJson { bucket_name } => get(ctx, bucket_name, true),
        BucketPolicyCommand::Unset { bucket_name } => ctx.call_done(Request::BucketPolicyUnset {
            bucket: bucket_name,
        }),
        BucketPolicyCommand::SetCustom {
            bucket_name,
            policy_file,
        } => {
            let json = read_file(&policy_file)?;
            ctx.call_done(Request::BucketPolicySetCustom {
                bucket: bucket_name,
                json,
            })
        }
    }
}

fn get(ctx: &mut Ctx, bucket: String, want_json: bool) -> Result<(), Failure> {
    let (bucket, kind, json) = match ctx.call(Request::BucketPolicyGet { bucket })? {
        Response::BucketPolicy { bucket, kind, json } => (bucket, kind, json),
        other => return Err(unexpected(&other)),
    };
    if want_json {
        return print(&super::policy::pretty_json_text(
            json.as_deref().unwrap_or("{}"),
        ));
    }
    if ctx.json {
        return print(&output::pretty(
            &serde_json::json!({ "bucket": bucket, "policy": kind }),
        ));
    }
    print(&format!("{kind}\n"))
}

fn list(ctx: &mut Ctx, opts: &ListOpts) -> Result<(), Failure> {
    let buckets = match ctx.call(Request::BucketList)? {
        Response::Buckets(b) => b,
        other => return Err(unexpected(&other)),
    };
    print(
        &output::render_list(&COLUMNS, output::to_rows(&buckets), opts, ctx.json)
            .map_err(Failure::Usage)?,
    )
}

fn confirm_destroy(name: &str, force: bool) -> Result<(), Failure> {
    if force {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "refusing to destroy bucket `{name}` without confirmation: add -f"
        )));
    }
    eprint!("Destroy bucket `{name}`? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Usage(
            "not confirmed; nothing was destroyed".into(),
        ))
    }
}

/// Parses a size like `1GB`, `10GiB` or `1048576`.
fn parse_size(s: &str) -> Result<u64, Failure> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| Failure::Usage(format!("invalid size `{s}`: {e}")))
}
