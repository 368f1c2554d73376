//! The registry's operations: what each write request does to the store,
//! with Confluent's rules (same schema -> same id, compatibility against
//! earlier versions, soft before permanent deletes, references kept alive,
//! modes). Reads go straight to the state (see `http/`).
//!
//! Writes run on the elected writer only, one at a time: ids are computed
//! from the state, so two concurrent registrations must not both take the
//! next id. A new writer first reads the topic to its end (a NOOP barrier)
//! so it has seen every id the previous writer gave.

use std::collections::BTreeMap;
use std::sync::RwLockReadGuard;

use serde::Deserialize;

use crate::error::RegistryError;
use crate::schema::{self, CompatibilityLevel, ParsedSchema, Reference, SchemaType};
use crate::store::records::{ConfigValue, DeleteSubjectValue, ModeValue};
use crate::store::{KafkaStore, Mode, RecordKey, RefError, SchemaValue, State};

/// The body of register, look-up and compatibility requests.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SchemaRequest {
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(rename = "schemaType", default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<Reference>>,
    /// IMPORT mode only: the id and version to register under.
    #[serde(default)]
    pub id: Option<i32>,
    #[serde(default)]
    pub version: Option<i32>,
}

impl SchemaRequest {
    pub fn kind(&self) -> Result<SchemaType, RegistryError> {
        match self.schema_type.as_deref() {
            None => Ok(SchemaType::Avro),
            Some(t) => t
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| RegistryError::InvalidSchema(format!("Invalid schema type {t}"))),
        }
    }

    pub fn references(&self) -> &[Reference] {
        self.references.as_deref().unwrap_or_default()
    }

    fn text(&self) -> Result<&str, RegistryError> {
        match self.schema.as_deref() {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(RegistryError::InvalidSchema("Empty schema".to_string())),
        }
    }
}

/// Parses a request's schema with its references resolved from `state`.
pub fn parse_request(state: &State, req: &SchemaRequest) -> Result<ParsedSchema, RegistryError> {
    let kind = req.kind()?;
    let text = req.text()?;
    let resolved = state.resolve(req.references()).map_err(|e| match e {
        RefError::Missing(r) => RegistryError::InvalidSchema(format!(
            "Invalid schema: reference '{}' to subject '{}' version {} not found",
            r.name, r.subject, r.version
        )),
        RefError::Cycle(name) => {
            RegistryError::InvalidSchema(format!("Invalid schema: circular reference {name}"))
        }
    })?;
    schema::parse(kind, text, &resolved).map_err(|e| match e {
        schema::SchemaError::Invalid(_) => RegistryError::InvalidSchema(e.to_string()),
        other => RegistryError::InvalidSchema(format!("Invalid schema: {other}")),
    })
}

/// A stored version parsed again (its references resolved from `state`).
pub fn parse_stored(state: &State, v: &SchemaValue) -> Option<ParsedSchema> {
    let refs = state.resolve(&v.references).ok()?;
    schema::parse(v.kind(), &v.schema, &refs).ok()
}

/// The version of `subject` holding the same schema as `parsed`, if any.
pub fn find_in_subject<'a>(
    state: &'a State,
    subject: &str,
    parsed: &ParsedSchema,
    references: &[Reference],
    deleted: bool,
) -> Option<&'a SchemaValue> {
    let canonical = parsed.canonical();
    state
        .versions(subject, deleted)
        .into_iter()
        .rev()
        .find(|v| {
            v.kind() == parsed.kind()
                && v.references == references
                && parse_stored(state, v).is_some_and(|p| p.canonical() == canonical)
        })
}

