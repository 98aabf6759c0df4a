//! The wire's building blocks: fixed-width integers, varints, strings, bytes
//! and arrays, each read with its length checked against what remains.

pub mod varint;
