//! ACLs: create, describe and delete (with filters), and the authorized
//! operations bit set that describe calls return.

use klamm_protocol::generated::create_acls::request::AclCreation;
use klamm_protocol::generated::delete_acls::request::DeleteAclsFilter;
use klamm_protocol::generated::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};

use super::call::{any_broker, check, text};
use super::{Admin, ItemResults};
use crate::error::{Error, ErrorContext};

/// Declares a Kafka code enum with an `Unknown(i8)` fallback.
/// (Each enum lists its codes once; `code` and `from_code` stay in step.)
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A code this client does not know.
            Unknown(i8),
        }

        impl $name {
            /// Kafka's code for it.
            pub fn code(self) -> i8 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Unknown(c) => c,
                }
            }

            /// The value for Kafka's code.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    c => Self::Unknown(c),
                }
            }
        }
    };
}

code_enum! {
    /// What an ACL is about.
    ResourceType {
        /// Matches any type (filters only).
        Any = 1,
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster.
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
        /// A delegation token.
        DelegationToken = 6,
        /// A user.
        User = 7,
    }
}

code_enum! {
    /// How an ACL's resource name matches.
    PatternType {
        /// Matches any pattern type (filters only).
        Any = 1,
        /// Matches what would apply to the name (filters only).
        Match = 2,
        /// The exact name (or `*`).
        Literal = 3,
        /// Names starting with it.
        Prefixed = 4,
    }
}

code_enum! {
    /// An operation an ACL allows or denies.
    AclOperation {
        /// Matches any operation (filters only).
        Any = 1,
        /// Every operation.
        All = 2,
        /// Read.
        Read = 3,
        /// Write.
        Write = 4,
        /// Create.
        Create = 5,
        /// Delete.
        Delete = 6,
        /// Alter.
        Alter = 7,
        /// Describe.
        Describe = 8,
        /// Inter-broker actions.
        ClusterAction = 9,
        /// Describe configs.
        DescribeConfigs = 10,
        /// Alter configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
        /// Create delegation tokens.
        CreateTokens = 13,
        /// Describe delegation tokens.
        DescribeTokens = 14,
    }
}

code_enum! {
    /// Allow or deny.
    AclPermission {
        /// Matches either (filters only).
        Any = 1,
        /// Deny.
        Deny = 2,
        /// Allow.
        Allow = 3,
    }
}

/// Decodes the authorized operations bit set of Metadata, DescribeGroups
/// and DescribeCluster: bit `n` set means operation code `n` is allowed.
/// `i32::MIN` means the broker was not asked or did not say. Only concrete
/// operations are kept: UNKNOWN, ANY and ALL are filter values, not
/// something a principal is authorized to do, and bits for codes this
/// client does not know are dropped (as Kafka's own admin client does).
pub(crate) fn decode_authorized_operations(bits: i32) -> Option<Vec<AclOperation>> {
    if bits == i32::MIN {
        return None;
    }
    Some(
        (0..31)
            .filter(|bit| bits & (1 << bit) != 0)
            .map(|bit| AclOperation::from_code(bit as i8))
            .filter(|op| {
                !matches!(
                    op,
                    AclOperation::Unknown(_) | AclOperation::Any | AclOperation::All
                )
            })
            .collect(),
    )
}

/// One ACL: who may (or may not) do what to which resource, from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    /// The resource's type.
    pub resource_type: ResourceType,
    /// The resource's name (or prefix, or `*`).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// The principal (`User:alice`).
    pub principal: String,
    /// The host (`*` for any).
    pub host: String,
    /// The operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
}

/// Which ACLs to describe or delete; `None` matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclFilter {
    /// Resource type ([`ResourceType::Any`] for all).
    pub resource_type: ResourceType,
    /// Resource name.
    pub resource_name: Option<String>,
    /// Pattern type ([`PatternType::Any`] for all, [`PatternType::Match`]
    /// for what applies to the name).
    pub pattern_type: PatternType,
    /// Principal.
    pub principal: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Operation ([`AclOperation::Any`] for all).
    pub operation: AclOperation,
    /// Permission ([`AclPermission::Any`] for all).
    pub permission: AclPermission,
}

