//! SASL OAUTHBEARER (RFC 7628) client message with Kafka's extensions.

use super::{Mechanism, SaslError};
use crate::config::OAuthToken;

/// OAUTHBEARER for one token.
#[derive(Debug)]
pub(crate) struct OAuthBearer {
    message: Vec<u8>,
    server_error: Option<String>,
}

impl OAuthBearer {
    pub(crate) fn new(token: &OAuthToken) -> Result<Self, SaslError> {
        // gs2 header without authzid, then kvpairs separated by 0x01.
        let mut message = String::from("n,,\u{1}auth=Bearer ");
        if token.value.contains(['\u{1}', ' ']) || token.value.is_empty() {
            return Err(SaslError(
                "the token is empty or contains a space or \\x01".into(),
            ));
        }
        message.push_str(&token.value);
        message.push('\u{1}');
        for (k, v) in &token.extensions {
            // RFC 7628: key = 1*(ALPHA), Kafka reserves `auth`.
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) || k == "auth" {
                return Err(SaslError(format!("invalid SASL extension name `{k}`")));
            }
            if v.contains('\u{1}') {
                return Err(SaslError(format!("SASL extension `{k}` contains \\x01")));
            }
            message.push_str(k);
            message.push('=');
            message.push_str(v);
            message.push('\u{1}');
        }
        message.push('\u{1}');
        Ok(Self {
            message: message.into_bytes(),
            server_error: None,
        })
    }
}

impl Mechanism for OAuthBearer {
    fn start(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        if server.is_empty() {
            return Ok(None);
        }
        // A non-empty reply is the server's JSON error; RFC 7628 §3.2.3 has the
        // client answer with a lone 0x01 so the server can fail the exchange
        // (Kafka then answers with SASL_AUTHENTICATION_FAILED).
        if let Some(first) = &self.server_error {
            return Err(SaslError(format!("token rejected: {first}")));
        }
        self.server_error = Some(String::from_utf8_lossy(server).into_owned());
        Ok(Some(vec![1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_token_and_extensions() {
        let token = OAuthToken::new("abc.def.ghi", None).with_extension("traceId", "42");
        let mut m = OAuthBearer::new(&token).unwrap();
        assert_eq!(
            m.start(),
            b"n,,\x01auth=Bearer abc.def.ghi\x01traceId=42\x01\x01".to_vec()
        );
        assert_eq!(m.step(b"").unwrap(), None);
    }

    #[test]
    fn rejects_bad_tokens_and_reports_server_errors() {
        assert!(OAuthBearer::new(&OAuthToken::new("a b", None)).is_err());
        assert!(OAuthBearer::new(&OAuthToken::new("t", None).with_extension("auth", "x")).is_err());
        let mut m = OAuthBearer::new(&OAuthToken::new("t", None)).unwrap();
        assert_eq!(
            m.step(br#"{"status":"invalid_token"}"#).unwrap(),
            Some(vec![1])
        );
        let err = m.step(b"more").unwrap_err();
        assert!(err.0.contains("invalid_token"), "{err}");
    }
}
