//! From sink records to rows: which table, which key and value columns
//! (by `pk.mode`, `pk.fields` and `fields.whitelist`), with what types.
//! Struct values bring their schemas; schemaless maps (with string keys)
//! bring types inferred from their values.

use super::dialect::{ColumnKind, IntWidth};
use super::sink_config::{PkMode, SinkSettings, PRIMITIVE_KEY_FIELD};
use super::values::{kind_of_schema, kind_of_value};
use crate::data::{Schema, SchemaRef, SchemaType, Value};
use crate::record::ConnectRecord;

/// A column as a record describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: ColumnKind,
    pub width: IntWidth,
    /// A Decimal's scale.
    pub scale: u32,
    pub optional: bool,
    pub default: Option<Value>,
    pub key: bool,
    /// False for a schemaless column seen only as null: its type is a
    /// guess (text) that a later non-null value may correct.
    pub known: bool,
    /// The field's schema, for logical values (Decimal's scale, Date...).
    pub schema: Option<SchemaRef>,
}

impl ColumnSpec {
    fn from_schema(name: &str, schema: &SchemaRef, key: bool) -> ColumnSpec {
        let (kind, width, scale) = kind_of_schema(schema);
        ColumnSpec {
            name: name.to_string(),
            kind,
            width,
            scale,
            optional: schema.optional && !key,
            default: schema.default.clone(),
            key,
            known: true,
            schema: Some(schema.clone()),
        }
    }

    fn from_value(name: &str, value: &Value, key: bool) -> ColumnSpec {
        let inferred = kind_of_value(value);
        let (kind, width) = inferred.unwrap_or((ColumnKind::Text, IntWidth::W64));
        ColumnSpec {
            name: name.to_string(),
            kind,
            width,
            scale: 0,
            optional: !key,
            default: None,
            key,
            known: inferred.is_some(),
            schema: None,
        }
    }
}

/// One record ready to write: key columns first, then value columns.
#[derive(Debug, Clone)]
pub struct Row {
    /// The record's index in the `put`.
    pub index: usize,
    pub table: String,
    /// A tombstone under `delete.enabled`: only the key columns are set.
    pub delete: bool,
    pub key_count: usize,
    pub columns: Vec<ColumnSpec>,
    pub values: Vec<Value>,
}

impl Row {
    /// Rows with the same shape can share one statement.
    pub fn same_shape(&self, other: &Row) -> bool {
        self.table == other.table
            && self.delete == other.delete
            && self.key_count == other.key_count
            && self.columns.len() == other.columns.len()
            && self
                .columns
                .iter()
                .zip(&other.columns)
                .all(|(a, b)| a.name == b.name && (a.kind == b.kind || !a.known || !b.known))
    }
}

/// What to do with one record.
#[derive(Debug)]
pub enum Prepared {
    Write(Row),
    /// A tombstone with `delete.enabled=false`: nothing to write.
    Skip,
}

