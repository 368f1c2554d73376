//! fjord-streams: Fjord's stream processing engine, on Kafka Streams'
//! model (an application is a consumer group; a task is one partition
//! number of its co-partitioned inputs; state lives in stores backed by
//! compacted changelog topics).
//!
//! - values and formats ([`value`], [`mod@format`]); windows and exactly when
//!   they close ([`window`]: tumbling, hopping, session and sliding);
//!   aggregate functions ([`aggregate`]);
//! - operators: the windowed aggregation with stream time, grace, EMIT
//!   CHANGES / EMIT FINAL and late records routed to a topic with headers
//!   saying why ([`windowed`]; sliding windows' state in [`sliding`]);
//!   aggregation per key ([`keyed`]); tables
//!   with retraction ([`table`]); stream-stream joins ([`join`]), and
//!   stream-table and table-table joins in the topology, foreign-key
//!   table-table joins through subscription topics ([`fk_join`]);
//! - the topology builder ([`builder`]: Kafka Streams' DSL in Rust,
//!   repartition topics after a key change), the built graph
//!   ([`topology`]) and the tasks that run it ([`task`], dead letters);
//! - the runtime ([`runtime`]): an application as a consumer group with the
//!   engine's own assignor, stores restored from changelogs, at-least-once
//!   or exactly-once commits, task status for `fjord streams describe`;
//! - state stores with a memory budget that spill to disk ([`kv`]).

pub mod aggregate;
pub mod builder;
pub mod error;
pub mod fk_join;
pub mod format;
pub mod join;
pub mod keyed;
pub mod kv;
pub mod late;
pub mod record;
pub mod runtime;
pub mod sliding;
pub mod store;
pub mod table;
pub mod task;
pub mod topology;
pub mod value;
mod value_serde;
pub mod window;
mod window_store;
pub mod windowed;

pub use aggregate::Aggregate;
pub use builder::{Stream, StreamsBuilder, Table};
pub use error::{Error, Result};
pub use format::Format;
pub use join::JoinKind;
pub use kv::StateLimits;
pub use record::{Header, Output, Record, Source};
pub use runtime::{run, ProcessingGuarantee, StreamsConfig};
pub use topology::{EventTime, Task, Topology};
pub use value::Value;
pub use window::{SessionWindows, SlidingWindows, TimeWindows, Window};
pub use windowed::{Emit, WindowKind, WindowedAggregate};
