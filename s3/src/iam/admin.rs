//! Administrative operations on the IAM store, as the control socket calls them.
//!
//! Each public function is one write (or read) transaction: parse and check, act on the
//! records, and let `Iam::mutate` publish the new snapshot. Checks that need the store
//! (duplicates, limits, attachments) happen inside the transaction so they cannot race.

use heed::{RoTxn, RwTxn};

use super::error::{Error, Result};
use super::names::{check_password, check_policy_name, check_user_name, Role};
use super::secret::{hash_password, verify_hash, SecretString, StoredCredential};
use super::snapshot::BUILTIN_POLICIES;
use super::store::{self, PolicyRecord, Tables, UserRecord};
use super::Iam;
use crate::policy::{self, Policy};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password: SecretString,
    pub posix_uid: Option<u32>,
    pub posix_gid: Option<u32>,
    /// Policy to attach at creation (S3 users only), in the same transaction.
    pub policy: Option<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub posix_uid: Option<u32>,
    pub posix_gid: Option<u32>,
}

/// A user as listed (never with its credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: u64,
    pub name: String,
    pub role: Role,
    pub policy: Option<String>,
    pub posix_uid: u32,
    pub posix_gid: u32,
    pub token_generation: u64,
    pub created: i64,
    pub updated: i64,
}

/// A policy as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    pub name: String,
    pub builtin: bool,
    pub attached: Vec<String>,
}

impl From<&UserRecord> for UserInfo {
    fn from(r: &UserRecord) -> UserInfo {
        UserInfo {
            uid: r.uid,
            name: r.name.clone(),
            role: r.role,
            policy: r.policy.clone(),
            posix_uid: r.posix_uid,
            posix_gid: r.posix_gid,
            token_generation: r.token_generation,
            created: r.created,
            updated: r.updated,
        }
    }
}

impl Iam {
    /// Creates a user. S3 users' passwords are sealed (they are S3 secret keys); others hashed.
    pub fn add_user(&self, new: NewUser) -> Result<UserInfo> {
        check_user_name(&new.name)?;
        check_password(new.password.expose())?;
        if new.role != Role::S3 && (new.posix_uid.is_some() || new.posix_gid.is_some()) {
            return Err(Error::InvalidArgument(
                "--posix-uid and --posix-gid apply to S3 users only".into(),
            ));
        }
        let credential = self.credential_for(&new.name, new.role, &new.password)?;
        self.mutate(|t, wtxn| {
            if t.users.get(wtxn, &new.name)?.is_some() {
                return Err(Error::UserExists(new.name.clone()));
            }
            if new.role == Role::S3 {
                self.check_s3_user_room(t, wtxn)?;
            }
            if let Some(policy) = &new.policy {
                check_attachable(t, wtxn, policy, &new.name, new.role)?;
            }
            let now = store::now();
            let record = UserRecord {
                uid: store::next_uid(t, wtxn)?,
                name: new.name.clone(),
                role: new.role,
                credential,
                policy: new.policy.clone(),
                posix_uid: new.posix_uid.unwrap_or(0),
                posix_gid: new.posix_gid.unwrap_or(0),
                token_generation: store::next_generation(t, wtxn)?,
                created: now,
                updated: now,
            };
            store::put_json(t.users, wtxn, &record.name, &record)?;
            Ok(UserInfo::from(&record))
        })
    }

