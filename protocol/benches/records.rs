//! Record batch encode and decode, Klamm against the `kafka-protocol`
//! crate, on identical content: 1,000 records, 10-byte keys, 100-byte values,
//! uncompressed and with each codec.
//!
//! `cargo bench -p klamm-protocol --bench records`
//!
//! Throughput is reported per uncompressed batch byte; divide the time by
//! 1,000 for ns per record.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use klamm_protocol::compression::Compression;
use klamm_protocol::records::{BatchReader, RecordBatchBuilder};
use std::hint::black_box;
use std::time::Duration;

const N: usize = 1_000;
const T0: i64 = 1_700_000_000_000;

/// Keys and values: text with some repetition, like typical JSON payloads,
/// so codecs have something to do without being trivially compressible.
fn content() -> Vec<(Vec<u8>, Vec<u8>)> {
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    (0..N)
        .map(|i| {
            let key = format!("key-{i:06}").into_bytes();
            let mut value =
                format!("{{\"id\":{i},\"user\":\"u{}\",\"tags\":[", i % 97).into_bytes();
            while value.len() < 100 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                value.extend_from_slice(words[(seed % 8) as usize].as_bytes());
                value.push(b',');
            }
            value.truncate(100);
            (key, value)
        })
        .collect()
}

fn klamm_encode(codec: Compression, content: &[(Vec<u8>, Vec<u8>)]) -> Bytes {
    let mut b = RecordBatchBuilder::with_capacity(codec, 128 * 1024);
    for (i, (k, v)) in content.iter().enumerate() {
        b.append(T0 + i as i64, Some(k), Some(v), &[]).unwrap();
    }
    b.build().unwrap().into_bytes()
}

fn klamm_decode(bytes: &Bytes) -> usize {
    let mut n = 0;
    for batch in BatchReader::new(bytes.clone()) {
        for r in batch.unwrap().records(1 << 26).unwrap() {
            black_box(r.unwrap());
            n += 1;
        }
    }
    n
}

fn kp_records(content: &[(Vec<u8>, Vec<u8>)]) -> Vec<KpRecord> {
    content
        .iter()
        .enumerate()
        .map(|(i, (k, v))| KpRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: KpTimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch whenever offset - sequence
            // changes, so -1 would give 1,000 one-record batches.
            sequence: i as i32,
            timestamp: T0 + i as i64,
            key: Some(Bytes::copy_from_slice(k)),
            value: Some(Bytes::copy_from_slice(v)),
            headers: IndexMap::new(),
        })
        .collect()
}

fn kp_compression(c: Compression) -> KpCompression {
    match c {
        Compression::None => KpCompression::None,
        Compression::Gzip => KpCompression::Gzip,
        Compression::Snappy => KpCompression::Snappy,
        Compression::Lz4 => KpCompression::Lz4,
        Compression::Zstd => KpCompression::Zstd,
    }
}

fn kp_encode(codec: Compression, records: &[KpRecord]) -> Bytes {
    let mut buf = BytesMut::with_capacity(128 * 1024);
    let opts = RecordEncodeOptions {
        version: 2,
        compression: kp_compression(codec),
    };
    RecordBatchEncoder::encode(&mut buf, records, &opts).unwrap();
    buf.freeze()
}

fn kp_decode(bytes: &Bytes) -> usize {
    let mut b = bytes.clone();
    let set = RecordBatchDecoder::decode(&mut b).unwrap();
    let n = set.records.len();
    black_box(set);
    n
}

fn bench(c: &mut Criterion) {
    let content = content();
    let kp = kp_records(&content);
    let raw_len = klamm_encode(Compression::None, &content).len() as u64;
    for codec in Compression::ALL.into_iter().filter(|c| c.is_enabled()) {
        let ours = klamm_encode(codec, &content);
        let theirs = kp_encode(codec, &kp);
        // Same content both ways, and each decoder reads the other's bytes.
        assert_eq!(klamm_decode(&theirs), N);
        assert_eq!(kp_decode(&ours), N);
        eprintln!(
            "{}: klamm batch {} bytes, kafka-protocol batch {} bytes (uncompressed {raw_len})",
            codec.name(),
            ours.len(),
            theirs.len()
        );

        let mut g = c.benchmark_group(format!("records/{}", codec.name()));
        g.throughput(Throughput::Bytes(raw_len));
        g.bench_function(BenchmarkId::new("encode", "klamm"), |b| {
            b.iter(|| klamm_encode(codec, black_box(&content)))
        });
        g.bench_function(BenchmarkId::new("encode", "kafka-protocol"), |b| {
            b.iter(|| kp_encode(codec, black_box(&kp)))
        });
        g.bench_function(BenchmarkId::new("decode", "klamm"), |b| {
            b.iter(|| klamm_decode(black_box(&ours)))
        });
        g.bench_function(BenchmarkId::new("decode", "kafka-protocol"), |b| {
            b.iter(|| kp_decode(black_box(&ours)))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
