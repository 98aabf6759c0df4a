//! TEMPORARY stand-ins until klamm-protocol's generated types land. Never landed.
#![allow(missing_docs, dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange { pub min: i16, pub max: i16 }
impl std::fmt::Display for VersionRange { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{}..={}", self.min, self.max) } }
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)] #[error("decode")] pub struct DecodeError;
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)] #[error("encode")] pub struct EncodeError;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode { NotLeaderOrFollower, UnknownTopicOrPartition, FencedLeaderEpoch, UnknownLeaderEpoch, LeaderNotAvailable, NotController, NotCoordinator, CoordinatorNotAvailable, CoordinatorLoadInProgress, RequestTimedOut, NetworkException, NotEnoughReplicas, NotEnoughReplicasAfterAppend, ThrottlingQuotaExceeded, ConcurrentTransactions, RebalanceInProgress, SaslAuthenticationFailed, UnsupportedVersion, TopicAuthorizationFailed, GroupAuthorizationFailed, ClusterAuthorizationFailed, TransactionalIdAuthorizationFailed, TopicAlreadyExists, Other }
impl ErrorCode { pub fn is_retriable(self) -> bool { false } }
