//! Control request handlers: parse, act (IAM store, object view, or the bucket owner for
//! anything about a bucket), render a wire response.
//!
//! Every error leaves here as an `ErrorObject` with a stable code, an operator message and,
//! where one exists, the fix. `iam_error` is the single, exhaustive translation of IAM
//! errors. Handlers run on a blocking thread (argon2, LMDB sync).

use weka::api::{BucketEntry, ErrorObject, PolicyEntry, Request, Response, UserEntry};
use weka_fs::object::{BucketName, ObjectError, Owner};
use weka_s3::buckets::BucketError;
use weka_s3::iam::{self, NewUser, Role, SecretString, UserInfo, UserUpdate};
use weka_s3::policy::{BucketPreset, Policy};

use super::ControlContext;

type Reply = Result<Response, ErrorObject>;

/// Handles one request.
pub fn handle(ctx: &ControlContext, request: Request) -> Reply {
    match request {
        Request::UserList => Ok(Response::Users(
            ctx.iam
                .list_users()
                .map_err(iam_error)?
                .iter()
                .map(user_entry)
                .collect(),
        )),
        Request::UserAdd {
            username,
            role,
            password,
            posix_uid,
            posix_gid,
        } => {
            let role = Role::parse(&role).map_err(iam_error)?;
            let new = NewUser {
                name: username,
                role,
                password: SecretString::new(password.expose()),
                posix_uid,
                posix_gid,
                policy: None,
            };
            Ok(Response::User(user_entry(
                &ctx.iam.add_user(new).map_err(iam_error)?,
            )))
        }
        Request::UserDelete { username } => done(
            ctx.iam.delete_user(&username),
            format!("user {username} deleted"),
        ),
        Request::UserPasswd { username, password } => done(
            ctx.iam
                .set_password(&username, &SecretString::new(password.expose())),
            format!("password of {username} changed"),
        ),
        Request::UserUpdate {
            username,
            role,
            posix_uid,
            posix_gid,
        } => {
            let role = role
                .as_deref()
                .map(Role::parse)
                .transpose()
                .map_err(iam_error)?;
            let user = ctx
                .iam
                .update_user(
                    &username,
                    UserUpdate {
                        role,
                        posix_uid,
                        posix_gid,
                    },
                )
                .map_err(iam_error)?;
            Ok(Response::User(user_entry(&user)))
        }
        Request::UserRevokeTokens { username } => done(
            ctx.iam.revoke_tokens(&username).map(drop),
            format!("temporary credentials of {username} revoked"),
        ),
        Request::PolicyList => policy_list(ctx),
        Request::PolicyShow { name } => Ok(Response::Policy {
            json: pretty_policy(
                &ctx.iam.policy_json(&name).map_err(iam_error)?,
                Policy::parse,
            ),
            name,
        }),
        Request::PolicyCreate { name, json } => done(
            ctx.iam.create_policy(&name, &json),
            format!("policy {name} created"),
        ),
        Request::PolicyRemove { name } => done(
            ctx.iam.remove_policy(&name),
            format!("policy {name} removed"),
        ),
        Request::PolicyAttach { policy, user } => done(
            ctx.iam.attach_policy(&policy, &user),
            format!("policy {policy} attached to {user}"),
        ),
        Request::PolicyDetach { user } => {
            let old = ctx.iam.detach_policy(&user).map_err(iam_error)?;
            Ok(Response::Done {
                message: format!("policy {old} detached from {user}"),
            })
        }
        Request::BucketCreate {
            name,
            policy,
            policy_json,
            hard_quota,
        } => bucket_create(ctx, &name, policy, policy_json, hard_quota),
        Request::BucketList => bucket_list(ctx),
        Request::BucketDestroy { name } => bucket_destroy(ctx, &name),
        Request::BucketPolicySet { bucket, kind } => {
            let name = existing_bucket(ctx, &bucket)?;
            // The wire carries the preset's name; it becomes a `BucketPreset` here.
            let set = kind
                .parse::<BucketPreset>()
                .map_err(BucketError::from)
                .and_then(|preset| ctx.buckets.set_policy(&name, preset));
            settled(
                set,
                &bucket,
                format!("anonymous policy of {bucket} set to {kind}"),
            )
        }
        Request::BucketPolicyGet { bucket } => {
            let name = existing_bucket(ctx, &bucket)?;
            let setting = ctx
                .buckets
                .policy_setting(&name)
                .map_err(|e| bucket_error(e, &bucket))?;
            Ok(Response::BucketPolicy {
                bucket,
                kind: setting.kind.name().to_owned(),
                json: setting
                    .json
                    .map(|j| pretty_policy(&j, Policy::parse_bucket_policy)),
            })
        }
        Request::BucketPolicyUnset { bucket } => {
            let name = existing_bucket(ctx, &bucket)?;
            settled(
                ctx.buckets.unset_policy(&name),
                &bucket,
                format!("anonymous policy of {bucket} removed"),
            )
        }
        Request::BucketPolicySetCustom { bucket, json } => {
            let name = existing_bucket(ctx, &bucket)?;
            settled(
                ctx.buckets.set_policy_custom(&name, &json),
                &bucket,
                format!("custom anonymous policy of {bucket} set"),
            )
        }
        Request::BucketQuotaSet { bucket, hard_quota } => {
            let name = existing_bucket(ctx, &bucket)?;
            settled(
                ctx.buckets.set_quota(&name, Some(hard_quota)),
                &bucket,
                format!("hard quota of {bucket} set to {hard_quota} bytes"),
            )
        }
        Request::BucketQuotaUnset { bucket } => {
            let name = existing_bucket(ctx, &bucket)?;
            settled(
                ctx.buckets.set_quota(&name, None),
                &bucket,
                format!("hard quota of {bucket} removed"),
            )
        }
        Request::Status => Ok(Response::Status((ctx.status)())),
        Request::AssumeRole {
            access_key,
            secret_key,
            policy,
            duration_secs,
        } => super::sts::assume_role(
            &ctx.iam,
            &access_key,
            secret_key.expose(),
            policy.as_deref(),
            duration_secs,
        ),
    }
}

