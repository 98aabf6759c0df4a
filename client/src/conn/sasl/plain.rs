//! SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, one message.

use super::{Mechanism, SaslError};

/// PLAIN with a username and password; the authorization id is left empty.
#[derive(Debug)]
pub(crate) struct Plain {
    message: Vec<u8>,
}

impl Plain {
    pub(crate) fn new(username: &str, password: &str) -> Self {
        let mut message = Vec::with_capacity(2 + username.len() + password.len());
        message.push(0);
        message.extend_from_slice(username.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        Self { message }
    }
}

impl Mechanism for Plain {
    fn start(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    fn step(&mut self, _server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        // Kafka answers PLAIN with an empty success message; failures arrive as
        // an error code on SaslAuthenticate, not here.
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let mut p = Plain::new("alice", "pw");
        assert_eq!(p.start(), b"\0alice\0pw");
        assert_eq!(p.step(b"").unwrap(), None);
    }
}
