//! fjord-auction: a live auction system built on Fjord (a bidding website,
//! DB writers and a backup writer as consumer groups, a live dashboard).
//!
//! Bidders bid on a website ([`web`]); each valid bid gets a unique id and is
//! produced to the topic `bids` (4 partitions, keyed by item, so one item's
//! bids keep their order). Two consumer groups read it: `bid-db-writers`
//! ([`db_writer`], two members sharing the partitions) settles the auction
//! rule and stores bids in the SQL table `bid` ([`store`]); `bid-backup`
//! ([`backup`]) appends every bid to a file for audit (JSON Lines or Avro). Both
//! commit offsets only after their output is durable, and both skip what
//! they already wrote, so a crash at any point loses and repeats nothing.
//! A record that is not a bid goes to the dead-letter topic `bids-dlq`
//! before any offset past it is committed ([`dead_letter`]). Live bid
//! statistics per item and minute come from a stream processing topology
//! ([`stats`]), late bids counted in `bids-late`.

pub mod backup;
pub mod bid;
pub mod codec;
pub mod db_writer;
pub mod dead_letter;
pub mod error;
pub mod items;
pub mod kafka;
pub mod load;
pub mod stats;
pub mod store;
pub mod time;
pub mod web;

pub use error::{AuctionError, Result};
