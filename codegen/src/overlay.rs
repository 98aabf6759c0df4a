//! The overlay file: routes and skips the JSON schemas do not carry.

use std::collections::BTreeMap;

/// What the overlay says about one schema name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Generate; the value is the `Route` variant.
    Route(&'static str),
    /// Generate a non-API data schema.
    Data,
    /// Do not generate, for this reason.
    Skip(String),
}

/// Parses the overlay text into name → entry.
pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, Entry>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let name = parts.next().unwrap_or_default().to_string();
        let rest = parts.next().unwrap_or_default();
        let tail = parts.collect::<Vec<_>>().join(" ");
        let entry = match rest {
            "any" => Entry::Route("AnyBroker"),
            "controller" => Entry::Route("Controller"),
            "group" => Entry::Route("GroupCoordinator"),
            "txn" => Entry::Route("TxnCoordinator"),
            "leader" => Entry::Route("PartitionLeader"),
            "data" => Entry::Data,
            "skip" if !tail.is_empty() => Entry::Skip(tail.to_string()),
            other => return Err(format!("overlay line {}: bad entry `{other}`", n + 1)),
        };
        if map.insert(name.clone(), entry).is_some() {
            return Err(format!("overlay line {}: {name} listed twice", n + 1));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes_and_skips() {
        let m = parse("# c\nProduce leader\nVote skip raft only\nX data\n").unwrap();
        assert_eq!(m["Produce"], Entry::Route("PartitionLeader"));
        assert_eq!(m["Vote"], Entry::Skip("raft only".into()));
        assert_eq!(m["X"], Entry::Data);
        assert!(parse("A skip\n").is_err());
        assert!(parse("A any\nA any\n").is_err());
        assert!(parse("A sideways\n").is_err());
    }

    #[test]
    fn shipped_overlay_parses() {
        let m = parse(include_str!("../overlay.txt")).unwrap();
        assert_eq!(m["DescribeQuorum"], Entry::Route("AnyBroker"));
        assert!(matches!(m["LeaderAndIsr"], Entry::Skip(_)));
    }
}
