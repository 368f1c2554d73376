//! The worker runtime: what runs connectors and their tasks.
//!
//! - [`worker`]: the herder; connectors, their tasks and states.
//! - [`sink`] / [`source`]: the task runners (Kafka clients, converters,
//!   transforms, error handling, offsets).
//! - [`configs`] / [`offsets`]: where configs, statuses and source offsets
//!   are kept (memory and a file standalone; Kafka topics distributed).
//! - [`validate`]: the checks behind the validate endpoint and every
//!   create or update; [`offsets_api`]: KIP-875's offsets endpoints.

pub mod assignor;
pub mod configs;
pub mod errors;
pub mod group;
pub mod kafka;
pub mod offsets;
pub mod offsets_api;
pub mod pipeline;
pub mod settings;
pub mod sink;
pub mod source;
pub mod status;
pub mod task;
pub mod topic_creation;
pub mod validate;
pub mod worker;

pub use settings::{Storage, WorkerSettings};
pub use worker::{ApiError, ApiResult, Worker};
