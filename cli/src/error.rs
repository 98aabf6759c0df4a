//! The one-line errors the tool prints, and their exit codes.

use std::fmt;
use std::process::ExitCode;

/// Why the tool stopped: what failed, why, and what to try.
#[derive(Debug)]
pub(crate) struct CliError {
    /// What the tool was doing.
    pub(crate) what: String,
    /// Why it failed.
    pub(crate) why: String,
    /// What the user could try, if there is a useful hint.
    pub(crate) hint: Option<String>,
    /// The process exit code.
    pub(crate) code: u8,
}

/// Exit code: the operation failed.
pub(crate) const FAILED: u8 = 1;
/// Exit code: bad arguments or configuration (clap uses 2 as well).
pub(crate) const USAGE: u8 = 2;
/// Exit code: no broker could be reached.
pub(crate) const UNREACHABLE: u8 = 3;

/// The hint for a missing or unreachable broker.
pub(crate) const START_BROKER: &str = "pass -b HOST:PORT or set KLAMM_BOOTSTRAP; \
     scripts/broker.sh run -- klamm ... starts a local broker (see tests/README.md)";

impl CliError {
    /// The operation failed.
    pub(crate) fn failed(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self {
            what: what.into(),
            why: why.to_string(),
            hint: None,
            code: FAILED,
        }
    }

    /// Bad arguments or configuration.
    pub(crate) fn usage(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self {
            code: USAGE,
            ..Self::failed(what, why)
        }
    }

    /// Adds a hint.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A client error while doing `what`, classified: configuration errors
    /// are usage errors, connection failures say how to reach a broker.
    pub(crate) fn client(what: impl Into<String>, err: klamm::Error) -> Self {
        match &err {
            klamm::Error::Config { .. } => Self::usage(what, &err)
                .hint("check -X, --config and -b (property names as in Kafka's Java client)"),
            klamm::Error::Connect { .. }
            | klamm::Error::ConnectionLost { .. }
            | klamm::Error::RequestTimeout { .. } => Self {
                code: UNREACHABLE,
                ..Self::failed(what, &err).hint(START_BROKER)
            },
            klamm::Error::Authentication { .. } => Self::failed(what, &err).hint(
                "check --sasl-mechanism, --sasl-username and --sasl-password (or KLAMM_SASL_PASSWORD)",
            ),
            klamm::Error::Tls { .. } => Self::failed(what, &err).hint(
                "--ca-file with the CA that signed the broker's certificate; is the listener TLS?",
            ),
            _ => Self::failed(what, &err),
        }
    }

    /// The exit code.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: newlines inside broker messages would break scripts that grep.
        let why = self.why.replace('\n', " ");
        write!(f, "klamm: {}: {}", self.what, why)?;
        if let Some(hint) = &self.hint {
            write!(f, " (try: {hint})")?;
        }
        Ok(())
    }
}

/// The tool's result type.
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_hint_and_code() {
        let e = CliError::failed("producing to t", "broken\nconnection").hint("retry");
        assert_eq!(
            e.to_string(),
            "klamm: producing to t: broken connection (try: retry)"
        );
        assert_eq!(e.code, FAILED);
        let c = CliError::client("connecting", klamm::Error::config("acks", "bad"));
        assert_eq!(c.code, USAGE);
    }
}
