//! Helpers shared by the topology tests: feeding a task and reading what
//! it wrote.
#![allow(dead_code)] // each test file uses some of them

use fjord_streams::*;

pub fn feed(task: &mut Task, topic: &str, records: &[(&str, &str, i64)]) -> Vec<Output> {
    let mut out = Vec::new();
    for (i, (k, v, ts)) in records.iter().enumerate() {
        out.extend(
            task.process(
                topic,
                0,
                i as i64,
                Some(k.as_bytes()),
                Some(v.as_bytes()),
                *ts,
                vec![],
            )
            .unwrap(),
        );
    }
    out
}

pub fn text(b: &Option<bytes::Bytes>) -> String {
    String::from_utf8(b.as_deref().unwrap_or_default().to_vec()).unwrap()
}

/// (topic, key, value) of each output, as text.
pub fn rows(out: &[Output]) -> Vec<(String, String, String)> {
    out.iter()
        .map(|o| (o.topic.clone(), text(&o.key), text(&o.value)))
        .collect()
}

pub fn price(r: &Record) -> i64 {
    r.value.field("price").and_then(Value::as_i64).unwrap_or(0)
}
