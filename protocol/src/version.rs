//! Inclusive ranges of API versions.

use std::fmt;

/// An inclusive range of versions, `min..=max`, as Kafka's schemas and
/// `ApiVersions` responses express them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Lowest version in the range.
    pub min: i16,
    /// Highest version in the range.
    pub max: i16,
}

impl VersionRange {
    /// The range `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// Whether `version` lies in the range.
    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The versions both ranges hold, or `None` when they share none.
    pub const fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        let min = if self.min > other.min {
            self.min
        } else {
            other.min
        };
        let max = if self.max < other.max {
            self.max
        } else {
            other.max
        };
        if min <= max {
            Some(VersionRange { min, max })
        } else {
            None
        }
    }

    /// The highest version both ranges hold: what a client should speak to a
    /// broker whose `ApiVersions` entry is `other`.
    pub const fn highest_common(&self, other: &VersionRange) -> Option<i16> {
        match self.intersect(other) {
            Some(r) => Some(r.max),
            None => None,
        }
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersect_and_highest_common() {
        let ours = VersionRange::new(0, 12);
        assert_eq!(
            ours.intersect(&VersionRange::new(3, 15)),
            Some(VersionRange::new(3, 12))
        );
        assert_eq!(ours.highest_common(&VersionRange::new(3, 15)), Some(12));
        assert_eq!(ours.highest_common(&VersionRange::new(4, 9)), Some(9));
        assert_eq!(ours.intersect(&VersionRange::new(13, 15)), None);
        assert_eq!(
            VersionRange::new(5, 7).highest_common(&VersionRange::new(0, 4)),
            None
        );
        assert!(ours.contains(0) && ours.contains(12) && !ours.contains(13) && !ours.contains(-1));
        assert_eq!(VersionRange::new(2, 9).to_string(), "2-9");
    }
}
