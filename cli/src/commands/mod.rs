//! The command implementations, one module per area of WEKA's tree, and what they share:
//! the connection (`Ctx`), stdout writing with broken-pipe handling, and `Failure`.

pub mod bucket;
pub mod policy;
pub mod status;
pub mod sts;
pub mod user;

use std::io::Write;
use std::path::{Path, PathBuf};

use weka::api::{Client, ClientError, Request, Response, Secret};

/// Why a command failed, and so which exit code `weka` returns.
#[derive(Debug)]
pub enum Failure {
    /// The daemon or the connection failed.
    Client(ClientError),
    /// Bad arguments or an unreadable input file.
    Usage(String),
    /// The daemon answered with something this command did not expect.
    Unexpected(String),
    /// stdout was closed (e.g. `weka user | head -1`): not an error.
    BrokenPipe,
}

impl Failure {
    /// The exit code documented in `weka --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Client(e) => u8::try_from(e.exit_code()).unwrap_or(1),
            Failure::Usage(_) => 2,
            Failure::Unexpected(_) => 1,
            Failure::BrokenPipe => 0,
        }
    }

    /// What to tell the operator on stderr.
    pub fn message(&self) -> String {
        match self {
            Failure::Client(e) => e.to_string(),
            Failure::Usage(m) | Failure::Unexpected(m) => m.clone(),
            Failure::BrokenPipe => String::new(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(e)
    }
}

/// State shared by a command run: where the daemon is, and whether to print JSON.
pub struct Ctx {
    socket: PathBuf,
    client: Option<Client>,
    pub json: bool,
}

impl Ctx {
    pub fn new(socket: PathBuf, json: bool) -> Ctx {
        Ctx {
            socket,
            client: None,
            json,
        }
    }

    /// Sends one request (connecting on first use).
    pub fn call(&mut self, request: Request) -> Result<Response, Failure> {
        let client = match &mut self.client {
            Some(c) => c,
            None => self.client.insert(Client::connect(&self.socket)?),
        };
        Ok(client.call(request)?)
    }

    /// Sends a request that answers `Done` and prints its message (or JSON with `-J`).
    pub fn call_done(&mut self, request: Request) -> Result<(), Failure> {
        match self.call(request)? {
            Response::Done { message } if self.json => print(&crate::output::pretty(
                &serde_json::json!({ "message": message }),
            )),
            Response::Done { message } => print(&format!("{message}\n")),
            other => Err(unexpected(&other)),
        }
    }
}

/// Writes to stdout; a closed pipe becomes `Failure::BrokenPipe` (exit 0, like ripgrep).
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::BrokenPipe),
        Err(e) => Err(Failure::Unexpected(format!("cannot write to stdout: {e}"))),
    }
}

/// The failure for a response of the wrong kind.
pub fn unexpected(r: &Response) -> Failure {
    Failure::Unexpected(format!("unexpected answer from wekad: {r:?}"))
}

/// Reads a policy file given on the command line.
pub fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

/// A password from the argument, or prompted twice without echo.
pub fn password_or_prompt(given: Option<Secret>) -> Result<Secret, Failure> {
    if let Some(p) = given {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| {
        Failure::Usage(format!(
            "cannot read the password (give it as an argument when there is no terminal): {e}"
        ))
    })?;
    let second = rpassword::prompt_password("Confirm password: ")
        .map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(Failure::Usage("the passwords do not match".into()));
    }
    Ok(Secret::new(first))
}