/// Turns record `index` into a row, or says why it cannot be one (the
/// record's own fault: it goes to the dead-letter queue alone).
pub fn prepare(
    index: usize,
    record: &ConnectRecord,
    settings: &SinkSettings,
) -> Result<Prepared, String> {
    let table = settings.table_for(&record.topic);
    let tombstone = record.is_tombstone();
    if tombstone && !settings.delete_enabled {
        return Ok(Prepared::Skip);
    }
    let mut columns = Vec::new();
    let mut values = Vec::new();
    match settings.pk_mode {
        PkMode::None => {}
        PkMode::Kafka => {
            let (topic, partition, offset) = match &record.origin {
                Some(o) => (o.topic.clone(), o.partition, o.offset),
                None => return Err("pk.mode=kafka needs the record's Kafka coordinates".into()),
            };
            let kinds = [
                (SchemaType::String, Value::String(topic)),
                (SchemaType::Int32, Value::Int32(partition)),
                (SchemaType::Int64, Value::Int64(offset)),
            ];
            for (name, (kind, value)) in settings.pk_fields.iter().zip(kinds) {
                columns.push(ColumnSpec::from_schema(
                    name,
                    &Schema::of(kind).into_ref(),
                    true,
                ));
                values.push(value);
            }
        }
        PkMode::RecordKey => {
            key_columns(
                &record.key,
                record.key_schema.as_ref(),
                &settings.pk_fields,
                "key",
                &mut columns,
                &mut values,
            )?;
        }
        PkMode::RecordValue => {
            if tombstone {
                return Err("pk.mode=record_value cannot take a key from a tombstone".into());
            }
            key_columns(
                &record.value,
                record.value_schema.as_ref(),
                &settings.pk_fields,
                "value",
                &mut columns,
                &mut values,
            )?;
        }
    }
    let key_count = columns.len();
    if tombstone {
        if key_count == 0 {
            return Err("a tombstone needs a key to delete by".into());
        }
        return Ok(Prepared::Write(Row {
            index,
            table,
            delete: true,
            key_count,
            columns,
            values,
        }));
    }
    let wanted = |name: &str| {
        (settings.fields_whitelist.is_empty()
            || settings.fields_whitelist.iter().any(|f| f == name))
            && !columns[..key_count].iter().any(|c| c.name == name)
    };
    let mut value_columns = Vec::new();
    match &record.value {
        Value::Struct(s) => {
            for (field, value) in s.iter() {
                if wanted(&field.name) {
                    value_columns.push((
                        ColumnSpec::from_schema(&field.name, &field.schema, false),
                        value.clone(),
                    ));
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let name = k
                    .as_str()
                    .ok_or("a schemaless value's keys must be strings")?;
                if wanted(name) {
                    value_columns.push((ColumnSpec::from_value(name, v, false), v.clone()));
                }
            }
        }
        other => {
            return Err(format!(
            "the value must be a struct or a map of fields, not a {} (a converter with schemas, \
                 or schemaless JSON objects)",
            other
                .inferred_type()
                .map(SchemaType::name)
                .unwrap_or("null")
        ))
        }
    }
    for (spec, value) in value_columns {
        columns.push(spec);
        values.push(value);
    }
    if columns.is_empty() {
        return Err("the record has no fields to write".into());
    }
    Ok(Prepared::Write(Row {
        index,
        table,
        delete: false,
        key_count,
        columns,
        values,
    }))
}

/// The key columns taken from `source` (the record's key or value).
fn key_columns(
    source: &Value,
    schema: Option<&SchemaRef>,
    pk_fields: &[String],
    what: &str,
    columns: &mut Vec<ColumnSpec>,
    values: &mut Vec<Value>,
) -> Result<(), String> {
    let mut take = |name: &str, spec: ColumnSpec, value: &Value| -> Result<(), String> {
        if value.is_null() {
            return Err(format!(
                "the primary key field {name:?} of the record {what} is null"
            ));
        }
        columns.push(spec);
        values.push(value.clone());
        Ok(())
    };
    match source {
        Value::Struct(s) => {
            let names: Vec<String> = if pk_fields.is_empty() {
                s.schema.fields.iter().map(|f| f.name.clone()).collect()
            } else {
                pk_fields.to_vec()
            };
            for name in &names {
                let field = s.schema.field(name).ok_or_else(|| {
                    format!("the record {what} has no field {name:?} (pk.fields)")
                })?;
                take(
                    name,
                    ColumnSpec::from_schema(name, &field.schema, true),
                    &s.values[field.index],
                )?;
            }
        }
        Value::Map(entries) => {
            let names: Vec<String> = if pk_fields.is_empty() {
                entries
                    .iter()
                    .filter_map(|(k, _)| k.as_str().map(str::to_string))
                    .collect()
            } else {
                pk_fields.to_vec()
            };
            for name in &names {
                let value = source.map_get(name).ok_or_else(|| {
                    format!("the record {what} has no field {name:?} (pk.fields)")
                })?;
                take(name, ColumnSpec::from_value(name, value, true), value)?;
            }
        }
        Value::Null => return Err(format!("the record {what} is null but pk.mode needs it")),
        primitive => {
            if pk_fields.len() > 1 {
                return Err(format!(
                    "the record {what} is a primitive but pk.fields names several fields"
                ));
            }
            let name = pk_fields
                .first()
                .map(String::as_str)
                .unwrap_or(PRIMITIVE_KEY_FIELD);
            let spec = match schema {
                Some(s) => ColumnSpec::from_schema(name, s, true),
                None => ColumnSpec::from_value(name, primitive, true),
            };
            take(name, spec, primitive)?;
        }
    }
    Ok(())
}

/// The columns of a run of same-shaped rows: each column's type from the
/// first row that knows it (a schemaless null says nothing).
pub fn merged_columns(rows: &[Row]) -> Vec<ColumnSpec> {
    let mut columns = rows[0].columns.clone();
    for (i, column) in columns.iter_mut().enumerate() {
        if !column.known {
            if let Some(known) = rows.iter().map(|r| &r.columns[i]).find(|c| c.known) {
                *column = known.clone();
            }
        }
    }
    columns
}
