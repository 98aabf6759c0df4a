//! The per-broker API version table from ApiVersions, and negotiation: every
//! request goes out at the highest version both sides support.

use std::fmt;

use klamm_protocol::generated::ApiVersionsResponse;
use klamm_protocol::{ApiKey, Message, Request, VersionRange};

use crate::error::{BrokerRange, Error};

/// API key → version range, as one broker announced them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct VersionTable {
    /// Indexed by API key; API keys are small and dense.
    ranges: Vec<Option<VersionRange>>,
}

/// Largest API key we keep; a hostile broker cannot make the table huge.
const MAX_API_KEY: i16 = 1024;

impl VersionTable {
    /// The table a broker announced in its ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let mut table = Self::default();
        for api in &response.api_keys {
            if (0..MAX_API_KEY).contains(&api.api_key) && api.min_version <= api.max_version {
                table.insert(
                    api.api_key,
                    VersionRange::new(api.min_version, api.max_version),
                );
            }
        }
        table
    }

    /// Records one range.
    pub fn insert(&mut self, api_key: i16, range: VersionRange) {
        let Ok(index) = usize::try_from(api_key) else {
            return;
        };
        if self.ranges.len() <= index {
            self.ranges.resize(index + 1, None);
        }
        self.ranges[index] = Some(range);
    }

    /// The broker's range for an API.
    pub fn get(&self, key: ApiKey) -> Option<VersionRange> {
        usize::try_from(key.as_i16())
            .ok()
            .and_then(|i| self.ranges.get(i).copied().flatten())
    }

    /// Every API the broker offers, by key.
    pub fn iter(&self) -> impl Iterator<Item = (i16, VersionRange)> + '_ {
        self.ranges
            .iter()
            .enumerate()
            .filter_map(|(key, r)| r.map(|r| (key as i16, r)))
    }

    /// The version to send `R` at: the highest both sides support.
    pub fn negotiate<R: Request>(&self, broker: &str) -> Result<i16, Error> {
        self.negotiate_key(R::KEY, <R as Message>::VERSIONS, broker)
    }

    /// As [`Self::negotiate`], for a key and our range.
    pub fn negotiate_key(
        &self,
        key: ApiKey,
        ours: VersionRange,
        broker: &str,
    ) -> Result<i16, Error> {
        let theirs = self.get(key);
        theirs
            .and_then(|t| ours.highest_common(&t))
            .ok_or_else(|| Error::UnsupportedApi {
                broker: broker.to_owned(),
                api: key.name(),
                ours,
                theirs: BrokerRange(theirs),
            })
    }
}

impl fmt::Debug for VersionTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, r)| {
                let name = ApiKey::from_i16(k).map_or("?", ApiKey::name);
                (format!("{name}({k})"), r.to_string())
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::generated::{CreateTopicsRequest, MetadataRequest, ProduceRequest};

    #[test]
    fn highest_common_version_and_missing_apis() {
        let mut t = VersionTable::default();
        t.insert(ApiKey::Metadata.as_i16(), VersionRange::new(0, 9));
        t.insert(ApiKey::Produce.as_i16(), VersionRange::new(50, 60));
        let ours = <MetadataRequest as Message>::VERSIONS;
        assert_eq!(
            t.negotiate::<MetadataRequest>("b").unwrap(),
            9.min(ours.max)
        );
        let err = t.negotiate::<ProduceRequest>("b").unwrap_err();
        assert!(err.to_string().contains("Produce"), "{err}");
        let err = t
            .negotiate::<CreateTopicsRequest>("id 1 at h:1")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("CreateTopics") && text.contains("none"),
            "{text}"
        );
    }

    #[test]
    fn hostile_keys_are_ignored() {
        let mut t = VersionTable::default();
        t.insert(-3, VersionRange::new(0, 1));
        assert_eq!(t.iter().count(), 0);
    }
}
