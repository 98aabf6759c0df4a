//! Turning one partition's `records` bytes from a Fetch response into
//! messages: no I/O, so every rule is unit-tested here.
//!
//! ```text
//! records ─BatchReader─▶ batch ─┬─ control batch: read the marker, skip
//!                               ├─ aborted transaction (read_committed): skip
//!                               └─ records ─ offset < next offset: skip ─▶ Message
//! ```
//!
//! Rules:
//! - A fetch returns whole batches, so records before the requested offset
//!   (the start of the containing batch) are skipped.
//! - Offsets only go forward: a record below the next expected offset (the
//!   fetch offset, then one past the last batch read) is skipped, so a
//!   response that repeats a batch or goes backwards never yields an offset
//!   twice. tansu 0.6.0 does this for a Fetch starting inside a batch: it
//!   answers the following batches, then the same batches again.
//! - The next fetch starts after the last *complete* batch, even when all of
//!   its records were skipped (control markers, aborted data, compaction).
//! - A truncated last batch is normal (the response hit its size limit) and
//!   ends decoding without an error.
//! - Any other failure (CRC, codec, malformed record) ends decoding with an
//!   error at the offset where it happened; messages before it are kept.

use std::sync::Arc;

use bytes::Bytes;
use klamm_protocol::records::{Batch, BatchReader, ControlRecord, ControlRecordType, RecordsError};

use super::message::Message;

/// An aborted transaction from a Fetch response (read_committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Aborted {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
}

/// What to decode, and how.
#[derive(Debug)]
pub(crate) struct DecodeInput<'a> {
    pub(crate) topic: &'a Arc<str>,
    pub(crate) partition: i32,
    /// The offset the Fetch asked for: earlier records are skipped.
    pub(crate) fetch_offset: i64,
    pub(crate) records: Bytes,
    /// `Some` for read_committed: the response's aborted transactions.
    pub(crate) aborted: Option<Vec<Aborted>>,
    pub(crate) check_crcs: bool,
    pub(crate) max_decompressed: usize,
}

/// The result of decoding one partition's data.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Messages at or after the fetch offset, in strictly increasing
    /// offset order (no offset twice, whatever the broker sent).
    pub(crate) messages: Vec<Message>,
    /// Where the next fetch of this partition starts.
    pub(crate) next_offset: i64,
    /// A corrupt batch or record: the offset it starts at and why.
    pub(crate) error: Option<(i64, RecordsError)>,
}

/// Decodes `input`.
pub(crate) fn decode(input: DecodeInput<'_>) -> Decoded {
    let DecodeInput {
        topic,
        partition,
        fetch_offset,
        records,
        aborted,
        check_crcs,
        max_decompressed,
    } = input;
    let read_committed = aborted.is_some();
    let mut aborted = aborted.unwrap_or_default();
    aborted.sort_by_key(|a| a.first_offset);
    let mut next_aborted = aborted.into_iter().peekable();
    // Producers whose aborted transaction has started and not yet ended.
    let mut open_aborts: Vec<i64> = Vec::new();
    let mut out = Decoded {
        messages: Vec::new(),
        next_offset: fetch_offset,
        error: None,
    };
    for batch in BatchReader::new(records).verify_crc(check_crcs) {
        let batch = match batch {
            Ok(b) => b,
            Err(RecordsError::Incomplete { .. }) => break,
            Err(e) => {
                out.error = Some((out.next_offset, e));
                break;
            }
        };
        let last = batch.last_offset();
        // Records below this were asked not to be read, or were read from
        // an earlier batch of this response.
        let mut floor = out.next_offset;
        if last < floor {
            // Wholly before the requested offset (an old broker, or a
            // compacted batch that a fetch from its middle returned), or a
            // batch the response already held (tansu repeats batches).
            continue;
        }
        if read_committed {
            while let Some(a) = next_aborted.next_if(|a| a.first_offset <= last) {
                open_aborts.push(a.producer_id);
            }
        }
        if let Batch::V2(v2) = &batch {
            let producer_id = v2.header().producer_id;
            if v2.is_control() {
                if read_committed {
                    if let Err(e) = end_transaction(&batch, producer_id, &mut open_aborts) {
                        out.error = Some((v2.base_offset(), e));
                        break;
                    }
                }
                out.next_offset = last + 1;
                continue;
            }
            if read_committed && v2.is_transactional() && open_aborts.contains(&producer_id) {
                out.next_offset = last + 1;
                continue;
            }
        }
        let leader_epoch = match &batch {
            Batch::V2(v2) => Some(v2.header().partition_leader_epoch).filter(|e| *e >= 0),
            Batch::Legacy(_) => None,
        };
        let records = match batch.records(max_decompressed) {
            Ok(r) => r,
            Err(e) => {
                out.error = Some((out.next_offset.max(first_offset(&batch)), e));
                break;
            }
        };
        for record in records {
            match record {
                Ok(r) if r.offset < floor => {}
                Ok(r) => {
                    // Also within a batch: a malformed one cannot repeat an offset.
                    floor = r.offset + 1;
                    out.messages
                        .push(Message::new(topic.clone(), partition, leader_epoch, r));
                }
                Err(e) => {
                    let at = out
                        .messages
                        .last()
                        .map_or(out.next_offset, |m| m.offset() + 1);
                    out.next_offset = at;
                    out.error = Some((at, e));
                    return out;
                }
            }
        }
        out.next_offset = floor.max(last + 1);
    }
    out
}

