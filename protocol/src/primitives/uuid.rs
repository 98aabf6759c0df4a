//! Kafka's 128-bit UUIDs (topic ids, member ids).

use std::fmt;

/// A 128-bit UUID as Kafka sends it: 16 bytes, big-endian.
///
/// Displayed the way Kafka prints ids: URL-safe base64 without padding.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no id".
    pub const NIL: Uuid = Uuid([0; 16]);

    /// Wraps 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether this is [`Uuid::NIL`].
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // 16 bytes = five 3-byte groups (20 chars) + 1 byte (2 chars).
        let mut out = String::with_capacity(22);
        for chunk in self.0.chunks(3) {
            let b0 = chunk.first().copied().unwrap_or(0);
            let b1 = chunk.get(1).copied().unwrap_or(0);
            let b2 = chunk.get(2).copied().unwrap_or(0);
            let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                let idx = ((n >> (18 - 6 * i)) & 0x3f) as usize;
                out.push(char::from(ALPHABET[idx]));
            }
        }
        f.write_str(&out)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_kafka_base64() {
        assert_eq!(Uuid::NIL.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        // The default of SimpleExampleMessage.taggedUuid in Kafka's test schema.
        let u = Uuid([
            0x1f, 0x72, 0x8a, 0x3b, 0x83, 0x53, 0x44, 0xf6, 0x82, 0x5a, 0xd1, 0x26, 0x9b, 0x7b,
            0xd6, 0xec,
        ]);
        assert_eq!(u.to_string(), "H3KKO4NTRPaCWtEmm3vW7A");
        assert!(Uuid::NIL.is_nil() && !u.is_nil());
    }
}
