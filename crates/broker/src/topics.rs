//! The topic catalogue: which topics exist, their ids, partitions and
//! configs, persisted under `<data>/meta/topics/<name>.json`.
//!
//! Invariants:
//! - a `Topic` value is immutable; every change (new partitions, new configs)
//!   publishes a new `Arc<Topic>`, so readers never see a half-made change;
//! - the metadata file is written (atomically: temp file, fsync, rename,
//!   fsync dir) before a created topic becomes visible, and removed before a
//!   deleted topic's partition directories are, so a crash mid-way leaves at
//!   worst orphan directories, never a topic without its data;
//! - mutations are serialized by `admin`; lookups take only a read lock.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use fjord_log::{FileSystem, LogConfig, Partition};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{BrokerError, Result};
use crate::internal_topic::{is_broker_internal, refuse_client_change};

/// Kafka's limit on topic name length (so `<name>-<partition>` fits in a
/// file name with room for the partition number).
const MAX_TOPIC_NAME_LEN: usize = 249;

/// One topic as clients see it.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Arc<Partition>>,
    pub config: LogConfig,
}

/// What is persisted for a topic.
#[derive(Serialize, Deserialize)]
struct TopicMeta {
    name: String,
    id: Uuid,
    partitions: i32,
    /// Topic-level overrides only; defaults come from the broker config.
    configs: BTreeMap<String, String>,
}

#[derive(Default)]
struct Catalogue {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, String>,
}

pub struct Topics {
    data_dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    defaults: LogConfig,
    catalogue: RwLock<Catalogue>,
    /// Serializes create/delete/alter so two admin calls never interleave.
    admin: Mutex<()>,
    /// Schema ids registered per subject, read from `_schemas` by topics
    /// with schema validation on (see `schema_validation`).
    pub schema_ids: crate::schema_validation::SchemaIds,
}

