//! The registry's state as read from `_schemas`: every subject's versions,
//! the schemas by id, compatibility levels and modes.
//!
//! Only the reader of the topic changes it (through [`State::apply`]), so
//! every instance on the same topic converges to the same state, and a
//! restart rebuilds it by reading the topic from the beginning.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::schema::{self, CompatibilityLevel, ParsedSchema, Reference, ResolvedReference};

use super::records::{ConfigValue, DeleteSubjectValue, Mode, ModeValue, RecordKey, SchemaValue};

/// One registered schema (an id), shared by every subject version that
/// registered it.
#[derive(Debug, Clone)]
pub struct IdEntry {
    pub kind: schema::SchemaType,
    pub schema: String,
    pub references: Vec<Reference>,
    /// (subject, version) pairs registered with this id.
    pub uses: BTreeSet<(String, i32)>,
}

#[derive(Debug, Default)]
pub struct State {
    /// subject -> version -> value (soft-deleted versions included).
    pub subjects: BTreeMap<String, BTreeMap<i32, SchemaValue>>,
    pub ids: BTreeMap<i32, IdEntry>,
    /// The highest id ever seen, so a permanently deleted id is not reused
    /// while this instance runs.
    pub max_id: i32,
    /// (kind, canonical form, references) -> id: the same schema gets the
    /// same id in every subject.
    fingerprints: HashMap<String, i32>,
    pub global_config: Option<CompatibilityLevel>,
    pub configs: BTreeMap<String, CompatibilityLevel>,
    pub global_mode: Option<Mode>,
    pub modes: BTreeMap<String, Mode>,
}

/// Why a reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// The referenced subject version does not exist (or is deleted).
    Missing(Reference),
    /// References loop back on themselves.
    Cycle(String),
}

