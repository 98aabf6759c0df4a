#![doc = include_str!("../README.md")]

pub mod compression;
pub mod primitives;
pub mod records;
