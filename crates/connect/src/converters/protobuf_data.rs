//! Confluent's `ProtobufData` mapping, in the part Fjord supports, with no
//! I/O: Connect schemas from Protobuf message descriptors (as Fjord's
//! registry links them: type names fully qualified), and `.proto` text
//! from Connect schemas.
//!
//! | Connect                     | Protobuf (proto3)                          |
//! |-----------------------------|--------------------------------------------|
//! | struct `a.b.C`              | message `C` in package `a.b`               |
//! | optional field              | `optional` field (explicit presence)       |
//! | int8, int16, int32 / int64  | int32 / int64 (sint, uint, fixed read too) |
//! | float32 / float64           | float / double                             |
//! | string (from an enum)       | enum (`io.confluent.connect.protobuf.Enum*` parameters) |
//! | array                       | repeated field                             |
//! | map                         | map field (or repeated entry messages)     |
//! | Date / Time / Timestamp     | google.type.Date / google.type.TimeOfDay / google.protobuf.Timestamp |
//! | optional primitive (read)   | google.protobuf wrapper types              |
//!
//! Limits, refused with a clear error rather than written wrong: Decimal
//! fields (Confluent's `confluent.type.Decimal` needs its per-field
//! options), arrays of arrays or maps, and a top level that is not a
//! struct. int8 and int16 read back as int32 (Protobuf has no narrower
//! type; Confluent keeps them in field options). A oneof's members read as
//! optional fields.

use std::collections::HashMap;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use super::conversion;
use crate::data::{logical, Field, Schema, SchemaRef, SchemaType};
use crate::error::Result;

/// Field schema parameter: the Protobuf field number, when it is not the
/// field's position + 1.
pub const TAG: &str = "io.confluent.connect.protobuf.Tag";
/// String schema parameter: the enum's full name; `ENUM.<symbol>` holds
/// each symbol's number.
pub const ENUM: &str = "io.confluent.connect.protobuf.Enum";

pub const TIMESTAMP: &str = ".google.protobuf.Timestamp";
pub const DATE: &str = ".google.type.Date";
pub const TIME_OF_DAY: &str = ".google.type.TimeOfDay";

/// The Connect type a google.protobuf wrapper message stands for.
pub fn wrapper_kind(type_name: &str) -> Option<SchemaType> {
    Some(match type_name.strip_prefix(".google.protobuf.")? {
        "DoubleValue" => SchemaType::Float64,
        "FloatValue" => SchemaType::Float32,
        "Int64Value" | "UInt64Value" | "UInt32Value" => SchemaType::Int64,
        "Int32Value" => SchemaType::Int32,
        "BoolValue" => SchemaType::Boolean,
        "StringValue" => SchemaType::String,
        "BytesValue" => SchemaType::Bytes,
        _ => return None,
    })
}

/// Every message and enum of a schema's files, by full name (`.pkg.Msg`).
/// Owned (cloned once per writer schema) so a converter can keep it.
pub struct Types {
    pub messages: HashMap<String, DescriptorProto>,
    pub enums: HashMap<String, EnumDescriptorProto>,
}

impl Types {
    pub fn new(set: &FileDescriptorSet) -> Types {
        let mut t = Types {
            messages: HashMap::new(),
            enums: HashMap::new(),
        };
        for file in &set.file {
            let prefix = match file.package() {
                "" => String::new(),
                p => format!(".{p}"),
            };
            for e in &file.enum_type {
                t.enums.insert(format!("{prefix}.{}", e.name()), e.clone());
            }
            for m in &file.message_type {
                t.add(&prefix, m);
            }
        }
        t
    }

    fn add(&mut self, prefix: &str, m: &DescriptorProto) {
        let full = format!("{prefix}.{}", m.name());
        for e in &m.enum_type {
            self.enums.insert(format!("{full}.{}", e.name()), e.clone());
        }
        for n in &m.nested_type {
            self.add(&full, n);
        }
        self.messages.insert(full, m.clone());
    }

