//! Consumer groups: membership of a classic (JoinGroup/SyncGroup) group as a
//! sans-io state machine, partition assignors, and offset bookkeeping.

pub mod assignor;
mod config;
pub mod consumer_protocol;
mod driver;
mod event;
mod membership;
mod offset_fetch_rows;
mod offsets;
mod topic_partition;
mod transmit;

pub use assignor::{
    AssignError, Assignment, Assignor, CooperativeStickyAssignor, MemberSubscription,
    PartitionCounts, RangeAssignor, RebalanceProtocol, RoundRobinAssignor,
};
pub use config::{GroupConfig, GroupConfigError};
pub use driver::GroupDriver;
pub(crate) use driver::{Timeouts, send as send_membership_request, sleep_until};
pub use event::{CommittedOffset, GroupEvent, GroupFailure, LostReason, RevokeReason};
pub use membership::{Generation, MemberState, Membership};
pub(crate) use offset_fetch_rows::offset_fetch_rows;
pub(crate) use offsets::is_group_error;
pub use offsets::{CommitOutcome, Offsets, PendingCommit, Position, commit_group_error};
pub use topic_partition::TopicPartition;
pub use transmit::{
    Coordinator, Destination, FitVersion, GroupRequest, GroupResponse, RequestId, Transmit,
};
