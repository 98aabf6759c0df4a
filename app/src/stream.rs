//! Streams (named channels of one schema, each a topic) and glob patterns
//! over stream names.

use std::time::Duration;

use crate::schema::{Schema, SchemaInfo};

/// Longest topic name Kafka accepts.
const MAX_TOPIC: usize = 249;

/// A stream: a topic (the app's topic prefix + the stream's name) carrying
/// messages of one schema, with what topic pre-creation needs.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct Content { id: u64 }
/// # klamm_app::schema!(Content, "Content", 1);
/// use std::time::Duration;
/// use klamm_app::StreamDef;
/// let s = StreamDef::new::<Content>("content.created")
///     .retention(Duration::from_secs(7 * 24 * 3600))
///     .partitions(6);
/// assert_eq!(s.schema().schema.to_string(), "Content:1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDef {
    name: String,
    schema: SchemaInfo,
    retention: Option<Duration>,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: Vec<(String, String)>,
}

impl StreamDef {
    /// The stream `name` carrying `T` messages.
    pub fn new<T: Schema>(name: impl Into<String>) -> Self {
        Self::with_schema(name, SchemaInfo::of::<T>())
    }

    /// The stream `name` carrying messages of `schema`.
    pub fn with_schema(name: impl Into<String>, schema: SchemaInfo) -> Self {
        Self {
            name: name.into(),
            schema,
            retention: None,
            partitions: None,
            replication_factor: None,
            configs: Vec::new(),
        }
    }

    /// How long the topic keeps messages (`retention.ms`; default: the
    /// broker's).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Partitions of the topic (default: the app's).
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// Replication factor of the topic (default: the app's, else
    /// min(brokers, 3)).
    pub fn replication_factor(mut self, factor: i16) -> Self {
        self.replication_factor = Some(factor);
        self
    }

    /// Another topic config set at creation (`cleanup.policy`, ...).
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((name.into(), value.into()));
        self
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its schema.
    pub fn schema(&self) -> &SchemaInfo {
        &self.schema
    }

    /// Retention, when set.
    pub fn retention_time(&self) -> Option<Duration> {
        self.retention
    }

    /// Partitions, when set.
    pub fn partition_count(&self) -> Option<i32> {
        self.partitions
    }

    /// Replication factor, when set.
    pub fn replication(&self) -> Option<i16> {
        self.replication_factor
    }

    /// Extra topic configs.
    pub fn configs(&self) -> &[(String, String)] {
        &self.configs
    }
}

