//! Length-prefixed frames: Kafka puts a big-endian `i32` size before every
//! request and response. The reader is sans-io: feed it bytes, take frames out.

use bytes::{Buf, Bytes, BytesMut};

/// How much buffer to reserve ahead of a frame at once, so a hostile length
/// cannot make us allocate `max_frame_size` before the bytes arrive.
const RESERVE_STEP: usize = 1 << 20;

/// A frame the client refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The size prefix is larger than `receive.message.max.bytes`.
    #[error("frame length {len} exceeds the maximum {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The frame is too short to hold a correlation id.
    #[error("frame of {0} bytes has no correlation id")]
    TooShort(usize),
    /// The correlation id matches no request in flight.
    #[error("response correlation id {0} matches no request in flight")]
    UnknownCorrelationId(i32),
}

/// Splits a byte stream into frames.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(8 * 1024),
            max,
        }
    }

    /// The buffer to read socket bytes into. Always has spare capacity.
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(8 * 1024);
        }
        &mut self.buf
    }

    /// Bytes buffered but not yet returned as a frame.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame body (without its size prefix), if one is buffered.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let len = usize::try_from(len).map_err(|_| FrameError::NegativeLength(len))?;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        let have = self.buf.len() - 4;
        if have < len {
            let missing = len - have;
            self.buf.reserve(missing.min(RESERVE_STEP));
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn frames_split_across_feeds() {
        let mut r = FrameReader::new(1024);
        let mut wire = framed(b"hello");
        wire.extend(framed(b""));
        wire.extend(framed(b"world!"));
        for byte in &wire[..7] {
            assert_eq!(r.next_frame().unwrap(), None);
            r.buffer().extend_from_slice(&[*byte]);
        }
        assert_eq!(r.next_frame().unwrap(), None);
        r.buffer().extend_from_slice(&wire[7..]);
        assert_eq!(r.next_frame().unwrap().unwrap(), &b"hello"[..]);
        assert_eq!(r.next_frame().unwrap().unwrap(), &b""[..]);
        assert_eq!(r.next_frame().unwrap().unwrap(), &b"world!"[..]);
        assert_eq!(r.next_frame().unwrap(), None);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn hostile_lengths() {
        let mut r = FrameReader::new(100);
        r.buffer().extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(r.next_frame(), Err(FrameError::NegativeLength(-1)));
        let mut r = FrameReader::new(100);
        r.buffer().extend_from_slice(&101i32.to_be_bytes());
        assert_eq!(
            r.next_frame(),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        );
        // A large but allowed length does not allocate it all up front.
        let mut r = FrameReader::new(i32::MAX as usize);
        r.buffer().extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(r.next_frame(), Ok(None));
        assert!(r.buf.capacity() <= RESERVE_STEP + 64 * 1024);
    }
}
