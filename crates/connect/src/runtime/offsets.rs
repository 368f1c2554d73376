//! Source offsets: where each source task's partitions (a file, a table)
//! have got to. Distributed workers keep them in the `connect-offsets`
//! topic under Kafka Connect's record layout — key
//! `["<connector>",{<partition>}]`, value `{<offset>}` as schemaless JSON,
//! a null value erasing one — so the source resumes on whichever worker
//! runs it next. A standalone worker keeps them in a JSON file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;
use serde_json::{Map, Value as Json};

use crate::connector::StoredOffsets;
use crate::error::{ConnectError, Result};
use crate::runtime::kafka;

/// One partition's offset; None erases it.
pub type OffsetEntry = (Map<String, Json>, Option<Map<String, Json>>);

#[async_trait]
pub trait OffsetStore: Send + Sync {
    /// The connector's stored offsets, as of now.
    async fn read(&self, connector: &str) -> Result<StoredOffsets>;
    async fn write(&self, connector: &str, entries: &[OffsetEntry]) -> Result<()>;
    /// The offsets topic, when offsets live in Kafka (exactly-once sources
    /// write them inside their own transactions).
    fn topic(&self) -> Option<&str> {
        None
    }
}

/// The record key Kafka Connect uses for a connector's source partition.
pub fn record_key(connector: &str, partition: &Map<String, Json>) -> Vec<u8> {
    serde_json::to_vec(&Json::Array(vec![
        Json::String(connector.to_string()),
        Json::Object(partition.clone()),
    ]))
    .expect("JSON values serialize")
}

/// Parses a key written by [`record_key`] (or by Kafka Connect).
fn parse_key(key: &[u8]) -> Option<(String, Map<String, Json>)> {
    match serde_json::from_slice::<Json>(key).ok()? {
        Json::Array(mut parts) if parts.len() == 2 => {
            let partition = match parts.pop()? {
                Json::Object(m) => m,
                _ => return None,
            };
            let connector = parts.pop()?.as_str()?.to_string();
            Some((connector, partition))
        }
        _ => None,
    }
}

/// Standalone mode's `offset.storage.file.filename`, rewritten whole on
/// every write (write to a temp file, fsync, rename).
pub struct FileOffsetStore {
    path: PathBuf,
    state: Mutex<BTreeMap<String, StoredOffsets>>,
}

impl FileOffsetStore {
    pub fn open(path: PathBuf) -> Result<FileOffsetStore> {
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ConnectError::External(format!(
                    "the offsets file {} is not Fjord's JSON: {e}",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(FileOffsetStore {
            path,
            state: Mutex::new(state),
        })
    }
}

#[async_trait]
impl OffsetStore for FileOffsetStore {
    async fn read(&self, connector: &str) -> Result<StoredOffsets> {
        Ok(self
            .state
            .lock()
            .expect("offsets lock")
            .get(connector)
            .cloned()
            .unwrap_or_default())
    }

    async fn write(&self, connector: &str, entries: &[OffsetEntry]) -> Result<()> {
        let bytes = {
            let mut state = self.state.lock().expect("offsets lock");
            let list = state.entry(connector.to_string()).or_default();
            for (partition, offset) in entries {
                list.retain(|(p, _)| p != partition);
                if let Some(offset) = offset {
                    list.push((partition.clone(), offset.clone()));
                }
            }
            if list.is_empty() {
                state.remove(connector);
            }
            serde_json::to_vec_pretty(&*state).expect("JSON values serialize")
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|e| ConnectError::External(e.to_string()))??;
        Ok(())
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The `connect-offsets` topic.
pub struct TopicOffsetStore {
    topic: String,
    client: ClientConfig,
    producer: FutureProducer,
}

impl TopicOffsetStore {
    /// Creates the topic if needed (compacted, `offset.storage.partitions`
    /// partitions, 25 by default as in Kafka Connect).
    pub async fn open(
        client: ClientConfig,
        topic: &str,
        partitions: i32,
        replication: i32,
    ) -> Result<TopicOffsetStore> {
        kafka::ensure_compacted_topic(&client, topic, partitions, replication).await?;
        let producer = kafka::store_producer(&client)?;
        Ok(TopicOffsetStore {
            topic: topic.to_string(),
            client,
            producer,
        })
    }
}

#[async_trait]
impl OffsetStore for TopicOffsetStore {
    async fn read(&self, connector: &str) -> Result<StoredOffsets> {
        let (client, topic) = (self.client.clone(), self.topic.clone());
        let records = tokio::task::spawn_blocking(move || kafka::read_to_end(&client, &topic))
            .await
            .map_err(|e| ConnectError::External(e.to_string()))??;
        // The last record per partition key wins, as compaction keeps it.
        let mut latest: Vec<(Map<String, Json>, Option<Map<String, Json>>)> = Vec::new();
        for record in records {
            let Some((name, partition)) = record.key.as_deref().and_then(parse_key) else {
                continue;
            };
            if name != connector {
                continue;
            }
            let offset = record
                .value
                .and_then(|v| match serde_json::from_slice::<Json>(&v) {
                    Ok(Json::Object(m)) => Some(m),
                    _ => None,
                });
            latest.retain(|(p, _)| *p != partition);
            latest.push((partition, offset));
        }
        Ok(latest
            .into_iter()
            .filter_map(|(p, o)| o.map(|o| (p, o)))
            .collect())
    }

    async fn write(&self, connector: &str, entries: &[OffsetEntry]) -> Result<()> {
        for (partition, offset) in entries {
            let value = offset
                .as_ref()
                .map(|o| serde_json::to_vec(o).expect("JSON values serialize"));
            kafka::write(
                &self.producer,
                &self.topic,
                None,
                &record_key(connector, partition),
                value.as_deref(),
            )
            .await?;
        }
        Ok(())
    }

    fn topic(&self) -> Option<&str> {
        Some(&self.topic)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn keys_have_kafka_connects_layout() {
        let key = record_key(
            "local-file-source",
            &map(json!({"filename": "/tmp/test.txt"})),
        );
        assert_eq!(
            String::from_utf8(key.clone()).unwrap(),
            r#"["local-file-source",{"filename":"/tmp/test.txt"}]"#
        );
        assert_eq!(parse_key(&key).unwrap().0, "local-file-source");
    }

    #[tokio::test]
    async fn the_offsets_file_survives_a_reopen_and_erases_on_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connect.offsets");
        let store = FileOffsetStore::open(path.clone()).unwrap();
        let a = map(json!({"filename": "a"}));
        let b = map(json!({"filename": "b"}));
        store
            .write(
                "src",
                &[
                    (a.clone(), Some(map(json!({"position": 10})))),
                    (b.clone(), Some(map(json!({"position": 3})))),
                ],
            )
            .await
            .unwrap();
        store
            .write(
                "src",
                &[(a.clone(), Some(map(json!({"position": 20})))), (b, None)],
            )
            .await
            .unwrap();
        let reopened = FileOffsetStore::open(path).unwrap();
        assert_eq!(
            reopened.read("src").await.unwrap(),
            vec![(a, map(json!({"position": 20})))]
        );
        assert!(reopened.read("other").await.unwrap().is_empty());
    }
}
