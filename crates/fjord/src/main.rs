//! The `fjord` binary: a thin clap front end over the library crates.
//!
//! Every client-side subcommand talks to the broker through the Kafka protocol
//! (librdkafka via the `rdkafka` crate), so it works unchanged against any
//! Kafka cluster given `--bootstrap-servers`.

mod auction;
mod bench;
mod client;
mod connect;
mod consume;
mod group;
mod logging;
mod pipe;
mod produce;
mod registry;
mod schema;
mod schema_codec;
mod serve;
mod streams;
mod topic;
mod txn;

use clap::{Parser, Subcommand};

/// See huge_alloc.rs: hostile length prefixes must not abort the broker.
#[global_allocator]
static ALLOCATOR: fjord_broker::huge_alloc::HugeAwareAllocator =
    fjord_broker::huge_alloc::HugeAwareAllocator;

#[derive(Parser)]
#[command(
    name = "fjord",
    version,
    about = "Kafka-compatible event streaming in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the broker (Kafka protocol on 127.0.0.1:9092, data in ./fjord-data).
    Serve(serve::ServeArgs),
    /// Create, list, describe, alter and delete topics.
    Topic(topic::TopicArgs),
    /// Produce records, one per line, from stdin or a file.
    Produce(produce::ProduceArgs),
    /// Print records of a topic (no consumer group; nothing is committed).
    Consume(consume::ConsumeArgs),
    /// List, describe, reset the offsets of, and delete consumer groups.
    Group(group::GroupArgs),
    /// Benchmarks: produce, consume, end-to-end latency, disk fsync rate.
    Bench(bench::BenchArgs),
    /// Run the schema registry alone against a Kafka cluster (REST on 127.0.0.1:8081).
    Registry(registry::RegistryArgs),
    /// A live auction built on Fjord: a bidding website, two DB writers, a backup writer, a dashboard.
    Auction(auction::AuctionArgs),
    /// List and describe transactions (transactional producers' state).
    Txn(txn::TxnArgs),
    /// Register, list, get, check and delete schemas in the schema registry.
    Schema(schema::SchemaArgs),
    /// Describe and reset stream processing applications.
    Streams(streams::StreamsArgs),
    /// Run Kafka-Connect-compatible workers and manage their connectors.
    Connect(connect::ConnectArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Topic(_)
            | Command::Consume(_)
            | Command::Group(_)
            | Command::Schema(_)
            | Command::Txn(_)
            | Command::Streams(_)
            | Command::Connect(_)
    ) {
        pipe::die_quietly_on_closed_stdout();
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Topic(args) => topic::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Group(args) => group::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Registry(args) => registry::run(args),
        Command::Auction(args) => auction::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Txn(args) => txn::run(args),
        Command::Streams(args) => streams::run(args),
        Command::Connect(args) => connect::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line, without the
            // backtrace that anyhow's Debug form adds when RUST_BACKTRACE is set.
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