    fn credential_for(
        &self,
        name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<StoredCredential> {
        match role {
            Role::S3 => self.inner.cipher.seal(name, password),
            Role::ClusterAdmin | Role::OrgAdmin | Role::Regular | Role::ReadOnly => {
                hash_password(password)
            }
        }
    }

    fn check_s3_user_room(&self, t: &Tables, txn: &RoTxn) -> Result<()> {
        let s3_users = store::all::<UserRecord>(t.users, txn)?
            .iter()
            .filter(|(_, u)| u.role == Role::S3)
            .count();
        if s3_users >= self.inner.opts.max_s3_users {
            return Err(Error::LimitReached(format!(
                "at most {} S3 users",
                self.inner.opts.max_s3_users
            )));
        }
        Ok(())
    }

    /// Deletes a user; its temporary credentials stop working with the next snapshot.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        self.mutate(|t, wtxn| {
            if !t.users.delete(wtxn, name)? {
                return Err(Error::UserNotFound(name.to_owned()));
            }
            Ok(())
        })
    }

    /// One user's record.
    pub fn user(&self, name: &str) -> Result<UserInfo> {
        self.read(|t, txn| Ok(UserInfo::from(&load_user(t, txn, name)?)))
    }

    /// Every user, by numeric uid.
    pub fn list_users(&self) -> Result<Vec<UserInfo>> {
        let mut users = self.read(|t, txn| {
            Ok(store::all::<UserRecord>(t.users, txn)?
                .iter()
                .map(|(_, u)| UserInfo::from(u))
                .collect::<Vec<_>>())
        })?;
        users.sort_by_key(|u| u.uid);
        Ok(users)
    }

    /// Sets a new password and ends every temporary credential of the user.
    pub fn set_password(&self, name: &str, password: &SecretString) -> Result<()> {
        check_password(password.expose())?;
        let role = self.user(name)?.role;
        let credential = self.credential_for(name, role, password)?;
        self.update_record(name, |_, _, user| {
            // The role may have changed since it was read: seal or hash for the current one.
            if user.role != role {
                return Err(Error::InvalidArgument(format!(
                    "user `{name}` changed role meanwhile; retry"
                )));
            }
            user.credential = credential;
            Ok(true)
        })
    }

    /// Changes role and/or POSIX ids. Leaving the S3 role drops the policy and turns the
    /// sealed secret into a hash; entering it keeps a hash, so the user needs
    /// `weka user passwd` before it can sign S3 requests.
    pub fn update_user(&self, name: &str, update: UserUpdate) -> Result<UserInfo> {
        let rehash = self.rehash_if_leaving_s3(name, update.role)?;
        self.update_record(name, |t, wtxn, user| {
            let new_role = update.role.unwrap_or(user.role);
            let posix_given = update.posix_uid.is_some() || update.posix_gid.is_some();
            if new_role != Role::S3 && posix_given {
                return Err(Error::InvalidArgument(
                    "--posix-uid and --posix-gid apply to S3 users only".into(),
                ));
            }
            if new_role == Role::S3 && user.role != Role::S3 {
                self.check_s3_user_room(t, wtxn)?;
            }
            if new_role != Role::S3 && user.role == Role::S3 {
                user.policy = None;
                user.credential = rehash.clone().ok_or_else(|| {
                    Error::InvalidArgument(format!("user `{name}` changed role meanwhile; retry"))
                })?;
            }
            let role_changed = new_role != user.role;
            user.role = new_role;
            user.posix_uid = update.posix_uid.unwrap_or(user.posix_uid);
            user.posix_gid = update.posix_gid.unwrap_or(user.posix_gid);
            Ok(role_changed)
        })?;
        self.user(name)
    }

    fn rehash_if_leaving_s3(
        &self,
        name: &str,
        role: Option<Role>,
    ) -> Result<Option<StoredCredential>> {
        let record = self.read(|t, txn| load_user(t, txn, name))?;
        let leaving = record.role == Role::S3 && role.is_some_and(|r| r != Role::S3);
        let StoredCredential::Sealed { nonce, ciphertext } = &record.credential else {
            return Ok(None);
        };
        if !leaving {
            return Ok(None);
        }
        let secret = self.inner.cipher.open(name, nonce, ciphertext)?;
        hash_password(&secret).map(Some)
    }

    /// Ends every temporary credential issued from the user. Returns the new generation.
    pub fn revoke_tokens(&self, name: &str) -> Result<u64> {
        self.update_record(name, |_, _, _| Ok(true))?;
        Ok(self.user(name)?.token_generation)
    }

    /// Loads `name`, applies `edit`, bumps the token generation when `edit` returns true,
    /// stamps `updated` and stores it, in one transaction.
    fn update_record(
        &self,
        name: &str,
        edit: impl FnOnce(&Tables, &mut RwTxn, &mut UserRecord) -> Result<bool>,
    ) -> Result<()> {
        self.mutate(|t, wtxn| {
            let mut user = load_user(t, wtxn, name)?;
            if edit(t, wtxn, &mut user)? {
                user.token_generation = store::next_generation(t, wtxn)?;
            }
            user.updated = store::now();
            store::put_json(t.users, wtxn, name, &user)
        })
    }

    /// Checks `password` for `name` in constant time (S3: against the secret; others:
    /// argon2). False for unknown users.
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        let Ok(user) = self.read(|t, txn| load_user(t, txn, name)) else {
            // Spend comparable time so unknown names are not told apart by timing.
            let _ = SecretString::new("wekad-unknown-user-placeholder").ct_eq(password);
            return false;
        };
        match &user.credential {
            StoredCredential::Sealed { nonce, ciphertext } => self
                .inner
                .cipher
                .open(name, nonce, ciphertext)
                .is_ok_and(|s| s.ct_eq(password)),
            StoredCredential::Hashed { phc } => verify_hash(phc, password),
        }
    }

    /// Every policy: built-ins first, then custom ones by name, with their attached users.
    pub fn list_policies(&self) -> Result<Vec<PolicyInfo>> {
        self.read(|t, txn| {
            let users = store::all::<UserRecord>(t.users, txn)?;
            let attached = |p: &str| {
                users
                    .iter()
                    .filter(|(_, u)| u.policy.as_deref() == Some(p))
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            let builtins = BUILTIN_POLICIES.iter().map(|n| PolicyInfo {
                name: (*n).to_owned(),
                builtin: true,
                attached: attached(n),
            });
            let custom = store::all::<PolicyRecord>(t.policies, txn)?
                .into_iter()
                .map(|(n, _)| PolicyInfo {
                    attached: attached(&n),
                    name: n,
                    builtin: false,
                });
            Ok(builtins.chain(custom).collect())
        })
    }

    /// The JSON of a policy, as given at creation (built-ins: the reference JSON).
    pub fn policy_json(&self, name: &str) -> Result<String> {
        if let Some(json) = builtin_json(name) {
            return Ok(json.to_owned());
        }
        self.read(|t, txn| {
            store::get_json::<PolicyRecord>(t.policies, txn, name)?
                .map(|r| r.json)
                .ok_or_else(|| Error::PolicyNotFound(name.to_owned()))
        })
    }

    /// Creates a custom policy after validating it (size, JSON, actions, resources).
    pub fn create_policy(&self, name: &str, json: &str) -> Result<()> {
        check_policy_name(name)?;
        if builtin_json(name).is_some() {
            return Err(Error::PolicyBuiltin(name.to_owned()));
        }
        Policy::parse(json, self.inner.opts.policy_max_bytes)
            .map_err(|e| Error::PolicyInvalid(e.to_string()))?;
        self.mutate(|t, wtxn| {
            if t.policies.get(wtxn, name)?.is_some() {
                return Err(Error::PolicyExists(name.to_owned()));
            }
            if t.policies.len(wtxn)? >= self.inner.opts.max_policies as u64 {
                return Err(Error::LimitReached(format!(
                    "at most {} custom policies",
                    self.inner.opts.max_policies
                )));
            }
            store::put_json(
                t.policies,
                wtxn,
                name,
                &PolicyRecord {
                    json: json.to_owned(),
                    created: store::now(),
                },
            )
        })
    }

    /// Removes a custom policy; refused while any user has it attached.
    pub fn remove_policy(&self, name: &str) -> Result<()> {
        if builtin_json(name).is_some() {
            return Err(Error::PolicyBuiltin(name.to_owned()));
        }
        self.mutate(|t, wtxn| {
            let users: Vec<String> = store::all::<UserRecord>(t.users, wtxn)?
                .into_iter()
                .filter(|(_, u)| u.policy.as_deref() == Some(name))
                .map(|(n, _)| n)
                .collect();
            if !users.is_empty() {
                return Err(Error::PolicyAttached {
                    policy: name.to_owned(),
                    users,
                });
            }
            if !t.policies.delete(wtxn, name)? {
                return Err(Error::PolicyNotFound(name.to_owned()));
            }
            Ok(())
        })
    }

    /// Attaches `policy` to the S3 user `user`, replacing any policy it had.
    pub fn attach_policy(&self, policy: &str, user: &str) -> Result<()> {
        self.update_record(user, |t, wtxn, record| {
            check_attachable(t, wtxn, policy, user, record.role)?;
            record.policy = Some(policy.to_owned());
            Ok(false)
        })
    }

    /// Detaches the user's policy (it can then do nothing over S3) and ends its temporary
    /// credentials. Returns the policy it had.
    pub fn detach_policy(&self, user: &str) -> Result<String> {
        let mut old = None;
        self.update_record(user, |_, _, record| {
            old = Some(
                record
                    .policy
                    .take()
                    .ok_or_else(|| Error::NoPolicyAttached(user.to_owned()))?,
            );
            Ok(true)
        })?;
        old.ok_or_else(|| Error::NoPolicyAttached(user.to_owned()))
    }
}

fn load_user(t: &Tables, txn: &RoTxn, name: &str) -> Result<UserRecord> {
    store::get_json::<UserRecord>(t.users, txn, name)?
        .ok_or_else(|| Error::UserNotFound(name.to_owned()))
}

fn check_attachable(t: &Tables, txn: &RoTxn, policy: &str, user: &str, role: Role) -> Result<()> {
    if builtin_json(policy).is_none() && t.policies.get(txn, policy)?.is_none() {
        return Err(Error::PolicyNotFound(policy.to_owned()));
    }
    if role != Role::S3 {
        return Err(Error::NotS3User {
            user: user.to_owned(),
            role: role.as_str(),
        });
    }
    Ok(())
}

fn builtin_json(name: &str) -> Option<&'static str> {
    if BUILTIN_POLICIES.contains(&name) {
        policy::builtin(name)
    } else {
        None
    }
}
