//! Confluent's registry converters (`AvroConverter`, `JsonSchemaConverter`)
//! against a real broker and Fjord's real registry, both in this process
//! on free ports: structs go through the converter, into a topic and back,
//! and the registry holds the subject the strategy names, under the id the
//! bytes carry.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fjord_connect::config::Config;
use fjord_connect::converters::{build_converter, class, Converter};
use fjord_connect::data::{logical, Schema, SchemaRef, SchemaType, Struct, Value};
use fjord_registry::client::{RegistryClient, Schema as Registered};
use fjord_registry::schema::SchemaType as Format;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A broker and a registry on free ports, in a runtime of their own;
/// both stop when this is dropped.
struct Stack {
    broker: SocketAddr,
    registry_url: String,
    _dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Stack {
    fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (stop_broker, broker_stopped) = tokio::sync::oneshot::channel::<()>();
        let (stop_registry, registry_stopped) = tokio::sync::oneshot::channel::<()>();
        let path = dir.path().to_path_buf();
        let (broker, registry) = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut config = fjord_broker::BrokerConfig::new(&path);
            config.listen = addr;
            config.group_initial_rebalance_delay_ms = 0;
            let broker = fjord_broker::Broker::open(config, addr).unwrap();
            tokio::spawn(fjord_broker::run(listener, broker, async {
                let _ = broker_stopped.await;
            }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let registry = listener.local_addr().unwrap();
            let config = fjord_registry::RegistryConfig::new(&addr.to_string());
            tokio::spawn(async move {
                let stopped = async {
                    let _ = registry_stopped.await;
                };
                if let Err(e) = fjord_registry::serve(listener, config, stopped).await {
                    eprintln!("registry stopped: {e}");
                }
            });
            (addr, registry)
        });
        let stack = Stack {
            broker,
            registry_url: format!("http://{registry}"),
            _dir: dir,
            runtime: Some(runtime),
            stops: vec![stop_registry, stop_broker],
        };
        stack.wait_for_registry();
        stack
    }

    /// Until the registry accepts a write (its store is loaded and it has
    /// elected itself writer).
    fn wait_for_registry(&self) {
        let client = RegistryClient::with_timeout(&self.registry_url, Duration::from_secs(5));
        let probe = Registered::new(Format::Avro, "\"string\"");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.register("readiness-probe", &probe) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("registry not ready: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.registry_url)
    }

    fn converter(&self, class: &str, is_key: bool, extra: &[(&str, &str)]) -> Box<dyn Converter> {
        let mut settings =
            Config::from_pairs([("schema.registry.url", self.registry_url.as_str())]);
        for (k, v) in extra {
            settings.set(*k, *v);
        }
        build_converter(class, &settings, is_key).unwrap()
    }

    /// Writes (key, value) records to partition 0 of `topic` and reads them
    /// back, in order.
    #[allow(clippy::type_complexity)]
    fn through_topic(
        &self,
        topic: &str,
        records: &[(Option<Vec<u8>>, Option<Vec<u8>>)],
    ) -> Vec<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.to_string())
            .create()
            .unwrap();
        for (k, v) in records {
            let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(0);
            if let Some(k) = k {
                r = r.key(&k[..]);
            }
            if let Some(v) = v {
                r = r.payload(&v[..]);
            }
            producer.send(r).map_err(|(e, _)| e).unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.broker.to_string())
            .set("group.id", "converters-test")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.len() < records.len() && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)));
            }
        }
        assert_eq!(out.len(), records.len(), "records read back from {topic}");
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(10));
        }
    }
}

/// The schema id in Confluent's wire header (magic 0, big-endian id).
fn schema_id(bytes: &[u8]) -> i32 {
    assert_eq!(bytes[0], 0, "magic byte");
    i32::from_be_bytes(bytes[1..5].try_into().unwrap())
}