/// Confluent's compatibility messages: per incompatibility
/// `{errorType:'..', description:'..', additionalInfo:'..'}`, then the old
/// version, the old schema and the level.
pub fn compatibility_messages(
    state: &State,
    subject: &str,
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[&SchemaValue],
) -> Vec<String> {
    let parsed: Vec<(i32, ParsedSchema)> = previous
        .iter()
        .filter_map(|v| parse_stored(state, v).map(|p| (v.version, p)))
        .collect();
    let refs: Vec<(i32, &ParsedSchema)> = parsed.iter().map(|(v, p)| (*v, p)).collect();
    let found = schema::check_compatibility(level, new, &refs);
    let mut by_version: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (version, inc) in found {
        by_version.entry(version).or_default().push(format!(
            "{{errorType:'{}', description:'{}', additionalInfo:'{}'}}",
            inc.error_type, inc.description, inc.additional_info
        ));
    }
    let mut out = Vec::new();
    for (version, mut msgs) in by_version {
        out.append(&mut msgs);
        out.push(format!("{{oldSchemaVersion: {version}}}"));
        if let Some(old) = state.version(subject, version) {
            out.push(format!("{{oldSchema: '{}'}}", old.schema));
        }
    }
    if !out.is_empty() {
        out.push(format!("{{compatibility: '{level}'}}"));
    }
    out
}

/// Parses a version path segment: a positive number, `latest` or -1.
pub enum VersionId {
    Latest,
    Number(i32),
}

pub fn parse_version(s: &str) -> Result<VersionId, RegistryError> {
    if s.eq_ignore_ascii_case("latest") {
        return Ok(VersionId::Latest);
    }
    match s.parse::<i32>() {
        Ok(-1) => Ok(VersionId::Latest),
        Ok(n) if n >= 1 => Ok(VersionId::Number(n)),
        _ => Err(RegistryError::InvalidVersion(s.to_string())),
    }
}

/// The registry: the store plus the write path.
pub struct Registry {
    store: KafkaStore,
    /// Serialises writes; holds the election generation this instance last
    /// synchronised at (None: not yet), so a new term starts with a barrier.
    write_lock: tokio::sync::Mutex<Option<u64>>,
}

