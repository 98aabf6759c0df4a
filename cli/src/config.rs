//! The property bag every command starts from: --config file, then -X, then
//! the flags (-b, or KLAMM_BOOTSTRAP when nothing else names the brokers;
//! the TLS and SASL flags). Later layers win.

use std::path::Path;

use klamm::config::Properties;

use crate::args::{Global, Security};
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
    apply_security(&mut pairs, &global.security);
    // The tool's own default, unless the user chose one.
    if !pairs.iter().any(|(k, _)| k == "client.id") {
        pairs.push(("client.id".into(), "klamm-cli".into()));
    }
    Ok(pairs.into_iter().collect())
}

/// Adds the TLS and SASL flags as Kafka properties, over what --config and
/// -X said. The flags only ever add to `security.protocol`: `--tls` on a
/// SASL_PLAINTEXT configuration makes it SASL_SSL, a SASL flag on an SSL one
/// makes it SASL_SSL. The password (flag or KLAMM_SASL_PASSWORD) is used
/// only when SASL is on, so a variable left in the environment never breaks
/// a plaintext connection.
pub(crate) fn apply_security(pairs: &mut Vec<(String, String)>, s: &Security) {
    let tls_flag = s.tls
        || s.ca_file.is_some()
        || s.cert_file.is_some()
        || s.key_file.is_some()
        || s.no_verify_hostname;
    let sasl_flag = s.sasl_mechanism.is_some() || s.sasl_username.is_some();
    let existing = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "security.protocol")
        .map(|(_, v)| v.trim().to_ascii_uppercase());
    let (had_tls, had_sasl) = match existing.as_deref() {
        Some("SSL") => (true, false),
        Some("SASL_PLAINTEXT") => (false, true),
        Some("SASL_SSL") => (true, true),
        // PLAINTEXT, nothing, or a bad value the client will name.
        _ => (false, false),
    };
    let (tls, sasl) = (had_tls || tls_flag, had_sasl || sasl_flag);
    if tls_flag || sasl_flag {
        let protocol = match (tls, sasl) {
            (true, true) => "SASL_SSL",
            (true, false) => "SSL",
            (false, true) => "SASL_PLAINTEXT",
            (false, false) => "PLAINTEXT",
        };
        pairs.push(("security.protocol".into(), protocol.into()));
    }
    let mut set = |k: &str, v: String| pairs.push((k.into(), v));
    if let Some(p) = &s.ca_file {
        set("ssl.ca.location", p.display().to_string());
    }
    if let Some(p) = &s.cert_file {
        set("ssl.certificate.location", p.display().to_string());
    }
    if let Some(p) = &s.key_file {
        set("ssl.key.location", p.display().to_string());
    }
    if s.no_verify_hostname {
        set("ssl.endpoint.identification.algorithm", String::new());
    }
    if let Some(m) = s.sasl_mechanism {
        set("sasl.mechanism", m.property().into());
    }
    if let Some(u) = &s.sasl_username {
        set("sasl.username", u.clone());
    }
    if let (true, Some(p)) = (sasl, &s.sasl_password) {
        set("sasl.password", p.clone());
    }
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
            security: Security::default(),
        }
    }

    fn secured(x: &[(&str, &str)], security: Security) -> Properties {
        let mut g = global(Some("a:1"), x);
        g.security = security;
        properties(&g, None).unwrap()
    }

    #[test]
    fn tls_and_sasl_flags_become_kafka_properties() {
        use crate::args::SaslMechanismArg;
        let mut p = secured(
            &[],
            Security {
                ca_file: Some("/ca.pem".into()),
                ..Security::default()
            },
        );
        assert_eq!(p.take("security.protocol").as_deref(), Some("SSL"));
        assert_eq!(p.take("ssl.ca.location").as_deref(), Some("/ca.pem"));

        let mut p = secured(
            &[],
            Security {
                sasl_mechanism: Some(SaslMechanismArg::ScramSha512),
                sasl_username: Some("alice".into()),
                sasl_password: Some("pw".into()),
                ..Security::default()
            },
        );
        assert_eq!(
            p.take("security.protocol").as_deref(),
            Some("SASL_PLAINTEXT")
        );
        assert_eq!(p.take("sasl.mechanism").as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(p.take("sasl.username").as_deref(), Some("alice"));
        assert_eq!(p.take("sasl.password").as_deref(), Some("pw"));

        // The flags add to what -X says, and override its values.
        let mut p = secured(
            &[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.username", "bob"),
                ("ssl.ca.location", "/old.pem"),
            ],
            Security {
                tls: true,
                ca_file: Some("/new.pem".into()),
                sasl_password: Some("pw".into()),
                ..Security::default()
            },
        );
        assert_eq!(p.take("security.protocol").as_deref(), Some("SASL_SSL"));
        assert_eq!(p.take("ssl.ca.location").as_deref(), Some("/new.pem"));
        assert_eq!(p.take("sasl.username").as_deref(), Some("bob"));
        assert_eq!(p.take("sasl.password").as_deref(), Some("pw"));
    }

    #[test]
    fn a_password_alone_does_not_turn_sasl_on() {
        let mut p = secured(
            &[],
            Security {
                sasl_password: Some("from-the-environment".into()),
                ..Security::default()
            },
        );
        assert_eq!(p.take("security.protocol"), None);
        assert_eq!(p.take("sasl.password"), None);
        // No flags: -X's protocol stays as it was.
        let mut p = secured(&[("security.protocol", "SSL")], Security::default());
        assert_eq!(p.take("security.protocol").as_deref(), Some("SSL"));
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
