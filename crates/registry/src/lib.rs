//! fjord-registry: a Confluent-compatible schema registry.
//!
//! - [`schema`]: the three schema formats (Avro, JSON Schema, Protobuf), their
//!   parsing, canonical forms and compatibility rules. Pure: no IO.

pub mod schema;
pub mod client;
pub mod serde;
