//! STS XML documents: `AssumeRoleResponse`, `GetCallerIdentityResponse`, `ErrorResponse`.
//!
//! Owns the exact element names botocore and the AWS SDKs parse (query protocol,
//! namespace `https://sts.amazonaws.com/doc/2011-06-15/`), written with `crate::xml`'s
//! writer, which escapes every value. This module performs no I/O.

use super::{StsError, TempCredentials};
use crate::xml::{document, element, element_ns, text, ErrorDoc, XmlWriter};

/// The namespace of every STS document (`2011-06-15`).
pub const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The account id wekad reports (it has a single account).
pub const ACCOUNT_ID: &str = "000000000000";

/// `<ResponseMetadata><RequestId>request_id</RequestId></ResponseMetadata>`.
fn response_metadata(w: &mut XmlWriter, request_id: &str) -> std::io::Result<()> {
    element(w, "ResponseMetadata", |w| text(w, "RequestId", request_id))
}

/// The `AssumeRoleResponse` for `creds` issued to `user` as session `session_name`.
pub fn assume_role_response(
    creds: &TempCredentials,
    user: &str,
    session_name: &str,
    request_id: &str,
) -> String {
    let ak = &creds.access_key_id;
    document(|w| {
        element_ns(w, "AssumeRoleResponse", NS, |w| {
            element(w, "AssumeRoleResult", |w| {
                element(w, "AssumedRoleUser", |w| {
                    let arn =
                        format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{user}/{session_name}");
                    text(w, "Arn", &arn)?;
                    text(w, "AssumedRoleId", &format!("{ak}:{session_name}"))
                })?;
                element(w, "Credentials", |w| {
                    text(w, "AccessKeyId", ak)?;
                    text(w, "SecretAccessKey", &creds.secret_access_key)?;
                    text(w, "SessionToken", &creds.session_token)?;
                    text(w, "Expiration", &creds.expiration_rfc3339())
                })
            })?;
            response_metadata(w, request_id)
        })
    })
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
    document(|w| {
        element_ns(w, "GetCallerIdentityResponse", NS, |w| {
            element(w, "GetCallerIdentityResult", |w| {
                text(w, "Arn", &arn)?;
                text(w, "UserId", &user_id)?;
                text(w, "Account", ACCOUNT_ID)
            })?;
            response_metadata(w, request_id)
        })
    })
}

/// The `<Type>` of an STS error: `Receiver` for a server fault (5xx), else `Sender`.
pub fn fault(status: u16) -> &'static str {
    if status >= 500 {
        "Receiver"
    } else {
        "Sender"
    }
}

/// The `ErrorResponse` for `err`.
pub fn error_response(err: &StsError, request_id: &str) -> String {
    ErrorDoc::new(err.sts_code(), &err.client_message()).to_sts_xml(
        NS,
        fault(err.http_status()),
        request_id,
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
    fn an_assume_role_response_has_the_elements_sdks_parse_in_order() {
        let creds = TempCredentials {
            access_key_id: "ASIAEXAMPLE".to_owned(),
            secret_access_key: "s<k".to_owned(),
            session_token: "t.o.k".to_owned(),
            expiration: time::OffsetDateTime::UNIX_EPOCH,
        };
        let x = assume_role_response(&creds, "alice", "sess", "RID");
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
             <AssumedRoleUser><Arn>arn:aws:sts::000000000000:assumed-role/alice/sess</Arn>\
             <AssumedRoleId>ASIAEXAMPLE:sess</AssumedRoleId></AssumedRoleUser>\
             <Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s&lt;k</SecretAccessKey>\
             <SessionToken>t.o.k</SessionToken><Expiration>1970-01-01T00:00:00Z</Expiration></Credentials>\
             </AssumeRoleResult><ResponseMetadata><RequestId>RID</RequestId></ResponseMetadata></AssumeRoleResponse>"
        );
    }

    #[test]
    fn caller_identity_of_a_user_names_its_iam_arn() {
        let x = caller_identity_response(&Caller::User("alice"), "r");
        assert!(x.contains("<Arn>arn:aws:iam::000000000000:user/alice</Arn>"));
        assert!(x.contains("<UserId>alice</UserId>"));
    }
}
