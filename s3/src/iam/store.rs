//! The LMDB layout of the IAM store and typed access to its records.
//!
//! Layout under `<state>/iam/` (one LMDB environment, named databases, values are JSON):
//! `meta` (schema version, uid and generation counters), `users` (by name), `policies`
//! (custom ones by name; built-ins are constants, never stored), `buckets` (anonymous
//! policy, quota, by bucket name, with the id of the bucket directory they were set for),
//! `sts` (reserved for STS state).
//!
//! Invariant: the schema version is checked before any other read; a mismatch refuses to
//! open. This module does no validation of its own: callers pass checked values.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvOpenOptions, RoTxn, RwTxn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::names::Role;
use super::secret::StoredCredential;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// LMDB map size: an upper bound on the file size, not an allocation.
const MAP_SIZE: usize = 1 << 30;

const KEY_SCHEMA: &str = "schema_version";
const KEY_NEXT_UID: &str = "next_uid";
const KEY_GENERATION: &str = "generation";

/// One user as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub uid: u64,
    pub name: String,
    pub role: Role,
    pub credential: StoredCredential,
    pub policy: Option<String>,
    pub posix_uid: u32,
    pub posix_gid: u32,
    pub token_generation: u64,
    pub created: i64,
    pub updated: i64,
}

/// One custom policy as stored (the JSON exactly as the administrator gave it).
#[derive(Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub json: String,
    pub created: i64,
}

/// Per-bucket settings kept in IAM: the anonymous access policy and the hard quota, for the
/// bucket directory whose id is `id`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct BucketRecord {
    /// The id of the bucket directory the settings were set for. Records written before
    /// bucket directories had ids have none; the start-up sweep adopts or drops them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub policy: Option<BucketPolicyRecord>,
    pub quota: Option<u64>,
}

impl BucketRecord {
    /// True when the record holds no setting (it is then not stored at all).
    pub fn is_empty(&self) -> bool {
        self.policy.is_none() && self.quota.is_none()
    }
}

/// A bucket's anonymous policy: a preset (`download`, `upload`, `public`) or `custom`,
/// stored by name.
#[derive(Clone, Serialize, Deserialize)]
pub struct BucketPolicyRecord {
    pub kind: crate::policy::BucketPolicyKind,
    pub json: String,
}

/// The named databases of the environment.
#[derive(Clone, Copy)]
pub struct Tables {
    meta: Database<Str, Bytes>,
    pub users: Database<Str, Bytes>,
    pub policies: Database<Str, Bytes>,
    pub buckets: Database<Str, Bytes>,
}

/// Opens (creating on first start) the environment under `dir` and checks the schema.
pub fn open(dir: &Path) -> Result<(Env, Tables)> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    // SAFETY: the environment lives in wekad's private state directory. LMDB's own lock file
    // serialises other processes; heed refuses a second open with different options in this
    // process; nothing else modifies the files while they are mapped.
    let env = unsafe {
        EnvOpenOptions::new()
            .map_size(MAP_SIZE)
            .max_dbs(8)
            .open(dir)?
    };
    let mut wtxn = env.write_txn()?;
    let tables = Tables {
        meta: env.create_database(&mut wtxn, Some("meta"))?,
        users: env.create_database(&mut wtxn, Some("users"))?,
        policies: env.create_database(&mut wtxn, Some("policies"))?,
        buckets: env.create_database(&mut wtxn, Some("buckets"))?,
    };
    let _sts: Database<Str, Bytes> = env.create_database(&mut wtxn, Some("sts"))?;
    check_schema(dir, &tables, &mut wtxn)?;
    wtxn.commit()?;
    Ok((env, tables))
}

fn check_schema(dir: &Path, t: &Tables, wtxn: &mut RwTxn) -> Result<()> {
    match get_json::<u32>(t.meta, wtxn, KEY_SCHEMA)? {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(Error::SchemaMismatch {
            path: dir.to_owned(),
            found,
            expected: SCHEMA_VERSION,
            hint:
                "run the wekad version that wrote it, or move the iam directory away to start empty",
        }),
        None if t.users.is_empty(wtxn)? && t.policies.is_empty(wtxn)? => {
            put_json(t.meta, wtxn, KEY_SCHEMA, &SCHEMA_VERSION)
        }
        None => Err(Error::Corrupt {
            key: KEY_SCHEMA.into(),
            reason: "missing while the store holds data".into(),
        }),
    }
}

/// Overwrites the schema version (tests use it to simulate a store from another version).
#[cfg(test)]
pub fn set_schema_version(env: &Env, t: &Tables, version: u32) -> Result<()> {
    let mut wtxn = env.write_txn()?;
    put_json(t.meta, &mut wtxn, KEY_SCHEMA, &version)?;
    wtxn.commit()?;
    Ok(())
}

/// Reads and decodes one JSON value.
pub fn get_json<T: DeserializeOwned>(
    db: Database<Str, Bytes>,
    txn: &RoTxn,
    key: &str,
) -> Result<Option<T>> {
    let Some(bytes) = db.get(txn, key)? else {
        return Ok(None);
    };
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| Error::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })
}

/// Encodes and writes one JSON value.
pub fn put_json<T: Serialize>(
    db: Database<Str, Bytes>,
    wtxn: &mut RwTxn,
    key: &str,
    value: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    db.put(wtxn, key, &bytes)?;
    Ok(())
}

/// Decodes every record of a database, in key order.
pub fn all<T: DeserializeOwned>(db: Database<Str, Bytes>, txn: &RoTxn) -> Result<Vec<(String, T)>> {
    let mut out = Vec::new();
    for item in db.iter(txn)? {
        let (key, bytes) = item?;
        let value = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// Takes the next value of a monotonic counter in `meta` (starting at 1).
fn next_counter(t: &Tables, wtxn: &mut RwTxn, key: &str) -> Result<u64> {
    let next = get_json::<u64>(t.meta, wtxn, key)?.unwrap_or(0) + 1;
    put_json(t.meta, wtxn, key, &next)?;
    Ok(next)
}

/// The next numeric user id (shown by `weka user`).
pub fn next_uid(t: &Tables, wtxn: &mut RwTxn) -> Result<u64> {
    next_counter(t, wtxn, KEY_NEXT_UID)
}

/// The next token generation. One counter for all users, so a user deleted and created
/// again never reuses a generation that old temporary credentials carry.
pub fn next_generation(t: &Tables, wtxn: &mut RwTxn) -> Result<u64> {
    next_counter(t, wtxn, KEY_GENERATION)
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