    pub fn message(&self, full: &str) -> Result<&DescriptorProto> {
        self.messages
            .get(full)
            .ok_or_else(|| conversion(format!("Protobuf message {full} is not in the schema")))
    }

    /// A map field's entry message, if `f` is one.
    pub fn map_entry(&self, f: &FieldDescriptorProto) -> Option<&DescriptorProto> {
        if f.label() != Label::Repeated || f.r#type() != Type::Message {
            return None;
        }
        self.messages
            .get(f.type_name())
            .filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()))
    }

    /// The Connect schema of message `full` (`.pkg.Msg`).
    pub fn connect_schema(&self, full: &str) -> Result<SchemaRef> {
        self.struct_schema(full, 0)
    }

    fn struct_schema(&self, full: &str, depth: usize) -> Result<SchemaRef> {
        if depth > 32 {
            return Err(conversion(format!(
                "Protobuf message {full} nests deeper than 32 levels (recursive messages have no Connect form)"
            )));
        }
        let m = self.message(full)?;
        let mut fields = Vec::with_capacity(m.field.len());
        for (index, f) in m.field.iter().enumerate() {
            let mut schema = self.field_schema(f, depth)?;
            if f.number() != index as i32 + 1 {
                schema = schema.with_parameter(TAG, &f.number().to_string());
            }
            fields.push(Field {
                name: f.name().to_string(),
                index,
                schema: schema.into_ref(),
            });
        }
        Ok(Schema {
            name: Some(full.trim_start_matches('.').to_string()),
            fields,
            ..Schema::of(SchemaType::Struct)
        }
        .into_ref())
    }

    fn field_schema(&self, f: &FieldDescriptorProto, depth: usize) -> Result<Schema> {
        if let Some(entry) = self.map_entry(f) {
            let (Some(k), Some(v)) = (entry.field.first(), entry.field.get(1)) else {
                return Err(conversion("a Protobuf map entry needs a key and a value"));
            };
            return Ok(Schema::map(
                self.single_schema(k, depth)?.into_ref(),
                self.single_schema(v, depth)?.into_ref(),
            ));
        }
        let single = self.single_schema(f, depth)?;
        if f.label() == Label::Repeated {
            return Ok(Schema::array(single.with_optional(false).into_ref()));
        }
        let in_oneof = f.oneof_index.is_some() && f.proto3_optional != Some(true);
        let optional = f.proto3_optional == Some(true) || in_oneof || single.optional;
        Ok(single.with_optional(optional))
    }

    /// A field's schema, ignoring repetition.
    fn single_schema(&self, f: &FieldDescriptorProto, depth: usize) -> Result<Schema> {
        Ok(match f.r#type() {
            Type::Double => Schema::of(SchemaType::Float64),
            Type::Float => Schema::of(SchemaType::Float32),
            Type::Int64 | Type::Sint64 | Type::Sfixed64 | Type::Uint64 | Type::Fixed64 => {
                Schema::of(SchemaType::Int64)
            }
            // Unsigned 32-bit values may not fit an int32.
            Type::Uint32 | Type::Fixed32 => Schema::of(SchemaType::Int64),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => Schema::of(SchemaType::Int32),
            Type::Bool => Schema::of(SchemaType::Boolean),
            Type::String => Schema::of(SchemaType::String),
            Type::Bytes => Schema::of(SchemaType::Bytes),
            Type::Enum => {
                let full = f.type_name();
                let e = self.enums.get(full).ok_or_else(|| {
                    conversion(format!("Protobuf enum {full} is not in the schema"))
                })?;
                let name = full.trim_start_matches('.');
                let mut s = Schema::of(SchemaType::String).with_parameter(ENUM, name);
                for v in &e.value {
                    s = s.with_parameter(&format!("{ENUM}.{}", v.name()), &v.number().to_string());
                }
                s
            }
            Type::Message => match f.type_name() {
                TIMESTAMP => Schema::of(SchemaType::Int64).with_name(logical::TIMESTAMP),
                DATE => Schema::of(SchemaType::Int32).with_name(logical::DATE),
                TIME_OF_DAY => Schema::of(SchemaType::Int32).with_name(logical::TIME),
                t => match wrapper_kind(t) {
                    Some(kind) => Schema::optional_of(kind),
                    None => (*self.struct_schema(t, depth + 1)?).clone(),
                },
            },
            Type::Group => return Err(conversion("Protobuf groups are not supported")),
        })
    }
}

