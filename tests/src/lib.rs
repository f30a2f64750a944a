//! End-to-end test harness: a real `wekad` with its own temporary tree, socket and ports.
//!
//! Owns the life of one daemon process per [`Daemon`]: it lays out a private temporary
//! directory (`data/`, `state/`, `mnt/`, `wekad.sock`), starts the real binary with
//! `--s3-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0`, waits for
//! `<state>/endpoints.json` and for the FUSE mount to appear in `/proc/self/mountinfo`,
//! and reads the first-start admin credentials from `<state>/initial-credentials`.
//!
//! Invariants: every daemon listens on 127.0.0.1 unless its test passes another
//! `--s3-listen` (the STS plaintext rule needs a non-loopback address); dropping a [`Daemon`] stops the
//! process (SIGTERM, then SIGKILL after a timeout) and lazily unmounts a mount left behind,
//! even when the test panicked; the temporary directory is only removed once nothing is
//! mounted below it, so a cleanup never recurses into a live mount.
//!
//! The binaries come from `cargo build -p wekad -p weka`, run once per test process; when
//! that build fails, every test fails with the command and the compiler's output, never
//! quietly testing binaries left in `target/` by an earlier build.
//!
//! This is test code: a failure to set up is a test failure, so the harness panics with the
//! daemon's stderr rather than returning errors the caller would only unwrap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a daemon may take to come up (mount + listeners) before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a daemon may take to exit after SIGTERM before the harness kills it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How a [`Daemon`] is started. `Default` gives the standard isolated daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// TOML written to `<dir>/wekad.toml` and passed with `--config` (before the flags).
    pub config: Option<String>,
    /// Extra command-line arguments, appended after the standard flags (last one wins).
    pub args: Vec<String>,
    /// Extra environment variables for the daemon.
    pub env: Vec<(String, String)>,
    /// Wait for `endpoints.json` and the mount (true), or return right after spawning.
    pub wait: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            config: None,
            args: Vec::new(),
            env: Vec::new(),
            wait: true,
        }
    }
}

impl DaemonOptions {
    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the TOML configuration file content.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = Some(toml.into());
        self
    }

    /// Returns right after spawning, without waiting for the daemon to be up.
    pub fn no_wait(mut self) -> Self {
        self.wait = false;
        self
    }
}

/// A running `wekad` with its own temporary directory, mount, socket and ports.
pub struct Daemon {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    options: DaemonOptions,
    child: Option<Child>,
    endpoints: serde_json::Value,
    starts: u32,
}

impl Daemon {
    /// Starts a daemon with the default options and waits until it serves.
    pub fn start() -> Daemon {
        Daemon::start_with(DaemonOptions::default())
    }

