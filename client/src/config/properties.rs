//! Kafka-style string properties (`bootstrap.servers=...`), parsed layer by layer.
//!
//! Users bring the config maps they already have for the Java client or
//! librdkafka. Each layer (client, then producer or consumer) *takes* the keys it
//! understands out of one [`Properties`] bag; whatever is left at the end is an
//! unknown property and [`Properties::finish`] names it. That way the client layer
//! never needs to know the producer's keys, and a typo is never silently ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Error;

/// A bag of `key = value` properties that configuration layers consume.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    entries: BTreeMap<String, String>,
}

impl Properties {
    /// An empty bag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.entries.insert(key.into(), value.into());
        self
    }

    /// True when every key has been consumed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes and returns the raw value of `key`.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    /// Removes every key that starts with `prefix` and returns them, in key order.
    pub fn take_prefixed(&mut self, prefix: &str) -> Vec<(String, String)> {
        let keys: Vec<String> = self
            .entries
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.entries.remove_entry(&k))
            .collect()
    }

    /// Removes `key` and parses it with `parse`; a parse failure names the key.
    pub fn take_parsed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        match self.entries.remove(key) {
            None => Ok(None),
            Some(raw) => parse(raw.trim())
                .map(Some)
                .map_err(|reason| Error::config(key, reason)),
        }
    }

    /// Removes `key` and parses it as a non-negative number of milliseconds.
    pub fn take_millis(&mut self, key: &str) -> Result<Option<Duration>, Error> {
        self.take_parsed(key, parse_millis)
    }

    /// Removes `key` and parses it as an unsigned integer.
    pub fn take_usize(&mut self, key: &str) -> Result<Option<usize>, Error> {
        self.take_parsed(key, |s| {
            s.parse::<usize>()
                .map_err(|e| format!("`{s}` is not a non-negative integer: {e}"))
        })
    }

    /// Removes `key` and parses it as `true` or `false`.
    pub fn take_bool(&mut self, key: &str) -> Result<Option<bool>, Error> {
        self.take_parsed(key, |s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("`{other}` is not `true` or `false`")),
        })
    }

    /// Fails with an error naming the first key no layer consumed.
    pub fn finish(self) -> Result<(), Error> {
        match self.entries.into_keys().next() {
            None => Ok(()),
            Some(key) => Err(Error::config(key, "unknown property")),
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// Parses a millisecond count as Kafka writes it (`30000`).
pub(crate) fn parse_millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|e| format!("`{s}` is not a non-negative number of milliseconds: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_take_their_keys_and_leftovers_are_named() {
        let mut props: Properties = [
            ("request.timeout.ms", "1500"),
            ("ssl.ca.location", "/ca.pem"),
            ("ssl.key.location", "/k.pem"),
            ("linger.ms", "5"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            props.take_millis("request.timeout.ms").unwrap(),
            Some(Duration::from_millis(1500))
        );
        let ssl = props.take_prefixed("ssl.");
        assert_eq!(ssl.len(), 2);
        assert_eq!(ssl[0].0, "ssl.ca.location");
        let err = props.finish().unwrap_err();
        assert!(err.to_string().contains("linger.ms"), "{err}");
    }

    #[test]
    fn bad_values_name_the_property() {
        let mut props: Properties = [("request.timeout.ms", "-3")].into_iter().collect();
        let err = props.take_millis("request.timeout.ms").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("request.timeout.ms") && text.contains("-3"),
            "{text}"
        );
        let mut props: Properties = [("enable.x", "yes")].into_iter().collect();
        assert!(props.take_bool("enable.x").is_err());
    }
}