/// `.proto` text for a Connect struct schema: the struct is the file's
/// first message (message index 0), the structs it uses follow it; the
/// struct's full name (for the record name strategies) comes back too.
pub fn proto_text(schema: &Schema) -> Result<(String, String)> {
    if schema.kind != SchemaType::Struct {
        return Err(conversion(format!(
            "ProtobufConverter writes structs; this value's schema is {}",
            schema.kind.name()
        )));
    }
    let (package, _) = split(schema.name.as_deref());
    let mut w = Writer {
        package: package.to_string(),
        defined: HashMap::new(),
        order: Vec::new(),
        imports: Vec::new(),
        unnamed: 0,
    };
    let top = w.message(schema)?;
    let mut out = String::from("syntax = \"proto3\";\n");
    if !package.is_empty() {
        out.push_str(&format!("package {package};\n"));
    }
    w.imports.sort();
    w.imports.dedup();
    for i in &w.imports {
        out.push_str(&format!("import \"{i}\";\n"));
    }
    for name in &w.order {
        out.push('\n');
        out.push_str(&w.defined[name]);
    }
    let full = if package.is_empty() {
        top
    } else {
        format!("{package}.{top}")
    };
    Ok((out, full))
}

/// A Connect name split into (package, simple name).
fn split(name: Option<&str>) -> (&str, &str) {
    match name {
        Some(n) => n.rsplit_once('.').unwrap_or(("", n)),
        None => ("", ""),
    }
}

struct Writer {
    package: String,
    /// Message and enum definitions by simple name.
    defined: HashMap<String, String>,
    /// Definition order: the top message first.
    order: Vec<String>,
    imports: Vec<&'static str>,
    /// Unnamed structs seen so far (ConnectDefault1, 2...).
    unnamed: usize,
}

impl Writer {
    /// Defines the message for struct `schema`; returns its simple name.
    fn message(&mut self, schema: &Schema) -> Result<String> {
        let (package, simple) = split(schema.name.as_deref());
        let name = if simple.is_empty() {
            self.unnamed += 1;
            format!("ConnectDefault{}", self.unnamed)
        } else {
            if package != self.package {
                return Err(conversion(format!(
                    "struct {} is not in package {:?}: a Protobuf schema written by Fjord holds one package",
                    schema.name.as_deref().unwrap_or_default(),
                    self.package
                )));
            }
            simple.to_string()
        };
        if self.defined.contains_key(&name) {
            return Ok(name);
        }
        // Reserve the name (and its place) before the fields define others.
        self.defined.insert(name.clone(), String::new());
        self.order.push(name.clone());
        let mut body = format!("message {name} {{\n");
        for f in &schema.fields {
            let number = match f.schema.parameters.get(TAG) {
                Some(t) => t
                    .parse::<i32>()
                    .map_err(|_| conversion(format!("bad {TAG} parameter {t:?}")))?,
                None => f.index as i32 + 1,
            };
            let decl = self.field_type(&f.schema)?;
            body.push_str(&format!("  {decl} {} = {number};\n", f.name));
        }
        body.push_str("}\n");
        self.defined.insert(name.clone(), body);
        Ok(name)
    }

