//! The property bag every command starts from: --config file, then -X, then
//! -b (or KLAMM_BOOTSTRAP when nothing else names the brokers).

use std::path::Path;

use klamm::config::Properties;

use crate::args::Global;
use crate::error::{CliError, CliResult, START_BROKER};

/// Builds the properties from the global options and the environment.
pub(crate) fn properties(global: &Global, env_bootstrap: Option<String>) -> CliResult<Properties> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(path) = &global.config {
        pairs.extend(read_properties_file(path)?);
    }
    pairs.extend(global.property.iter().cloned());
    let named = pairs.iter().any(|(k, _)| k == "bootstrap.servers");
    match (
        &global.bootstrap,
        env_bootstrap.filter(|s| !s.trim().is_empty()),
    ) {
        (Some(b), _) => pairs.push(("bootstrap.servers".into(), b.clone())),
        (None, Some(env)) if !named => pairs.push(("bootstrap.servers".into(), env)),
        (None, _) if named => {}
        (None, _) => {
            return Err(CliError::usage(
                "no broker given",
                "-b is missing and KLAMM_BOOTSTRAP is not set",
            )
            .hint(START_BROKER));
        }
    }
    // The tool's own default, unless the user chose one.
    if !pairs.iter().any(|(k, _)| k == "client.id") {
        pairs.push(("client.id".into(), "klamm-cli".into()));
    }
    Ok(pairs.into_iter().collect())
}

/// Reads a Java `.properties` file.
fn read_properties_file(path: &Path) -> CliResult<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read --config {}", path.display()), e))?;
    parse_properties(&text)
        .map_err(|e| CliError::usage(format!("bad --config {}", path.display()), e))
}

/// Parses Java `.properties` text: `key=value`, `key: value` or `key value`,
/// `#`/`!` comments, blank lines, and a trailing `\` continuing a line.
pub(crate) fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut logical = String::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with(['#', '!'])) {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = trimmed.len() - trimmed.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            logical.push_str(&trimmed[..trimmed.len() - 1]);
            continue;
        }
        logical.push_str(trimmed);
        let entry = std::mem::take(&mut logical);
        let split = entry
            .find(['=', ':'])
            .or_else(|| entry.find(char::is_whitespace));
        let (key, value) = match split {
            Some(i) => (&entry[..i], &entry[i + 1..]),
            None => (entry.as_str(), ""),
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("line {}: no key", n + 1));
        }
        out.push((unescape(key), unescape(value.trim())));
    }
    Ok(out)
}

/// Java's escapes for the common cases (`\\`, `\n`, `\t`, `\=`, `\:`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties() {
        let text = "# comment\n! also\n\nbootstrap.servers = a:1,\\\n   b:2\nacks: all\nlinger.ms 5\nsasl.jaas.config=x=\"y\"\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(
            p,
            vec![
                ("bootstrap.servers".into(), "a:1,b:2".into()),
                ("acks".into(), "all".into()),
                ("linger.ms".into(), "5".into()),
                ("sasl.jaas.config".into(), "x=\"y\"".into()),
            ]
        );
    }

    fn global(bootstrap: Option<&str>, x: &[(&str, &str)]) -> Global {
        Global {
            bootstrap: bootstrap.map(str::to_owned),
            property: x.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            config: None,
            json: false,
            verbose: 0,
        }
    }

    #[test]
    fn bootstrap_precedence() {
        let mut p = properties(&global(Some("a:1"), &[]), Some("env:1".into())).unwrap();
        assert_eq!(p.take("bootstrap.servers").as_deref(), Some("a:1"));
        assert_eq!(p.take("client.id").as_deref(), Some("klamm-cli"));
        let mut p = properties(&global(None, &[]), Some("env:1".into())).unwrap();
        assert_eq!(p.take("bootstrap.servers").as_deref(), Some("env:1"));
        let mut p = properties(
            &global(None, &[("bootstrap.servers", "x:1")]),
            Some("env:1".into()),
        )
        .unwrap();
        assert_eq!(p.take("bootstrap.servers").as_deref(), Some("x:1"));
        let e = properties(&global(None, &[]), None).unwrap_err();
        assert_eq!(e.code, crate::error::USAGE);
        assert!(e.to_string().contains("KLAMM_BOOTSTRAP"), "{e}");
    }
}
