//! `weka s3 policy ...`: list, show, create (alias add), remove, attach, detach.

use std::path::PathBuf;

use clap::Subcommand;
use weka::api::{Request, Response};

use super::{print, read_file, unexpected, Ctx, Failure};
use crate::output::{self, Column, ListOpts};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List IAM policies
    List(ListOpts),
    /// Print a policy's JSON
    Show { policy_name: String },
    /// Create a custom policy from a JSON file
    #[command(visible_alias = "add")]
    Create {
        policy_name: String,
        policy_file: PathBuf,
    },
    /// Remove a custom policy (refused while attached)
    Remove { policy_name: String },
    /// Attach a policy to an S3 user (replaces its policy)
    Attach { policy: String, user: String },
    /// Detach the policy of an S3 user
    Detach { user: String },
}

const COLUMNS: [Column; 3] = [
    Column::text("name", "NAME"),
    Column::extra("builtin", "BUILT-IN", output::Kind::Text),
    Column::extra("users", "USERS", output::Kind::Text),
];

pub fn run(ctx: &mut Ctx, command: PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::List(opts) => list(ctx, &opts),
        PolicyCommand::Show { policy_name } => show(ctx, policy_name),
        PolicyCommand::Create {
            policy_name,
            policy_file,
        } => {
            let json = read_file(&policy_file)?;
            ctx.call_done(Request::PolicyCreate {
                name: policy_name,
                json,
            })
        }
        PolicyCommand::Remove { policy_name } => {
            ctx.call_done(Request::PolicyRemove { name: policy_name })
        }
        PolicyCommand::Attach { policy, user } => {
            ctx.call_done(Request::PolicyAttach { policy, user })
        }
        PolicyCommand::Detach { user } => ctx.call_done(Request::PolicyDetach { user }),
    }
}

fn list(ctx: &mut Ctx, opts: &ListOpts) -> Result<(), Failure> {
    let policies = match ctx.call(Request::PolicyList)? {
        Response::Policies(p) => p,
        other => return Err(unexpected(&other)),
    };
    print(
        &output::render_list(&COLUMNS, output::to_rows(&policies), opts, ctx.json)
            .map_err(Failure::Usage)?,
    )
}

fn show(ctx: &mut Ctx, name: String) -> Result<(), Failure> {
    let json = match ctx.call(Request::PolicyShow { name })? {
        Response::Policy { json, .. } => json,
        other => return Err(unexpected(&other)),
    };
    print(&pretty_json_text(&json))
}

/// A JSON document as wekad sent it (already indented, keys in the author's order).
pub fn pretty_json_text(json: &str) -> String {
    format!("{}\n", json.trim_end())
}
