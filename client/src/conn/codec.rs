//! The sans-io half of a connection: stamps correlation ids on outgoing frames,
//! keeps the in-flight table, and matches incoming frames to it.
//!
//! ```text
//! caller frame ──start()──▶ correlation id patched in, entry recorded
//! socket bytes ──buffer()──▶ FrameReader ──next_response()──▶ (entry, frame)
//! ```
//! No I/O and no clock: the driver owns both.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::frame::{FrameError, FrameReader};

/// Offset of the correlation id in a request frame: size (4), api key (2),
/// api version (2).
const CORRELATION_OFFSET: usize = 8;

/// Correlation ids and in-flight requests for one connection.
#[derive(Debug)]
pub(crate) struct Codec<T> {
    next_correlation: i32,
    in_flight: HashMap<i32, T>,
    /// Ids of one-way requests (acks=0 Produce) whose response, should the
    /// broker send one anyway, is dropped; the newest `ONE_WAY_KEEP`.
    one_way: VecDeque<i32>,
    reader: FrameReader,
}

/// One-way ids remembered: a broker that answers them (tansu does) answers
/// in order, long before this many more were sent.
const ONE_WAY_KEEP: usize = 1024;

impl<T> Codec<T> {
    pub(crate) fn new(max_frame_size: usize) -> Self {
        Self {
            next_correlation: 0,
            in_flight: HashMap::new(),
            one_way: VecDeque::new(),
            reader: FrameReader::new(max_frame_size),
        }
    }

    /// Stamps a fresh correlation id into `frame` (a complete size-prefixed
    /// request) and records `entry` until its response arrives.
    ///
    /// Returns `None` when the frame is too short to be a request.
    pub(crate) fn start(&mut self, frame: &mut BytesMut, entry: T) -> Option<i32> {
        let slot = frame.get_mut(CORRELATION_OFFSET..CORRELATION_OFFSET + 4)?;
        let mut id = self.next_correlation;
        // Skip ids still in flight after a wrap-around (needs 2^31 requests in
        // flight at once to loop, which the pipeline limit rules out).
        while self.in_flight.contains_key(&id) {
            id = id.wrapping_add(1).max(0);
        }
        self.next_correlation = id.wrapping_add(1).max(0);
        slot.copy_from_slice(&id.to_be_bytes());
        self.in_flight.insert(id, entry);
        Some(id)
    }

    /// Buffer for socket reads.
    pub(crate) fn read_buffer(&mut self) -> &mut BytesMut {
        self.reader.buffer()
    }

    /// The next complete response: its correlation id, the entry recorded for
    /// it, and the frame starting at the response header.
    pub(crate) fn next_response(&mut self) -> Result<Option<(i32, T, Bytes)>, FrameError> {
        loop {
            let Some(frame) = self.reader.next_frame()? else {
                return Ok(None);
            };
            let id = match frame.get(..4) {
                Some(b) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                None => return Err(FrameError::TooShort(frame.len())),
            };
            if let Some(entry) = self.in_flight.remove(&id) {
                return Ok(Some((id, entry, frame)));
            }
            match self.one_way.iter().position(|&w| w == id) {
                Some(at) => {
                    self.one_way.remove(at);
                }
                None => return Err(FrameError::UnknownCorrelationId(id)),
            }
        }
    }

    /// Turns request `id` into a one-way request (Kafka sends no response to
    /// an acks=0 Produce): its entry is returned now, and a response that
    /// arrives anyway is dropped instead of poisoning the connection.
    pub(crate) fn forget(&mut self, id: i32) -> Option<T> {
        let entry = self.in_flight.remove(&id)?;
        self.one_way.push_back(id);
        if self.one_way.len() > ONE_WAY_KEEP {
            self.one_way.pop_front();
        }
        Some(entry)
    }

    /// Removes one request (it timed out), if still in flight.
    pub(crate) fn take(&mut self, id: i32) -> Option<T> {
        self.in_flight.remove(&id)
    }

