//! Consumer groups: membership of a classic (JoinGroup/SyncGroup) group as a
//! sans-io state machine, partition assignors, and offset bookkeeping.

pub mod assignor;
mod topic_partition;

pub use assignor::{
    AssignError, Assignment, Assignor, CooperativeStickyAssignor, MemberSubscription,
    PartitionCounts, RangeAssignor, RebalanceProtocol, RoundRobinAssignor,
};
pub use topic_partition::TopicPartition;
