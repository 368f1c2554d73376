//! `fjord schema ...` against the registry that `fjord serve` embeds, and
//! the Rust serde API with broker-side validation end to end: a value
//! serialized with `AvroSerializer` is accepted by a topic with
//! `confluent.value.schema.validation=true`, unframed or unregistered
//! values are refused (librdkafka reports INVALID_RECORD).

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_registry::client::RegistryClient;
use fjord_registry::serde::{AvroDeserializer, AvroSerializer};
use tempfile::TempDir;

const FJORD: &str = env!("CARGO_BIN_EXE_fjord");

const BID_V1: &str = r#"{"type":"record","name":"Bid","namespace":"auction","fields":[
  {"name":"item","type":"string"},{"name":"price","type":"double"}]}"#;
/// Adds a field with a default: BACKWARD compatible.
const BID_V2: &str = r#"{"type":"record","name":"Bid","namespace":"auction","fields":[
  {"name":"item","type":"string"},{"name":"price","type":"double"},
  {"name":"name","type":"string","default":"anonymous"}]}"#;
/// Adds a field without a default: not BACKWARD compatible.
const BID_BAD: &str = r#"{"type":"record","name":"Bid","namespace":"auction","fields":[
  {"name":"item","type":"string"},{"name":"price","type":"double"},
  {"name":"name","type":"string"}]}"#;

/// `fjord serve` with its registry, on free ports; killed when dropped.
struct Serve {
    child: Child,
    kafka: SocketAddr,
    registry: String,
    dir: TempDir,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let (kafka, reg) = (free_port(), free_port());
        let child = Command::new(FJORD)
            .args(["serve", "--listen", &kafka.to_string()])
            .args(["--registry-listen", &reg.to_string()])
            .arg("--no-connect")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .current_dir(dir.path())
            .env_remove("FJORD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("serve.log")).expect("log"),
            ))
            .spawn()
            .expect("start fjord serve");
        let mut s = Serve {
            child,
            kafka,
            registry: format!("http://{reg}"),
            dir,
        };
        // Ready when the registry answers (it starts after the broker).
        let client = RegistryClient::with_timeout(&s.registry, Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.subjects(false, None).is_err() {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("fjord serve exited with {st}: {}", s.log());
            }
            assert!(Instant::now() < deadline, "registry not up: {}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write schema file");
        p.display().to_string()
    }

    /// `fjord schema --registry <ours> ARGS`.
    fn schema(&self, args: &[&str]) -> Output {
        Command::new(FJORD)
            .arg("schema")
            .args(["--registry", &self.registry])
            .args(args)
            .env_remove("FJORD_SCHEMA_REGISTRY")
            .stdin(Stdio::null())
            .output()
            .expect("run fjord schema")
    }

    /// `fjord schema --registry <ours> ARGS` reading `input` on stdin
    /// (stdout captured, stderr passed through). `encode` and `decode` are
    /// run the same way, so they share this.
    fn schema_piped(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(FJORD)
            .args(["schema", "--registry", &self.registry])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.schema(args);
        assert!(
            out.status.success(),
            "fjord schema {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Expects failure; returns (stdout, stderr).
    fn fail(&self, args: &[&str]) -> (String, String) {
        let out = self.schema(args);
        assert!(!out.status.success(), "fjord schema {args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn register_list_get_check_delete() {
    let s = Serve::start();
    let v1 = s.file("bid.avsc", BID_V1);
    let v2 = s.file("bid2.avsc", BID_V2);
    let bad = s.file("bad.avsc", BID_BAD);

    let out = s.ok(&["register", "bids-value", "--file", &v1]);
    assert!(
        out.contains("registered 'bids-value' version 1, schema id"),
        "{out}"
    );
    // Registering the same schema again is the same id and version.
    let again: serde_json::Value =
        serde_json::from_str(&s.ok(&["register", "bids-value", "--file", &v1, "--json"])).unwrap();
    assert_eq!(again["version"], 1);
    let id1 = again["id"].as_i64().unwrap();

    assert_eq!(s.ok(&["list"]), "bids-value\n");
    assert_eq!(s.ok(&["list", "--prefix", "nope"]), "");

    let got: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "bids-value", "--json"])).unwrap();
    assert_eq!(
        (got["version"].as_i64(), got["id"].as_i64()),
        (Some(1), Some(id1))
    );
    assert_eq!(got["schemaType"], "AVRO");
    let text = s.ok(&["get", "bids-value", "--version", "1"]);
    assert!(
        text.contains("subject: bids-value") && text.contains("\"name\": \"Bid\""),
        "{text}"
    );
    let by_id = s.ok(&["get", "--id", &id1.to_string()]);
    assert!(by_id.contains("used by: bids-value version 1"), "{by_id}");

    let out = s.ok(&["check", "bids-value", "--file", &v2]);
    assert!(out.starts_with("compatible"), "{out}");
    let (out, err) = s.fail(&["check", "bids-value", "--file", &bad]);
    assert!(out.contains("NOT compatible"), "{out}");
    assert!(out.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{out}");
    assert!(err.contains("not compatible"), "{err}");

    // An incompatible registration is refused with the registry's 409.
    let (_, err) = s.fail(&["register", "bids-value", "--file", &bad]);
    assert!(err.contains("409"), "{err}");
    let out = s.ok(&["register", "bids-value", "--file", &v2]);
    assert!(out.contains("version 2"), "{out}");

    let out = s.ok(&["delete", "bids-value", "--version", "2"]);
    assert!(
        out.contains("deleted (soft) 'bids-value' version 2"),
        "{out}"
    );
    let out = s.ok(&["delete", "bids-value"]);
    assert!(out.contains("version 1"), "{out}");
    assert_eq!(s.ok(&["list"]), "");
    assert_eq!(s.ok(&["list", "--deleted"]), "bids-value\n");
    s.ok(&["delete", "bids-value", "--permanent"]);
    assert_eq!(s.ok(&["list", "--deleted"]), "");
}

#[test]
fn registry_errors_are_clear() {
    let s = Serve::start();
    let (_, err) = s.fail(&["get", "nope-value"]);
    assert!(
        err.contains("subject not found") && err.contains("40401"),
        "{err}"
    );
    let (_, err) = s.fail(&["get", "--id", "4242"]);
    assert!(err.contains("40403"), "{err}");
    let junk = s.file("junk.avsc", "{\"type\": \"recordz\"}");
    let (_, err) = s.fail(&["register", "x-value", "--file", &junk]);
    assert!(err.contains("42201"), "{err}");
    let (_, err) = s.fail(&["register", "x-value", "--file", "/no/such/file.avsc"]);
    assert!(
        err.contains("reading schema file /no/such/file.avsc"),
        "{err}"
    );
    let (_, err) = s.fail(&["get", "x-value", "--version", "zero"]);
    assert!(err.contains("not a version"), "{err}");

    let dead = format!("http://{}", free_port());
    let out = Command::new(FJORD)
        .args(["schema", "--registry", &dead, "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach the schema registry"), "{err}");
}

#[test]
fn encode_decode_round_trip() {
    let s = Serve::start();
    let v1 = s.file("bid.avsc", BID_V1);
    let out = s.schema_piped(
        &["encode", "t-value", "--file", &v1],
        b"{\"item\":\"lamp\",\"price\":12.5}\n",
    );
    assert!(out.status.success());
    let hex = String::from_utf8(out.stdout).unwrap();
    assert!(hex.starts_with("00"), "magic byte 0: {hex}");

    let out = s.schema_piped(&["decode"], hex.as_bytes());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"item": "lamp", "price": 12.5}));
}