impl State {
    /// Applies one record of the topic. `value` is None for a tombstone.
    /// Records that do not parse are skipped (another registry's key types).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Ok(key) = serde_json::from_slice::<RecordKey>(key) else {
            tracing::debug!(key = %String::from_utf8_lossy(key), "skipping an unknown _schemas key");
            return;
        };
        match key {
            RecordKey::Schema {
                subject, version, ..
            } => match value.map(serde_json::from_slice::<SchemaValue>) {
                None => self.remove_version(&subject, version),
                Some(Ok(v)) => self.put_version(v),
                Some(Err(e)) => {
                    tracing::warn!(%subject, version, error = %e, "skipping a bad schema record")
                }
            },
            RecordKey::Config { subject, .. } => {
                let level = value
                    .and_then(|v| serde_json::from_slice::<ConfigValue>(v).ok())
                    .and_then(|v| v.compatibility_level);
                apply_setting(&mut self.global_config, &mut self.configs, subject, level);
            }
            RecordKey::Mode { subject, .. } => {
                let mode = value
                    .and_then(|v| serde_json::from_slice::<ModeValue>(v).ok())
                    .map(|v| v.mode);
                apply_setting(&mut self.global_mode, &mut self.modes, subject, mode);
            }
            RecordKey::DeleteSubject { subject, .. } => {
                let Some(v) =
                    value.and_then(|v| serde_json::from_slice::<DeleteSubjectValue>(v).ok())
                else {
                    return;
                };
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    for (_, sv) in versions.range_mut(..=v.version) {
                        sv.deleted = true;
                    }
                }
            }
            RecordKey::ClearSubject { .. } | RecordKey::Noop { .. } => {}
        }
    }

    fn put_version(&mut self, v: SchemaValue) {
        self.max_id = self.max_id.max(v.id);
        let subject = v.subject.clone();
        // A version re-registered under another id drops its old use.
        if let Some(old) = self.subjects.get(&subject).and_then(|m| m.get(&v.version)) {
            if old.id != v.id {
                let old_id = old.id;
                self.drop_use(old_id, &subject, v.version);
            }
        }
        if !self.ids.contains_key(&v.id) {
            let fingerprint = self.fingerprint_of(&v);
            self.fingerprints.entry(fingerprint).or_insert(v.id);
        }
        let entry = self.ids.entry(v.id).or_insert_with(|| IdEntry {
            kind: v.kind(),
            schema: v.schema.clone(),
            references: v.references.clone(),
            uses: BTreeSet::new(),
        });
        entry.uses.insert((subject.clone(), v.version));
        self.subjects
            .entry(subject)
            .or_default()
            .insert(v.version, v);
    }

    fn remove_version(&mut self, subject: &str, version: i32) {
        let Some(versions) = self.subjects.get_mut(subject) else {
            return;
        };
        if let Some(old) = versions.remove(&version) {
            if versions.is_empty() {
                self.subjects.remove(subject);
            }
            self.drop_use(old.id, subject, version);
        }
    }

    fn drop_use(&mut self, id: i32, subject: &str, version: i32) {
        if let Some(entry) = self.ids.get_mut(&id) {
            entry.uses.remove(&(subject.to_string(), version));
            if entry.uses.is_empty() {
                self.ids.remove(&id);
                self.fingerprints.retain(|_, v| *v != id);
            }
        }
    }

    /// The identity of a schema across subjects: its format, canonical form
    /// and references. A text that does not parse (written by a newer
    /// registry, say) is identified by its text.
    fn fingerprint_of(&self, v: &SchemaValue) -> String {
        let canonical = self
            .resolve(&v.references)
            .ok()
            .and_then(|refs| schema::parse(v.kind(), &v.schema, &refs).ok())
            .map(|p| p.canonical())
            .unwrap_or_else(|| v.schema.clone());
        fingerprint(v.kind(), &canonical, &v.references)
    }

    /// The id already given to this schema in any subject.
    pub fn id_for(&self, parsed: &ParsedSchema, references: &[Reference]) -> Option<i32> {
        self.fingerprints
            .get(&fingerprint(parsed.kind(), &parsed.canonical(), references))
            .copied()
    }

    /// A subject's versions, live ones only unless `deleted`.
    pub fn versions(&self, subject: &str, deleted: bool) -> Vec<&SchemaValue> {
        self.subjects
            .get(subject)
            .map(|m| m.values().filter(|v| deleted || !v.deleted).collect())
            .unwrap_or_default()
    }

    pub fn has_subject(&self, subject: &str, deleted: bool) -> bool {
        !self.versions(subject, deleted).is_empty()
    }

    pub fn latest(&self, subject: &str) -> Option<&SchemaValue> {
        self.versions(subject, false).into_iter().last()
    }

    /// The version, deleted ones too; the caller decides whether they count.
    pub fn version(&self, subject: &str, version: i32) -> Option<&SchemaValue> {
        self.subjects.get(subject).and_then(|m| m.get(&version))
    }

    /// The next version number of a subject: one past the highest ever
    /// written, soft-deleted ones included (as Confluent numbers them).
    pub fn next_version(&self, subject: &str) -> i32 {
        self.subjects
            .get(subject)
            .and_then(|m| m.keys().next_back())
            .map_or(1, |v| v + 1)
    }

    /// The level that applies to a subject: its own, else the global one,
    /// else BACKWARD.
    pub fn compatibility(&self, subject: Option<&str>) -> CompatibilityLevel {
        subject
            .and_then(|s| self.configs.get(s).copied())
            .or(self.global_config)
            .unwrap_or_default()
    }

    pub fn mode(&self, subject: Option<&str>) -> Mode {
        subject
            .and_then(|s| self.modes.get(s).copied())
            .or(self.global_mode)
            .unwrap_or_default()
    }

    /// Ids of the live schema versions that reference `subject` `version`.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .subjects
            .values()
            .flat_map(|m| m.values())
            .filter(|v| !v.deleted)
            .filter(|v| {
                v.references
                    .iter()
                    .any(|r| r.subject == subject && r.version == version)
            })
            .map(|v| v.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Resolves references transitively, dependencies before the schemas
    /// that import them, each name once.
    pub fn resolve(&self, references: &[Reference]) -> Result<Vec<ResolvedReference>, RefError> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut path = Vec::new();
        for r in references {
            self.resolve_one(r, &mut out, &mut seen, &mut path)?;
        }
        Ok(out)
    }

    fn resolve_one(
        &self,
        r: &Reference,
        out: &mut Vec<ResolvedReference>,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Result<(), RefError> {
        if seen.contains(&r.name) {
            return Ok(());
        }
        if path.contains(&r.name) {
            return Err(RefError::Cycle(r.name.clone()));
        }
        let version = if r.version == -1 {
            self.latest(&r.subject)
        } else {
            self.version(&r.subject, r.version).filter(|v| !v.deleted)
        };
        let Some(v) = version else {
            return Err(RefError::Missing(r.clone()));
        };
        path.push(r.name.clone());
        for inner in &v.references {
            self.resolve_one(inner, out, seen, path)?;
        }
        path.pop();
        seen.insert(r.name.clone());
        out.push(ResolvedReference {
            name: r.name.clone(),
            kind: v.kind(),
            schema: v.schema.clone(),
        });
        Ok(())
    }
}