/// A bid struct with a nested struct, an optional field, an array, a map
/// and the logical types (Decimal only when `decimal`: ProtobufConverter
/// does not write it).
fn bid_with(decimal: bool) -> (SchemaRef, Value) {
    let bidder = Schema::structure(
        Some("auction.Bidder"),
        vec![
            ("id".into(), Schema::of(SchemaType::Int64).into_ref()),
            (
                "nick".into(),
                Schema::optional_of(SchemaType::String).into_ref(),
            ),
        ],
    )
    .into_ref();
    let mut fields: Vec<(String, SchemaRef)> = vec![
        ("item".into(), Schema::of(SchemaType::String).into_ref()),
        (
            "placed_at".into(),
            Schema::of(SchemaType::Int64)
                .with_name(logical::TIMESTAMP)
                .into_ref(),
        ),
        (
            "day".into(),
            Schema::of(SchemaType::Int32)
                .with_name(logical::DATE)
                .into_ref(),
        ),
        ("bidder".into(), bidder.clone()),
        (
            "tags".into(),
            Schema::array(Schema::of(SchemaType::String).into_ref()).into_ref(),
        ),
        (
            "attrs".into(),
            Schema::map(
                Schema::of(SchemaType::String).into_ref(),
                Schema::of(SchemaType::Int32).into_ref(),
            )
            .into_ref(),
        ),
        (
            "note".into(),
            Schema::optional_of(SchemaType::String).into_ref(),
        ),
    ];
    if decimal {
        let price = Schema::of(SchemaType::Bytes)
            .with_name(logical::DECIMAL)
            .with_parameter(logical::DECIMAL_SCALE, "2");
        fields.insert(1, ("price".into(), price.into_ref()));
    }
    let schema = Schema::structure(Some("auction.Bid"), fields).into_ref();
    let mut who = Struct::new(bidder);
    who.put("id", Value::Int64(42));
    who.put("nick", Value::from("ann"));
    let mut v = Struct::new(schema.clone());
    v.put("item", Value::from("lamp"));
    if decimal {
        v.put("price", Value::Bytes(vec![0x04, 0x01])); // 10.25
    }
    v.put("placed_at", Value::Int64(1_700_000_000_123));
    v.put("day", Value::Int32(19_675));
    v.put("bidder", Value::Struct(who));
    v.put("tags", Value::Array(vec![Value::from("antique")]));
    v.put(
        "attrs",
        Value::Map(vec![
            (Value::from("a"), Value::Int32(1)),
            (Value::from("b"), Value::Int32(2)),
        ]),
    );
    (schema, Value::Struct(v))
}

fn bid() -> (SchemaRef, Value) {
    bid_with(true)
}

fn round_trip_through_the_registry(class: &str, format: Format) {
    let stack = Stack::start();
    let topic = "bids";
    let (schema, value) = bid_with(format != Format::Protobuf);
    // ProtobufConverter writes structs only: its keys are structs too.
    let (key_schema, key_value) = match format {
        Format::Protobuf => {
            let s = Schema::structure(
                Some("auction.BidKey"),
                vec![("id".into(), Schema::of(SchemaType::String).into_ref())],
            )
            .into_ref();
            let mut k = Struct::new(s.clone());
            k.put("id", Value::from("lamp-1"));
            (s, Value::Struct(k))
        }
        _ => (
            Schema::of(SchemaType::String).into_ref(),
            Value::from("lamp-1"),
        ),
    };
    let keys = stack.converter(class, true, &[]);
    let values = stack.converter(class, false, &[]);

    let key = keys
        .from_connect(topic, Some(&key_schema), &key_value)
        .unwrap();
    let written = values
        .from_connect(topic, Some(&schema), &value)
        .unwrap()
        .unwrap();
    let tombstone = values
        .from_connect(topic, Some(&schema), &Value::Null)
        .unwrap();
    assert_eq!(tombstone, None);

    // TopicNameStrategy: <topic>-value and <topic>-key, and the bytes name
    // the registered id.
    let client = stack.client();
    let latest = client.latest_version("bids-value").unwrap();
    assert_eq!(latest.schema.schema_type, format);
    assert_eq!(schema_id(&written), latest.id);
    let key_latest = client.latest_version("bids-key").unwrap();
    assert_eq!(schema_id(key.as_ref().unwrap()), key_latest.id);

    let read = stack.through_topic(topic, &[(key, Some(written.clone())), (None, None)]);
    let (schema_back, value_back) = values.to_connect(topic, read[0].1.as_deref()).unwrap();
    assert_eq!(value_back, value);
    assert_eq!(schema_back.as_deref(), Some(&*schema));
    let (_, key_back) = keys.to_connect(topic, read[0].0.as_deref()).unwrap();
    assert_eq!(key_back, key_value);
    assert_eq!(
        values.to_connect(topic, read[1].1.as_deref()).unwrap(),
        (None, Value::Null)
    );

    // A fresh converter (another worker) reads the same bytes through the
    // registry alone, and writing the same schema again reuses its id.
    let other = stack.converter(class, false, &[]);
    assert_eq!(other.to_connect(topic, Some(&written)).unwrap().1, value);
    let again = other
        .from_connect(topic, Some(&schema), &value)
        .unwrap()
        .unwrap();
    // Same id, same value (not always the same bytes: apache-avro writes a
    // map's entries in hash order).
    assert_eq!(schema_id(&again), schema_id(&written));
    assert_eq!(other.to_connect(topic, Some(&again)).unwrap().1, value);
    assert_eq!(client.versions("bids-value", false).unwrap(), vec![1]);
}