impl AclFilter {
    /// Matches every ACL.
    pub fn any() -> Self {
        Self {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// Matches exactly this ACL.
    pub fn exact(acl: &AclBinding) -> Self {
        Self {
            resource_type: acl.resource_type,
            resource_name: Some(acl.resource_name.clone()),
            pattern_type: acl.pattern_type,
            principal: Some(acl.principal.clone()),
            host: Some(acl.host.clone()),
            operation: acl.operation,
            permission: acl.permission,
        }
    }
}

fn opt(s: &Option<String>) -> Option<klamm_protocol::StrBytes> {
    s.as_deref().map(text)
}

pub(super) fn build_create(acls: &[AclBinding]) -> CreateAclsRequest {
    CreateAclsRequest::default().with_creations(
        acls.iter()
            .map(|a| {
                AclCreation::default()
                    .with_resource_type(a.resource_type.code())
                    .with_resource_name(text(&a.resource_name))
                    .with_resource_pattern_type(a.pattern_type.code())
                    .with_principal(text(&a.principal))
                    .with_host(text(&a.host))
                    .with_operation(a.operation.code())
                    .with_permission_type(a.permission.code())
            })
            .collect(),
    )
}

pub(super) fn build_describe(filter: &AclFilter) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(filter.resource_type.code())
        .with_resource_name_filter(opt(&filter.resource_name))
        .with_pattern_type_filter(filter.pattern_type.code())
        .with_principal_filter(opt(&filter.principal))
        .with_host_filter(opt(&filter.host))
        .with_operation(filter.operation.code())
        .with_permission_type(filter.permission.code())
}

pub(super) fn parse_describe(response: DescribeAclsResponse) -> Result<Vec<AclBinding>, Error> {
    check(
        "DescribeAcls",
        response.error_code,
        response.error_message.as_ref(),
        ErrorContext::default(),
    )?;
    let mut acls = Vec::new();
    for resource in response.resources {
        for acl in resource.acls {
            acls.push(AclBinding {
                resource_type: ResourceType::from_code(resource.resource_type),
                resource_name: resource.resource_name.as_str().to_owned(),
                pattern_type: PatternType::from_code(resource.pattern_type),
                principal: acl.principal.as_str().to_owned(),
                host: acl.host.as_str().to_owned(),
                operation: AclOperation::from_code(acl.operation),
                permission: AclPermission::from_code(acl.permission_type),
            });
        }
    }
    Ok(acls)
}

pub(super) fn build_delete(filters: &[AclFilter]) -> DeleteAclsRequest {
    DeleteAclsRequest::default().with_filters(
        filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type.code())
                    .with_resource_name_filter(opt(&f.resource_name))
                    .with_pattern_type_filter(f.pattern_type.code())
                    .with_principal_filter(opt(&f.principal))
                    .with_host_filter(opt(&f.host))
                    .with_operation(f.operation.code())
                    .with_permission_type(f.permission.code())
            })
            .collect(),
    )
}

/// Results come back in request order: pair them with the filters sent.
pub(super) fn parse_delete(
    filters: &[AclFilter],
    response: DeleteAclsResponse,
) -> Vec<(AclFilter, Result<Vec<AclBinding>, Error>)> {
    filters
        .iter()
        .cloned()
        .zip(response.filter_results)
        .map(|(filter, result)| {
            let outcome = check(
                "DeleteAcls",
                result.error_code,
                result.error_message.as_ref(),
                ErrorContext::default(),
            )
            .and_then(|()| {
                result
                    .matching_acls
                    .into_iter()
                    .map(|m| {
                        check(
                            "DeleteAcls",
                            m.error_code,
                            m.error_message.as_ref(),
                            ErrorContext::default(),
                        )?;
                        Ok(AclBinding {
                            resource_type: ResourceType::from_code(m.resource_type),
                            resource_name: m.resource_name.as_str().to_owned(),
                            pattern_type: PatternType::from_code(m.pattern_type),
                            principal: m.principal.as_str().to_owned(),
                            host: m.host.as_str().to_owned(),
                            operation: AclOperation::from_code(m.operation),
                            permission: AclPermission::from_code(m.permission_type),
                        })
                    })
                    .collect()
            });
            (filter, outcome)
        })
        .collect()
}

impl Admin {
    /// Creates ACLs (CreateAcls).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> ItemResults<AclBinding, ()> {
        self.call(
            acls.to_vec(),
            any_broker,
            |keys, _| Ok(build_create(keys)),
            |keys, response: CreateAclsResponse, _| {
                keys.iter()
                    .cloned()
                    .zip(response.results)
                    .map(|(acl, r)| {
                        let outcome = check(
                            "CreateAcls",
                            r.error_code,
                            r.error_message.as_ref(),
                            ErrorContext::default(),
                        );
                        (acl, outcome)
                    })
                    .collect()
            },
        )
        .await
    }

    /// The ACLs matching `filter` (DescribeAcls).
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, Error> {
        self.call(
            vec![()],
            any_broker,
            |_, _| Ok(build_describe(filter)),
            |_, response: DescribeAclsResponse, _| vec![((), parse_describe(response))],
        )
        .await
        .into_single("DescribeAcls")
    }

    /// Deletes the ACLs matching each filter (DeleteAcls); each filter's
    /// result lists the ACLs it deleted, or fails when the broker reports an
    /// error for the filter or for any ACL it matched.
    pub async fn delete_acls(
        &self,
        filters: &[AclFilter],
    ) -> ItemResults<AclFilter, Vec<AclBinding>> {
        self.call(
            filters.to_vec(),
            any_broker,
            |keys, _| Ok(build_delete(keys)),
            |keys, response: DeleteAclsResponse, _| parse_delete(keys, response),
        )
        .await
    }
}
