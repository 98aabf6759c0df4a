//! Pattern subscription: which of the cluster's topics a regular expression
//! selects, with the Java consumer's rules.
//!
//! - The expression must match the *whole* topic name (Java's
//!   `Matcher::matches`), so `orders` does not select `orders-eu`; write
//!   `orders.*` for that.
//! - Internal topics are never selected: those metadata marks internal and
//!   every name starting with `__` (`__consumer_offsets`,
//!   `__transaction_state`, ...).
//! - Only topics the metadata lists without a topic-level error count; a
//!   topic still being created is picked up by a later refresh.
//!
//! The group task re-evaluates the pattern on every metadata refresh (at the
//! latest every `metadata.max.age.ms`) and changes the subscription when the
//! selected set changes, so topics created later are consumed and deleted
//! topics dropped.

use std::sync::Arc;

use klamm_protocol::ErrorCode;
use regex::Regex;

use crate::error::Error;
use crate::metadata::ClusterMetadata;

/// A compiled subscription pattern.
#[derive(Debug, Clone)]
pub(crate) struct TopicPattern {
    /// The expression as the application wrote it (for messages).
    source: String,
    /// The expression anchored at both ends.
    anchored: Regex,
}

impl TopicPattern {
    /// Compiles `pattern`; an invalid expression is a configuration error
    /// that quotes the pattern and says what is wrong with it.
    pub(crate) fn new(pattern: &str) -> Result<Self, Error> {
        // A non-capturing group keeps alternations whole: `a|b` must become
        // `^(?:a|b)$`, not `^a|b$`.
        let anchored = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            Error::config(
                "subscription pattern",
                format!("`{pattern}` is not a valid regular expression: {e}"),
            )
        })?;
        Ok(Self {
            source: pattern.to_owned(),
            anchored,
        })
    }

    /// The pattern as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` is selected, by name alone (internal names excluded).
    pub(crate) fn matches(&self, topic: &str) -> bool {
        !topic.starts_with("__") && self.anchored.is_match(topic)
    }

    /// The selected topics of a metadata snapshot, sorted.
    pub(crate) fn select(&self, metadata: &ClusterMetadata) -> Vec<Arc<str>> {
        // `topics` is a BTreeMap: the result comes out sorted.
        metadata
            .topics
            .values()
            .filter(|t| !t.internal && t.error == ErrorCode::None && self.matches(&t.name))
            .map(|t| Arc::from(t.name.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use klamm_protocol::Uuid;

    use super::*;
    use crate::metadata::TopicMetadata;

    fn topic(name: &str, internal: bool, error: ErrorCode) -> TopicMetadata {
        TopicMetadata {
            name: name.to_owned(),
            id: Uuid::from_bytes([0; 16]),
            internal,
            error,
            partitions: Vec::new(),
        }
    }

    #[test]
    fn the_whole_name_must_match() {
        let p = TopicPattern::new("orders").unwrap();
        assert!(p.matches("orders"));
        assert!(!p.matches("orders-eu"));
        assert!(!p.matches("old-orders"));
        let p = TopicPattern::new("orders-.*").unwrap();
        assert!(p.matches("orders-eu"));
        assert!(p.matches("orders-"));
        assert!(!p.matches("orders"));
        assert!(!p.matches("x-orders-eu"));
    }

    #[test]
    fn alternations_stay_anchored_as_a_whole() {
        let p = TopicPattern::new("a|b").unwrap();
        assert!(p.matches("a"));
        assert!(p.matches("b"));
        assert!(!p.matches("ab"));
        assert!(!p.matches("xa"));
        assert!(!p.matches("bx"));
    }

    #[test]
    fn internal_topics_are_never_selected() {
        let p = TopicPattern::new(".*").unwrap();
        assert!(p.matches("orders"));
        assert!(!p.matches("__consumer_offsets"));
        assert!(!p.matches("__transaction_state"));
        assert!(p.matches("_single_underscore"));
        let mut meta = ClusterMetadata::empty();
        for t in [
            topic("orders", false, ErrorCode::None),
            topic("__consumer_offsets", true, ErrorCode::None),
            topic("marked-internal", true, ErrorCode::None),
            topic("being-created", false, ErrorCode::LeaderNotAvailable),
            topic("audit", false, ErrorCode::None),
        ] {
            meta.topics.insert(t.name.clone(), t);
        }
        let selected = p.select(&meta);
        let names: Vec<&str> = selected.iter().map(|t| &**t).collect();
        assert_eq!(names, ["audit", "orders"]);
        let p = TopicPattern::new("ord.*").unwrap();
        assert_eq!(p.select(&meta), [Arc::<str>::from("orders")]);
    }

    #[test]
    fn an_invalid_pattern_is_a_clear_error() {
        let err = TopicPattern::new("orders-(").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("orders-("), "{text}");
        assert!(text.contains("not a valid regular expression"), "{text}");
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
    }

    #[test]
    fn the_source_is_kept_for_messages() {
        assert_eq!(TopicPattern::new("a.*").unwrap().as_str(), "a.*");
    }
}
