//! `weka`: the administrator's command line for wekad, in WEKA's command tree.
//!
//! Parses arguments (clap), sends one request per command to the control socket and
//! renders the answer. Errors become exit codes in one place (`main`); nothing else exits.

mod commands;
mod output;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{bucket, policy, status, sts, user, Failure};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (including a closed pipe on stdout)
  1  wekad answered with an error
  2  usage error (bad arguments, unreadable input file)
  3  wekad is unreachable (not running, wrong --socket, or permission denied:
     run as root or as a member of wekad's admin group)";

/// Manage wekad: users, S3 policies, buckets, status.
#[derive(Debug, Parser)]
#[command(name = "weka", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Control socket of wekad [default: /run/wekad/wekad.sock for root, else
    /// $XDG_RUNTIME_DIR/wekad/wekad.sock or /tmp/wekad-$UID/wekad.sock]
    #[arg(long, global = true, env = "WEKA_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(short = 'J', long = "json", global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List and manage users (without a subcommand: list)
    User(user::UserArgs),
    /// S3 service: policies, buckets
    S3 {
        #[command(subcommand)]
        command: S3Command,
    },
    /// Show wekad's state: version, uptime, paths, mount, endpoints
    Status,
}

/// `weka s3 ...`. New areas (e.g. `sts`) are added as variants here, each with its own
/// module under `commands/`.
#[derive(Debug, Subcommand)]
enum S3Command {
    /// IAM policies for S3 users
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// S3 buckets
    Bucket {
        #[command(subcommand)]
        command: bucket::BucketCommand,
    },
    /// STS temporary credentials
    Sts {
        #[command(subcommand)]
        command: sts::StsCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(f) => {
            // stderr may be closed too; nothing better can be done then.
            let _ = writeln!(std::io::stderr(), "error: {}", f.message());
            ExitCode::from(f.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let socket = cli.socket.unwrap_or_else(weka::api::default_socket_path);
    let mut ctx = commands::Ctx::new(socket, cli.json);
    match cli.command {
        Command::User(args) => user::run(&mut ctx, args),
        Command::S3 {
            command: S3Command::Policy { command },
        } => policy::run(&mut ctx, command),
        Command::S3 {
            command: S3Command::Bucket { command },
        } => bucket::run(&mut ctx, command),
        Command::S3 {
            command: S3Command::Sts { command },
        } => sts::run(&mut ctx, command),
        Command::Status => status::run(&mut ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn weka_user_without_subcommand_is_a_list_with_options() {
        let cli = Cli::try_parse_from([
            "weka",
            "user",
            "-f",
            "csv",
            "-o",
            "user,role",
            "--no-header",
        ])
        .unwrap();
        let Command::User(args) = cli.command else {
            panic!("not user")
        };
        assert!(args.command.is_none());
        assert_eq!(args.list.output, ["user", "role"]);
    }

    #[test]
    fn policy_add_is_an_alias_of_create() {
        let cli =
            Cli::try_parse_from(["weka", "s3", "policy", "add", "p", "f.json", "-J"]).unwrap();
        assert!(cli.json);
        assert!(matches!(
            cli.command,
            Command::S3 {
                command: S3Command::Policy {
                    command: policy::PolicyCommand::Create { .. }
                }
            }
        ));
    }
}
