//! Shared harness for the broker's integration tests: a real broker served
//! in-process on an ephemeral port, a tiny Kafka client over a raw TCP
//! socket, and record-batch builders.
//!
//! Every test file includes this module; not every file uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use fjord_broker::{Broker, BrokerConfig};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound on any single wait in these tests, so a broker that stops
/// answering fails the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker running in this process on 127.0.0.1:<ephemeral>, over a
/// temporary data directory that outlives restarts.
pub struct TestBroker {
    /// Kept for the broker's whole life (and across restarts); removed on drop.
    dir: TempDir,
    /// Applied to every (re)start, so a restart keeps e.g. a small
    /// max_request_bytes.
    tweak: Arc<dyn Fn(&mut BrokerConfig) + Send + Sync>,
    /// The file system partitions live on: the real one, or a fault
    /// injecting one (`start_on`).
    fs: Option<Arc<dyn fjord_log::FileSystem>>,
    pub addr: SocketAddr,
    pub broker: Option<Arc<Broker>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    /// Starts with a config adjusted by `tweak` (data dir and listen address
    /// are the harness's).
    pub async fn start_with(
        tweak: impl Fn(&mut BrokerConfig) + Send + Sync + 'static,
    ) -> TestBroker {
        Self::start_on(None, tweak).await
    }