fn done(result: iam::Result<()>, message: String) -> Reply {
    result.map_err(iam_error)?;
    Ok(Response::Done { message })
}

/// `done` for a change made through the bucket owner.
fn settled(result: Result<(), BucketError>, bucket: &str, message: String) -> Reply {
    result.map_err(|e| bucket_error(e, bucket))?;
    Ok(Response::Done { message })
}

/// A stored policy indented for humans, keys in the author's order (as stored if it no
/// longer parses, which only a lowered size limit could cause).
fn pretty_policy(
    json: &str,
    parse: fn(&str, usize) -> Result<Policy, weka_s3::policy::PolicyError>,
) -> String {
    parse(json, usize::MAX)
        .map(|p| p.pretty())
        .unwrap_or_else(|_| json.to_owned())
}

fn user_entry(u: &UserInfo) -> UserEntry {
    UserEntry {
        uid: u.uid,
        user: u.name.clone(),
        source: "Internal".into(),
        role: u.role.as_str().into(),
        s3_policy: u.policy.clone(),
        posix_uid: u.posix_uid,
        posix_gid: u.posix_gid,
        created: u.created,
        updated: u.updated,
    }
}

fn policy_list(ctx: &ControlContext) -> Reply {
    let policies = ctx.iam.list_policies().map_err(iam_error)?;
    Ok(Response::Policies(
        policies
            .into_iter()
            .map(|p| PolicyEntry {
                name: p.name,
                builtin: p.builtin,
                users: p.attached,
            })
            .collect(),
    ))
}

fn bucket_name(name: &str) -> Result<BucketName, ErrorObject> {
    BucketName::parse(name).map_err(|e| error("InvalidBucketName", e.to_string(), None))
}

