//! SCRAM user credentials: describe, upsert and delete. The salted password
//! (RFC 5802 `SaltedPassword`, PBKDF2 over HMAC) is computed here with the
//! connection layer's SCRAM helpers, so the password never leaves the client.

use bytes::Bytes;
use klamm_protocol::generated::alter_user_scram_credentials::request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use klamm_protocol::generated::describe_user_scram_credentials::request::UserName;
use klamm_protocol::generated::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::call::{any_broker, check, text};
use super::{Admin, ItemResults};
use crate::conn::sasl::ScramHash;
use crate::error::{Error, ErrorContext};

/// Bytes of random salt per credential (Kafka's tools use at least 20).
const SALT_LEN: usize = 32;

/// A SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScramMechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
    /// A code this client does not know.
    Unknown(i8),
}

impl ScramMechanism {
    /// Kafka's code for it.
    pub fn code(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
            Self::Unknown(c) => c,
        }
    }

    /// The mechanism for Kafka's code.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Sha256,
            2 => Self::Sha512,
            c => Self::Unknown(c),
        }
    }

    fn hash(self) -> Option<ScramHash> {
        match self {
            Self::Sha256 => Some(ScramHash::Sha256),
            Self::Sha512 => Some(ScramHash::Sha512),
            Self::Unknown(_) => None,
        }
    }
}

/// One SCRAM credential of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScramCredential {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

/// A user's SCRAM credentials, from [`Admin::list_user_scram_credentials`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserScramCredentials {
    /// The user.
    pub user: String,
    /// Its credentials.
    pub credentials: Vec<ScramCredential>,
}

/// A credential to create or replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramUpsert {
    /// The user.
    pub user: String,
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// The password (only its salted form is sent).
    pub password: String,
    /// PBKDF2 iterations (Kafka accepts 4096 to 16384).
    pub iterations: i32,
}

/// A salted upsertion: random salt, RFC 5802 SaltedPassword.
pub(super) fn salted(upsert: &ScramUpsert, salt: &[u8]) -> Result<ScramCredentialUpsertion, Error> {
    let hash = upsert.mechanism.hash().ok_or_else(|| {
        Error::config(
            "scram mechanism",
            format!("unknown SCRAM mechanism code {}", upsert.mechanism.code()),
        )
    })?;
    let iterations = u32::try_from(upsert.iterations)
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| {
            Error::config(
                "scram iterations",
                format!("{} is not a positive iteration count", upsert.iterations),
            )
        })?;
    let salted = hash.salted_password(upsert.password.as_bytes(), salt, iterations);
    Ok(ScramCredentialUpsertion::default()
        .with_name(text(&upsert.user))
        .with_mechanism(upsert.mechanism.code())
        .with_iterations(upsert.iterations)
        .with_salt(Bytes::copy_from_slice(salt))
        .with_salted_password(Bytes::from(salted)))
}

fn random_salt() -> Result<[u8; SALT_LEN], Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::config("scram salt", format!("no randomness available: {e}")))?;
    Ok(salt)
}

fn parse_describe(
    response: DescribeUserScramCredentialsResponse,
) -> Vec<(String, Result<Vec<ScramCredential>, Error>)> {
    if let Err(e) = check(
        "DescribeUserScramCredentials",
        response.error_code,
        response.error_message.as_ref(),
        ErrorContext::default(),
    ) {
        return response
            .results
            .iter()
            .map(|r| (r.user.as_str().to_owned(), Err(e.clone())))
            .collect();
    }
    response
        .results
        .into_iter()
        .map(|r| {
            let outcome = check(
                "DescribeUserScramCredentials",
                r.error_code,
                r.error_message.as_ref(),
                ErrorContext::default(),
            )
            .map(|()| {
                r.credential_infos
                    .into_iter()
                    .map(|c| ScramCredential {
                        mechanism: ScramMechanism::from_code(c.mechanism),
                        iterations: c.iterations,
                    })
                    .collect()
            });
            (r.user.as_str().to_owned(), outcome)
        })
        .collect()
}

