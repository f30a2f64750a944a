//! `weka user ...`: list, add, delete, passwd, update, change-role, revoke-tokens.

use clap::{Args, Subcommand};
use weka::api::{Request, Response, Secret};

use super::{password_or_prompt, print, unexpected, Ctx, Failure};
use crate::output::{self, Column, Kind, ListOpts};

/// `weka user [SUBCOMMAND]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: Option<UserCommand>,
    #[command(flatten)]
    pub list: ListOpts,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users
    List(ListOpts),
    /// Create a user (prompts for the password when not given)
    Add {
        username: String,
        /// clusteradmin, orgadmin, regular, readonly or s3
        role: String,
        password: Option<Secret>,
        /// POSIX uid owning files this S3 user creates
        #[arg(long)]
        posix_uid: Option<u32>,
        /// POSIX gid owning files this S3 user creates
        #[arg(long)]
        posix_gid: Option<u32>,
    },
    /// Delete a user (its temporary credentials stop working)
    Delete { username: String },
    /// Set a user's password (prompts when not given)
    Passwd {
        password: Option<Secret>,
        #[arg(long)]
        username: String,
    },
    /// Change a user's role or POSIX ids
    Update {
        username: String,
        #[arg(long)]
        posix_uid: Option<u32>,
        #[arg(long)]
        posix_gid: Option<u32>,
        #[arg(long)]
        role: Option<String>,
    },
    /// Change a user's role
    ChangeRole { username: String, role: String },
    /// End every temporary (STS) credential issued from a user
    RevokeTokens { username: String },
}

const COLUMNS: [Column; 9] = [
    Column::text("uid", "UID"),
    Column::text("user", "USER"),
    Column::text("source", "SOURCE"),
    Column::text("role", "ROLE"),
    Column::text("s3Policy", "S3 POLICY"),
    Column::text("posix_uid", "POSIX UID"),
    Column::text("posix_gid", "POSIX GID"),
    Column::extra("created", "CREATED", Kind::Time),
    Column::extra("updated", "UPDATED", Kind::Time),
];

pub fn run(ctx: &mut Ctx, args: UserArgs) -> Result<(), Failure> {
    let Some(command) = args.command else {
        return list(ctx, &args.list);
    };
    match command {
        UserCommand::List(opts) => list(ctx, &opts),
        UserCommand::Add {
            username,
            role,
            password,
            posix_uid,
            posix_gid,
        } => {
            let password = password_or_prompt(password)?;
            show_user(
                ctx,
                Request::UserAdd {
                    username,
                    role,
                    password,
                    posix_uid,
                    posix_gid,
                },
            )
        }
        UserCommand::Delete { username } => ctx.call_done(Request::UserDelete { username }),
        UserCommand::Passwd { password, username } => {
            let password = password_or_prompt(password)?;
            ctx.call_done(Request::UserPasswd { username, password })
        }
        UserCommand::Update {
            username,
            posix_uid,
            posix_gid,
            role,
        } => show_user(
            ctx,
            Request::UserUpdate {
                username,
                role,
                posix_uid,
                posix_gid,
            },
        ),
        UserCommand::ChangeRole { username, role } => show_user(
            ctx,
            Request::UserUpdate {
                username,
                role: Some(role),
                posix_uid: None,
                posix_gid: None,
            },
        ),
        UserCommand::RevokeTokens { username } => {
            ctx.call_done(Request::UserRevokeTokens { username })
        }
    }
}

fn list(ctx: &mut Ctx, opts: &ListOpts) -> Result<(), Failure> {
    let users = match ctx.call(Request::UserList)? {
        Response::Users(u) => u,
        other => return Err(unexpected(&other)),
    };
    let text = output::render_list(&COLUMNS, output::to_rows(&users), opts, ctx.json)
        .map_err(Failure::Usage)?;
    print(&text)
}

fn show_user(ctx: &mut Ctx, request: Request) -> Result<(), Failure> {
    let user = match ctx.call(request)? {
        Response::User(u) => u,
        other => return Err(unexpected(&other)),
    };
    let text = output::render_list(
        &COLUMNS,
        output::to_rows(std::slice::from_ref(&user)),
        &ListOpts::default(),
        false,
    )
    .map_err(Failure::Usage)?;
    if ctx.json {
        return print(&output::pretty(
            &serde_json::to_value(&user).map_err(|e| Failure::Unexpected(e.to_string()))?,
        ));
    }
    print(&text)
}
