//! `fjord txn list|describe`: the transactions a cluster's transaction
//! coordinators hold, over ListTransactions and DescribeTransactions
//! (KIP-664, Kafka 3.0+).
//!
//! librdkafka has neither call, so both go through Fjord's small protocol
//! client (kafka_client.rs). They are answered by transaction coordinators,
//! not by any broker: ListTransactions is sent to every broker of the
//! cluster (each lists the transactional ids it coordinates) and
//! DescribeTransactions to the coordinator of each id, found with
//! FindCoordinator (key type 1, TRANSACTION). Against the embedded
//! single-node broker that is one connection.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, ListTransactionsRequest, MetadataRequest, ProducerId,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use fjord_kafka_client::{error_name, KafkaConnection};

use crate::client::{ClientArgs, METADATA_TIMEOUT, REQUEST_TIMEOUT};
use crate::group::{print_json, print_table, OutputFormat};

/// Arguments of `fjord txn`.
#[derive(Args, Debug)]
pub struct TxnArgs {
    #[command(subcommand)]
    command: TxnCommand,
}

#[derive(Subcommand, Debug)]
enum TxnCommand {
    /// List transactional producers known to the coordinators: transactional
    /// id, producer id and the state of its current or last transaction.
    List(ListArgs),
    /// Show transactions in detail: state, producer id and epoch, timeout,
    /// start time and the partitions in the open transaction.
    Describe(DescribeArgs),
}

/// Output selection shared by both subcommands.
#[derive(Args, Debug)]
struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Shorthand for `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

impl Output {
    fn json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Show only transactions in this state (Empty, Ongoing, PrepareCommit,
    /// PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence, Dead;
    /// as Kafka spells them). Repeatable.
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    /// Show only the transactional ids of this producer id. Repeatable.
    #[arg(long, value_name = "N")]
    producer_id: Vec<i64>,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// Transactional ids to describe.
    #[arg(required = true, value_name = "TXN_ID")]
    transactional_ids: Vec<String>,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `fjord txn ...`.
pub fn run(args: TxnArgs) -> Result<()> {
    match args.command {
        TxnCommand::List(args) => list(args),
        TxnCommand::Describe(args) => describe(args),
    }
}

/// One row of `txn list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    transactional_id: String,
    producer_id: i64,
    state: String,
    /// The broker (node id) that coordinates this transactional id.
    coordinator: i32,
}

/// One transaction of `txn describe`.
#[derive(Debug, Clone, Serialize)]
struct Described {
    transactional_id: String,
    state: String,
    producer_id: i64,
    producer_epoch: i16,
    transaction_timeout_ms: i32,
    /// When the open transaction began (ms since the epoch); -1 when none is open.
    transaction_start_time_ms: i64,
    coordinator: i32,
    partitions: Vec<TopicPartitions>,
}

#[derive(Debug, Clone, Serialize)]
struct TopicPartitions {
    topic: String,
    partitions: Vec<i32>,
}

/// A broker of the cluster as Metadata or FindCoordinator names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    id: i32,
    address: String,
}

/// Connections to the brokers of one cluster, opened on first use.
struct Cluster<'a> {
    client: &'a ClientArgs,
    bootstrap: KafkaConnection,
    by_node: BTreeMap<i32, KafkaConnection>,
}