impl Topics {
    /// Loads every persisted topic and opens (recovers) its partitions.
    pub fn open(data_dir: &Path, defaults: LogConfig, fs: Arc<dyn FileSystem>) -> Result<Topics> {
        let meta_dir = data_dir.join("meta").join("topics");
        std::fs::create_dir_all(&meta_dir)
            .map_err(|e| BrokerError::io(format!("creating {}", meta_dir.display()), e))?;
        let topics = Topics {
            data_dir: data_dir.to_path_buf(),
            fs,
            defaults,
            catalogue: RwLock::new(Catalogue::default()),
            admin: Mutex::new(()),
            schema_ids: Default::default(),
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&meta_dir)
            .map_err(|e| BrokerError::io(format!("listing {}", meta_dir.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        entries.sort();
        for path in entries {
            let meta = read_meta(&path)?;
            let topic = topics.open_topic(&meta)?;
            topics.publish(Arc::new(topic));
        }
        topics.sweep_leftovers()?;
        Ok(topics)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.catalogue.read().unwrap().by_name.get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        let cat = self.catalogue.read().unwrap();
        cat.by_id.get(&id).and_then(|n| cat.by_name.get(n)).cloned()
    }

    /// All topics, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self
            .catalogue
            .read()
            .unwrap()
            .by_name
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        let t = self
            .get(topic)
            .ok_or_else(|| BrokerError::UnknownTopic(topic.to_string()))?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p).cloned())
            .ok_or_else(|| BrokerError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// The broker-wide defaults that topics without overrides use.
    pub fn defaults(&self) -> &LogConfig {
        &self.defaults
    }

    /// Validates and (unless `validate_only`) creates a topic.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        max_partitions: i32,
        validate_only: bool,
    ) -> Result<Arc<Topic>> {
        validate_topic_name(name)?;
        if partitions < 1 || partitions > max_partitions {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {max_partitions}, got {partitions}"
            )));
        }
        let config = self.config_with(&configs)?;
        let _admin = self.admin.lock().unwrap();
        if self.get(name).is_some() {
            return Err(BrokerError::TopicExists(name.to_string()));
        }
        let meta = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(Arc::new(Topic {
                name: meta.name,
                id: meta.id,
                partitions: Vec::new(),
                config,
            }));
        }
        self.write_meta(&meta)?;
        let topic = Arc::new(self.open_topic(&meta)?);
        self.publish(topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// The compacted internal topic `name` (`__consumer_offsets`,
    /// `__transaction_state`): created with `partitions` partitions unless
    /// it exists. Two first users may race to create it; the loser takes
    /// the topic the winner made.
    pub fn ensure_compacted_internal(&self, name: &str, partitions: i32) -> Result<Arc<Topic>> {
        let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        match self.create(name, partitions, configs, i32::MAX, false) {
            Ok(t) => Ok(t),
            Err(BrokerError::TopicExists(_)) => self
                .get(name)
                .ok_or_else(|| BrokerError::UnknownTopic(name.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Deletes a topic and its data, durably and in an order a crash
    /// cannot undo halfway: the metadata file goes first (with a directory
    /// fsync, which commits the deletion), then each partition directory
    /// is renamed aside (`<dir>.<topic id>-delete`, as Kafka does) and
    /// removed. A crash anywhere after the commit leaves directories that
    /// `open` removes at the next start ([`Topics::sweep_leftovers`]), so a
    /// topic created later under the same name never finds old data.
    pub fn delete(&self, name: &str) -> Result<Uuid> {
        refuse_client_change(name, "delete")?;
        let _admin = self.admin.lock().unwrap();
        let topic = self
            .get(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        let meta_path = self.meta_path(name);
        std::fs::remove_file(&meta_path)
            .map_err(|e| BrokerError::io(format!("removing {}", meta_path.display()), e))?;
        crate::durable_file::sync_dir(meta_path.parent().unwrap_or(&self.data_dir))?;
        {
            let mut cat = self.catalogue.write().unwrap();
            cat.by_name.remove(name);
            cat.by_id.remove(&topic.id);
        }
        let mut doomed = Vec::new();
        for (i, p) in topic.partitions.iter().enumerate() {
            if let Err(e) = p.close() {
                tracing::warn!(topic = name, partition = i, error = %e, "closing deleted partition");
            }
            let dir = self.partition_dir(name, i as i32);
            let aside = PathBuf::from(format!(
                "{}.{}{DELETE_SUFFIX}",
                dir.display(),
                topic.id.simple()
            ));
            match std::fs::rename(&dir, &aside) {
                Ok(()) => doomed.push(aside),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "renaming a deleted partition aside")
                }
            }
        }
        if let Err(e) = crate::durable_file::sync_dir(&self.data_dir) {
            // The deletion is committed; a leftover is swept at start.
            tracing::warn!(error = %e, "syncing the data dir after a topic deletion");
        }
        for dir in doomed {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "removing deleted partition");
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Removes what an interrupted deletion or partition increase left in
    /// the data dir: directories renamed aside for deletion, partition
    /// directories of topics that no longer exist, and partition
    /// directories past a topic's partition count (created by an increase
    /// whose metadata was never written). The metadata files are the
    /// truth: a topic's metadata is written before its partitions exist,
    /// and removed before they are.
    fn sweep_leftovers(&self) -> Result<()> {
        let entries = std::fs::read_dir(&self.data_dir)
            .map_err(|e| BrokerError::io(format!("listing {}", self.data_dir.display()), e))?;
        let mut removed = false;
        for entry in entries.filter_map(|e| e.ok()) {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = |dir: &Path| {
                parse_partition_dir(&name).is_some_and(|(topic, index)| {
                    self.get(topic).is_none_or(|t| index >= t.partitions.len())
                }) && holds_segments(dir)
            };
            // Only directories that hold Fjord segments: a data dir that
            // also holds someone's `notes-2024` keeps it.
            let leftover = (name.ends_with(DELETE_SUFFIX) && holds_segments(&entry.path()))
                || orphan(&entry.path());
            if !leftover {
                continue;
            }
            tracing::warn!(dir = %entry.path().display(), "removing a partition left by an interrupted topic deletion or partition increase");
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| BrokerError::io(format!("removing {}", entry.path().display()), e))?;
            removed = true;
        }
        if removed {
            crate::durable_file::sync_dir(&self.data_dir)?;
        }
        Ok(())
    }

    /// Grows a topic to `total` partitions (Kafka never shrinks a topic).
    pub fn add_partitions(
        &self,
        name: &str,
        total: i32,
        max: i32,
        validate_only: bool,
    ) -> Result<()> {
        refuse_client_change(name, "add partitions to")?;
        let _admin = self.admin.lock().unwrap();
        let topic = self
            .get(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        if total <= current {
            return Err(BrokerError::InvalidPartitions(format!(
                "topic '{name}' has {current} partitions; the new count must be larger, got {total}"
            )));
        }
        if total > max {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions must be at most {max}, got {total}"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let meta = TopicMeta {
            name: topic.name.clone(),
            id: topic.id,
            partitions: total,
            configs: topic.config.overrides().clone(),
        };
        let mut partitions = topic.partitions.clone();
        for i in current..total {
            partitions.push(Arc::new(self.open_partition(name, i, &topic.config)?));
        }
        self.write_meta(&meta)?;
        self.publish(Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions,
            config: topic.config.clone(),
        }));
        tracing::info!(topic = name, from = current, to = total, "added partitions");
        Ok(())
    }

    /// Replaces a topic's config overrides (validated first; applied to
    /// every partition at once, at run time).
    pub fn set_configs(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<()> {
        // The coordinators' state is kept by compaction: a delete policy
        // (or AlterConfigs replacing the overrides without it) would let
        // retention remove committed offsets and transaction states.
        if is_broker_internal(name)
            && overrides.get("cleanup.policy").map(String::as_str) != Some("compact")
        {
            return Err(BrokerError::InvalidConfig {
                key: "cleanup.policy".to_string(),
                reason: format!("internal topic '{name}' must stay compact"),
            });
        }
        let config = self.config_with(&overrides)?;
        let _admin = self.admin.lock().unwrap();
        let topic = self
            .get(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let meta = TopicMeta {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            configs: overrides,
        };
        self.write_meta(&meta)?;
        for p in &topic.partitions {
            p.set_config(config.clone());
        }
        self.publish(Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.clone(),
            config,
        }));
        tracing::info!(topic = name, "changed topic configs");
        Ok(())
    }

    /// Flushes and closes every partition (clean shutdown).
    pub fn close_all(&self) {
        for topic in self.list() {
            for (i, p) in topic.partitions.iter().enumerate() {
                if let Err(e) = p.close() {
                    tracing::error!(topic = %topic.name, partition = i, error = %e, "close failed");
                }
            }
        }
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    fn config_with(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        LogConfig::with_overrides(&self.defaults, overrides).map_err(BrokerError::from)
    }

    fn publish(&self, topic: Arc<Topic>) {
        self.schema_ids.note_topic_config(&topic.config);
        let mut cat = self.catalogue.write().unwrap();
        cat.by_id.insert(topic.id, topic.name.clone());
        cat.by_name.insert(topic.name.clone(), topic);
    }

    fn open_topic(&self, meta: &TopicMeta) -> Result<Topic> {
        let config = self.config_with(&meta.configs)?;
        let partitions = (0..meta.partitions)
            .map(|i| self.open_partition(&meta.name, i, &config).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Topic {
            name: meta.name.clone(),
            id: meta.id,
            partitions,
            config,
        })
    }

    fn open_partition(&self, topic: &str, index: i32, config: &LogConfig) -> Result<Partition> {
        Ok(Partition::open(
            self.partition_dir(topic, index),
            config.clone(),
            self.fs.clone(),
        )?)
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.data_dir
            .join("meta")
            .join("topics")
            .join(format!("{name}.json"))
    }

    fn write_meta(&self, meta: &TopicMeta) -> Result<()> {
        let path = self.meta_path(&meta.name);
        let json = serde_json::to_vec_pretty(meta).expect("topic metadata serializes");
        crate::durable_file::write_atomic(&path, &json)
    }
}

/// Suffix of a partition directory renamed aside for deletion.
const DELETE_SUFFIX: &str = "-delete";

/// Whether `dir` holds a log segment (`<20-digit base offset>.log`), as
/// every partition directory does from its creation on.
fn holds_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_suffix(".log")
                .is_some_and(|stem| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// (topic, partition) of a partition directory's name, `<topic>-<index>`.
fn parse_partition_dir(name: &str) -> Option<(&str, usize)> {
    let (topic, index) = name.rsplit_once('-')?;
    if topic.is_empty() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic, index.parse().ok()?))
}

fn read_meta(path: &Path) -> Result<TopicMeta> {
    let bytes = std::fs::read(path)
        .map_err(|e| BrokerError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&bytes).map_err(|e| BrokerError::CorruptMetadata {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Kafka's topic-name rules: 1..=249 characters of [a-zA-Z0-9._-], and not
/// "." or "..".
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| {
        Err(BrokerError::InvalidTopicName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("longer than 249 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("streamPayment").is_ok());
        assert!(validate_topic_name("a.b_c-9").is_ok());
        for bad in ["", ".", "..", "a b", "a/b", "ü", &"x".repeat(250)] {
            assert!(
                validate_topic_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
