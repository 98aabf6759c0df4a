//! SASL client mechanisms as pure state machines, and the Kafka exchange
//! (SaslHandshake + SaslAuthenticate) that drives them over a connection.
//!
//! ```text
//! mechanism.start() ──bytes──▶ SaslAuthenticate ──server bytes──▶ mechanism.step()
//!        ▲                                                             │
//!        └──────────────── Some(next bytes) ◀──────────────────────────┘
//!                                   None: authenticated
//! ```

mod exchange;
mod oauth;
mod plain;
mod scram;

pub(crate) use exchange::{authenticate, schedule_reauthentication};
pub(crate) use oauth::OAuthBearer;
pub(crate) use plain::Plain;
pub(crate) use scram::{Scram, ScramHash};

/// Why a mechanism rejected the server's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SaslError(pub(crate) String);

/// A client-side SASL mechanism.
pub(crate) trait Mechanism: Send {
    /// The initial client message.
    fn start(&mut self) -> Vec<u8>;
    /// Handles the server's message: the next client message, or `None` when
    /// authentication is complete and verified.
    fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError>;
}
