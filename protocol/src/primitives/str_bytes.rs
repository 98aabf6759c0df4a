//! `StrBytes`: a string that shares the received buffer.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// A UTF-8 string backed by [`Bytes`]: decoding slices the input buffer
/// instead of copying, and UTF-8 is checked once, when the value is built.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrBytes(ByteString);

impl StrBytes {
    /// An empty string (no allocation).
    pub const fn new() -> Self {
        Self(ByteString::new())
    }

    /// Wraps a static string (no allocation, no copy).
    pub const fn from_static(s: &'static str) -> Self {
        Self(ByteString::from_static(s))
    }

    /// Checks that `bytes` is UTF-8 and wraps it without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Self)
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes (cheap clone).
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Gives back the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }
}

impl Deref for StrBytes {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StrBytes {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for StrBytes {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for StrBytes {
    fn from(s: String) -> Self {
        Self(ByteString::from(s))
    }
}

impl From<&str> for StrBytes {
    fn from(s: &str) -> Self {
        Self(ByteString::from(s))
    }
}

impl PartialEq<str> for StrBytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StrBytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for StrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for StrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_the_input_and_checks_utf8() {
        let input = Bytes::from_static(b"topic-a");
        let s = StrBytes::from_utf8(input.slice(0..5)).unwrap();
        assert_eq!(s, "topic");
        assert_eq!(s.as_bytes().as_ptr(), input.as_ptr());
        assert!(StrBytes::from_utf8(Bytes::from_static(&[0xff, 0xfe])).is_err());
        assert_eq!(StrBytes::from("x".to_string()).len(), 1);
        assert_eq!(format!("{:?}", StrBytes::from_static("a\"b")), "\"a\\\"b\"");
    }
}