fn first_offset(batch: &Batch) -> i64 {
    match batch {
        Batch::V2(b) => b.base_offset(),
        Batch::Legacy(m) => m.offset,
    }
}

/// Reads a control batch's marker; an abort marker closes that producer's
/// aborted transaction.
fn end_transaction(
    batch: &Batch,
    producer_id: i64,
    open_aborts: &mut Vec<i64>,
) -> Result<(), RecordsError> {
    // A control batch holds one marker; read the first record only.
    let Some(record) = batch.records(1024)?.next() else {
        return Ok(());
    };
    let marker = ControlRecord::parse(&record?)?;
    if marker.kind == ControlRecordType::Abort {
        open_aborts.retain(|p| *p != producer_id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use klamm_protocol::compression::Compression;
    use klamm_protocol::records::{Header, RecordBatchBuilder};

    fn batch(base: i64, n: i32, compression: Compression) -> Bytes {
        let mut b = RecordBatchBuilder::new(compression)
            .base_offset(base)
            .partition_leader_epoch(3);
        for i in 0..n {
            let v = format!("v{}", base + i64::from(i));
            b.append(
                1_000 + i64::from(i),
                Some(b"k"),
                Some(v.as_bytes()),
                &[Header::new("h", Some("x"))],
            )
            .unwrap();
        }
        b.build().unwrap().into_bytes()
    }

    fn txn_batch(base: i64, n: i32, pid: i64) -> Bytes {
        let mut b = RecordBatchBuilder::new(Compression::None)
            .base_offset(base)
            .producer(pid, 0, 0)
            .transactional(true);
        for i in 0..n {
            b.append(
                1,
                None,
                Some(format!("t{}", base + i64::from(i)).as_bytes()),
                &[],
            )
            .unwrap();
        }
        b.build().unwrap().into_bytes()
    }

    fn marker(base: i64, pid: i64, kind: ControlRecordType) -> Bytes {
        let mut b = RecordBatchBuilder::new(Compression::None)
            .base_offset(base)
            .producer(pid, 0, -1)
            .transactional(true)
            .control(true);
        b.append_control(1, &ControlRecord::new(kind, 0)).unwrap();
        b.build().unwrap().into_bytes()
    }

    fn concat(parts: &[Bytes]) -> Bytes {
        let mut out = BytesMut::new();
        for p in parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }

    fn run(records: Bytes, fetch_offset: i64, aborted: Option<Vec<Aborted>>) -> Decoded {
        let topic: Arc<str> = Arc::from("t");
        decode(DecodeInput {
            topic: &topic,
            partition: 2,
            fetch_offset,
            records,
            aborted,
            check_crcs: true,
            max_decompressed: 1 << 20,
        })
    }

    fn offsets(d: &Decoded) -> Vec<i64> {
        d.messages.iter().map(Message::offset).collect()
    }

    #[test]
    fn every_codec_decodes_and_fields_are_carried() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let d = run(concat(&[batch(0, 3, codec), batch(3, 2, codec)]), 0, None);
            assert_eq!(offsets(&d), [0, 1, 2, 3, 4], "{codec:?}");
            assert_eq!(d.next_offset, 5);
            assert!(d.error.is_none());
            let m = &d.messages[4];
            assert_eq!(m.value(), Some(&b"v4"[..]));
            assert_eq!(m.key(), Some(&b"k"[..]));
            assert_eq!(m.partition(), 2);
            assert_eq!(m.topic(), "t");
            assert_eq!(m.timestamp(), 1_001);
            assert_eq!(m.leader_epoch(), Some(3));
            let h = m.headers_vec();
            assert_eq!(h, [Header::new("h", Some("x"))]);
        }
    }

    #[test]
    fn records_before_the_fetch_offset_are_skipped() {
        let d = run(
            concat(&[
                batch(10, 5, Compression::Lz4),
                batch(15, 5, Compression::None),
            ]),
            13,
            None,
        );
        assert_eq!(offsets(&d), [13, 14, 15, 16, 17, 18, 19]);
        assert_eq!(d.next_offset, 20);
        // A batch wholly before the offset contributes nothing.
        let d = run(
            concat(&[
                batch(0, 5, Compression::None),
                batch(5, 2, Compression::None),
            ]),
            5,
            None,
        );
        assert_eq!(offsets(&d), [5, 6]);
    }

    #[test]
    fn repeated_batches_never_yield_an_offset_twice() {
        // What tansu 0.6.0 answers to a Fetch at offset 1 when batch 0-2
        // is followed by batches 3 and 4: the later batches, twice.
        let d = run(
            concat(&[
                batch(3, 1, Compression::None),
                batch(4, 1, Compression::None),
                batch(3, 1, Compression::None),
                batch(4, 1, Compression::None),
            ]),
            1,
            None,
        );
        assert_eq!(offsets(&d), [3, 4]);
        assert_eq!(d.next_offset, 5);
        assert!(d.error.is_none());
        // A batch overlapping what was read yields only its newer records.
        let d = run(
            concat(&[
                batch(0, 3, Compression::None),
                batch(1, 4, Compression::Lz4),
                batch(0, 2, Compression::None),
            ]),
            0,
            None,
        );
        assert_eq!(offsets(&d), [0, 1, 2, 3, 4]);
        assert_eq!(d.next_offset, 5);
        // A control batch moves the floor too.
        let d = run(
            concat(&[
                txn_batch(0, 2, 7),
                marker(2, 7, ControlRecordType::Commit),
                txn_batch(0, 2, 7),
            ]),
            0,
            None,
        );
        assert_eq!(offsets(&d), [0, 1]);
        assert_eq!(d.next_offset, 3);
    }

    #[test]
    fn a_truncated_last_batch_is_not_an_error() {
        let full = concat(&[
            batch(0, 3, Compression::None),
            batch(3, 3, Compression::None),
        ]);
        let cut = full.slice(..full.len() - 7);
        let d = run(cut, 0, None);
        assert_eq!(offsets(&d), [0, 1, 2]);
        assert_eq!(d.next_offset, 3);
        assert!(d.error.is_none());
    }

    #[test]
    fn a_corrupt_batch_is_an_error_at_its_offset_after_the_good_ones() {
        let good = batch(0, 2, Compression::None);
        let bad = batch(2, 2, Compression::None);
        let mut bad = BytesMut::from(&bad[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let d = run(concat(&[good, bad.freeze()]), 0, None);
        assert_eq!(offsets(&d), [0, 1]);
        let (at, err) = d.error.expect("crc error");
        assert_eq!(at, 2);
        assert!(matches!(err, RecordsError::CrcMismatch { .. }), "{err}");
        assert_eq!(d.next_offset, 2);
    }

    #[test]
    fn control_batches_are_skipped_but_advance_the_offset() {
        let d = run(
            concat(&[txn_batch(0, 2, 7), marker(2, 7, ControlRecordType::Commit)]),
            0,
            None,
        );
        assert_eq!(offsets(&d), [0, 1]);
        assert_eq!(d.next_offset, 3);
    }

    #[test]
    fn read_committed_drops_aborted_transactions_only() {
        // Producer 7 aborts offsets 0-1, producer 8 commits 2-3, producer 7
        // then commits 6-7 in a new transaction.
        let log = concat(&[
            txn_batch(0, 2, 7),
            txn_batch(2, 2, 8),
            marker(4, 7, ControlRecordType::Abort),
            marker(5, 8, ControlRecordType::Commit),
            txn_batch(6, 2, 7),
            marker(8, 7, ControlRecordType::Commit),
            batch(9, 1, Compression::None),
        ]);
        let aborted = vec![Aborted {
            producer_id: 7,
            first_offset: 0,
        }];
        let d = run(log.clone(), 0, Some(aborted));
        assert_eq!(offsets(&d), [2, 3, 6, 7, 9]);
        assert_eq!(d.next_offset, 10);
        // read_uncommitted sees every data record.
        let d = run(log, 0, None);
        assert_eq!(offsets(&d), [0, 1, 2, 3, 6, 7, 9]);
    }
}
