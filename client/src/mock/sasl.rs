//! Broker-side SASL for the mock: PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER,
//! with Kafka's failure behaviour (SASL_AUTHENTICATION_FAILED, then close).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use klamm_protocol::generated::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use klamm_protocol::{ErrorCode, StrBytes};

use super::{MockSasl, Shared, lock};
use crate::conn::sasl::ScramHash;

const SALT: &[u8] = b"klamm-mock-salt";
const ITERATIONS: u32 = 4096;

#[derive(Debug, Default)]
enum Step {
    #[default]
    Start,
    Handshaken(String),
    ScramFirst {
        hash: ScramHash,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        salted: Vec<u8>,
    },
    OAuthFailed,
    Done,
}

/// One connection's SASL progress.
#[derive(Debug, Default)]
pub(super) struct SaslSession {
    step: Step,
    authenticated: bool,
    close: bool,
}

fn config(state: &Shared) -> Option<MockSasl> {
    lock(state).sasl.clone()
}

fn failed(message: &str) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ErrorCode::SaslAuthenticationFailed.code())
        .with_error_message(Some(StrBytes::from(message)))
}

impl SaslSession {
    pub(super) fn authenticated(&self, state: &Shared) -> bool {
        self.authenticated || config(state).is_none()
    }

    pub(super) fn should_close(&self) -> bool {
        self.close
    }

    pub(super) fn handshake(
        &mut self,
        state: &Shared,
        request: &SaslHandshakeRequest,
    ) -> SaslHandshakeResponse {
        let enabled = config(state).map(|c| c.mechanisms).unwrap_or_default();
        let mechanisms = enabled.iter().map(|m| StrBytes::from(m.as_str())).collect();
        let wanted = request.mechanism.as_str();
        if enabled.iter().any(|m| m == wanted) {
            self.step = Step::Handshaken(wanted.to_owned());
            SaslHandshakeResponse::default().with_mechanisms(mechanisms)
        } else {
            self.close = true;
            SaslHandshakeResponse::default()
                .with_error_code(ErrorCode::UnsupportedSaslMechanism.code())
                .with_mechanisms(mechanisms)
        }
    }

    pub(super) fn authenticate(
        &mut self,
        state: &Shared,
        request: &SaslAuthenticateRequest,
    ) -> SaslAuthenticateResponse {
        let Some(cfg) = config(state) else {
            self.close = true;
            return failed("SASL is not enabled");
        };
        let input = std::str::from_utf8(&request.auth_bytes).unwrap_or("");
        let response = match std::mem::take(&mut self.step) {
            Step::Handshaken(mechanism) => match mechanism.as_str() {
                "PLAIN" => self.plain(&cfg, &request.auth_bytes),
                "SCRAM-SHA-256" => self.scram_first(&cfg, ScramHash::Sha256, input),
                "SCRAM-SHA-512" => self.scram_first(&cfg, ScramHash::Sha512, input),
                "OAUTHBEARER" => self.oauth(&cfg, input),
                _ => failed("unknown mechanism"),
            },
            Step::ScramFirst {
                hash,
                client_first_bare,
                server_first,
                nonce,
                salted,
            } => self.scram_final(
                &cfg,
                hash,
                &client_first_bare,
                &server_first,
                &nonce,
                &salted,
                input,
            ),
            Step::OAuthFailed => failed("invalid token"),
            Step::Start | Step::Done => failed("SaslAuthenticate before SaslHandshake"),
        };
        if response.error_code != 0 {
            self.close = true;
            self.authenticated = false;
        } else if matches!(self.step, Step::Done) {
            self.authenticated = true;
        }
        response.with_session_lifetime_ms(if self.authenticated {
            cfg.session_lifetime_ms
        } else {
            0
        })
    }

    fn plain(&mut self, cfg: &MockSasl, bytes: &[u8]) -> SaslAuthenticateResponse {
        let mut parts = bytes.split(|b| *b == 0);
        let (_authz, user, pass) = (parts.next(), parts.next(), parts.next());
        let ok = match (user, pass) {
            (Some(u), Some(p)) => {
                let u = String::from_utf8_lossy(u);
                cfg.users
                    .get(u.as_ref())
                    .is_some_and(|want| want.as_bytes() == p)
            }
            _ => false,
        };
        if ok {
            self.step = Step::Done;
            SaslAuthenticateResponse::default()
        } else {
            failed("Authentication failed: Invalid username or password")
        }
    }

    fn scram_first(
        &mut self,
        cfg: &MockSasl,
        hash: ScramHash,
        input: &str,
    ) -> SaslAuthenticateResponse {
        let Some(bare) = input.strip_prefix("n,,") else {
            return failed("bad client-first-message");
        };
        let mut user = None;
        let mut cnonce = None;
        for attr in bare.split(',') {
            if let Some(u) = attr.strip_prefix("n=") {
                user = Some(u.replace("=2C", ",").replace("=3D", "="));
            } else if let Some(r) = attr.strip_prefix("r=") {
                cnonce = Some(r.to_owned());
            }
        }
        let (Some(user), Some(cnonce)) = (user, cnonce) else {
            return failed("bad client-first-message");
        };
        let Some(password) = cfg.users.get(&user) else {
            return failed("Authentication failed: Invalid username or password");
        };
        let nonce = format!("{cnonce}mock{}", cnonce.len());
        let server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(SALT));
        let salted = hash.salted_password(password.as_bytes(), SALT, ITERATIONS);
        self.step = Step::ScramFirst {
            hash,
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
            salted,
        };
        SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(server_first))
    }

    #[allow(clippy::too_many_arguments)]
    fn scram_final(
        &mut self,
        cfg: &MockSasl,
        hash: ScramHash,
        client_first_bare: &str,
        server_first: &str,
        nonce: &str,
        salted: &[u8],
        input: &str,
    ) -> SaslAuthenticateResponse {
        let Some((without_proof, proof)) = input.rsplit_once(",p=") else {
            return failed("bad client-final-message");
        };
        if without_proof != format!("c=biws,r={nonce}") {
            return failed("bad channel binding or nonce");
        }
        let Ok(proof) = B64.decode(proof) else {
            return failed("bad proof");
        };
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_key_expected = hash.hmac(salted, b"Client Key");
        let stored_key = hash.hash(&client_key_expected);
        let signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if proof.len() != signature.len() || hash.hash(&client_key) != stored_key {
            return failed("Authentication failed: Invalid username or password");
        }
        let mut server_signature =
            hash.hmac(&hash.hmac(salted, b"Server Key"), auth_message.as_bytes());
        if cfg.forge_server_signature {
            server_signature[0] ^= 0xff;
        }
        self.step = Step::Done;
        SaslAuthenticateResponse::default()
            .with_auth_bytes(Bytes::from(format!("v={}", B64.encode(server_signature))))
    }

    fn oauth(&mut self, cfg: &MockSasl, input: &str) -> SaslAuthenticateResponse {
        let token = input
            .split('\u{1}')
            .find_map(|kv| kv.strip_prefix("auth=Bearer "));
        if token.is_some() && token == cfg.token.as_deref() {
            self.step = Step::Done;
            SaslAuthenticateResponse::default()
        } else {
            // RFC 7628: a JSON error challenge; the client answers 0x01, then fails.
            self.step = Step::OAuthFailed;
            SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from_static(br#"{"status":"invalid_token"}"#))
        }
    }
}
