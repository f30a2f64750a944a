//! STS XML documents: `AssumeRoleResponse`, `GetCallerIdentityResponse`, `ErrorResponse`.
//!
//! Owns the exact element names botocore and the AWS SDKs parse (query protocol,
//! namespace `https://sts.amazonaws.com/doc/2011-06-15/`). Every value is escaped.
//! This module performs no I/O.

use std::fmt::Write as _;

use super::{StsError, TempCredentials};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The account id wekad reports (it has a single account).
pub const ACCOUNT_ID: &str = "000000000000";

/// Escapes `s` for XML text content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The `AssumeRoleResponse` for `creds` issued to `user` as session `session_name`.
pub fn assume_role_response(
    creds: &TempCredentials,
    user: &str,
    session_name: &str,
    request_id: &str,
) -> String {
    let mut x = String::with_capacity(1024 + creds.session_token.len());
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AssumeRoleResponse xmlns=\"{NS}\"><AssumeRoleResult>\
         <AssumedRoleUser><Arn>arn:aws:sts::{ACCOUNT_ID}:assumed-role/{user}/{session}</Arn>\
         <AssumedRoleId>{ak}:{session}</AssumedRoleId></AssumedRoleUser>\
         <Credentials><AccessKeyId>{ak}</AccessKeyId><SecretAccessKey>{sk}</SecretAccessKey>\
         <SessionToken>{token}</SessionToken><Expiration>{exp}</Expiration></Credentials>\
         </AssumeRoleResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        user = escape(user),
        session = escape(session_name),
        ak = escape(&creds.access_key_id),
        sk = escape(&creds.secret_access_key),
        token = escape(&creds.session_token),
        exp = creds.expiration_rfc3339(),
        rid = escape(request_id),
    );
    x
}

/// Who is calling, for `GetCallerIdentity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    /// A long-term key: the IAM user.
    User(&'a str),
    /// A temporary key issued by `parent`.
    Session {
        parent: &'a str,
        access_key: &'a str,
    },
}

/// The `GetCallerIdentityResponse` for `caller`.
pub fn caller_identity_response(caller: &Caller<'_>, request_id: &str) -> String {
    let (arn, user_id) = match caller {
        Caller::User(name) => (
            format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}"),
            (*name).to_owned(),
        ),
        Caller::Session { parent, access_key } => (
            format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{parent}/{access_key}"),
            format!("{access_key}:{parent}"),
        ),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult>\
         <Arn>{}</Arn><UserId>{}</UserId><Account>{ACCOUNT_ID}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        escape(&arn),
        escape(&user_id),
        escape(request_id)
    )
}

/// The `ErrorResponse` for `err`.
pub fn error_response(err: &StsError, request_id: &str) -> String {
    let kind = if err.http_status() >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type>\
         <Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        err.sts_code(),
        escape(&err.client_message()),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_names_code_and_escapes_message() {
        let err = StsError::MalformedPolicyDocument("bad <Action> & more".to_owned());
        let x = error_response(&err, "RID");
        assert!(x.contains("<Code>MalformedPolicyDocument</Code>"));
        assert!(x.contains("bad &lt;Action&gt; &amp; more"));
        assert!(x.contains("<Type>Sender</Type>") && x.contains("<RequestId>RID</RequestId>"));
    }

    #[test]
    fn caller_identity_of_a_user_names_its_iam_arn() {
        let x = caller_identity_response(&Caller::User("alice"), "r");
        assert!(x.contains("<Arn>arn:aws:iam::000000000000:user/alice</Arn>"));
        assert!(x.contains("<UserId>alice</UserId>"));
    }
}