    /// Starts a daemon with `options` (and waits for it unless `options.wait` is false).
    pub fn start_with(options: DaemonOptions) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("wekad-e2e-")
            .tempdir()
            .expect("create temp dir");
        let root = dir.path().to_path_buf();
        fs::create_dir_all(root.join("mnt")).expect("create mount dir");
        let mut daemon = Daemon {
            dir: Some(dir),
            root,
            options,
            child: None,
            endpoints: serde_json::Value::Null,
            starts: 0,
        };
        daemon.spawn();
        daemon
    }

    /// The temporary directory holding everything of this daemon.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The backing data directory.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The FUSE mount point.
    pub fn mount(&self) -> PathBuf {
        self.root.join("mnt")
    }

    /// The state directory (IAM, secret key, endpoints.json).
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.root.join("wekad.sock")
    }

    /// The configuration file path (written only when `options.config` is set).
    pub fn config_path(&self) -> PathBuf {
        self.root.join("wekad.toml")
    }

    /// The file that receives the daemon's stderr (all starts appended).
    pub fn stderr_path(&self) -> PathBuf {
        self.root.join("wekad.stderr")
    }

    /// The file that receives the daemon's stdout (all starts appended).
    pub fn stdout_path(&self) -> PathBuf {
        self.root.join("wekad.stdout")
    }

    /// Everything the daemon wrote on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Everything the daemon wrote on stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// The options this daemon was started with.
    pub fn options(&self) -> &DaemonOptions {
        &self.options
    }

    /// The options for the next start: a test may change them between `kill9` and
    /// `restart` (e.g. to disarm a test-only crash point).
    pub fn options_mut(&mut self) -> &mut DaemonOptions {
        &mut self.options
    }

    /// The process id of the running daemon, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The parsed `<state>/endpoints.json` of the current run.
    pub fn endpoints(&self) -> &serde_json::Value {
        &self.endpoints
    }

    /// `host:port` of the S3 listener.
    pub fn s3_addr(&self) -> String {
        self.endpoint_field("s3")
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS) of the S3 listener: endpoints.json's
    /// `s3_url`.
    pub fn s3_endpoint(&self) -> String {
        match self.endpoints.get("s3_url").and_then(|v| v.as_str()) {
            Some(url) => url.to_string(),
            None => format!("http://{}", self.s3_addr()),
        }
    }

    /// `host:port` of the metrics listener.
    pub fn metrics_addr(&self) -> String {
        self.endpoint_field("metrics")
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr())
    }

    fn endpoint_field(&self, name: &str) -> String {
        match self.endpoints.get(name).and_then(|v| v.as_str()) {
            Some(v) => v.to_string(),
            None => panic!(
                "endpoints.json has no `{name}`: {}\n--- stderr ---\n{}",
                self.endpoints,
                self.stderr()
            ),
        }
    }

    /// The first-start admin credentials from `<state>/initial-credentials`.
    pub fn admin_keys(&self) -> (String, String) {
        let path = self.state().join("initial-credentials");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "read {}: {e}\n--- stderr ---\n{}",
                path.display(),
                self.stderr()
            )
        });
        parse_credentials(&text).unwrap_or_else(|| panic!("malformed {}: {text:?}", path.display()))
    }

    /// Runs the real `weka` binary against this daemon's socket.
    pub fn weka(&self, args: &[&str]) -> Output {
        Command::new(weka_bin())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run weka")
    }

    /// An S3 client for this daemon with static credentials.
    pub fn s3_client(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        s3_client(&self.s3_endpoint(), access_key, secret_key, None)
    }

    /// An S3 client for this daemon with temporary (STS) credentials.
    pub fn s3_client_with_token(
        &self,
        access_key: &str,
        secret_key: &str,
        token: &str,
    ) -> aws_sdk_s3::Client {
        s3_client(&self.s3_endpoint(), access_key, secret_key, Some(token))
    }

    /// An S3 client logged in as the first-start admin.
    pub fn admin_s3(&self) -> aws_sdk_s3::Client {
        let (ak, sk) = self.admin_keys();
        self.s3_client(&ak, &sk)
    }

    /// An STS client for this daemon (AssumeRole on the S3 port).
    pub fn sts_client(&self, access_key: &str, secret_key: &str) -> aws_sdk_sts::Client {
        let creds = Credentials::new(access_key, secret_key, None, None, "weka-e2e");
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.s3_endpoint())
            .credentials_provider(creds)
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    /// True while the mount point is listed in `/proc/self/mountinfo`.
    pub fn is_mounted(&self) -> bool {
        is_mounted(&self.mount())
    }

    /// Sends `signal` to the daemon process.
    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid() {
            // The process may already be gone; the caller checks the outcome it cares about.
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Kills the daemon with SIGKILL and reaps it; the (now stale) mount stays behind.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // ESRCH only: the process already exited, which is what we want anyway.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the daemon (SIGTERM) if it runs, then starts it again on the same directories.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.terminate();
            assert!(
                status.success(),
                "wekad exited with {status} on restart\n--- stderr ---\n{}",
                self.stderr()
            );
        }
        self.spawn();
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.terminate()
    }

    /// Waits for the daemon to exit on its own (e.g. after a signal sent by the test).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = wait_timeout(child, timeout)?;
        self.child = None;
        Some(status)
    }

    /// SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL.
    fn terminate(&mut self) -> ExitStatus {
        let Some(mut child) = self.child.take() else {
            panic!("wekad is not running");
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        if let Some(status) = wait_timeout(&mut child, STOP_TIMEOUT) {
            return status;
        }
        let _ = child.kill();
        child.wait().expect("reap wekad")
    }

    /// Spawns the process (and waits for it to serve unless told not to).
    fn spawn(&mut self) {
        let endpoints_file = self.state().join("endpoints.json");
        // A previous run's file must not be mistaken for this run's readiness.
        let _ = fs::remove_file(&endpoints_file);
        let cmd = self.command();
        self.starts += 1;
        self.child = Some(spawn_logged(cmd, &self.stdout_path(), &self.stderr_path()));
        if self.options.wait {
            self.wait_ready(&endpoints_file);
        }
    }

    /// The full command line of the daemon.
    fn command(&self) -> Command {
        let mut cmd = Command::new(wekad_bin());
        if let Some(config) = &self.options.config {
            fs::write(self.config_path(), config).expect("write config");
            cmd.arg("--config").arg(self.config_path());
        }
        cmd.arg("--data").arg(self.data());
        cmd.arg("--mount").arg(self.mount());
        cmd.arg("--state").arg(self.state());
        cmd.arg("--socket").arg(self.socket());
        cmd.args([
            "--s3-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]);
        cmd.args(&self.options.args);
        cmd.env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.envs(
            self.options
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        cmd
    }

    /// Polls until endpoints.json exists and the mount is live; panics with stderr on failure.
    fn wait_ready(&mut self, endpoints_file: &Path) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "wekad exited with {status} during start-up\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            if let Some(endpoints) = read_json(endpoints_file) {
                if is_mounted(&self.mount()) {
                    self.endpoints = endpoints;
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "wekad did not come up within {START_TIMEOUT:?}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if wait_timeout(&mut child, STOP_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if is_mounted(&self.mount()) {
            lazy_unmount(&self.mount());
        }
        if is_mounted(&self.mount()) {
            // Never let TempDir's cleanup walk into a live mount: leak the directory instead.
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}

/// Lazily unmounts `path` when dropped, if it is still mounted (for tests that mount directly).
pub struct MountGuard {
    path: PathBuf,
}

impl MountGuard {
    /// Guards the mount point `path`.
    pub fn new(path: impl Into<PathBuf>) -> MountGuard {
        MountGuard { path: path.into() }
    }

    /// The guarded mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if is_mounted(&self.path) {
            lazy_unmount(&self.path);
        }
    }
}

/// Builds an aws-sdk-s3 client: path-style, region us-east-1, static credentials, no retries.
pub fn s3_client(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    token: Option<&str>,
) -> aws_sdk_s3::Client {
    let creds = Credentials::new(
        access_key,
        secret_key,
        token.map(str::to_string),
        None,
        "weka-e2e",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Parses `AWS_ACCESS_KEY_ID=..\nAWS_SECRET_ACCESS_KEY=..\n`.
pub fn parse_credentials(text: &str) -> Option<(String, String)> {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim().to_string())
    };
    Some((value("AWS_ACCESS_KEY_ID")?, value("AWS_SECRET_ACCESS_KEY")?))
}

/// True when `path` is a mount point listed in `/proc/self/mountinfo`.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = mountinfo_escape(path);
    info.lines()
        .any(|line| line.split(' ').nth(4) == Some(want.as_str()))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn mountinfo_escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// `fusermount3 -u -z path`, falling back to `umount -l`.
pub fn lazy_unmount(path: &Path) {
    let ok = Command::new("fusermount3")
        .args(["-u", "-z"])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(path)
            .stderr(Stdio::null())
            .status();
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` to exit for at most `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// A plain HTTP/1.0 GET to `127.0.0.1:PORT` returning (status, body); for /metrics.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, b"")
}

/// One unsigned (anonymous) HTTP/1.0 request returning (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send request");
    stream.write_all(body).expect("send body");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read response");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// Spawns `cmd` with stdout/stderr appended to files (never a pipe that could fill up).
fn spawn_logged(mut cmd: Command, stdout: &Path, stderr: &Path) -> Child {
    let open = |p: &Path| {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("open log file")
    };
    cmd.stdin(Stdio::null())
        .stdout(open(stdout))
        .stderr(open(stderr));
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()))
}

