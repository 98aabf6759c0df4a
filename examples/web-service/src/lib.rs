#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
pub mod item;
pub mod outcomes;
pub mod routes;
pub mod service;
pub mod stats;

pub use config::{Args, Settings};
pub use service::{ServiceError, Summary, run};
