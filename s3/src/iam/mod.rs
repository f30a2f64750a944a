//! IAM: users, policies and bucket settings of wekad, stored in LMDB under `<state>/iam/`.
//!
//! Owns the store (`store`), the secrets (`secret`), the checked names (`names`) and the
//! published in-memory snapshot (`snapshot`) that the S3 door and STS read on every request.
//! Bucket settings are stored here but owned by `crate::buckets`, which alone reads and
//! writes them (`bucket`), because whether a record applies depends on the bucket directory.
//!
//! Invariants: every change is one LMDB write transaction; the snapshot built from that
//! transaction is published right after it commits, under one write lock, so readers
//! never see a partial change nor a window in which a valid user is missing. S3 secrets
//! are encrypted at rest, other passwords hashed. This module never logs a secret and
//! never evaluates policies (that is `crate::policy`).

mod admin;
mod bucket;
pub mod error;
pub mod names;
pub mod secret;
mod snapshot;
mod store;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use heed::Env;

pub use admin::{NewUser, PolicyInfo, UserInfo, UserUpdate};
pub use bucket::BucketPolicySetting;
pub use error::{Error, Result};
pub use names::Role;
pub use secret::SecretString;
pub use snapshot::{S3Identity, BUILTIN_POLICIES};
pub use store::SCHEMA_VERSION;

pub(crate) use snapshot::BucketSettings;
#[cfg(test)]
pub(crate) use store::BucketPolicyRecord;
pub(crate) use store::BucketRecord;

use secret::SecretCipher;
use snapshot::Snapshot;
use store::Tables;

/// Name of the server key file in the state directory.
pub const SERVER_KEY_FILE: &str = "secret.key";

/// Name of the file holding the first administrator's credentials.
pub const INITIAL_CREDENTIALS_FILE: &str = "initial-credentials";

/// Tunables of the IAM store.
#[derive(Debug, Clone)]
pub struct IamOptions {
    /// Largest accepted custom policy, in bytes (WEKA: 2048; may be raised).
    pub policy_max_bytes: usize,
    /// Most custom policies.
    pub max_policies: usize,
    /// Most S3 users.
    pub max_s3_users: usize,
}

impl Default for IamOptions {
    fn default() -> IamOptions {
        IamOptions {
            policy_max_bytes: 2048,
            max_policies: 1024,
            max_s3_users: 1024,
        }
    }
}

/// Handle to the IAM store. Cheap to clone; all clones share one store and one snapshot.
#[derive(Clone)]
pub struct Iam {
    inner: Arc<Inner>,
}

struct Inner {
    env: Env,
    tables: Tables,
    cipher: SecretCipher,
    server_key: [u8; secret::SERVER_KEY_LEN],
    opts: IamOptions,
    /// Serialises writers so snapshots are published in commit order. Taken before the LMDB
    /// write transaction; never held while waiting on anything else.
    write_lock: Mutex<()>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Iam {
    /// Opens the store of `state_dir` (creating `secret.key` and `iam/` on first start).
    pub fn open(state_dir: &Path, opts: IamOptions) -> Result<Iam> {
        std::fs::create_dir_all(state_dir).map_err(|e| Error::io(state_dir, e))?;
        let server_key = secret::load_or_create_server_key(&state_dir.join(SERVER_KEY_FILE))?;
        let cipher = SecretCipher::new(&server_key)?;
        let (env, tables) = store::open(&state_dir.join("iam"))?;
        let snap = {
            let rtxn = env.read_txn()?;
            snapshot::build(&tables, &rtxn, &cipher)?
        };
        let inner = Inner {
            env,
            tables,
            cipher,
            server_key,
            opts,
            write_lock: Mutex::new(()),
            snapshot: RwLock::new(Arc::new(snap)),
        };
        Ok(Iam {
            inner: Arc::new(inner),
        })
    }

    /// The S3 identity whose access key is `access_key`, if it exists and may use S3.
    pub fn s3_identity(&self, access_key: &str) -> Option<Arc<S3Identity>> {
        self.snapshot().identities.get(access_key).cloned()
    }

    /// The 32-byte server key (signs STS tokens; derive, do not reuse directly).
    pub fn server_key(&self) -> &[u8] {
        &self.inner.server_key
    }

    /// Number of users (all roles).
    pub fn users_count(&self) -> usize {
        self.snapshot().users
    }

    /// Number of policies (built-in and custom).
    pub fn policies_count(&self) -> usize {
        self.snapshot().policies
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &IamOptions {
        &self.inner.opts
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `change` in one write transaction, commits, and publishes the new snapshot.
    fn mutate<T>(&self, change: impl FnOnce(&Tables, &mut heed::RwTxn) -> Result<T>) -> Result<T> {
        self.mutate_with(change)
    }

    /// `mutate` for a change whose own errors are not IAM errors (bucket settings, which
    /// read the bucket directory inside the transaction).
    fn mutate_with<T, E: From<Error>>(
        &self,
        change: impl FnOnce(&Tables, &mut heed::RwTxn) -> Result<T, E>,
    ) -> Result<T, E> {
        let _writer = self.writer();
        let inner = &self.inner;
        let mut wtxn = inner.env.write_txn().map_err(Error::from)?;
        let out = change(&inner.tables, &mut wtxn)?;
        let snap = snapshot::build(&inner.tables, &wtxn, &inner.cipher)?;
        wtxn.commit().map_err(Error::from)?;
        *inner
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(snap);
        Ok(out)
    }

    fn writer(&self) -> MutexGuard<'_, ()> {
        self.inner
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` in a read transaction (admin listings read the store, not the snapshot,
    /// because the snapshot keeps only what request paths need).
    fn read<T>(&self, read: impl FnOnce(&Tables, &heed::RoTxn) -> Result<T>) -> Result<T> {
        let rtxn = self.inner.env.read_txn()?;
        read(&self.inner.tables, &rtxn)
    }

    /// On first start (no user at all), creates S3 user `admin` with a random 40-character
    /// password and the `readwrite` policy, and writes `<state>/initial-credentials` (0600).
    /// Returns the credentials so the daemon can print them once.
    pub fn ensure_initial_admin(&self, state_dir: &Path) -> Result<Option<(String, String)>> {
        if self.read(|t, txn| Ok(!t.users.is_empty(txn)?))? {
            return Ok(None);
        }
        let password = secret::random_password(40);
        let path = state_dir.join(INITIAL_CREDENTIALS_FILE);
        write_initial_credentials(&path, "admin", &password)?;
        let admin = NewUser {
            name: "admin".into(),
            role: Role::S3,
            password: password.clone(),
            posix_uid: None,
            posix_gid: None,
            policy: Some("readwrite".into()),
        };
        self.add_user(admin)?;
        Ok(Some(("admin".into(), password.expose().to_owned())))
    }
}

fn write_initial_credentials(path: &PathBuf, user: &str, password: &SecretString) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        write!(
            f,
            "AWS_ACCESS_KEY_ID={user}\nAWS_SECRET_ACCESS_KEY={}\n",
            password.expose()
        )?;
        f.sync_all()
    };
    write().map_err(|e| Error::io(path.clone(), e))
}
