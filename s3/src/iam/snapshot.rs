//! The in-memory view of the IAM store that request paths read.
//!
//! Invariant: a snapshot is built inside the write transaction that changed the store,
//! from that transaction's view, and published (an `Arc` swap) right after the commit, under
//! the store's write lock. Readers therefore always see one committed state, never a
//! partially applied change and never an empty window. No I/O other than the LMDB reads.

use std::collections::HashMap;
use std::sync::Arc;

use heed::RoTxn;

use super::error::Result;
use super::names::Role;
use super::secret::{SecretCipher, SecretString, StoredCredential};
use super::store::{self, BucketRecord, PolicyRecord, Tables, UserRecord};
use crate::policy::{self, Policy};

/// Built-in policy names, in listing order.
pub const BUILTIN_POLICIES: [&str; 3] = ["readonly", "writeonly", "readwrite"];

/// Size limit when re-reading stored policies: they were validated against the configured
/// limit when written, and lowering the limit later must not make them unreadable.
const STORED_POLICY_MAX: usize = 1 << 20;

/// What the S3 door needs to authenticate and authorize a user, as of one snapshot.
#[derive(Debug)]
pub struct S3Identity {
    pub name: String,
    pub role: Role,
    pub secret: SecretString,
    pub policy_name: Option<String>,
    pub policy: Option<Arc<Policy>>,
    pub posix_uid: u32,
    pub posix_gid: u32,
    pub token_generation: u64,
}

/// The settings stored under one bucket name, for the directory whose id is `id`. Whether
/// they apply to the directory that has the name now is for `crate::buckets` to decide.
#[derive(Debug)]
pub struct BucketSettings {
    pub id: Option<String>,
    /// `None` also when the stored policy no longer parses (no anonymous access).
    pub policy: Option<Arc<Policy>>,
    pub quota: Option<u64>,
}

/// One committed state of the store, as the request paths see it.
#[derive(Default)]
pub struct Snapshot {
    pub identities: HashMap<String, Arc<S3Identity>>,
    pub buckets: HashMap<String, Arc<BucketSettings>>,
    pub users: usize,
    pub policies: usize,
}

/// Builds the snapshot of what `txn` sees.
pub fn build(t: &Tables, txn: &RoTxn, cipher: &SecretCipher) -> Result<Snapshot> {
    let policies = load_policies(t, txn)?;
    let users: Vec<(String, UserRecord)> = store::all(t.users, txn)?;
    let buckets: Vec<(String, BucketRecord)> = store::all(t.buckets, txn)?;
    let mut snap = Snapshot {
        users: users.len(),
        policies: policies.len(),
        ..Snapshot::default()
    };
    for (_, user) in users {
        if let Some(identity) = identity(user, &policies, cipher) {
            snap.identities
                .insert(identity.name.clone(), Arc::new(identity));
        }
    }
    for (bucket, record) in buckets {
        add_bucket(&mut snap, bucket, record);
    }
    Ok(snap)
}

fn load_policies(t: &Tables, txn: &RoTxn) -> Result<HashMap<String, Arc<Policy>>> {
    let mut out = HashMap::new();
    let builtins = BUILTIN_POLICIES
        .iter()
        .filter_map(|n| policy::builtin(n).map(|j| ((*n).to_owned(), j.to_owned())));
    let custom = store::all::<PolicyRecord>(t.policies, txn)?
        .into_iter()
        .map(|(n, r)| (n, r.json));
    for (name, json) in builtins.chain(custom) {
        match Policy::parse(&json, STORED_POLICY_MAX) {
            Ok(p) => {
                out.insert(name, Arc::new(p));
            }
            Err(e) => {
                tracing::warn!(policy = %name, error = %e, "stored policy no longer parses; users attached to it get no access")
            }
        }
    }
    Ok(out)
}

fn identity(
    user: UserRecord,
    policies: &HashMap<String, Arc<Policy>>,
    cipher: &SecretCipher,
) -> Option<S3Identity> {
    if user.role != Role::S3 {
        return None;
    }
    // An S3 user whose credential is a hash (role changed from another role) has no usable
    // secret until `weka user passwd` sets one.
    let StoredCredential::Sealed { nonce, ciphertext } = &user.credential else {
        return None;
    };
    let secret = match cipher.open(&user.name, nonce, ciphertext) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(user = %user.name, error = %e, "S3 user disabled");
            return None;
        }
    };
    let policy = user.policy.as_ref().and_then(|p| policies.get(p).cloned());
    Some(S3Identity {
        name: user.name,
        role: user.role,
        secret,
        policy_name: user.policy,
        policy,
        posix_uid: user.posix_uid,
        posix_gid: user.posix_gid,
        token_generation: user.token_generation,
    })
}

fn add_bucket(snap: &mut Snapshot, bucket: String, record: BucketRecord) {
    let policy = record.policy.and_then(|p| {
        match Policy::parse_bucket_policy(&p.json, STORED_POLICY_MAX) {
            Ok(policy) => Some(Arc::new(policy)),
            Err(e) => {
                tracing::warn!(bucket = %bucket, error = %e, "stored bucket policy no longer parses; no anonymous access");
                None
            }
        }
    });
    let settings = BucketSettings {
        id: record.id,
        policy,
        quota: record.quota,
    };
    snap.buckets.insert(bucket, Arc::new(settings));
}