/// The serde API against the live registry, and the broker's validation of
/// what it writes (through librdkafka, as Fjord's own producers send).
#[test]
fn serde_api_and_broker_validation() {
    use rdkafka::config::ClientConfig;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let s = Serve::start();
    let topic = "bids";
    let out = Command::new(FJORD)
        .args([
            "topic",
            "create",
            topic,
            "--bootstrap-servers",
            &s.kafka.to_string(),
        ])
        .args(["--config", "confluent.value.schema.validation=true"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let client = Arc::new(RegistryClient::new(&s.registry));
    let ser = AvroSerializer::new(client.clone(), format!("{topic}-value"), BID_V1).unwrap();
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Bid {
        item: String,
        price: f64,
    }
    let bid = Bid {
        item: "lamp".into(),
        price: 12.5,
    };
    let good = ser.serialize(&bid).unwrap();
    let de = AvroDeserializer::new(client.clone());
    assert_eq!(de.deserialize_into::<Bid>(&good).unwrap(), bid);
    let mut unregistered = good.clone();
    unregistered[1..5].copy_from_slice(&999i32.to_be_bytes());

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", s.kafka.to_string())
        .set("message.send.max.retries", "0")
        .set("enable.idempotence", "false")
        .set("linger.ms", "0")
        // Compressed batches: the broker decompresses to validate.
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let send = |value: &[u8]| {
        rt.block_on(producer.send(
            FutureRecord::<(), [u8]>::to(topic).payload(value),
            Duration::from_secs(30),
        ))
        .map(|delivered| delivered.offset)
        .map_err(|(e, _)| e)
    };
    assert_eq!(send(&good).unwrap(), 0);
    for bad in [&b"plain bytes"[..], &unregistered] {
        match send(bad) {
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord)) => {}
            other => panic!("expected INVALID_RECORD, got {other:?}"),
        }
    }
    // Nothing refused was stored: the next good value lands at offset 1.
    assert_eq!(send(&good).unwrap(), 1);

    // A schema registered later (a new version) is accepted at once.
    let v2 = AvroSerializer::new(client, format!("{topic}-value"), BID_V2).unwrap();
    let newer = v2
        .serialize_value(&apache_avro::types::Value::Record(vec![
            (
                "item".into(),
                apache_avro::types::Value::String("chair".into()),
            ),
            ("price".into(), apache_avro::types::Value::Double(40.0)),
            (
                "name".into(),
                apache_avro::types::Value::String("bob".into()),
            ),
        ]))
        .unwrap();
    assert_ne!(newer[1..5], good[1..5], "a new schema id");
    assert_eq!(send(&newer).unwrap(), 2);
}

