//! Settings of group membership (Kafka's `group.*`, `session.timeout.ms`,
//! `heartbeat.interval.ms`, `max.poll.interval.ms`, ...).

use std::sync::Arc;
use std::time::Duration;

use super::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor, RebalanceProtocol};

/// How a member takes part in its group. Defaults follow Kafka's consumer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id`: makes the member static, so a restart within the
    /// session timeout keeps its partitions without a rebalance. A static
    /// member never sends LeaveGroup.
    pub group_instance_id: Option<String>,
    /// `client.rack`, sent in the subscription for rack-aware assignors.
    pub rack_id: Option<String>,
    /// `session.timeout.ms`: the coordinator expels a member it has not heard
    /// from for this long (default 45 s).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`: how often a stable member heartbeats
    /// (default 3 s); must be below the session timeout.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: longest the application may go without asking
    /// for records before the member gives up its partitions (default 5 min).
    pub max_poll_interval: Duration,
    /// How long the coordinator waits for members to rejoin during a
    /// rebalance; Kafka uses `max.poll.interval.ms`, and so does the default.
    pub rebalance_timeout: Duration,
    /// `retry.backoff.ms`: pause before retrying after a retriable error
    /// (default 100 ms).
    pub retry_backoff: Duration,
    /// `request.timeout.ms`: how long to wait for a response other than
    /// JoinGroup's (which may take the rebalance timeout) before treating the
    /// coordinator as gone (default 30 s).
    pub request_timeout: Duration,
    /// `partition.assignment.strategy`, in preference order. The member's
    /// rebalance protocol is cooperative only if every assignor supports it.
    /// Default: range, then cooperative-sticky (Kafka's default, which lets a
    /// group migrate to cooperative-sticky with two rolling restarts).
    pub assignors: Vec<Arc<dyn Assignor>>,
}

impl GroupConfig {
    /// Defaults for group `group_id`.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            group_instance_id: None,
            rack_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            rebalance_timeout: Duration::from_secs(300),
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            assignors: vec![Arc::new(RangeAssignor), Arc::new(CooperativeStickyAssignor)],
        }
    }

    /// Sets [`Self::group_instance_id`].
    pub fn with_group_instance_id(mut self, id: Option<String>) -> Self {
        self.group_instance_id = id;
        self
    }

    /// Sets [`Self::rack_id`].
    pub fn with_rack_id(mut self, rack: Option<String>) -> Self {
        self.rack_id = rack;
        self
    }

    /// Sets [`Self::session_timeout`].
    pub fn with_session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }

    /// Sets [`Self::heartbeat_interval`].
    pub fn with_heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// Sets [`Self::max_poll_interval`] and, like Kafka, the rebalance timeout.
    pub fn with_max_poll_interval(mut self, d: Duration) -> Self {
        self.max_poll_interval = d;
        self.rebalance_timeout = d;
        self
    }

    /// Sets [`Self::rebalance_timeout`] alone.
    pub fn with_rebalance_timeout(mut self, d: Duration) -> Self {
        self.rebalance_timeout = d;
        self
    }

    /// Sets [`Self::retry_backoff`].
    pub fn with_retry_backoff(mut self, d: Duration) -> Self {
        self.retry_backoff = d;
        self
    }

    /// Sets [`Self::request_timeout`].
    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Sets [`Self::assignors`].
    pub fn with_assignors(mut self, assignors: Vec<Arc<dyn Assignor>>) -> Self {
        self.assignors = assignors;
        self
    }

    /// The protocol this member follows: cooperative only if all its
    /// assignors are.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.assignors
            .iter()
            .map(|a| a.rebalance_protocol())
            .min()
            .unwrap_or(RebalanceProtocol::Eager)
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), GroupConfigError> {
        if self.group_id.is_empty() {
            return Err(GroupConfigError::EmptyGroupId);
        }
        if self.group_instance_id.as_deref() == Some("") {
            return Err(GroupConfigError::EmptyGroupInstanceId);
        }
        if self.assignors.is_empty() {
            return Err(GroupConfigError::NoAssignor);
        }
        for (i, a) in self.assignors.iter().enumerate() {
            if self
                .assignors
                .iter()
                .skip(i + 1)
                .any(|b| b.name() == a.name())
            {
                return Err(GroupConfigError::DuplicateAssignor(a.name().to_owned()));
            }
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err(GroupConfigError::HeartbeatNotBelowSession);
        }
        for (name, d) in [
            ("session.timeout.ms", self.session_timeout),
            ("max.poll.interval.ms", self.max_poll_interval),
            ("rebalance timeout", self.rebalance_timeout),
            ("request.timeout.ms", self.request_timeout),
        ] {
            if d.is_zero() || i32::try_from(d.as_millis()).is_err() {
                return Err(GroupConfigError::OutOfRange(name));
            }
        }
        Ok(())
    }
}

/// A group setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupConfigError {
    /// `group.id` is empty.
    #[error("group.id must not be empty")]
    EmptyGroupId,
    /// `group.instance.id` is set but empty.
    #[error("group.instance.id must not be empty when set")]
    EmptyGroupInstanceId,
    /// No partition assignor.
    #[error("at least one partition assignor is needed")]
    NoAssignor,
    /// Two assignors share a protocol name.
    #[error("two partition assignors are named {0}")]
    DuplicateAssignor(String),
    /// `heartbeat.interval.ms` is zero or not below `session.timeout.ms`.
    #[error("heartbeat.interval.ms must be above zero and below session.timeout.ms")]
    HeartbeatNotBelowSession,
    /// A timeout is zero or does not fit the protocol's i32 milliseconds.
    #[error("{0} must be between 1 ms and i32::MAX ms")]
    OutOfRange(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::RoundRobinAssignor;

    #[test]
    fn defaults_are_valid_and_eager_because_range_is() {
        let c = GroupConfig::new("g");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.rebalance_protocol(), RebalanceProtocol::Eager);
        let coop = c.with_assignors(vec![Arc::new(CooperativeStickyAssignor)]);
        assert_eq!(coop.rebalance_protocol(), RebalanceProtocol::Cooperative);
    }

    #[test]
    fn rejects_inconsistent_settings() {
        let c = GroupConfig::new("g");
        assert_eq!(
            GroupConfig::new("").validate(),
            Err(GroupConfigError::EmptyGroupId)
        );
        assert_eq!(
            c.clone()
                .with_heartbeat_interval(Duration::from_secs(45))
                .validate(),
            Err(GroupConfigError::HeartbeatNotBelowSession)
        );
        assert_eq!(
            c.clone().with_assignors(vec![]).validate(),
            Err(GroupConfigError::NoAssignor)
        );
        assert_eq!(
            c.clone()
                .with_assignors(vec![
                    Arc::new(RoundRobinAssignor),
                    Arc::new(RoundRobinAssignor)
                ])
                .validate(),
            Err(GroupConfigError::DuplicateAssignor("roundrobin".into()))
        );
        assert_eq!(
            c.with_max_poll_interval(Duration::from_secs(u64::from(u32::MAX)))
                .validate(),
            Err(GroupConfigError::OutOfRange("max.poll.interval.ms"))
        );
    }
}