/// The `wekad` binary, freshly built by [`ensure_built`] (or `$WEKAD_BIN` when set).
pub fn wekad_bin() -> PathBuf {
    binary("wekad", "WEKAD_BIN")
}

/// The `weka` binary, freshly built by [`ensure_built`] (or `$WEKA_BIN` when set).
pub fn weka_bin() -> PathBuf {
    binary("weka", "WEKA_BIN")
}

fn binary(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    ensure_built();
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing after a successful cargo build",
        path.display()
    );
    path
}

/// `target/<profile>/`, found from the test executable in `target/<profile>/deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("exe has a parent");
    if deps.file_name() == Some(OsStr::new("deps")) {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Runs `cargo build -p wekad -p weka` once per test process, and panics with the
/// command and the compiler's output when it fails.
///
/// Cargo, not this harness, decides whether the binaries are fresh (an up-to-date build
/// costs a second), so a change anywhere they are built from (vendored crates, the lock
/// file) is picked up. A failed build never falls back to the binaries already in
/// `target/`: those were built from other sources, and a test passing against them would
/// say nothing about the code under test. Every test of the process fails with the same
/// message; the build is not retried.
fn ensure_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(failure) = BUILT.get_or_init(build_binaries) {
        panic!("{failure}");
    }
}

fn build_binaries() -> Result<(), String> {
    run_build(build_command(&profile_dir()))
}