impl Registry {
    pub fn new(store: KafkaStore) -> Registry {
        Registry {
            store,
            write_lock: tokio::sync::Mutex::new(None),
        }
    }

    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.store
            .state()
            .read()
            .expect("state lock is not poisoned")
    }

    /// Takes the write lock for term `generation`, reading the topic to its
    /// end first when this term has not yet done so.
    async fn begin_write(
        &self,
        generation: u64,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<u64>>, RegistryError> {
        let mut guard = self.write_lock.lock().await;
        if *guard != Some(generation) {
            self.store.barrier().await?;
            *guard = Some(generation);
        }
        Ok(guard)
    }

    /// POST /subjects/{subject}/versions. Returns the schema's id.
    pub async fn register(
        &self,
        generation: u64,
        subject: &str,
        req: &SchemaRequest,
    ) -> Result<i32, RegistryError> {
        validate_subject(subject)?;
        let _guard = self.begin_write(generation).await?;
        let value = {
            let state = self.state();
            let mode = state.mode(Some(subject));
            if mode == Mode::Readonly {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} is in read-only mode"
                )));
            }
            if req.id.is_some_and(|id| id >= 0) && mode != Mode::Import {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} is not in import mode"
                )));
            }
            let parsed = parse_request(&state, req)?;
            let references = req.references().to_vec();
            if let Some(existing) = find_in_subject(&state, subject, &parsed, &references, false) {
                if req.id.is_none_or(|id| id == existing.id) {
                    return Ok(existing.id);
                }
            }
            if mode != Mode::Import {
                let level = state.compatibility(Some(subject));
                let previous = state.versions(subject, false);
                let messages = compatibility_messages(&state, subject, level, &parsed, &previous);
                if !messages.is_empty() {
                    return Err(RegistryError::Incompatible(format!(
                        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                        messages.join(", ")
                    )));
                }
            }
            let id = match req.id.filter(|id| *id >= 0) {
                Some(id) => {
                    if let Some(entry) = state.ids.get(&id) {
                        let same = entry.kind == parsed.kind()
                            && entry.references == references
                            && state
                                .resolve(&entry.references)
                                .ok()
                                .and_then(|r| schema::parse(entry.kind, &entry.schema, &r).ok())
                                .is_some_and(|p| p.canonical() == parsed.canonical());
                        if !same {
                            return Err(RegistryError::IdDoesNotMatch(format!(
                                "Overwrite new schema with id {id} is not permitted."
                            )));
                        }
                    }
                    id
                }
                None => state
                    .id_for(&parsed, &references)
                    .unwrap_or(state.max_id + 1),
            };
            let version = match req.version.filter(|v| *v >= 1) {
                Some(v) if mode == Mode::Import => {
                    if state.version(subject, v).is_some_and(|old| old.id != id) {
                        return Err(RegistryError::OperationNotPermitted(format!(
                            "Version {v} of subject {subject} already exists with another id"
                        )));
                    }
                    v
                }
                _ => state.next_version(subject),
            };
            SchemaValue {
                subject: subject.to_string(),
                version,
                id,
                schema_type: (parsed.kind() != SchemaType::Avro).then_some(parsed.kind()),
                references,
                schema: parsed.text(),
                deleted: false,
            }
        };
        let id = value.id;
        self.store
            .write(
                &RecordKey::schema(subject, value.version),
                Some(serde_json::to_vec(&value).expect("serializes")),
            )
            .await?;
        Ok(id)
    }

    /// DELETE /subjects/{subject}: the versions deleted.
    pub async fn delete_subject(
        &self,
        generation: u64,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        let _guard = self.begin_write(generation).await?;
        let (live, all, config_set, mode_set) = {
            let state = self.state();
            if state.mode(Some(subject)) == Mode::Readonly {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} is in read-only mode"
                )));
            }
            let live: Vec<i32> = state
                .versions(subject, false)
                .iter()
                .map(|v| v.version)
                .collect();
            let all: Vec<i32> = state
                .versions(subject, true)
                .iter()
                .map(|v| v.version)
                .collect();
            if all.is_empty() {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            if !permanent && live.is_empty() {
                return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
            }
            if permanent && !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
            }
            for v in &all {
                if !state.referenced_by(subject, *v).is_empty() {
                    return Err(reference_exists(subject, *v));
                }
            }
            (
                live,
                all,
                state.configs.contains_key(subject),
                state.modes.contains_key(subject),
            )
        };
        if permanent {
            for v in &all {
                self.store
                    .write(&RecordKey::schema(subject, *v), None)
                    .await?;
            }
            return Ok(all);
        }
        let latest = *live.last().expect("live versions exist");
        let value = DeleteSubjectValue {
            subject: subject.to_string(),
            version: latest,
        };
        self.store
            .write(
                &RecordKey::DeleteSubject {
                    subject: subject.to_string(),
                    magic: 0,
                },
                Some(serde_json::to_vec(&value).expect("serializes")),
            )
            .await?;
        // As Confluent does, a deleted subject forgets its own level and mode.
        if config_set {
            self.store
                .write(&RecordKey::config(Some(subject)), None)
                .await?;
        }
        if mode_set {
            self.store
                .write(&RecordKey::mode(Some(subject)), None)
                .await?;
        }
        Ok(live)
    }

    /// DELETE /subjects/{subject}/versions/{version}: the version deleted.
    pub async fn delete_version(
        &self,
        generation: u64,
        subject: &str,
        version: &str,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        let version = parse_version(version)?;
        let _guard = self.begin_write(generation).await?;
        let value = {
            let state = self.state();
            if state.mode(Some(subject)) == Mode::Readonly {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} is in read-only mode"
                )));
            }
            if !state.has_subject(subject, true) {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            let found = match version {
                VersionId::Latest => state.latest(subject).or_else(|| {
                    // `latest` of a soft-deleted subject: its last version,
                    // so a permanent delete can follow a soft one.
                    if permanent {
                        state.versions(subject, true).into_iter().last()
                    } else {
                        None
                    }
                }),
                VersionId::Number(n) => state.version(subject, n),
            };
            let Some(found) = found else {
                return Err(RegistryError::VersionNotFound(match version {
                    VersionId::Latest => "latest".to_string(),
                    VersionId::Number(n) => n.to_string(),
                }));
            };
            if !permanent && found.deleted {
                return Err(RegistryError::VersionSoftDeleted(
                    subject.to_string(),
                    found.version,
                ));
            }
            if permanent && !found.deleted {
                return Err(RegistryError::VersionNotSoftDeleted(
                    subject.to_string(),
                    found.version,
                ));
            }
            if !state.referenced_by(subject, found.version).is_empty() {
                return Err(reference_exists(subject, found.version));
            }
            found.clone()
        };
        let key = RecordKey::schema(subject, value.version);
        if permanent {
            self.store.write(&key, None).await?;
        } else {
            let deleted = SchemaValue {
                deleted: true,
                ..value.clone()
            };
            self.store
                .write(
                    &key,
                    Some(serde_json::to_vec(&deleted).expect("serializes")),
                )
                .await?;
        }
        Ok(value.version)
    }

    /// PUT /config[/{subject}].
    pub async fn set_config(
        &self,
        generation: u64,
        subject: Option<&str>,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let _guard = self.begin_write(generation).await?;
        let value = ConfigValue {
            compatibility_level: Some(level),
        };
        self.store
            .write(
                &RecordKey::config(subject),
                Some(serde_json::to_vec(&value).expect("serializes")),
            )
            .await?;
        Ok(())
    }

    /// DELETE /config[/{subject}]: the level that was set.
    pub async fn delete_config(
        &self,
        generation: u64,
        subject: Option<&str>,
    ) -> Result<CompatibilityLevel, RegistryError> {
        let _guard = self.begin_write(generation).await?;
        let previous = {
            let state = self.state();
            match subject {
                Some(s) => {
                    if !state.has_subject(s, true) && !state.configs.contains_key(s) {
                        return Err(RegistryError::SubjectNotFound(s.to_string()));
                    }
                    state.compatibility(Some(s))
                }
                None => state.compatibility(None),
            }
        };
        self.store.write(&RecordKey::config(subject), None).await?;
        Ok(previous)
    }

    /// PUT /mode[/{subject}].
    pub async fn set_mode(
        &self,
        generation: u64,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<(), RegistryError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let _guard = self.begin_write(generation).await?;
        if mode == Mode::Import && !force {
            let state = self.state();
            let has_schemas = match subject {
                Some(s) => state.has_subject(s, false),
                None => state.subjects.keys().any(|s| state.has_subject(s, false)),
            };
            if has_schemas {
                return Err(RegistryError::OperationNotPermitted(
                    "Cannot import since found existing subjects".to_string(),
                ));
            }
        }
        self.store
            .write(
                &RecordKey::mode(subject),
                Some(serde_json::to_vec(&ModeValue { mode }).expect("serializes")),
            )
            .await?;
        Ok(())
    }

    /// DELETE /mode/{subject}: the mode that was set.
    pub async fn delete_mode(&self, generation: u64, subject: &str) -> Result<Mode, RegistryError> {
        let _guard = self.begin_write(generation).await?;
        let previous = {
            let state = self.state();
            if !state.has_subject(subject, true) && !state.modes.contains_key(subject) {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            state.mode(Some(subject))
        };
        self.store
            .write(&RecordKey::mode(Some(subject)), None)
            .await?;
        Ok(previous)
    }
}

fn reference_exists(subject: &str, version: i32) -> RegistryError {
    RegistryError::ReferenceExists(format!(
        "One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={version}}}."
    ))
}

/// Confluent refuses empty subjects and control characters.
fn validate_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty() || subject.chars().any(|c| c.is_control()) {
        return Err(RegistryError::InvalidSubject(format!(
            "The specified subject '{subject}' is not a valid."
        )));
    }
    Ok(())
}