impl<'a> Cluster<'a> {
    fn connect(client: &'a ClientArgs) -> Result<Cluster<'a>> {
        Ok(Cluster {
            client,
            bootstrap: connect(&client.bootstrap_servers, client)?,
            by_node: BTreeMap::new(),
        })
    }

    /// Every broker of the cluster (Metadata without topics).
    fn brokers(&mut self) -> Result<Vec<Node>> {
        let version = self.bootstrap.version::<MetadataRequest>(12)?;
        // An empty list asks for no topics; null would mean all of them.
        let request = MetadataRequest::default().with_topics(Some(Vec::new()));
        let response = self
            .bootstrap
            .call(version, &request)
            .context("cannot fetch cluster metadata")?;
        let mut nodes: Vec<Node> = response
            .brokers
            .iter()
            .map(|b| Node {
                id: b.node_id.0,
                address: format!("{}:{}", b.host, b.port),
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        if nodes.is_empty() {
            bail!("the cluster's metadata names no brokers");
        }
        Ok(nodes)
    }

    /// The connection to `node`, opened with the user's client settings.
    fn node(&mut self, node: &Node) -> Result<&mut KafkaConnection> {
        if !self.by_node.contains_key(&node.id) {
            let conn = connect(&node.address, self.client)
                .with_context(|| format!("cannot reach broker {} at {}", node.id, node.address))?;
            self.by_node.insert(node.id, conn);
        }
        Ok(self.by_node.get_mut(&node.id).expect("inserted above"))
    }

    /// The transaction coordinator of each id (FindCoordinator, key type 1);
    /// an id whose lookup failed maps to the error.
    fn coordinators(&mut self, ids: &[String]) -> Result<Vec<(String, Result<Node, String>)>> {
        const TRANSACTION: i8 = 1;
        let version = self
            .bootstrap
            .version::<FindCoordinatorRequest>(4)
            .context("the cluster does not support FindCoordinator")?;
        if version >= 4 {
            // KIP-699: one request for every key.
            let request = FindCoordinatorRequest::default()
                .with_key_type(TRANSACTION)
                .with_coordinator_keys(ids.iter().map(|id| StrBytes::from(id.clone())).collect());
            let response = self
                .bootstrap
                .call(version, &request)
                .context("FindCoordinator failed")?;
            let mut found: BTreeMap<String, Result<Node, String>> = response
                .coordinators
                .iter()
                .map(|c| {
                    let node = coordinator_result(
                        c.error_code,
                        c.error_message.as_deref(),
                        c.node_id.0,
                        &c.host,
                        c.port,
                    );
                    (c.key.to_string(), node)
                })
                .collect();
            return Ok(ids
                .iter()
                .map(|id| {
                    let node = found
                        .remove(id)
                        .unwrap_or_else(|| Err("FindCoordinator did not answer for it".into()));
                    (id.clone(), node)
                })
                .collect());
        }
        let mut out = Vec::new();
        for id in ids {
            let request = FindCoordinatorRequest::default()
                .with_key_type(TRANSACTION)
                .with_key(StrBytes::from(id.clone()));
            let r = self
                .bootstrap
                .call(version, &request)
                .context("FindCoordinator failed")?;
            let node = coordinator_result(
                r.error_code,
                r.error_message.as_deref(),
                r.node_id.0,
                &r.host,
                r.port,
            );
            out.push((id.clone(), node));
        }
        Ok(out)
    }
}

/// A connection with the user's `-X` settings (PLAINTEXT only) and the
/// CLI's timeouts, so a stopped broker is reported instead of hanging.
fn connect(addresses: &str, client: &ClientArgs) -> Result<KafkaConnection> {
    Ok(KafkaConnection::connect_with(
        addresses,
        &client.client_config,
        METADATA_TIMEOUT,
        REQUEST_TIMEOUT,
    )?)
}

fn coordinator_result(
    error_code: i16,
    message: Option<&str>,
    node_id: i32,
    host: &str,
    port: i32,
) -> Result<Node, String> {
    if error_code != 0 {
        return Err(match message {
            Some(m) if !m.is_empty() => format!("{}: {m}", error_name(error_code)),
            _ => error_name(error_code),
        });
    }
    Ok(Node {
        id: node_id,
        address: format!("{host}:{port}"),
    })
}

fn list(args: ListArgs) -> Result<()> {
    let mut cluster = Cluster::connect(&args.client)?;
    let request = ListTransactionsRequest::default()
        .with_state_filters(
            args.state
                .iter()
                .map(|s| StrBytes::from(s.clone()))
                .collect(),
        )
        .with_producer_id_filters(args.producer_id.iter().map(|&p| ProducerId(p)).collect());
    let mut rows = Vec::new();
    let mut unknown_states = Vec::new();
    for node in cluster.brokers()? {
        let conn = cluster.node(&node)?;
        let version = conn
            .version::<ListTransactionsRequest>(1)
            .context("the cluster does not support ListTransactions (Kafka 3.0+)")?;
        let response = conn
            .call(version, &request)
            .with_context(|| format!("ListTransactions to broker {} failed", node.id))?;
        if response.error_code != 0 {
            bail!(
                "broker {} cannot list transactions: {}",
                node.id,
                error_name(response.error_code)
            );
        }
        for state in &response.unknown_state_filters {
            if !unknown_states.contains(&state.to_string()) {
                unknown_states.push(state.to_string());
            }
        }
        rows.extend(response.transaction_states.iter().map(|t| Listed {
            transactional_id: t.transactional_id.to_string(),
            producer_id: t.producer_id.0,
            state: t.transaction_state.to_string(),
            coordinator: node.id,
        }));
    }
    if !unknown_states.is_empty() {
        eprintln!(
            "warning: the cluster knows no transaction state {} (states: Empty, Ongoing, \
             PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence, Dead)",
            unknown_states.join(", ")
        );
    }
    rows.sort();
    if args.output.json() {
        return print_json(&rows);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.transactional_id.clone(),
                r.producer_id.to_string(),
                r.state.clone(),
                r.coordinator.to_string(),
            ]
        })
        .collect();
    print_table(
        &["TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"],
        &table,
    );
    Ok(())
}

fn describe(args: DescribeArgs) -> Result<()> {
    let mut cluster = Cluster::connect(&args.client)?;
    let mut ids = args.transactional_ids.clone();
    ids.dedup();
    // Group the ids by coordinator so each gets one request.
    let mut by_node: BTreeMap<i32, (Node, Vec<String>)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (id, node) in cluster.coordinators(&ids)? {
        match node {
            Ok(node) => by_node
                .entry(node.id)
                .or_insert_with(|| (node.clone(), Vec::new()))
                .1
                .push(id),
            Err(e) => failures.push(format!("`{id}`: cannot find its coordinator: {e}")),
        }
    }
    let mut described = Vec::new();
    for (node, node_ids) in by_node.into_values() {
        let conn = cluster.node(&node)?;
        let version = conn
            .version::<DescribeTransactionsRequest>(0)
            .context("the cluster does not support DescribeTransactions (Kafka 3.0+)")?;
        let request = DescribeTransactionsRequest::default().with_transactional_ids(
            node_ids
                .iter()
                .map(|id| TransactionalId(StrBytes::from(id.clone())))
                .collect(),
        );
        let response = conn
            .call(version, &request)
            .with_context(|| format!("DescribeTransactions to broker {} failed", node.id))?;
        for t in &response.transaction_states {
            let id = t.transactional_id.to_string();
            if t.error_code != 0 {
                failures.push(format!("`{id}`: {}", describe_error(t.error_code)));
                continue;
            }
            described.push(Described {
                transactional_id: id,
                state: t.transaction_state.to_string(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                transaction_timeout_ms: t.transaction_timeout_ms,
                transaction_start_time_ms: t.transaction_start_time_ms,
                coordinator: node.id,
                partitions: t
                    .topics
                    .iter()
                    .map(|tp| TopicPartitions {
                        topic: tp.topic.to_string(),
                        partitions: tp.partitions.clone(),
                    })
                    .collect(),
            });
        }
        for id in &node_ids {
            let answered = response
                .transaction_states
                .iter()
                .any(|t| t.transactional_id.as_str() == id.as_str());
            if !answered {
                failures.push(format!("`{id}`: the coordinator did not answer for it"));
            }
        }
    }
    // The order the user asked in.
    described.sort_by_key(|d| ids.iter().position(|id| *id == d.transactional_id));
    if args.output.json() {
        print_json(&described)?;
    } else {
        print_described(&described);
    }
    match failures.len() {
        0 => Ok(()),
        _ => bail!("cannot describe {}", failures.join("; ")),
    }
}

/// DescribeTransactions' per-id errors, in the words users need.
fn describe_error(code: i16) -> String {
    const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
    const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    const NOT_COORDINATOR: i16 = 16;
    const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    match code {
        TRANSACTIONAL_ID_NOT_FOUND => "no such transactional id".into(),
        COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR => {
            format!("{} (try again)", error_name(code))
        }
        _ => error_name(code),
    }
}

fn print_described(described: &[Described]) {
    for (i, d) in described.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let start = if d.transaction_start_time_ms < 0 {
            "-".to_string()
        } else {
            format!("{} ms since the epoch", d.transaction_start_time_ms)
        };
        let partitions = if d.partitions.is_empty() {
            "-".to_string()
        } else {
            d.partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.topic)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rows = vec![
            vec!["transactional id".into(), d.transactional_id.clone()],
            vec!["state".into(), d.state.clone()],
            vec!["producer id".into(), d.producer_id.to_string()],
            vec!["producer epoch".into(), d.producer_epoch.to_string()],
            vec!["timeout".into(), format!("{} ms", d.transaction_timeout_ms)],
            vec!["started".into(), start],
            vec!["coordinator".into(), d.coordinator.to_string()],
            vec!["partitions".into(), partitions],
        ];
        print_table(&["FIELD", "VALUE"], &rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_errors_carry_the_broker_message() {
        let err = coordinator_result(15, Some("loading"), -1, "", -1).unwrap_err();
        assert!(err.contains("(15)") && err.contains("loading"), "{err}");
        let node = coordinator_result(0, None, 3, "h", 9092).unwrap();
        assert_eq!(
            node,
            Node {
                id: 3,
                address: "h:9092".into()
            }
        );
    }

    #[test]
    fn describe_errors_are_readable() {
        assert_eq!(describe_error(105), "no such transactional id");
        assert!(describe_error(14).ends_with("(try again)"));
    }
}