fn parse_alter(response: AlterUserScramCredentialsResponse) -> Vec<(String, Result<(), Error>)> {
    response
        .results
        .into_iter()
        .map(|r| {
            let outcome = check(
                "AlterUserScramCredentials",
                r.error_code,
                r.error_message.as_ref(),
                ErrorContext::default(),
            );
            (r.user.as_str().to_owned(), outcome)
        })
        .collect()
}

impl Admin {
    /// The SCRAM credentials of these users (DescribeUserScramCredentials).
    /// A user without credentials fails with RESOURCE_NOT_FOUND.
    pub async fn describe_user_scram_credentials(
        &self,
        users: &[&str],
    ) -> ItemResults<String, Vec<ScramCredential>> {
        self.call(
            users.iter().map(|u| (*u).to_owned()).collect(),
            any_broker,
            |keys, _| {
                Ok(
                    DescribeUserScramCredentialsRequest::default().with_users(Some(
                        keys.iter()
                            .map(|u| UserName::default().with_name(text(u)))
                            .collect(),
                    )),
                )
            },
            |_, response: DescribeUserScramCredentialsResponse, _| parse_describe(response),
        )
        .await
    }

    /// Every user's SCRAM credentials (DescribeUserScramCredentials for all
    /// users), sorted by user.
    pub async fn list_user_scram_credentials(&self) -> Result<Vec<UserScramCredentials>, Error> {
        self.call(
            vec![()],
            any_broker,
            |_, _| Ok(DescribeUserScramCredentialsRequest::default().with_users(None)),
            |_, response: DescribeUserScramCredentialsResponse, _| {
                let outcome = parse_describe(response)
                    .into_iter()
                    .map(|(user, r)| {
                        r.map(|credentials| UserScramCredentials { user, credentials })
                    })
                    .collect::<Result<Vec<_>, Error>>()
                    .map(|mut v| {
                        v.sort_by(|a, b| a.user.cmp(&b.user));
                        v
                    });
                vec![((), outcome)]
            },
        )
        .await
        .into_single("DescribeUserScramCredentials")
    }

    /// Creates or replaces SCRAM credentials (AlterUserScramCredentials),
    /// one result per user. Each gets a fresh random salt.
    pub async fn upsert_user_scram_credentials(
        &self,
        upserts: &[ScramUpsert],
    ) -> ItemResults<String, ()> {
        // Salt once, so a retry resends the same credential.
        let mut salted_upserts = Vec::with_capacity(upserts.len());
        let mut failed = Vec::new();
        for u in upserts {
            match random_salt().and_then(|salt| salted(u, &salt)) {
                Ok(s) => salted_upserts.push(s),
                Err(e) => failed.push((u.user.clone(), Err(e))),
            }
        }
        let users: Vec<String> = salted_upserts
            .iter()
            .map(|u| u.name.as_str().to_owned())
            .collect();
        let results = self
            .call(
                users,
                any_broker,
                |keys, _| {
                    Ok(AlterUserScramCredentialsRequest::default().with_upsertions(
                        salted_upserts
                            .iter()
                            .filter(|u| keys.iter().any(|k| u.name.as_str() == k))
                            .cloned()
                            .collect(),
                    ))
                },
                |_, response: AlterUserScramCredentialsResponse, _| parse_alter(response),
            )
            .await;
        ItemResults::new(results.into_iter().chain(failed).collect())
    }

    /// Deletes SCRAM credentials (AlterUserScramCredentials), one result
    /// per user.
    pub async fn delete_user_scram_credentials(
        &self,
        deletions: &[(&str, ScramMechanism)],
    ) -> ItemResults<String, ()> {
        self.call(
            deletions.iter().map(|(u, _)| (*u).to_owned()).collect(),
            any_broker,
            |keys, _| {
                Ok(AlterUserScramCredentialsRequest::default().with_deletions(
                    deletions
                        .iter()
                        .filter(|(u, _)| keys.iter().any(|k| k == u))
                        .map(|(u, m)| {
                            ScramCredentialDeletion::default()
                                .with_name(text(u))
                                .with_mechanism(m.code())
                        })
                        .collect(),
                ))
            },
            |_, response: AlterUserScramCredentialsResponse, _| parse_alter(response),
        )
        .await
    }
}
