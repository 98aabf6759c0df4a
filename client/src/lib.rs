#![doc = include_str!("../README.md")]

pub use klamm_protocol as protocol;

pub mod backoff;
pub mod config;
pub mod conn;
pub mod error;
pub mod retry;
mod shim;

pub use error::{Error, ErrorContext, Result};
