//! Converters between Kafka's bytes and Connect's data model
//! (`key.converter`, `value.converter`).