    /// Starts on a copy of the data directory `from` (a fixture written by
    /// an earlier release), with the default config.
    pub async fn start_from_copy_of(from: &std::path::Path) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_tree(from, dir.path());
        let mut b = TestBroker {
            dir,
            fs: None,
            tweak: Arc::new(|_| {}),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            broker: None,
            shutdown: None,
            task: None,
        };
        b.boot().await;
        b
    }

    /// Starts with partition data on `fs` (e.g. a `FaultFs` that fails
    /// writes or slows fsyncs); topic metadata stays on the real disk.
    pub async fn start_on(
        fs: Option<Arc<dyn fjord_log::FileSystem>>,
        tweak: impl Fn(&mut BrokerConfig) + Send + Sync + 'static,
    ) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut b = TestBroker {
            dir,
            fs,
            tweak: Arc::new(tweak),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            broker: None,
            shutdown: None,
            task: None,
        };
        b.boot().await;
        b
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn broker(&self) -> &Arc<Broker> {
        self.broker.as_ref().expect("broker is running")
    }

    async fn boot(&mut self) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut config = BrokerConfig::new(self.dir.path());
        config.listen = addr;
        (self.tweak)(&mut config);
        let broker = match &self.fs {
            Some(fs) => Broker::open_with_fs(config, addr, fs.clone()),
            None => Broker::open(config, addr),
        }
        .expect("broker opens");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(fjord_broker::run(listener, broker.clone(), async {
            let _ = rx.await;
        }));
        self.addr = addr;
        self.broker = Some(broker);
        self.shutdown = Some(tx);
        self.task = Some(task);
    }

    /// Clean shutdown: signal, then wait for `run` to close every partition.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("broker shuts down in time")
                .expect("broker task does not panic");
        }
        self.broker = None;
    }

    /// Stops without a clean shutdown: the server task is aborted and no
    /// partition is closed (no clean-shutdown marker, no snapshots), as when
    /// the process dies; written bytes stay in the files. Then starts again
    /// on the same data directory, which must recover.
    pub async fn crash_and_restart(&mut self) {
        self.shutdown = None;
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        // Connection and background tasks end once the aborted server's
        // shutdown channel closes; wait until they have let go of the broker.
        let broker = self.broker.take().expect("broker was running");
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        while Arc::strong_count(&broker) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "broker tasks did not stop"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(broker);
        self.boot().await;
    }

    /// Clean shutdown and a fresh start on the same data directory (on a new
    /// port: clients must reconnect, as they would after a real restart).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    /// Like `restart`, with `between` run on the data directory while the
    /// broker is down (to leave what a crash at some point would leave).
    pub async fn restart_after(&mut self, between: impl FnOnce(&std::path::Path)) {
        self.stop().await;
        between(self.dir.path());
        self.boot().await;
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A minimal Kafka client: one TCP connection, typed requests encoded with
/// kafka-protocol, responses read in order.
pub struct Client {
    pub stream: TcpStream,
    next_correlation: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            next_correlation: 1,
        }
    }

    /// Encodes a complete request frame (size prefix included) and returns it
    /// with its correlation id.
    pub fn frame<R: Request>(&mut self, version: i16, req: &R) -> (i32, Bytes) {
        let cid = self.next_correlation;
        self.next_correlation += 1;
        (cid, encode_frame(cid, version, req))
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Writes a request without waiting for its response.
    pub async fn send_only<R: Request>(&mut self, version: i16, req: &R) -> i32 {
        let (cid, frame) = self.frame(version, req);
        self.write_raw(&frame).await;
        cid
    }

    /// Reads one response frame body (after the size prefix).
    pub async fn read_frame(&mut self) -> Bytes {
        tokio::time::timeout(IO_TIMEOUT, async {
            let size = self.stream.read_i32().await.expect("read response size");
            assert!(size >= 4, "response size {size}");
            let mut body = vec![0u8; size as usize];
            self.stream
                .read_exact(&mut body)
                .await
                .expect("read response body");
            Bytes::from(body)
        })
        .await
        .expect("response in time")
    }

    /// Reads and decodes the response to a request of type `R` at `version`;
    /// returns its correlation id and body.
    pub async fn recv<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let mut frame = self.read_frame().await;
        let header = ResponseHeader::decode(
            &mut frame,
            <R::Response as HeaderVersion>::header_version(version),
        )
        .expect("decode response header");
        let resp = R::Response::decode(&mut frame, version).expect("decode response body");
        assert!(
            !frame.has_remaining(),
            "{} trailing bytes after a {} v{version}",
            frame.remaining(),
            std::any::type_name::<R::Response>()
        );
        (header.correlation_id, resp)
    }

    /// Sends a request and waits for its response, checking the correlation id.
    pub async fn send<R: Request>(&mut self, version: i16, req: R) -> R::Response {
        let cid = self.send_only(version, &req).await;
        let (got, resp) = self.recv::<R>(version).await;
        assert_eq!(got, cid, "correlation id");
        resp
    }

    /// Whether the broker has closed this connection: a read returns EOF or
    /// a reset within `IO_TIMEOUT` (any bytes that arrive first are drained).
    pub async fn is_closed_by_peer(&mut self) -> bool {
        let mut scratch = [0u8; 4096];
        let res = tokio::time::timeout(IO_TIMEOUT, async {
            loop {
                match self.stream.read(&mut scratch).await {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(_) => return true,
                }
            }
        })
        .await;
        res.unwrap_or(false)
    }

    // ---- convenience wrappers for the common requests ----

    /// DeleteTopics v6 of one topic by name; its error code.
    pub async fn delete_topic(&mut self, name: &str) -> i16 {
        use delete_topics_request::DeleteTopicState;
        let req = DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(name)))
            ])
            .with_timeout_ms(5000);
        self.send(6, req).await.responses[0].error_code
    }

    pub async fn create_topic(&mut self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &[]).await;
    }

    pub async fn create_topic_with(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) {
        let resp = self
            .send(
                5,
                create_topics_request(&[creatable(name, partitions, 1, configs)]),
            )
            .await;
        assert_eq!(
            resp.topics[0].error_code, 0,
            "creating {name}: {:?}",
            resp.topics[0].error_message
        );
    }

    /// Produces one record set to one partition; returns (error, base offset).
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        acks: i16,
        records: Bytes,
    ) -> (i16, i64) {
        let resp = self
            .send(9, produce_request(topic, partition, acks, records))
            .await;
        let p = &resp.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    /// Fetches one partition from `offset` with no waiting.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    ) -> fetch_response::PartitionData {
        let resp = self
            .send(12, fetch_request(topic, partition, offset, max_bytes))
            .await;
        resp.responses[0].partitions[0].clone()
    }

    pub async fn metadata(
        &mut self,
        version: i16,
        topics: Option<&[&str]>,
        auto_create: bool,
    ) -> MetadataResponse {
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic_name(t)))
                    })
                    .collect()
            }))
            // Before v4 the field does not exist (and creation is implied).
            .with_allow_auto_topic_creation(auto_create || version < 4);
        self.send(version, req).await
    }

    /// ListOffsets for one partition and timestamp: (error, offset, timestamp).
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> (i16, i64, i64) {
        use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)])]);
        let resp = self.send(7, req).await;
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    }

    pub async fn init_producer_id(&mut self) -> (i64, i16) {
        let resp = self
            .send(
                4,
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        assert_eq!(resp.error_code, 0, "InitProducerId");
        (resp.producer_id.0, resp.producer_epoch)
    }
}