#[test]
fn avro_structs_round_trip_through_the_registry_and_a_topic() {
    round_trip_through_the_registry(class::AVRO, Format::Avro);
}

#[test]
fn json_schema_structs_round_trip_through_the_registry_and_a_topic() {
    round_trip_through_the_registry(class::JSON_SCHEMA, Format::Json);
}

#[test]
fn protobuf_structs_round_trip_through_the_registry_and_a_topic() {
    round_trip_through_the_registry(class::PROTOBUF, Format::Protobuf);
}

#[test]
fn subject_strategies_and_registration_settings() {
    let stack = Stack::start();
    let client = stack.client();
    let (schema, value) = bid();

    // RecordNameStrategy and TopicRecordNameStrategy name the subject
    // after the record (Avro) or the schema's title (JSON Schema).
    let record = stack.converter(
        class::AVRO,
        false,
        &[(
            "value.subject.name.strategy",
            "io.confluent.kafka.serializers.subject.RecordNameStrategy",
        )],
    );
    let bytes = record
        .from_connect("t1", Some(&schema), &value)
        .unwrap()
        .unwrap();
    assert_eq!(
        schema_id(&bytes),
        client.latest_version("auction.Bid").unwrap().id
    );
    let topic_record = stack.converter(
        class::JSON_SCHEMA,
        true,
        &[(
            "key.subject.name.strategy",
            "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
        )],
    );
    let bytes = topic_record
        .from_connect("t2", Some(&schema), &value)
        .unwrap()
        .unwrap();
    assert_eq!(
        schema_id(&bytes),
        client.latest_version("t2-auction.Bid").unwrap().id
    );

    // auto.register.schemas=false: a schema nobody registered is refused;
    // once registered (by another converter), it is found.
    let lookup_only = stack.converter(class::AVRO, false, &[("auto.register.schemas", "false")]);
    let err = lookup_only
        .from_connect("t3", Some(&schema), &value)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Failed to serialize Avro data from topic t3"),
        "{err}"
    );
    assert!(client.versions("t3-value", false).is_err());
    let registering = stack.converter(class::AVRO, false, &[]);
    let registered = registering
        .from_connect("t3", Some(&schema), &value)
        .unwrap()
        .unwrap();
    let lookup_only = stack.converter(class::AVRO, false, &[("auto.register.schemas", "false")]);
    let found = lookup_only
        .from_connect("t3", Some(&schema), &value)
        .unwrap()
        .unwrap();
    assert_eq!(schema_id(&found), schema_id(&registered));

    // use.latest.version: values are written with the subject's latest
    // schema, here one with an extra field that has a default.
    let latest_text = r#"{"type":"record","name":"Small","namespace":"t","fields":[
        {"name":"item","type":"string"},{"name":"qty","type":"int","default":1}]}"#;
    let latest_id = client
        .register("t4-value", &Registered::new(Format::Avro, latest_text))
        .unwrap();
    let small = Schema::structure(
        Some("t.Small"),
        vec![("item".into(), Schema::of(SchemaType::String).into_ref())],
    )
    .into_ref();
    let mut s = Struct::new(small.clone());
    s.put("item", Value::from("lamp"));
    let latest = stack.converter(
        class::AVRO,
        false,
        &[
            ("use.latest.version", "true"),
            ("auto.register.schemas", "false"),
        ],
    );
    let bytes = latest
        .from_connect("t4", Some(&small), &Value::Struct(s))
        .unwrap()
        .unwrap();
    assert_eq!(schema_id(&bytes), latest_id);
    let (read_schema, read) = latest.to_connect("t4", Some(&bytes)).unwrap();
    assert_eq!(
        read_schema.unwrap().field("qty").unwrap().schema.kind,
        SchemaType::Int32
    );
    assert_eq!(read.field("item"), Some(&Value::from("lamp")));
    assert_eq!(read.field("qty"), Some(&Value::Int32(1)));
    assert_eq!(client.versions("t4-value", false).unwrap(), vec![1]);

    // Bytes that are not in the wire format are a conversion error.
    let err = record.to_connect("t1", Some(b"{\"plain\":1}")).unwrap_err();
    assert!(
        err.to_string()
            .contains("Failed to deserialize data for topic t1 to Avro"),
        "{err}"
    );
}

