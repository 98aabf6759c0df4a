//! SCRAM-SHA-256 / SCRAM-SHA-512 client (RFC 5802, RFC 7677), as Kafka uses it:
//! no channel binding (`n,,`), no authorization id.
//!
//! ```text
//! client-first  n,,n=user,r=cnonce
//! server-first  r=cnonce+snonce,s=salt,i=iterations
//! client-final  c=biws,r=cnonce+snonce,p=proof
//! server-final  v=server-signature        (verified before we trust the broker)
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Mechanism, SaslError};

/// Kafka's bounds on the iteration count; more would let a hostile broker make
/// us burn CPU, fewer would be a weak hash.
const MIN_ITERATIONS: u32 = 4096;
const MAX_ITERATIONS: u32 = 16384;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        match self {
            Self::Sha256 => {
                let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha512 => {
                let mut mac = <Hmac<Sha512>>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            Self::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// Escapes a username for the `n=` attribute (RFC 5802 §5.1).
pub(crate) fn escape_username(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

#[derive(Debug)]
enum State {
    Initial,
    SentFirst,
    SentFinal { server_signature: Vec<u8> },
    Done,
}

/// A SCRAM client exchange.
pub(crate) struct Scram {
    hash: ScramHash,
    password: String,
    client_first_bare: String,
    nonce: String,
    state: State,
}

impl std::fmt::Debug for Scram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scram")
            .field("hash", &self.hash)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Scram {
    /// A client with a fresh random nonce.
    pub(crate) fn new(hash: ScramHash, username: &str, password: &str) -> Result<Self, SaslError> {
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw).map_err(|e| SaslError(format!("no random nonce: {e}")))?;
        Ok(Self::with_nonce(hash, username, password, &B64.encode(raw)))
    }

    /// A client with a given nonce (tests use the RFC's).
    pub(crate) fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Self {
        Self {
            hash,
            password: password.to_owned(),
            client_first_bare: format!("n={},r={nonce}", escape_username(username)),
            nonce: nonce.to_owned(),
            state: State::Initial,
        }
    }

    fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| SaslError("server-first-message is not UTF-8".into()))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => {
                    return Err(SaslError(
                        "server requires an unsupported SCRAM extension".into(),
                    ));
                }
                Some(("e", v)) => return Err(SaslError(format!("server error: {v}"))),
                _ => {} // optional extensions are ignored, per RFC 5802
            }
        }
        let nonce = nonce.ok_or_else(|| SaslError("server-first-message has no nonce".into()))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err(SaslError(
                "server nonce does not extend the client nonce".into(),
            ));
        }
        let salt = B64
            .decode(salt.ok_or_else(|| SaslError("server-first-message has no salt".into()))?)
            .map_err(|_| SaslError("salt is not base64".into()))?;
        let iterations: u32 = iterations
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| SaslError("server-first-message has no valid iteration count".into()))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError(format!(
                "iteration count {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            )));
        }

        let h = self.hash;
        let salted = h.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted, b"Server Key");
        let server_signature = h.hmac(&server_key, auth_message.as_bytes());
        self.state = State::SentFinal { server_signature };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    fn verify_final(server_final: &[u8], expected: &[u8]) -> Result<(), SaslError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| SaslError("server-final-message is not UTF-8".into()))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(err) = first.strip_prefix("e=") {
            return Err(SaslError(format!("server error: {err}")));
        }
        let sig = first
            .strip_prefix("v=")
            .ok_or_else(|| SaslError("server-final-message has no verifier".into()))?;
        let sig = B64
            .decode(sig)
            .map_err(|_| SaslError("server signature is not base64".into()))?;
        // Constant-time comparison is not needed for a value the server sent us,
        // but it costs nothing.
        let equal = sig.len() == expected.len()
            && sig
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if equal {
            Ok(())
        } else {
            Err(SaslError(
                "server signature does not verify: the broker does not know the password".into(),
            ))
        }
    }
}

impl Mechanism for Scram {
    fn start(&mut self) -> Vec<u8> {
        self.state = State::SentFirst;
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::SentFirst => self.client_final(server).map(Some),
            State::SentFinal { server_signature } => {
                Self::verify_final(server, &server_signature).map(|()| None)
            }
            State::Initial | State::Done => Err(SaslError("unexpected SCRAM message".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3.
    #[test]
    fn rfc7677_sha256_vector() {
        let mut c = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.start(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let final_msg = c
            .step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(final_msg).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            c.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            None
        );
    }

    /// A broker that does not know the password cannot produce the server
    /// signature (RFC 5802 §9): one flipped signature must fail the exchange.
    #[test]
    fn forged_server_signature_fails() {
        let mut c = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        c.start();
        c.step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        let err = c
            .step(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(err.0.contains("does not verify"));
    }

    #[test]
    fn hostile_server_first_messages() {
        let cases: [&[u8]; 6] = [
            b"r=OTHER,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", // nonce not extended
            b"r=abcX,s=***,i=4096",
            b"r=abcX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
            b"r=abcX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999",
            b"m=ext,r=abcX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ];
        for case in cases {
            let mut c = Scram::with_nonce(ScramHash::Sha512, "u", "p", "abc");
            c.start();
            assert!(c.step(case).is_err(), "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn server_error_attribute_is_reported() {
        let mut c = Scram::with_nonce(ScramHash::Sha256, "u", "p", "abc");
        c.start();
        c.step(b"r=abcX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").unwrap();
        let err = c.step(b"e=invalid-proof").unwrap_err();
        assert!(err.0.contains("invalid-proof"));
    }

    #[test]
    fn usernames_are_escaped() {
        assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
        let mut c = Scram::with_nonce(ScramHash::Sha512, "a,b", "p", "n");
        assert_eq!(c.start(), b"n,,n=a=2Cb,r=n");
    }

    #[test]
    fn fresh_nonces_differ() {
        let a = Scram::new(ScramHash::Sha256, "u", "p").unwrap();
        let b = Scram::new(ScramHash::Sha256, "u", "p").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert!(!a.nonce.contains(','));
    }
}