/// Runs `fjord schema --registry R ARGS` with `input` on stdin.
fn piped(s: &Serve, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(FJORD)
        .args(["schema", "--registry", &s.registry])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn protobuf_framing_and_guid_headers() {
    let s = Serve::start();
    let proto = s.file(
        "bid.proto",
        "syntax = \"proto3\";\npackage auction;\nmessage Meta { string source = 1; }\nmessage Bid { string item = 1; double price = 2; }\n",
    );
    // Field 1 = "lamp": the second message of the file ([1]).
    let out = piped(
        &s,
        &[
            "encode",
            "p-value",
            "--file",
            &proto,
            "--message-indexes",
            "1",
        ],
        "0a046c616d70\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8(out.stdout).unwrap();
    // magic, 4-byte id, indexes [1] = count 1 (02), index 1 (02), message.
    assert_eq!(&hex[10..14], "0202", "{hex}");
    assert!(hex.trim_end().ends_with("0a046c616d70"), "{hex}");
    let out = piped(&s, &["decode"], &hex);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"message_indexes": [1], "payload_hex": "0a046c616d70"})
    );

    // The GUID form is parsed; this registry does not serve GUIDs, and
    // says so rather than failing obscurely.
    let guid = format!("01{}00", "ab".repeat(16));
    let out = piped(&s, &["decode"], &guid);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GUID"), "{err}");
    // Not framed at all.
    let out = piped(&s, &["decode"], "7b7d\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown magic byte 0x7b"), "{err}");
}

#[test]
fn references_and_json_validation() {
    let s = Serve::start();
    let item = s.file(
        "item.avsc",
        r#"{"type":"record","name":"Item","namespace":"auction","fields":[{"name":"title","type":"string"}]}"#,
    );
    let bid = s.file(
        "bid.avsc",
        r#"{"type":"record","name":"Bid","namespace":"auction","fields":[{"name":"item","type":"auction.Item"},{"name":"price","type":"double"}]}"#,
    );
    s.ok(&["register", "items-value", "--file", &item]);
    let reference = "auction.Item=items-value:1";
    let out = s.ok(&[
        "register",
        "bids-value",
        "--file",
        &bid,
        "--reference",
        reference,
    ]);
    assert!(out.contains("version 1"), "{out}");
    let got = s.ok(&["get", "bids-value"]);
    assert!(
        got.contains("ref:     auction.Item = items-value:1"),
        "{got}"
    );
    // The serializer resolves the reference through the registry.
    let value = r#"{"item":{"title":"lamp"},"price":3.5}"#;
    let out = piped(
        &s,
        &[
            "encode",
            "bids-value",
            "--file",
            &bid,
            "--reference",
            reference,
        ],
        value,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = piped(&s, &["decode"], &String::from_utf8(out.stdout).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::from_str::<serde_json::Value>(value).unwrap());

    // JSON Schema: a value that does not match is refused before writing.
    let schema = s.file(
        "bid.json",
        r#"{"type":"object","properties":{"price":{"type":"number"}},"required":["price"]}"#,
    );
    let out = piped(
        &s,
        &["encode", "j-value", "--file", &schema],
        r#"{"price":"high"}"#,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not match the JSON schema") && err.contains("/price"),
        "{err}"
    );
}
