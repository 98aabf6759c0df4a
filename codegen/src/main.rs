//! klamm-codegen: reads Kafka's JSON message schemas and writes Rust.

fn main() {}
