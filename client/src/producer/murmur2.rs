//! Kafka's murmur2 key hash, bit for bit as the Java client computes it, so
//! a key lands on the same partition whichever client wrote it.
//!
//! This is Austin Appleby's MurmurHash2 (32-bit) with Kafka's fixed seed,
//! reading the input as little-endian 32-bit words and folding in the 1-3
//! trailing bytes at the end. Java works on signed `int`s with wrapping
//! multiplication and unsigned shifts (`>>>`); `u32` with `wrapping_mul` and
//! `>>` is the same arithmetic.

/// Kafka's seed for murmur2.
const SEED: u32 = 0x9747_b28c;
/// The mixing constant of MurmurHash2.
const M: u32 = 0x5bd1_e995;
/// The shift of MurmurHash2.
const R: u32 = 24;

/// The murmur2 hash of `data`, as Java's `Utils.murmur2` returns it (an
/// `int` in Java: reinterpret with `as i32` to compare with Java output).
pub fn murmur2(data: &[u8]) -> u32 {
    // Java truncates the length to an `int`; keys never come near 2^31 bytes
    // (max.request.size caps them) and truncation keeps the same result.
    let mut h = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        // `chunks_exact(4)` yields 4-byte slices only; the fallback is dead.
        let mut k = u32::from_le_bytes(w.try_into().unwrap_or([0; 4]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    // The trailing bytes fold in from the highest down, as Java's switch
    // with fall-through does.
    if let Some(&b) = tail.get(2) {
        h ^= u32::from(b) << 16;
    }
    if let Some(&b) = tail.get(1) {
        h ^= u32::from(b) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which would
/// map `i32::MIN` to itself).
pub fn to_positive(h: u32) -> u32 {
    h & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for `key` among
/// `partition_count` partitions: `toPositive(murmur2(key)) % partition_count`.
///
/// `partition_count` must be positive; 0 or less yields partition 0.
pub fn key_partition(key: &[u8], partition_count: i32) -> i32 {
    match u32::try_from(partition_count) {
        Ok(n) if n > 0 => (to_positive(murmur2(key)) % n) as i32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected hashes were computed independently with kafka-python's
    /// pure-Python `murmur2` (a port of the Java code), not with this file:
    /// `python -c "from kafka.partitioner.default import murmur2; print(murmur2(b'21'))"`.
    /// They cover every tail length (0-3 trailing bytes), the empty key,
    /// bytes >= 0x80 (Java's signed bytes are masked with 0xff) and a long key.
    const KNOWN: &[(&[u8], u32)] = &[
        (b"", 275_646_681),
        (b"a", 2_731_586_172),
        (b"ab", 316_155_434),
        (b"abc", 479_470_107),
        (b"abcd", 2_971_317_748),
        (b"21", 3_321_034_988),
        (b"foobar", 3_504_634_814),
        (b"key-0", 29_210_041),
        (b"key-1", 193_331_640),
        (b"key-42", 4_107_880_775),
        (b"\xff\xfe\x80\x00\x7f", 2_692_397_976),
        (b"a-little-bit-longer-string", 2_808_662_467),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            4_236_069_325,
        ),
    ];

    #[test]
    fn hashes_match_the_java_algorithm() {
        for (key, want) in KNOWN {
            assert_eq!(murmur2(key), *want, "key {key:?}");
        }
        // Java's own unit test states murmur2("21") as a signed int.
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
    }

    #[test]
    fn partitions_match_the_java_formula() {
        // (toPositive(h) % 6) for the hashes above, worked out by the same
        // Python session: 3 4 2 3 2 0 0 1 0 3 4 5 5.
        let want = [3, 4, 2, 3, 2, 0, 0, 1, 0, 3, 4, 5, 5];
        for ((key, _), want) in KNOWN.iter().zip(want) {
            assert_eq!(key_partition(key, 6), want, "key {key:?}");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(0x8000_0000), 0);
        assert_eq!(to_positive(0xffff_ffff), 0x7fff_ffff);
        assert_eq!(to_positive(5), 5);
    }

    #[test]
    fn degenerate_partition_counts_do_not_panic() {
        assert_eq!(key_partition(b"k", 0), 0);
        assert_eq!(key_partition(b"k", -3), 0);
        assert_eq!(key_partition(b"k", 1), 0);
    }
}