#[test]
fn data_written_by_registry_serializers_reads_through_the_converters() {
    // What a sink connector meets: records an application produced with
    // Fjord's (Confluent-compatible) serializers and its own schemas.
    let stack = Stack::start();
    let client = std::sync::Arc::new(stack.client());

    let avro_text = r#"{"type":"record","name":"Bid","namespace":"auction","fields":[
        {"name":"item","type":"string"},
        {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
        {"name":"bidder","type":["null","long"],"default":null},
        {"name":"side","type":{"type":"enum","name":"Side","symbols":["BUY","SELL"]}}]}"#;
    let serializer =
        fjord_registry::serde::AvroSerializer::new(client.clone(), "bids-value", avro_text)
            .unwrap();
    use apache_avro::types::Value as Avro;
    let record = Avro::Record(vec![
        ("item".into(), Avro::String("lamp".into())),
        // 10.25, sign-extended to the 4 bytes apache-avro wants for precision 9.
        ("amount".into(), Avro::Bytes(vec![0, 0, 0x04, 0x01])),
        ("bidder".into(), Avro::Null),
        ("side".into(), Avro::Enum(1, "SELL".into())),
    ]);
    let bytes = serializer.serialize_value(&record).unwrap();
    let avro = stack.converter(class::AVRO, false, &[]);
    let (schema, value) = avro.to_connect("bids", Some(&bytes)).unwrap();
    let schema = schema.unwrap();
    assert_eq!(schema.name.as_deref(), Some("auction.Bid"));
    assert_eq!(
        schema.field("amount").unwrap().schema.name.as_deref(),
        Some(logical::DECIMAL)
    );
    assert!(schema.field("bidder").unwrap().schema.optional);
    assert_eq!(value.field("item"), Some(&Value::from("lamp")));
    assert_eq!(value.field("amount"), Some(&Value::Bytes(vec![0x04, 0x01])));
    assert_eq!(value.field("bidder"), Some(&Value::Null));
    assert_eq!(value.field("side"), Some(&Value::from("SELL")));

    let json_text = r#"{"type":"object","title":"Person","properties":{
        "name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}"#;
    let serializer =
        fjord_registry::serde::JsonSerializer::new(client.clone(), "people-value", json_text)
            .unwrap();
    let bytes = serializer
        .serialize_value(&serde_json::json!({"name": "ann", "age": 41}))
        .unwrap();
    let json = stack.converter(class::JSON_SCHEMA, false, &[]);
    let (schema, value) = json.to_connect("people", Some(&bytes)).unwrap();
    assert_eq!(schema.unwrap().name.as_deref(), Some("Person"));
    assert_eq!(value.field("name"), Some(&Value::from("ann")));
    assert_eq!(value.field("age"), Some(&Value::Int64(41)));
}

#[test]
fn converters_called_on_the_registrys_own_runtime_do_not_stall_it() {
    // Sink and source tasks call converters from async code; in `fjord
    // serve` the embedded registry runs on the same runtime. Four tasks
    // (two worker threads) meet new schemas at once and must all finish.
    // (The converters hand their thread over while they wait for the
    // registry; this scenario also passed without that in a trial, so it
    // guards the behaviour rather than proving the hand-over necessary.)
    let stack = Stack::start();
    let (schema, value) = bid();
    let runtime = stack.runtime.as_ref().unwrap();
    let url = stack.registry_url.clone();
    let ids = runtime.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (schema, value, url) = (schema.clone(), value.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let settings = Config::from_pairs([("schema.registry.url", url.as_str())]);
                let c = build_converter(class::AVRO, &settings, false).unwrap();
                let topic = format!("busy-{i}");
                let bytes = c
                    .from_connect(&topic, Some(&schema), &value)
                    .unwrap()
                    .unwrap();
                assert_eq!(c.to_connect(&topic, Some(&bytes)).unwrap().1, value);
                schema_id(&bytes)
            }));
        }
        let all = async {
            let mut ids = Vec::new();
            for t in tasks {
                ids.push(t.await.unwrap());
            }
            ids
        };
        tokio::time::timeout(Duration::from_secs(20), all)
            .await
            .expect("converters stalled the runtime")
    });
    // One schema, registered under four subjects: one id.
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}
