//! Retry classification: the one place that decides whether an error is worth
//! retrying, and what to refresh first. Each case carries its reason so logs and
//! reviewers can see why.

use klamm_protocol::ErrorCode;

use crate::error::Error;

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryAdvice {
    /// Retrying (after a backoff) may succeed.
    pub retriable: bool,
    /// Metadata is probably stale: refresh it before retrying.
    pub refresh_metadata: bool,
    /// The group or transaction coordinator moved: look it up again.
    pub refresh_coordinator: bool,
    /// Why, in a few words.
    pub reason: &'static str,
}

const fn fatal(reason: &'static str) -> RetryAdvice {
    RetryAdvice {
        retriable: false,
        refresh_metadata: false,
        refresh_coordinator: false,
        reason,
    }
}

const fn retry(reason: &'static str) -> RetryAdvice {
    RetryAdvice {
        retriable: true,
        refresh_metadata: false,
        refresh_coordinator: false,
        reason,
    }
}

const fn stale_metadata(reason: &'static str) -> RetryAdvice {
    RetryAdvice {
        retriable: true,
        refresh_metadata: true,
        refresh_coordinator: false,
        reason,
    }
}

const fn moved_coordinator(reason: &'static str) -> RetryAdvice {
    RetryAdvice {
        retriable: true,
        refresh_metadata: false,
        refresh_coordinator: true,
        reason,
    }
}

/// Classifies an error.
pub fn classify(err: &Error) -> RetryAdvice {
    match err {
        Error::Config { .. } => fatal("configuration errors do not fix themselves"),
        Error::CommitFailed { .. } => {
            fatal("the same commit would be refused again; the member must rejoin first")
        }
        Error::Connect { .. } => RetryAdvice {
            refresh_metadata: true,
            ..retry("the broker may be restarting, or its address may have changed")
        },
        Error::ConnectionLost { .. } => RetryAdvice {
            refresh_metadata: true,
            ..retry(
                "the request never completed; a new connection may succeed and leadership may have moved",
            )
        },
        Error::Frame { .. } => retry("the connection was dropped and will be rebuilt"),
        Error::RequestTimeout { .. } => RetryAdvice {
            refresh_metadata: true,
            ..retry("the broker was slow or unreachable; the connection was rebuilt")
        },
        Error::Decode { .. } => {
            retry("the connection was dropped; a different broker version may answer differently")
        }
        Error::Encode { .. } => fatal("the request cannot be expressed at the negotiated version"),
        Error::UnsupportedApi { .. } => fatal("the broker does not implement what was asked"),
        Error::Broker { code, .. } => classify_code(*code),
        Error::Authentication { .. } => {
            fatal("wrong credentials stay wrong; retrying would only lock the account")
        }
        Error::Tls { .. } => fatal("certificate problems need an operator"),
        Error::Routing { .. } => fatal("the request needs an explicit target"),
        Error::MetadataMissing { .. } => {
            stale_metadata("the cluster may not have propagated it yet")
        }
        Error::Closed => fatal("the client was shut down"),
        Error::Records { .. } => {
            fatal("the same bytes fail the same way; the application must skip them")
        }
        Error::MissingResult { .. } => fatal("the broker chose not to answer for the item"),
    }
}

/// Classifies a broker error code.
pub fn classify_code(code: ErrorCode) -> RetryAdvice {
    match code {
        ErrorCode::NotLeaderOrFollower => stale_metadata("leadership moved to another broker"),
        ErrorCode::UnknownTopicOrPartition => {
            stale_metadata("the topic may be new and not yet known to this broker")
        }
        ErrorCode::FencedLeaderEpoch => {
            stale_metadata("our leader epoch is older than the broker's")
        }
        ErrorCode::UnknownLeaderEpoch => {
            stale_metadata("our leader epoch is newer than the broker's")
        }
        ErrorCode::LeaderNotAvailable => stale_metadata("a leader election is in progress"),
        ErrorCode::NotController => stale_metadata("the controller moved"),
        ErrorCode::NotCoordinator => moved_coordinator("the coordinator moved to another broker"),
        ErrorCode::CoordinatorNotAvailable => {
            moved_coordinator("the coordinator is not available; look it up again")
        }
        ErrorCode::CoordinatorLoadInProgress => retry("the coordinator is still loading its state"),
        ErrorCode::RequestTimedOut => retry("the broker timed out waiting for replicas"),
        ErrorCode::NetworkException => stale_metadata("the broker lost a connection of its own"),
        ErrorCode::NotEnoughReplicas | ErrorCode::NotEnoughReplicasAfterAppend => {
            retry("the in-sync replica set is temporarily too small")
        }
        ErrorCode::ThrottlingQuotaExceeded => retry("the broker asked us to slow down"),
        ErrorCode::ConcurrentTransactions => retry("another transaction step is still completing"),
        ErrorCode::RebalanceInProgress => retry("the group is rebalancing"),
        ErrorCode::SaslAuthenticationFailed => fatal("wrong credentials stay wrong"),
        ErrorCode::UnsupportedVersion => fatal("the broker does not support this version"),
        ErrorCode::TopicAuthorizationFailed
        | ErrorCode::GroupAuthorizationFailed
        | ErrorCode::ClusterAuthorizationFailed
        | ErrorCode::TransactionalIdAuthorizationFailed => fatal("permissions need an operator"),
        ErrorCode::TopicAlreadyExists => fatal("the topic exists"),
        other if other.is_retriable() => retry("Kafka marks this error code retriable"),
        _ => fatal("Kafka marks this error code not retriable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorContext;

    fn broker(code: ErrorCode) -> Error {
        Error::Broker {
            api: "Produce",
            code,
            message: None,
            context: ErrorContext::default(),
        }
    }

    #[test]
    fn stale_metadata_codes_ask_for_refresh() {
        for code in [
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::LeaderNotAvailable,
        ] {
            let advice = classify(&broker(code));
            assert!(advice.retriable && advice.refresh_metadata, "{code:?}");
        }
    }

    #[test]
    fn coordinator_moves_ask_for_a_new_lookup() {
        let advice = classify(&broker(ErrorCode::NotCoordinator));
        assert!(advice.retriable && advice.refresh_coordinator);
    }

    #[test]
    fn credentials_and_config_are_fatal() {
        let auth = Error::Authentication {
            mechanism: "PLAIN".into(),
            broker: "id 1 at h:1".into(),
            reason: "bad".into(),
        };
        assert!(!classify(&auth).retriable);
        assert!(!classify(&Error::config("x", "y")).retriable);
        assert!(!classify(&broker(ErrorCode::SaslAuthenticationFailed)).retriable);
    }

    #[test]
    fn lost_connections_are_retriable_and_refresh() {
        let lost = Error::ConnectionLost {
            broker: "b".into(),
            reason: "closed".into(),
        };
        let advice = classify(&lost);
        assert!(advice.retriable && advice.refresh_metadata);
    }
}
