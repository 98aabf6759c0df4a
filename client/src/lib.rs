#![doc = include_str!("../README.md")]

pub use klamm_protocol as protocol;
pub mod group;