fn existing_bucket(ctx: &ControlContext, name: &str) -> Result<BucketName, ErrorObject> {
    let bucket = bucket_name(name)?;
    ctx.view.bucket(&bucket).map_err(|e| fs_error(&e, name))?;
    Ok(bucket)
}

fn bucket_create(
    ctx: &ControlContext,
    name: &str,
    policy: Option<String>,
    policy_json: Option<String>,
    hard_quota: Option<u64>,
) -> Reply {
    let bucket = bucket_name(name)?;
    check_bucket_policy_args(ctx, policy.as_deref(), policy_json.as_deref())?;
    // Buckets made by an administrator belong to the daemon's own user.
    let owner = Owner {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
    };
    ctx.buckets
        .create(&bucket, owner)
        .map_err(|e| bucket_error(e, name))?;
    if let Err(e) = apply_bucket_settings(
        ctx,
        &bucket,
        policy.as_deref(),
        policy_json.as_deref(),
        hard_quota,
    ) {
        // Undo so a failed create leaves nothing behind (the bucket is empty): the error
        // reported is the one that made the create fail.
        let _ = ctx.buckets.delete(&bucket);
        return Err(e);
    }
    Ok(Response::Done {
        message: format!("bucket {name} created"),
    })
}

fn check_bucket_policy_args(
    ctx: &ControlContext,
    policy: Option<&str>,
    policy_json: Option<&str>,
) -> Result<(), ErrorObject> {
    if policy.is_some() && policy_json.is_some() {
        return Err(error(
            "InvalidArgument",
            "give either --policy or --policy-json, not both".into(),
            None,
        ));
    }
    if let Some(json) = policy_json {
        Policy::parse_bucket_policy(json, ctx.iam.options().policy_max_bytes)
            .map_err(|e| error("MalformedPolicy", format!("invalid policy: {e}"), None))?;
    }
    Ok(())
}

fn apply_bucket_settings(
    ctx: &ControlContext,
    bucket: &BucketName,
    policy: Option<&str>,
    policy_json: Option<&str>,
    hard_quota: Option<u64>,
) -> Result<(), ErrorObject> {
    let name = bucket.as_str();
    if let Some(kind) = policy {
        kind.parse::<BucketPreset>()
            .map_err(BucketError::from)
            .and_then(|preset| ctx.buckets.set_policy(bucket, preset))
            .map_err(|e| bucket_error(e, name))?;
    }
    if let Some(json) = policy_json {
        ctx.buckets
            .set_policy_custom(bucket, json)
            .map_err(|e| bucket_error(e, name))?;
    }
    if hard_quota.is_some() {
        ctx.buckets
            .set_quota(bucket, hard_quota)
            .map_err(|e| bucket_error(e, name))?;
    }
    Ok(())
}

fn bucket_list(ctx: &ControlContext) -> Reply {
    let buckets = ctx.view.list_buckets().map_err(|e| fs_error(&e, ""))?;
    let mount = (ctx.status)().mount;
    let data = ctx.view.root().path().to_owned();
    let entries = buckets
        .into_iter()
        .map(|b| {
            let policy = ctx
                .buckets
                .policy_setting(&b.name)
                .map(|s| s.kind.name().to_owned())
                .unwrap_or_else(|_| "-".into());
            let hard = ctx.buckets.quota(&b.name);
            let name = b.name.as_str().to_owned();
            BucketEntry {
                hard,
                used: Some(disk_usage(&data.join(&name))),
                path: format!("{}/{name}", mount.trim_end_matches('/')),
                policy,
                name,
            }
        })
        .collect();
    Ok(Response::Buckets(entries))
}

