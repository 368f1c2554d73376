//! fjord-streams: Fjord's stream processing engine, on Kafka Streams'
//! model (an application is a consumer group; a task is one partition
//! number of its co-partitioned inputs; state lives in stores backed by
//! compacted changelog topics).
//!
//! This first part is the engine's core, independent of how records reach
//! it: values and formats, windows and exactly when they close, aggregate
//! functions, and the windowed aggregation with stream time, grace, EMIT
//! CHANGES / EMIT FINAL and late records routed to a topic with headers
//! saying why ([`windowed`]). The runtime that feeds tasks from Kafka
//! (consumer group, changelogs, exactly-once) builds on it.

pub mod aggregate;
pub mod error;
pub mod format;
pub mod keyed;
pub mod record;
pub mod runtime;
pub mod store;
pub mod table;
pub mod topology;
pub mod value;
pub mod window;
pub mod windowed;

pub use aggregate::Aggregate;
pub use error::{Error, Result};
pub use format::Format;
pub use record::{Header, Output, Record, Source};
pub use runtime::{run, StreamsConfig};
pub use topology::{EventTime, Stream, StreamsBuilder, Table, Task, Topology};
pub use value::Value;
pub use window::{SessionWindows, TimeWindows, Window};
pub use windowed::{Emit, WindowKind, WindowedAggregate};
