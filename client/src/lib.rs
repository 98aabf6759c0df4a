#![doc = include_str!("../README.md")]

pub use klamm_protocol as protocol;

pub mod admin;
pub mod backoff;
pub mod client;
pub mod config;
pub mod conn;
pub mod consumer;
pub mod error;
pub mod group;
pub mod metadata;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod producer;
pub mod retry;

pub use client::{Client, CoordinatorKey, Target};
pub use config::ClientConfig;
pub use conn::{BrokerAddr, ConnKind, Connection};
pub use error::{Error, ErrorContext, Result};
