//! Schema formats and compatibility rules (filled in by the formats work).
