//! Topic names unique across parallel tests, processes and runs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest prefix kept, so the whole name stays well under Kafka's 249.
const MAX_PREFIX: usize = 180;

/// A topic name that starts with `prefix` and is unique: the time, the
/// process id and a per-process counter follow it. Characters Kafka does not
/// allow in topic names become `_`.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let clean: String = prefix
        .chars()
        .take(MAX_PREFIX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}-{millis}-{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_and_keep_the_prefix() {
        let a = unique_topic("orders");
        let b = unique_topic("orders");
        assert_ne!(a, b);
        assert!(a.starts_with("orders-"), "{a}");
    }

    #[test]
    fn illegal_characters_are_replaced_and_length_is_capped() {
        let t = unique_topic(&"a b/c".repeat(100));
        assert!(t.starts_with("a_b_c"), "{t}");
        assert!(t.len() < 249, "{} chars", t.len());
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "{t}"
        );
    }
}