/// Apparent size of the regular files under `dir`, without following symlinks.
fn disk_usage(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

fn bucket_destroy(ctx: &ControlContext, name: &str) -> Reply {
    let bucket = bucket_name(name)?;
    ctx.buckets
        .delete(&bucket)
        .map_err(|e| bucket_error(e, name))?;
    Ok(Response::Done {
        message: format!("bucket {name} destroyed"),
    })
}

fn error(code: &str, message: String, hint: Option<&str>) -> ErrorObject {
    ErrorObject {
        code: code.into(),
        message,
        hint: hint.map(str::to_owned),
    }
}

/// Errors of the object view, for the bucket commands.
fn fs_error(e: &weka_fs::Error, bucket: &str) -> ErrorObject {
    match e {
        weka_fs::Error::Object(ObjectError::NoSuchBucket) => error(
            "NoSuchBucket",
            format!("bucket `{bucket}` does not exist"),
            Some("list buckets with `weka s3 bucket list`"),
        ),
        weka_fs::Error::Object(ObjectError::BucketExists) => error(
            "BucketAlreadyExists",
            format!("bucket `{bucket}` already exists"),
            None,
        ),
        weka_fs::Error::Object(ObjectError::BucketNotEmpty) => error(
            "BucketNotEmpty",
            format!("bucket `{bucket}` is not empty"),
            Some("delete its objects first"),
        ),
        weka_fs::Error::Object(ObjectError::BucketName(n)) => {
            error("InvalidBucketName", n.to_string(), None)
        }
        weka_fs::Error::Exists => error(
            "BucketAlreadyExists",
            format!("`{bucket}` already exists in the namespace"),
            Some("choose another name"),
        ),
        other => error("Internal", format!("bucket `{bucket}`: {other}"), None),
    }
}

/// Errors of the bucket owner: its directory (object view) or its settings (IAM store).
fn bucket_error(e: BucketError, bucket: &str) -> ErrorObject {
    match e {
        BucketError::Fs(e) => fs_error(&e, bucket),
        BucketError::Iam(e) => iam_error(e),
    }
}

/// The one translation of IAM errors to wire errors; no wildcard arm.
fn iam_error(e: iam::Error) -> ErrorObject {
    use iam::Error as E;
    let message = e.to_string();
    let (code, hint) = match &e {
        E::UserNotFound(_) => ("UserNotFound", Some("list users with `weka user`")),
        E::UserExists(_) => ("UserAlreadyExists", Some("choose another name, or delete the existing user first")),
        E::UserNameInvalid { .. } => ("InvalidUserName", None),
        E::RoleInvalid(_) => ("InvalidRole", None),
        E::PasswordWeak(_) => ("WeakPassword", Some("use at least 8 characters with an uppercase letter, a lowercase letter and a digit or special character")),
        E::PolicyNotFound(_) => ("PolicyNotFound", Some("list policies with `weka s3 policy list`")),
        E::PolicyExists(_) => ("PolicyAlreadyExists", Some("remove it first or choose another name")),
        E::PolicyNameInvalid { .. } => ("InvalidPolicyName", None),
        E::PolicyBuiltin(_) => ("PolicyBuiltin", Some("create a custom policy instead")),
        E::PolicyAttached { .. } => ("PolicyAttached", Some("detach it with `weka s3 policy detach <user>`")),
        E::PolicyInvalid(_) => ("MalformedPolicy", None),
        E::NoPolicyAttached(_) => ("NoPolicyAttached", None),
        E::NotS3User { .. } => ("NotS3User", Some("create the user with role s3")),
        E::BucketPolicyKindInvalid(_) => ("InvalidBucketPolicy", None),
        E::InvalidArgument(_) => ("InvalidArgument", None),
        E::LimitReached(_) => ("LimitExceeded", None),
        E::SchemaMismatch { .. } | E::ServerKey { .. } | E::SecretUnreadable(_) | E::Corrupt { .. } | E::Hash(_) | E::Store(_) | E::Io { .. } => {
            tracing::warn!(error = %message, "IAM store failure");
            ("Internal", Some("see wekad's log"))
        }
    };
    error(code, message, hint)
}
