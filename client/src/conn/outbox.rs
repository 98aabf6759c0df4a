//! The bytes a connection has yet to write: a queue of request frames.
//!
//! Small frames are copied together into one chunk, so a burst of small
//! requests leaves in one write; a large frame (a Produce request of
//! record batches) is queued as it is and written from its own buffer, not
//! copied into a shared one (which also had to grow, and be faulted in,
//! for every megabyte-sized request).

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};

/// Frames up to this size are coalesced with the previous chunk.
const COALESCE_BELOW: usize = 64 * 1024;

/// A chunk stops taking small frames at this size.
const CHUNK_LIMIT: usize = 256 * 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<BytesMut>,
    len: usize,
}

impl Outbox {
    /// Nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues `frame` after everything queued.
    pub(crate) fn push(&mut self, frame: BytesMut) {
        if frame.is_empty() {
            return;
        }
        self.len += frame.len();
        match self.chunks.back_mut() {
            Some(last)
                if frame.len() < COALESCE_BELOW && last.len() + frame.len() <= CHUNK_LIMIT =>
            {
                last.extend_from_slice(&frame);
            }
            _ => self.chunks.push_back(frame),
        }
    }

    /// The next bytes to write (empty when nothing is queued).
    pub(crate) fn front(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| &c[..])
    }

    /// `n` bytes of [`Self::front`] were written.
    pub(crate) fn advance(&mut self, n: usize) {
        let Some(first) = self.chunks.front_mut() else {
            return;
        };
        let n = n.min(first.len());
        first.advance(n);
        self.len -= n;
        if first.is_empty() {
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(byte: u8, len: usize) -> BytesMut {
        BytesMut::from(&vec![byte; len][..])
    }

    /// Writes everything, `step` bytes at most per write.
    fn drain(out: &mut Outbox, step: usize) -> Vec<u8> {
        let mut written = Vec::new();
        while !out.is_empty() {
            let n = out.front().len().min(step);
            written.extend_from_slice(&out.front()[..n]);
            out.advance(n);
        }
        written
    }

    #[test]
    fn small_frames_share_one_write_and_order_is_kept() {
        let mut out = Outbox::default();
        out.push(frame(1, 10));
        out.push(frame(2, 20));
        out.push(frame(3, 30));
        assert_eq!(out.len(), 60);
        assert_eq!(out.front().len(), 60, "one chunk, one write");
        let written = drain(&mut out, 7);
        let mut want = vec![1; 10];
        want.extend(vec![2; 20]);
        want.extend(vec![3; 30]);
        assert_eq!(written, want);
        assert_eq!(out.len(), 0);
    }

    #[test]
    fn a_large_frame_is_written_from_its_own_buffer() {
        let mut out = Outbox::default();
        out.push(frame(1, 100));
        let big = frame(2, 1 << 20);
        let at = big.as_ptr();
        out.push(big);
        out.push(frame(3, 100));
        assert_eq!(out.len(), 100 + (1 << 20) + 100);
        assert_eq!(out.front().len(), 100);
        out.advance(100);
        assert_eq!(out.front().as_ptr(), at, "not copied");
        // A partly written large frame, then the small one after it.
        out.advance(1000);
        assert_eq!(out.len(), (1 << 20) - 1000 + 100);
        let written = drain(&mut out, 1 << 16);
        assert_eq!(written.len(), (1 << 20) - 1000 + 100);
        assert!(written[..(1 << 20) - 1000].iter().all(|&b| b == 2));
        assert!(written[(1 << 20) - 1000..].iter().all(|&b| b == 3));
    }
}
