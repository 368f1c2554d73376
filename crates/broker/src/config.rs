//! Broker settings: where to listen, what to advertise, where data lives, and
//! the defaults new topics get. `fjord serve` fills this from fjord.toml,
//! FJORD_* environment variables and flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use fjord_log::LogConfig;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address the Kafka listener binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// host:port clients are told to connect to (Metadata, DescribeCluster).
    /// None: the bound listen address.
    pub advertised_listener: Option<(String, u16)>,
    /// Root of all partition directories and broker metadata.
    pub data_dir: PathBuf,
    /// This broker's node id in Metadata responses.
    pub node_id: i32,
    /// Create a topic when a client asks for metadata of an unknown one
    /// (Kafka's auto.create.topics.enable, on by default). As in Kafka, a
    /// Produce to an unknown topic is refused; clients ask Metadata first.
    pub auto_create_topics: bool,
    /// Partition count for auto-created topics and for CreateTopics with -1.
    pub num_partitions: i32,
    /// Upper bound on partitions per topic; a guard against typos such as
    /// `--partitions 1000000` that would create a million directories.
    pub max_partitions_per_topic: i32,
    /// Topic-config defaults (Kafka's log.* broker settings).
    pub log_defaults: LogConfig,
    /// How often acks=0/1 data is fsynced in the background (acks=all data
    /// is fsynced before it is acknowledged, always).
    pub flush_interval_ms: u64,
    /// How often retention and segment.ms rolls are checked.
    pub retention_check_interval_ms: u64,
    /// Largest request frame accepted (Kafka's socket.request.max.bytes).
    pub max_request_bytes: usize,
    /// Bytes of requests being read and handled at once, over every
    /// connection (Kafka's queued.max.request.bytes; 0: no limit): beyond
    /// it, connections wait before reading more.
    pub queued_max_request_bytes: usize,
    /// Connections served at once (Kafka's max.connections); one more is
    /// closed at once and counted.
    pub max_connections: usize,
    /// Connections served at once from one client address (Kafka's
    /// max.connections.per.ip), so one host cannot take every place.
    pub max_connections_per_ip: usize,
    /// Largest Fetch response the broker builds, whatever the request's
    /// max_bytes says (Kafka's fetch.max.bytes). Bounds the memory one
    /// request can take; a first batch larger than this is still returned
    /// whole (KIP-74), so a consumer always makes progress.
    pub fetch_max_bytes: usize,
    /// Committed offsets of a group that has had no members for this long
    /// are removed, and the group with them (Kafka's
    /// offsets.retention.minutes, 7 days).
    pub offsets_retention_minutes: u64,
    /// A connection that sends no request for this long is closed (Kafka's
    /// connections.max.idle.ms): abandoned sockets do not hold a permit of
    /// `max_connections` for ever.
    pub connections_max_idle_ms: u64,
    /// How long the first rebalance of a new (empty) consumer group waits
    /// for more members to join (Kafka's group.initial.rebalance.delay.ms),
    /// so a group starting several consumers at once rebalances once.
    pub group_initial_rebalance_delay_ms: u64,
    /// Session timeouts a member may ask for (Kafka's
    /// group.min.session.timeout.ms / group.max.session.timeout.ms).
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// Partitions of the internal `__consumer_offsets` topic when it is
    /// created (Kafka's offsets.topic.num.partitions; one suffices for a
    /// single node).
    pub offsets_topic_num_partitions: i32,
    /// Consumer-protocol (KIP-848) members: session timeout and heartbeat
    /// interval, set by the broker (Kafka's group.consumer.session.timeout.ms
    /// and group.consumer.heartbeat.interval.ms).
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_heartbeat_interval_ms: i32,
    /// Largest transaction.timeout.ms a transactional producer may ask for
    /// (Kafka's transaction.max.timeout.ms).
    pub transaction_max_timeout_ms: i32,
    /// How often transactions past their timeout are looked for and
    /// aborted (Kafka's
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms).
    pub transaction_abort_check_interval_ms: u64,
    /// Partitions of the internal `__transaction_state` topic when it is
    /// created (Kafka's transaction.state.log.num.partitions; one suffices
    /// for a single node).
    pub transaction_state_num_partitions: i32,
    /// A transactional id idle this long is forgotten (Kafka's
    /// transactional.id.expiration.ms, 7 days).
    pub transactional_id_expiration_ms: i64,
    /// An idempotent producer whose last batch is this old, with no
    /// transaction open, loses its sequence state in each partition
    /// (Kafka's producer.id.expiration.ms, 1 day); its next batch is taken
    /// at any sequence.
    pub producer_id_expiration_ms: i64,
    /// How often partitions are swept for expired producers (Kafka's
    /// producer.id.expiration.check.interval.ms, 10 minutes).
    pub producer_id_expiration_check_interval_ms: u64,
}

impl BrokerConfig {
    /// Embedded defaults: 127.0.0.1:9092, data in ./fjord-data.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised_listener: None,
            data_dir: data_dir.into(),
            node_id: 0,
            auto_create_topics: true,
            num_partitions: 1,
            max_partitions_per_topic: 10_000,
            log_defaults: LogConfig::default(),
            flush_interval_ms: 1000,
            retention_check_interval_ms: 30_000,
            max_request_bytes: 104_857_600,
            queued_max_request_bytes: 536_870_912,
            max_connections: 10_000,
            max_connections_per_ip: 10_000,
            fetch_max_bytes: 57_671_680,
            connections_max_idle_ms: 600_000,
            offsets_retention_minutes: 10_080,
            group_initial_rebalance_delay_ms: 3000,
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            offsets_topic_num_partitions: 1,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            transaction_max_timeout_ms: 900_000,
            transaction_abort_check_interval_ms: 10_000,
            transaction_state_num_partitions: 1,
            transactional_id_expiration_ms: 604_800_000,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
        }
    }
}