    /// Whether a request is still in flight.
    pub(crate) fn is_in_flight(&self, id: i32) -> bool {
        self.in_flight.contains_key(&id)
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Takes every in-flight entry, to fail them when the connection dies.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.in_flight.drain().map(|(_, entry)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_frame() -> BytesMut {
        let mut f = BytesMut::new();
        f.extend_from_slice(&10i32.to_be_bytes());
        f.extend_from_slice(&[0, 18, 0, 3, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        f
    }

    fn response(id: i32, body: &[u8]) -> Vec<u8> {
        let mut v = ((4 + body.len()) as i32).to_be_bytes().to_vec();
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn stamps_ids_and_matches_out_of_order() {
        let mut c = Codec::new(1024);
        let mut a = request_frame();
        let mut b = request_frame();
        let ia = c.start(&mut a, "a").unwrap();
        let ib = c.start(&mut b, "b").unwrap();
        assert_ne!(ia, ib);
        assert_eq!(&a[8..12], &ia.to_be_bytes());
        assert_eq!(&b[8..12], &ib.to_be_bytes());
        c.read_buffer().extend_from_slice(&response(ib, b"B"));
        c.read_buffer().extend_from_slice(&response(ia, b"A"));
        let (id, entry, frame) = c.next_response().unwrap().unwrap();
        assert_eq!((id, entry, &frame[4..]), (ib, "b", &b"B"[..]));
        let (id, entry, _) = c.next_response().unwrap().unwrap();
        assert_eq!((id, entry), (ia, "a"));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn unknown_ids_and_short_frames_are_errors() {
        let mut c: Codec<()> = Codec::new(1024);
        c.read_buffer().extend_from_slice(&response(77, b""));
        assert_eq!(
            c.next_response().unwrap_err(),
            FrameError::UnknownCorrelationId(77)
        );
        let mut c: Codec<()> = Codec::new(1024);
        c.read_buffer().extend_from_slice(&[0, 0, 0, 2, 1, 2]);
        assert_eq!(c.next_response().unwrap_err(), FrameError::TooShort(2));
        let mut short = BytesMut::from(&[0u8; 6][..]);
        assert_eq!(c.start(&mut short, ()), None);
    }

    #[test]
    fn ids_wrap_without_reuse() {
        let mut c = Codec::new(1024);
        c.next_correlation = i32::MAX;
        let mut f = request_frame();
        assert_eq!(c.start(&mut f, 1), Some(i32::MAX));
        let mut g = request_frame();
        assert_eq!(c.start(&mut g, 2), Some(0));
        let drained: Vec<_> = c.drain().collect();
        assert_eq!(drained.len(), 2);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn feed_in_chunks(
            c: &mut Codec<usize>,
            wire: &[u8],
            cuts: &[usize],
        ) -> Vec<(i32, usize, Bytes)> {
            let mut out = Vec::new();
            let mut start = 0;
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
            points.push(wire.len());
            points.sort_unstable();
            for end in points {
                c.read_buffer()
                    .extend_from_slice(&wire[start..end.max(start)]);
                start = end.max(start);
                while let Ok(Some(r)) = c.next_response() {
                    out.push(r);
                }
            }
            out
        }

        proptest! {
            /// Any split of a valid response stream yields exactly its frames.
            #[test]
            fn responses_survive_any_chunking(
                bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
                cuts in proptest::collection::vec(any::<usize>(), 0..16),
            ) {
                let mut c = Codec::new(1024);
                let mut wire = Vec::new();
                let mut ids = Vec::new();
                for (i, body) in bodies.iter().enumerate() {
                    let mut f = request_frame();
                    let id = c.start(&mut f, i).unwrap();
                    ids.push(id);
                    wire.extend(response(id, body));
                }
                let got = feed_in_chunks(&mut c, &wire, &cuts);
                prop_assert_eq!(got.len(), bodies.len());
                for ((id, entry, frame), (i, body)) in got.iter().zip(bodies.iter().enumerate()) {
                    prop_assert_eq!(*id, ids[i]);
                    prop_assert_eq!(*entry, i);
                    prop_assert_eq!(&frame[4..], &body[..]);
                }
                prop_assert_eq!(c.in_flight(), 0);
            }

            /// Garbage never panics, and an error is sticky in the sense that
            /// the driver drops the connection on the first one.
            #[test]
            fn garbage_never_panics(
                wire in proptest::collection::vec(any::<u8>(), 0..512),
                cuts in proptest::collection::vec(any::<usize>(), 0..8),
            ) {
                let mut c = Codec::new(256);
                for i in 0..4 {
                    let mut f = request_frame();
                    c.start(&mut f, i);
                }
                let mut start = 0;
                let mut points: Vec<usize> = cuts.iter().map(|x| x % (wire.len() + 1)).collect();
                points.push(wire.len());
                points.sort_unstable();
                'outer: for end in points {
                    c.read_buffer().extend_from_slice(&wire[start..end.max(start)]);
                    start = end.max(start);
                    loop {
                        match c.next_response() {
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(_) => break 'outer,
                        }
                    }
                }
                prop_assert!(c.in_flight() <= 4);
            }
        }
    }

    #[test]
    fn one_way_requests_tolerate_a_response_or_none() {
        let mut c: Codec<&str> = Codec::new(1 << 20);
        let mut frame = BytesMut::from(&[0u8, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0][..]);
        let a = c.start(&mut frame.clone(), "a").unwrap();
        let b = c.start(&mut frame, "b").unwrap();
        assert_eq!(c.forget(a), Some("a"));
        assert_eq!(c.in_flight(), 1);
        // A response to the one-way request is skipped, the next is matched.
        for id in [a, b] {
            c.read_buffer().extend_from_slice(&4i32.to_be_bytes());
            c.read_buffer().extend_from_slice(&id.to_be_bytes());
        }
        let (id, entry, _) = c.next_response().unwrap().unwrap();
        assert_eq!((id, entry), (b, "b"));
        // A second response to it is unknown again.
        c.read_buffer().extend_from_slice(&4i32.to_be_bytes());
        c.read_buffer().extend_from_slice(&a.to_be_bytes());
        assert!(c.next_response().is_err());
    }
}