/// A complete request frame: size prefix, header (the version `R` uses at
/// `version`), body.
pub fn encode_frame<R: Request>(correlation_id: i32, version: i16, req: &R) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fjord-broker-tests")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, R::header_version(version))
        .expect("encode request header");
    req.encode(&mut buf, version).expect("encode request body");
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.freeze()
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn creatable(
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> CreatableTopic {
    use create_topics_request::CreatableTopicConfig;
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(Some(StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

pub fn create_topics_request(topics: &[CreatableTopic]) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(topics.to_vec())
        .with_timeout_ms(10_000)
}

pub fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    partition_max_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes)])])
}

/// A plain data record (not transactional, not control, no producer, no
/// key, value or headers) for test batches to fill in with `..data_record()`.
/// The batch builders of several test files (plain, idempotent,
/// transactional) differ only in the fields they set, so the rest lives here.
pub fn data_record() -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: None,
        headers: Default::default(),
    }
}

/// `records` encoded as the client-side encoder does: uncompressed v2
/// (several RecordBatches if their producer fields or `offset - sequence`
/// change between records).
pub fn encode_batch(records: &[Record]) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// Builds uncompressed v2 record batches.
#[derive(Clone, Debug)]
pub struct Batch {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    timestamp: i64,
    values: Vec<Vec<u8>>,
}

impl Batch {
    /// A non-idempotent batch of `values`, stamped from the current time,
    /// each record a millisecond after the previous (see `timestamps_from`).
    pub fn of<V: AsRef<[u8]>>(values: &[V]) -> Batch {
        Batch {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            // Now: retention (7 days by default, checked at start-up) would
            // delete a fixed timestamp's batches once it is old enough.
            timestamp: fjord_broker::server::now_ms(),
            values: values.iter().map(|v| v.as_ref().to_vec()).collect(),
        }
    }

    /// `n` records of `size` bytes each.
    pub fn sized(n: usize, size: usize) -> Batch {
        let values: Vec<Vec<u8>> = (0..n).map(|i| vec![b'a' + (i % 26) as u8; size]).collect();
        Batch::of(&values)
    }

    pub fn idempotent(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Batch {
        self.producer_id = producer_id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// The first record's timestamp; record i gets `ts + i`.
    pub fn timestamps_from(mut self, ts: i64) -> Batch {
        self.timestamp = ts;
        self
    }

    /// One RecordBatch holding every record.
    pub fn encode(&self) -> Bytes {
        // The encoder keeps records in one batch only while
        // `offset - sequence` stays constant, so sequences advance with
        // offsets even for non-idempotent batches (whose base stays -1).
        let records: Vec<Record> = self
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                offset: i as i64,
                sequence: self.base_sequence.wrapping_add(i as i32),
                timestamp: self.timestamp + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(v.clone())),
                ..data_record()
            })
            .collect();
        let out = encode_batch(&records);
        assert_eq!(
            batch_count(&out),
            1,
            "test batch must be a single RecordBatch"
        );
        out
    }
}

/// Number of RecordBatches in a record set (by walking batch lengths).
pub fn batch_count(bytes: &[u8]) -> usize {
    batch_spans(bytes).len()
}

/// (start, len) of each RecordBatch in a record set.
pub fn batch_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize + 12;
        assert!(pos + len <= bytes.len(), "partial batch in record set");
        out.push((pos, len));
        pos += len;
    }
    out
}

/// Base offset of the batch at `start`.
pub fn base_offset_at(bytes: &[u8], start: usize) -> i64 {
    i64::from_be_bytes(bytes[start..start + 8].try_into().unwrap())
}

/// Compares a fetched batch with the one that was produced, ignoring the
/// fields the broker owns: baseOffset (0..8) and partitionLeaderEpoch (12..16).
pub fn assert_same_batch(fetched: &[u8], sent: &[u8]) {
    assert_eq!(fetched.len(), sent.len(), "batch length");
    assert_eq!(fetched[8..12], sent[8..12], "batchLength field");
    assert_eq!(
        fetched[16..],
        sent[16..],
        "bytes after partitionLeaderEpoch"
    );
}

/// Values of every record in a record set.
pub fn values(records: &Bytes) -> Vec<Vec<u8>> {
    let mut buf = records.clone();
    let sets =
        kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).expect("decode records");
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| r.value.map(|v| v.to_vec()).unwrap_or_default())
        .collect()
}

/// xorshift64*: deterministic, dependency-free randomness for tests that
/// mutate frames or drive random request sequences; a failing seed
/// reproduces its sequence exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in [0, n) (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Copies the directory tree `from` into `to` (which exists).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("create dir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
