//! Tagged fields this code does not know.

use bytes::Bytes;

/// A tagged field whose tag the generated code does not know (sent by a
/// newer peer). Kept as raw bytes so that re-encoding a decoded message
/// reproduces the input exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawTaggedField {
    /// The tag number.
    pub tag: u32,
    /// The field's value, as it was on the wire.
    pub data: Bytes,
}

/// Which known tagged fields were on the wire when a struct was decoded.
///
/// Kafka writes a known tagged field only when it differs from its default,
/// but some peers (tansu, for one) also send default values. Remembering
/// which tags arrived lets a decoded message re-encode to the same bytes.
/// It is a hint for the encoder, not part of the value: two values that
/// differ only here compare equal.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaggedFieldsSeen(u64);

impl TaggedFieldsSeen {
    /// Nothing seen (what every constructed value holds).
    pub const fn new() -> Self {
        Self(0)
    }

    /// Records that `tag` (below 64: every known tag is) was decoded.
    pub fn insert(&mut self, tag: u32) {
        if tag < 64 {
            self.0 |= 1 << tag;
        }
    }

    /// Whether `tag` was decoded.
    pub const fn contains(&self, tag: u32) -> bool {
        tag < 64 && self.0 & (1 << tag) != 0
    }
}

impl PartialEq for TaggedFieldsSeen {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TaggedFieldsSeen {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_tags_are_remembered_but_not_compared() {
        let mut seen = TaggedFieldsSeen::new();
        seen.insert(3);
        seen.insert(200);
        assert!(seen.contains(3) && !seen.contains(2) && !seen.contains(200));
        assert_eq!(seen, TaggedFieldsSeen::new());
    }
}