fn fingerprint(kind: schema::SchemaType, canonical: &str, references: &[Reference]) -> String {
    let refs = serde_json::to_string(references).expect("references serialize");
    format!("{kind}\u{0}{canonical}\u{0}{refs}")
}

/// Applies a config or mode record: the global setting is replaced (None
/// unsets it); a subject's is set, or removed when there is no value (a
/// tombstone or an unreadable record).
fn apply_setting<T>(
    global: &mut Option<T>,
    subjects: &mut BTreeMap<String, T>,
    subject: Option<String>,
    value: Option<T>,
) {
    match (subject, value) {
        (None, value) => *global = value,
        (Some(s), Some(value)) => {
            subjects.insert(s, value);
        }
        (Some(s), None) => {
            subjects.remove(&s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(state: &mut State, subject: &str, version: i32, id: i32, schema: &str) {
        let key = RecordKey::schema(subject, version).to_bytes();
        let value = serde_json::to_vec(&SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema_type: None,
            references: vec![],
            schema: schema.into(),
            deleted: false,
        })
        .unwrap();
        state.apply(&key, Some(&value));
    }

    #[test]
    fn versions_deletes_and_ids() {
        let mut s = State::default();
        put(&mut s, "a", 1, 1, r#""string""#);
        put(&mut s, "a", 2, 2, r#""int""#);
        put(&mut s, "b", 1, 1, r#""string""#);
        assert_eq!(s.next_version("a"), 3);
        assert_eq!(s.ids[&1].uses.len(), 2);
        // Soft delete of subject a up to version 2.
        let key = br#"{"keytype":"DELETE_SUBJECT","subject":"a","magic":0}"#;
        s.apply(key, Some(br#"{"subject":"a","version":2}"#));
        assert!(!s.has_subject("a", false));
        assert!(s.has_subject("a", true));
        assert_eq!(s.next_version("a"), 3);
        // Permanent delete of a/2 drops id 2 entirely; max_id remembers it.
        s.apply(&RecordKey::schema("a", 2).to_bytes(), None);
        assert!(!s.ids.contains_key(&2));
        assert_eq!(s.max_id, 2);
        // Configs and modes, global and per subject, set and cleared.
        s.apply(
            &RecordKey::config(Some("b")).to_bytes(),
            Some(br#"{"compatibilityLevel":"FULL"}"#),
        );
        assert_eq!(s.compatibility(Some("b")), CompatibilityLevel::Full);
        assert_eq!(s.compatibility(Some("a")), CompatibilityLevel::Backward);
        s.apply(&RecordKey::config(Some("b")).to_bytes(), None);
        assert_eq!(s.compatibility(Some("b")), CompatibilityLevel::Backward);
        s.apply(
            &RecordKey::mode(None).to_bytes(),
            Some(br#"{"mode":"READONLY"}"#),
        );
        assert_eq!(s.mode(Some("b")), Mode::Readonly);
        // Garbage is skipped, not a panic.
        s.apply(b"not json", Some(b"{"));
        s.apply(&RecordKey::schema("x", 1).to_bytes(), Some(b"[1,2]"));
    }

    #[test]
    fn references_resolve_transitively_and_detect_missing() {
        let mut s = State::default();
        put(&mut s, "leaf", 1, 1, r#""string""#);
        let key = RecordKey::schema("mid", 1).to_bytes();
        let value = serde_json::to_vec(&SchemaValue {
            subject: "mid".into(),
            version: 1,
            id: 2,
            schema_type: None,
            references: vec![Reference {
                name: "leaf.avsc".into(),
                subject: "leaf".into(),
                version: 1,
            }],
            schema: r#""int""#.into(),
            deleted: false,
        })
        .unwrap();
        s.apply(&key, Some(&value));
        let refs = s
            .resolve(&[Reference {
                name: "mid.avsc".into(),
                subject: "mid".into(),
                version: 1,
            }])
            .unwrap();
        let names: Vec<_> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["leaf.avsc", "mid.avsc"]);
        assert_eq!(s.referenced_by("leaf", 1), vec![2]);
        let missing = Reference {
            name: "x".into(),
            subject: "nope".into(),
            version: 1,
        };
        assert_eq!(
            s.resolve(std::slice::from_ref(&missing)),
            Err(RefError::Missing(missing))
        );
    }
}