/// Runs a build command; on failure, the error names the command and carries its stderr.
fn run_build(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("could not run `{shown}`: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{shown}` failed ({}), so there is no wekad/weka built from these sources to test\n\
         --- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// `cargo build -p wekad -p weka` into the target directory and profile of this test.
fn build_command(profile_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"));
    cmd.args(["-p", "wekad", "-p", "weka"]);
    if profile_dir.file_name() == Some(OsStr::new("release")) {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Writes an executable shell script (for fake binaries in PATH-based tests).
pub fn write_executable(path: &Path, content: &str) {
    fs::write(path, content).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// The S3 error code of a call that must fail (panics if it succeeded); a failure that is
/// not a service error (connection, timeout) is returned as its debug text.
pub fn error_code<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E>>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(aws_sdk_s3::error::SdkError::ServiceError(s)) => {
            s.err().code().unwrap_or("?").to_owned()
        }
        Err(other) => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_is_parsed() {
        let text = "AWS_ACCESS_KEY_ID=admin\nAWS_SECRET_ACCESS_KEY=Secret123\n";
        assert_eq!(
            parse_credentials(text),
            Some(("admin".into(), "Secret123".into()))
        );
        assert_eq!(parse_credentials("AWS_ACCESS_KEY_ID=admin\n"), None);
    }

    #[test]
    fn mountinfo_escapes_spaces_and_backslashes() {
        assert_eq!(
            mountinfo_escape(Path::new("/tmp/a b\\c")),
            "/tmp/a\\040b\\134c"
        );
    }

    #[test]
    fn a_failed_build_names_the_command_and_shows_the_compiler_output() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'error[E0425]: cannot find value' >&2; exit 101"]);
        let failure = run_build(cmd).unwrap_err();
        assert!(failure.contains(r#""sh" "-c""#), "{failure}");
        assert!(failure.contains("exit status: 101"), "{failure}");
        assert!(
            failure.contains("error[E0425]: cannot find value"),
            "{failure}"
        );
        assert_eq!(run_build(Command::new("true")), Ok(()));
    }

    #[test]
    fn the_build_command_targets_this_profile_and_target_dir() {
        let cmd = build_command(Path::new("/x/target/release"));
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        let args = args.join(" ");
        assert!(args.contains("-p wekad -p weka"), "{args}");
        assert!(args.contains("--release"), "{args}");
        assert!(args.ends_with("--target-dir /x/target"), "{args}");
    }

    #[test]
    fn root_filesystem_is_mounted_and_a_temp_dir_is_not() {
        assert!(is_mounted(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mounted(dir.path()));
    }
}
