//! Tests of the chain: `transforms.*` and `predicates.*` parsing, predicate
//! gating with `negate`, and errors naming the full key.

use super::*;
use crate::data::Value;
use crate::record::Header;

fn record(topic: &str, value: Value) -> ConnectRecord {
    ConnectRecord::new(topic, None, Value::Null, None, value)
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

#[test]
fn kafkas_file_source_example_chain_runs_in_order() {
    // Kafka's documentation, "Transformations" (connect_transforms): the
    // file source example wraps each line in a map, then adds a field.
    let config = Config::from_properties(
        "transforms=MakeMap, InsertSource\n\
         transforms.MakeMap.type=org.apache.kafka.connect.transforms.HoistField$Value\n\
         transforms.MakeMap.field=line\n\
         transforms.InsertSource.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
         transforms.InsertSource.static.field=data_source\n\
         transforms.InsertSource.static.value=test-file-source\n",
    );
    let mut chain = TransformChain::from_config(&config).unwrap();
    let out = chain
        .apply(record("connect-test", Value::from("hello")))
        .unwrap()
        .unwrap();
    assert_eq!(
        out.value,
        map(&[
            ("line", Value::from("hello")),
            ("data_source", Value::from("test-file-source")),
        ])
    );
}

#[test]
fn kafkas_predicate_example_filters_and_negates() {
    // Kafka's documentation, "Predicates": drop topic foo entirely, and
    // extract other_field from the key of every topic except bar.
    let config = Config::from_properties(
        "transforms=Filter,Extract\n\
         transforms.Filter.type=org.apache.kafka.connect.transforms.Filter\n\
         transforms.Filter.predicate=IsFoo\n\
         transforms.Extract.type=org.apache.kafka.connect.transforms.ExtractField$Key\n\
         transforms.Extract.field=other_field\n\
         transforms.Extract.predicate=IsBar\n\
         transforms.Extract.negate=true\n\
         predicates=IsFoo,IsBar\n\
         predicates.IsFoo.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches\n\
         predicates.IsFoo.pattern=foo\n\
         predicates.IsBar.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches\n\
         predicates.IsBar.pattern=bar\n",
    );
    let mut chain = TransformChain::from_config(&config).unwrap();
    let keyed = |topic: &str| {
        let mut r = record(topic, Value::from("v"));
        r.key = map(&[("other_field", Value::Int64(7))]);
        r
    };
    assert_eq!(chain.apply(keyed("foo")).unwrap(), None);
    assert_eq!(
        chain.apply(keyed("baz")).unwrap().unwrap().key,
        Value::Int64(7)
    );
    let bar = chain.apply(keyed("bar")).unwrap().unwrap();
    assert_eq!(bar.key, map(&[("other_field", Value::Int64(7))]));
    // The pattern must match the whole name, as Java's matches().
    assert!(chain.apply(keyed("foobar")).unwrap().is_some());
}

#[test]
fn tombstones_and_headers_gate_transforms() {
    let config = Config::from_pairs([
        ("transforms", "dropTombstones,dropTraced"),
        (
            "transforms.dropTombstones.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.dropTombstones.predicate", "isTombstone"),
        (
            "transforms.dropTraced.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.dropTraced.predicate", "hasTrace"),
        ("transforms.dropTraced.negate", "false"),
        ("predicates", "isTombstone,hasTrace"),
        (
            "predicates.isTombstone.type",
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        ),
        (
            "predicates.hasTrace.type",
            "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        ),
        ("predicates.hasTrace.name", "trace-id"),
    ]);
    let mut chain = TransformChain::from_config(&config).unwrap();
    assert_eq!(chain.apply(record("t", Value::Null)).unwrap(), None);
    let mut traced = record("t", Value::from("x"));
    traced.headers.push(Header {
        key: "trace-id".into(),
        value: Some(b"1".to_vec()),
    });
    assert_eq!(chain.apply(traced).unwrap(), None);
    assert!(chain
        .apply(record("t", Value::from("x")))
        .unwrap()
        .is_some());
}

#[test]
fn a_failing_stage_is_named() {
    let config = Config::from_pairs([
        ("transforms", "extract"),
        (
            "transforms.extract.type",
            "org.apache.kafka.connect.transforms.ExtractField$Value",
        ),
        ("transforms.extract.field", "id"),
    ]);
    let mut chain = TransformChain::from_config(&config).unwrap();
    let failure = chain
        .apply_traced(record("t", Value::from("not a map")))
        .unwrap_err();
    assert_eq!(failure.alias, "extract");
    assert_eq!(
        failure.class,
        "org.apache.kafka.connect.transforms.ExtractField$Value"
    );
    assert_eq!(
        failure.error.to_string(),
        "transformation failed: Only Map objects supported in absence of schema for \
         [field extraction], found: java.lang.String"
    );
}

#[test]
fn a_chain_without_transforms_passes_records_through() {
    let mut chain = TransformChain::from_config(&Config::default()).unwrap();
    assert!(chain.is_empty());
    let r = record("t", Value::from("x"));
    assert_eq!(chain.apply(r.clone()).unwrap(), Some(r));
}

#[test]
fn simple_names_are_accepted_as_aliases() {
    let config = Config::from_pairs([
        ("transforms", "route"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", "(.*)"),
        ("transforms.route.replacement", "$1-copy"),
    ]);
    let mut chain = TransformChain::from_config(&config).unwrap();
    assert_eq!(
        chain
            .apply(record("a", Value::Null))
            .unwrap()
            .unwrap()
            .topic,
        "a-copy"
    );
}

fn config_error(config: Config) -> (String, String) {
    match TransformChain::from_config(&config) {
        Err(ConnectError::Config { key, message, .. }) => (key, message),
        Err(other) => panic!("not a config error: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn an_unknown_class_names_the_key_and_lists_the_built_ins() {
    let (key, message) = config_error(Config::from_pairs([
        ("transforms", "unwrap"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
    ]));
    assert_eq!(key, "transforms.unwrap.type");
    assert!(message.contains("io.debezium.transforms.ExtractNewRecordState could not be found"));
    assert!(message.contains("org.apache.kafka.connect.transforms.InsertField$Value"));
    let (key, message) = config_error(Config::from_pairs([
        ("predicates", "p"),
        ("predicates.p.type", "com.example.IsImportant"),
    ]));
    assert_eq!(key, "predicates.p.type");
    assert!(message.contains("org.apache.kafka.connect.transforms.predicates.HasHeaderKey"));
}

#[test]
fn bad_settings_are_refused_when_built_with_their_full_key() {
    let (key, message) = config_error(Config::from_pairs([
        ("transforms", "route"),
        (
            "transforms.route.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.route.regex", "(unclosed"),
        ("transforms.route.replacement", "x"),
    ]));
    assert_eq!(key, "transforms.route.regex");
    assert!(message.starts_with("Invalid regex"), "{message}");

    let (key, _) = config_error(Config::from_pairs([("transforms", "a")]));
    assert_eq!(key, "transforms.a.type");

    let (key, message) = config_error(Config::from_pairs([
        ("transforms", "a"),
        (
            "transforms.a.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.a.predicate", "nope"),
    ]));
    assert_eq!(key, "transforms.a.predicate");
    assert!(message.contains("not declared"), "{message}");

    let (key, _) = config_error(Config::from_pairs([
        ("transforms", "a"),
        (
            "transforms.a.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.a.predicate", "p"),
        ("transforms.a.negate", "maybe"),
        ("predicates", "p"),
        (
            "predicates.p.type",
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        ),
    ]));
    assert_eq!(key, "transforms.a.negate");

    let (key, _) = config_error(Config::from_pairs([
        ("predicates", "p"),
        (
            "predicates.p.type",
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        ),
    ]));
    assert_eq!(key, "predicates.p.pattern");

    let (key, message) = config_error(Config::from_pairs([
        ("transforms", "a,a"),
        (
            "transforms.a.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
    ]));
    assert_eq!(key, "transforms");
    assert!(message.contains("Duplicate alias"));
}

#[test]
fn every_built_in_class_has_a_config_def() {
    for class in transform_class_names()
        .iter()
        .chain(&predicate_class_names())
    {
        assert!(config_def_for(class).is_some(), "{class}");
    }
    assert!(config_def_for("com.example.Nope").is_none());
    let def = config_def_for("org.apache.kafka.connect.transforms.Cast$Value").unwrap();
    assert!(def.key("spec").is_some());
}

#[test]
fn the_chain_config_def_reports_prefixed_keys() {
    let config = Config::from_pairs([
        ("transforms", "route,bad"),
        (
            "transforms.route.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.route.regex", "(unclosed"),
        ("transforms.bad.type", "com.example.Nope"),
        ("predicates", "p"),
        (
            "predicates.p.type",
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        ),
        ("predicates.p.pattern", "x.*"),
    ]);
    let def = chain_config_def(&config);
    let (report, errors) = def.validate(&config);
    let names: Vec<&str> = report
        .iter()
        .map(|r| r["definition"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"transforms.route.regex"));
    assert!(names.contains(&"transforms.route.replacement"));
    assert!(names.contains(&"predicates.p.pattern"));
    // The bad regex, the missing replacement, the unknown class.
    assert_eq!(errors, 3, "{report:#?}");
}
