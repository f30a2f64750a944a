//! The daemon's persistent parts: the served tree (root, object view), the IAM store and
//! the owner of the buckets over both.
//!
//! Owns opening them at start-up (including the sweep of bucket settings whose directory is
//! gone or replaced, before either door opens), the first-start administrator (its credentials are
//! printed once on stdout and kept in `<state>/initial-credentials`, 0600, never logged),
//! and the counts `weka status` shows. Closing happens by dropping: LMDB is flushed and
//! closed when the last `Iam` clone goes.

use std::sync::Arc;

use weka_fs::object::{ObjectOptions, ObjectView};
use weka_fs::Root;
use weka_s3::buckets::Buckets;
use weka_s3::iam::{Iam, IamOptions};

use crate::config::{Fixed, SyncMode};
use crate::error::{Error, Result};
use crate::status::Counts;

/// The opened tree and IAM store.
#[derive(Clone)]
pub struct State {
    pub root: Arc<Root>,
    pub view: Arc<ObjectView>,
    pub iam: Iam,
    /// The owner of every bucket's directory and settings (shared by both doors and the
    /// control socket).
    pub buckets: Buckets,
}

impl State {
    /// Opens the data directory and the state directory, creating the first admin if needed.
    pub fn open(config: &Fixed) -> Result<State> {
        let root = Arc::new(Root::open(&config.data).map_err(|e| {
            Error::check(
                format!("cannot open data directory {}: {e}", config.data.display()),
                "check --data and its permissions",
            )
        })?);
        let opts = ObjectOptions {
            sync: config.sync == SyncMode::Always,
        };
        let view = Arc::new(
            ObjectView::new(root.clone(), opts).map_err(|e| Error::component("object view", e))?,
        );
        let iam_opts = IamOptions {
            policy_max_bytes: config.policy_max_bytes,
            ..IamOptions::default()
        };
        let iam = Iam::open(&config.state, iam_opts).map_err(|e| {
            Error::check(
                format!("cannot open the IAM store in {}: {e}", config.state.display()),
                "check --state and its permissions; another wekad may be using the same state directory",
            )
        })?;
        first_admin(&iam, config)?;
        let buckets = open_buckets(&iam, &view)?;
        Ok(State {
            root,
            view,
            iam,
            buckets,
        })
    }
}

/// The owner of the buckets: sweeps the stored settings against the directories, then
/// follows the tree's changes so that a bucket removed through the mount loses its settings.
fn open_buckets(iam: &Iam, view: &Arc<ObjectView>) -> Result<Buckets> {
    let buckets = Buckets::new(iam.clone(), view.clone());
    let sweep = buckets
        .sweep()
        .map_err(|e| Error::component("bucket settings", e))?;
    if sweep.adopted + sweep.dropped > 0 {
        tracing::info!(
            kept = sweep.kept,
            adopted = sweep.adopted,
            dropped = sweep.dropped,
            "bucket settings checked against their directories"
        );
    }
    buckets.watch();
    Ok(buckets)
}

/// On first start, creates S3 user `admin` and prints its credentials once.
fn first_admin(iam: &Iam, config: &Fixed) -> Result<()> {
    let created = iam
        .ensure_initial_admin(&config.state)
        .map_err(|e| Error::component("first administrator", e))?;
    if let Some((user, secret)) = created {
        let file = config.state.join(weka_s3::iam::INITIAL_CREDENTIALS_FILE);
        // stdout, not the log: shown once to whoever started the daemon (the journal under
        // systemd), and kept 0600 in the state directory.
        println!(
            "First start: created S3 user `{user}` with policy readwrite.\n\
             AWS_ACCESS_KEY_ID={user}\nAWS_SECRET_ACCESS_KEY={secret}\n\
             (also saved in {}; change it with `weka user passwd --username {user}`)",
            file.display()
        );
        tracing::info!(user, file = %file.display(), "created the first S3 user; credentials printed on stdout");
    }
    Ok(())
}

impl Counts for State {
    fn iam(&self) -> (u64, u64) {
        (
            self.iam.users_count() as u64,
            self.iam.policies_count() as u64,
        )
    }

    fn buckets(&self) -> u64 {
        self.view
            .list_buckets()
            .map(|b| b.len() as u64)
            .unwrap_or(0)
    }
}