/// Checks a stream name or topic prefix: Kafka's topic characters only
/// (`[a-zA-Z0-9._-]`). `what` names it in the error.
pub(crate) fn check_name(what: &str, name: &str, allow_empty: bool) -> Result<(), String> {
    if name.is_empty() && !allow_empty {
        return Err(format!("{what} is empty"));
    }
    if name.len() > MAX_TOPIC {
        return Err(format!(
            "{what} `{name}` is longer than {MAX_TOPIC} characters"
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_topic_char(*c)) {
        return Err(format!(
            "{what} `{name}` contains `{c}`; only ASCII letters, digits, `.`, `_` and `-` are allowed"
        ));
    }
    Ok(())
}

fn is_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A glob over stream names: `*` matches any run of characters (dots
/// included), `?` exactly one; everything else is literal.
///
/// ```
/// use klamm_app::StreamPattern;
/// let p = StreamPattern::new("content.*").unwrap();
/// assert!(p.matches("content.created"));
/// assert!(!p.matches("contents.created"));
/// assert_eq!(p.topic_regex("prod."), r"^prod\.content\..*$");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPattern {
    glob: String,
}

impl StreamPattern {
    /// Parses a glob; characters other than topic characters, `*` and `?`
    /// are refused.
    pub fn new(glob: impl Into<String>) -> Result<Self, String> {
        let glob = glob.into();
        if glob.is_empty() {
            return Err("the stream pattern is empty".into());
        }
        if let Some(c) = glob
            .chars()
            .find(|c| !is_topic_char(*c) && !matches!(c, '*' | '?'))
        {
            return Err(format!(
                "stream pattern `{glob}` contains `{c}`; use stream-name characters, `*` and `?`"
            ));
        }
        Ok(Self { glob })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.glob
    }

    /// Whether the glob has no wildcard (it names exactly one stream).
    pub fn is_literal(&self) -> bool {
        !self.glob.contains(['*', '?'])
    }

    /// Whether `stream` matches. Linear in practice: the classic
    /// backtrack-to-the-last-star walk, O(len(glob) * len(name)) at worst,
    /// no recursion.
    pub fn matches(&self, stream: &str) -> bool {
        let p = self.glob.as_bytes();
        let s = stream.as_bytes();
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match p.get(pi) {
                Some(b'*') => {
                    star = Some((pi, si));
                    pi += 1;
                }
                Some(&c) if c == b'?' || Some(&c) == s.get(si) => {
                    pi += 1;
                    si += 1;
                }
                _ => match star {
                    Some((sp, ss)) => {
                        pi = sp + 1;
                        si = ss + 1;
                        star = Some((sp, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        p.get(pi..)
            .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
    }

    /// The stream matching `topic` under `prefix`, if any.
    pub fn stream_of<'t>(&self, prefix: &str, topic: &'t str) -> Option<&'t str> {
        topic.strip_prefix(prefix).filter(|s| self.matches(s))
    }

    /// An anchored regular expression over topic names (prefix included)
    /// matching exactly the topics of matching streams.
    pub fn topic_regex(&self, prefix: &str) -> String {
        let mut out = String::with_capacity(prefix.len() + self.glob.len() * 2 + 2);
        out.push('^');
        for c in prefix.chars() {
            push_literal(&mut out, c);
        }
        for c in self.glob.chars() {
            match c {
                '*' => out.push_str(".*"),
                '?' => out.push('.'),
                c => push_literal(&mut out, c),
            }
        }
        out.push('$');
        out
    }
}

/// Topic characters are letters, digits, `_`, `-` and `.`; only `.` means
/// something in a regex (and `-` only inside a class, never emitted here).
fn push_literal(out: &mut String, c: char) {
    if c == '.' {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(glob: &str) -> StreamPattern {
        StreamPattern::new(glob).unwrap()
    }

    #[test]
    fn glob_matching() {
        let cases = [
            ("content.*", "content.created", true),
            ("content.*", "content.", true),
            ("content.*", "content", false),
            ("content.*", "content.a.b", true),
            ("*.created", "content.created", true),
            ("*.created", "content.created.x", false),
            ("*", "anything", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "", true),
        ];
        for (glob, name, want) in cases {
            assert_eq!(p(glob).matches(name), want, "{glob} vs {name}");
        }
    }

    #[test]
    fn regex_is_anchored_and_escapes_dots() {
        assert_eq!(p("content.*").topic_regex(""), r"^content\..*$");
        assert_eq!(p("a?b").topic_regex("dev-1."), r"^dev-1\.a.b$");
        assert!(p("x.y").is_literal());
        assert!(!p("x.*").is_literal());
    }

    #[test]
    fn stream_of_strips_the_prefix() {
        let pat = p("content.*");
        assert_eq!(
            pat.stream_of("prod.", "prod.content.new"),
            Some("content.new")
        );
        assert_eq!(pat.stream_of("prod.", "dev.content.new"), None);
        assert_eq!(pat.stream_of("prod.", "prod.other"), None);
    }

    #[test]
    fn bad_patterns_and_names() {
        assert!(StreamPattern::new("").is_err());
        assert!(StreamPattern::new("a b").is_err());
        assert!(StreamPattern::new("a/[b]").is_err());
        assert!(check_name("stream", "ok.name-1_x", false).is_ok());
        assert!(check_name("stream", "", false).is_err());
        assert!(check_name("prefix", "", true).is_ok());
        assert!(check_name("stream", "no/slash", false).is_err());
        assert!(check_name("stream", &"x".repeat(250), false).is_err());
    }
}