    /// The declaration before a field's name: `optional int32`,
    /// `repeated Point`, `map<string, int64>`.
    fn field_type(&mut self, schema: &Schema) -> Result<String> {
        match schema.kind {
            SchemaType::Array => {
                let e = schema
                    .value_schema
                    .as_deref()
                    .ok_or_else(|| conversion("Array schema has no element schema"))?;
                if matches!(e.kind, SchemaType::Array | SchemaType::Map) || e.optional {
                    return Err(conversion(
                        "ProtobufConverter cannot write arrays of arrays, maps or optional elements",
                    ));
                }
                Ok(format!("repeated {}", self.single_type(e)?))
            }
            SchemaType::Map => {
                let (Some(k), Some(v)) =
                    (schema.key_schema.as_deref(), schema.value_schema.as_deref())
                else {
                    return Err(conversion("Map schema has no key or value schema"));
                };
                let key_ok = matches!(
                    k.kind,
                    SchemaType::String
                        | SchemaType::Boolean
                        | SchemaType::Int8
                        | SchemaType::Int16
                        | SchemaType::Int32
                        | SchemaType::Int64
                ) && k.name.is_none()
                    && !k.parameters.contains_key(ENUM);
                if !key_ok || matches!(v.kind, SchemaType::Array | SchemaType::Map) || v.optional {
                    return Err(conversion(
                        "ProtobufConverter writes maps with string, integer or boolean keys and required, non-collection values",
                    ));
                }
                Ok(format!(
                    "map<{}, {}>",
                    self.single_type(k)?,
                    self.single_type(v)?
                ))
            }
            _ => {
                let t = self.single_type(schema)?;
                Ok(if schema.optional {
                    format!("optional {t}")
                } else {
                    t
                })
            }
        }
    }

    fn single_type(&mut self, schema: &Schema) -> Result<String> {
        Ok(match (schema.kind, schema.name.as_deref()) {
            (_, Some(logical::DECIMAL)) => {
                return Err(conversion(
                    "ProtobufConverter does not write Decimal fields yet; use AvroConverter or JsonSchemaConverter",
                ))
            }
            (SchemaType::Int32, Some(logical::DATE)) => {
                self.imports.push("google/type/date.proto");
                "google.type.Date".into()
            }
            (SchemaType::Int32, Some(logical::TIME)) => {
                self.imports.push("google/type/timeofday.proto");
                "google.type.TimeOfDay".into()
            }
            (SchemaType::Int64, Some(logical::TIMESTAMP)) => {
                self.imports.push("google/protobuf/timestamp.proto");
                "google.protobuf.Timestamp".into()
            }
            (SchemaType::String, _) if schema.parameters.contains_key(ENUM) => self.enumeration(schema)?,
            (SchemaType::Boolean, _) => "bool".into(),
            (SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32, _) => "int32".into(),
            (SchemaType::Int64, _) => "int64".into(),
            (SchemaType::Float32, _) => "float".into(),
            (SchemaType::Float64, _) => "double".into(),
            (SchemaType::String, _) => "string".into(),
            (SchemaType::Bytes, _) => "bytes".into(),
            (SchemaType::Struct, _) => self.message(schema)?,
            (SchemaType::Array | SchemaType::Map, _) => {
                return Err(conversion("nested collections need a struct around them in Protobuf"))
            }
        })
    }

    /// Defines the enum a string schema came from; returns its simple name.
    fn enumeration(&mut self, schema: &Schema) -> Result<String> {
        let full = &schema.parameters[ENUM];
        let (_, simple) = split(Some(full));
        if self.defined.contains_key(simple) {
            return Ok(simple.to_string());
        }
        let prefix = format!("{ENUM}.");
        let mut values: Vec<(i32, &str)> = schema
            .parameters
            .iter()
            .filter_map(|(k, v)| Some((v.parse().ok()?, k.strip_prefix(&prefix)?)))
            .collect();
        values.sort();
        if values.first().map(|(n, _)| *n) != Some(0) {
            return Err(conversion(format!(
                "enum {full} needs a symbol numbered 0 to be written as proto3"
            )));
        }
        let mut body = format!("enum {simple} {{\n");
        for (n, sym) in values {
            body.push_str(&format!("  {sym} = {n};\n"));
        }
        body.push_str("}\n");
        self.defined.insert(simple.to_string(), body);
        self.order.push(simple.to_string());
        Ok(simple.to_string())
    }
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
