//! Protobuf compatibility, with the rules and names of Confluent's
//! ProtobufSchema diff (`Difference.Type`).
//!
//! The diff walks the earlier schema (`original`) and the new one (`update`)
//! side by side: messages and enums by name, fields by number, oneofs by
//! name. Each change found is a [`Difference`]; some kinds are harmless on
//! the wire (a field added or removed, a renamed field, an added message:
//! [`is_compatible`]), the others break readers (a removed message, a field
//! whose wire kind changed, a required field added or removed, fields folded
//! into one oneof, a changed package).
//!
//! Backward compatibility (the new schema reads old data) is the diff from
//! the old schema to the new one; forward is the diff the other way round.
//!
//! Map entry messages are never compared as messages: a `map<K, V>` field is
//! compared through its key and value types, as Confluent's text model has
//! no entry messages.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

use super::ProtobufSchema;
use crate::schema::Incompatibility;

mod message;

/// Confluent's `Difference.Type` names, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DifferenceType {
    PackageChanged,
    MessageAdded,
    MessageRemoved,
    MessageMoved,
    EnumAdded,
    EnumRemoved,
    EnumConstAdded,
    EnumConstChanged,
    EnumConstRemoved,
    FieldAdded,
    FieldRemoved,
    FieldNameChanged,
    FieldKindChanged,
    FieldScalarKindChanged,
    FieldNamedTypeChanged,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    OneofAdded,
    OneofRemoved,
    OneofFieldAdded,
    OneofFieldRemoved,
    MultipleFieldsMovedToOneof,
    FieldMovedToExistingOneof,
}

impl DifferenceType {
    pub fn name(self) -> &'static str {
        use DifferenceType as D;
        match self {
            D::PackageChanged => "PACKAGE_CHANGED",
            D::MessageAdded => "MESSAGE_ADDED",
            D::MessageRemoved => "MESSAGE_REMOVED",
            D::MessageMoved => "MESSAGE_MOVED",
            D::EnumAdded => "ENUM_ADDED",
            D::EnumRemoved => "ENUM_REMOVED",
            D::EnumConstAdded => "ENUM_CONST_ADDED",
            D::EnumConstChanged => "ENUM_CONST_CHANGED",
            D::EnumConstRemoved => "ENUM_CONST_REMOVED",
            D::FieldAdded => "FIELD_ADDED",
            D::FieldRemoved => "FIELD_REMOVED",
            D::FieldNameChanged => "FIELD_NAME_CHANGED",
            D::FieldKindChanged => "FIELD_KIND_CHANGED",
            D::FieldScalarKindChanged => "FIELD_SCALAR_KIND_CHANGED",
            D::FieldNamedTypeChanged => "FIELD_NAMED_TYPE_CHANGED",
            D::RequiredFieldAdded => "REQUIRED_FIELD_ADDED",
            D::RequiredFieldRemoved => "REQUIRED_FIELD_REMOVED",
            D::OneofAdded => "ONEOF_ADDED",
            D::OneofRemoved => "ONEOF_REMOVED",
            D::OneofFieldAdded => "ONEOF_FIELD_ADDED",
            D::OneofFieldRemoved => "ONEOF_FIELD_REMOVED",
            D::MultipleFieldsMovedToOneof => "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
            D::FieldMovedToExistingOneof => "FIELD_MOVED_TO_EXISTING_ONEOF",
        }
    }

    /// Whether data stays readable across this change (Confluent's
    /// `COMPATIBLE_CHANGES`). Enum constants may come and go: an unknown
    /// number is kept as such by proto3 readers.
    pub fn is_compatible(self) -> bool {
        use DifferenceType as D;
        matches!(
            self,
            D::MessageAdded
                | D::MessageMoved
                | D::EnumAdded
                | D::EnumRemoved
                | D::EnumConstAdded
                | D::EnumConstChanged
                | D::EnumConstRemoved
                | D::FieldAdded
                | D::FieldRemoved
                | D::FieldNameChanged
                | D::OneofAdded
                | D::OneofRemoved
                | D::OneofFieldAdded
        )
    }

    fn describe(self) -> &'static str {
        use DifferenceType as D;
        match self {
            D::PackageChanged => "The package changed",
            D::MessageAdded => "A message was added",
            D::MessageRemoved => "A message was removed",
            D::MessageMoved => "A message moved to another position",
            D::EnumAdded => "An enum was added",
            D::EnumRemoved => "An enum was removed",
            D::EnumConstAdded => "An enum value was added",
            D::EnumConstChanged => "An enum value was renamed",
            D::EnumConstRemoved => "An enum value was removed",
            D::FieldAdded => "A field was added",
            D::FieldRemoved => "A field was removed",
            D::FieldNameChanged => "A field was renamed",
            D::FieldKindChanged => "A field changed between scalar, message and map",
            D::FieldScalarKindChanged => {
                "A field's scalar type changed to one with another wire encoding"
            }
            D::FieldNamedTypeChanged => "A field's message type changed",
            D::RequiredFieldAdded => "A required field was added",
            D::RequiredFieldRemoved => "A required field was removed",
            D::OneofAdded => "A oneof was added",
            D::OneofRemoved => "A oneof was removed",
            D::OneofFieldAdded => "A field was added to a oneof",
            D::OneofFieldRemoved => "A field was removed from a oneof",
            D::MultipleFieldsMovedToOneof => "More than one existing field moved into one oneof",
            D::FieldMovedToExistingOneof => "A field moved into a oneof that already had fields",
        }
    }
}

/// One change between two schemas, at `path` (`#/Message/fieldNumber`, as
/// Confluent writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceType,
    pub path: String,
}

/// What makes `reader` unable to read data written with `writer`.
pub fn check(reader: &ProtobufSchema, writer: &ProtobufSchema) -> Vec<Incompatibility> {
    differences(writer, reader)
        .into_iter()
        .filter(|d| !d.kind.is_compatible())
        .map(|d| Incompatibility {
            error_type: d.kind.name().to_string(),
            description: format!("{} at {}", d.kind.describe(), d.path),
            additional_info: d.path,
        })
        .collect()
}

/// Every change from `original` to `update`, compatible or not.
pub fn differences(original: &ProtobufSchema, update: &ProtobufSchema) -> Vec<Difference> {
    let mut ctx = Context {
        original: TypeTable::new(original),
        update: TypeTable::new(update),
        path: Vec::new(),
        visiting: HashSet::new(),
        diffs: Vec::new(),
    };
    if original.file.package() != update.file.package() {
        ctx.add(DifferenceType::PackageChanged);
    }
    ctx.compare_types(
        (&original.file.message_type, &original.file.enum_type),
        (&update.file.message_type, &update.file.enum_type),
    );
    ctx.diffs
}

/// A named type of a schema (its file or an import), by full name.
struct TypeInfo<'a> {
    /// Package of the file that defines it.
    package: &'a str,
    /// The defining file (compared when a field's type comes from an import).
    file: &'a FileDescriptorProto,
    message: Option<&'a DescriptorProto>,
}

struct TypeTable<'a> {
    types: HashMap<String, TypeInfo<'a>>,
    own_file: &'a FileDescriptorProto,
}

impl<'a> TypeTable<'a> {
    fn new(schema: &'a ProtobufSchema) -> Self {
        let mut types = HashMap::new();
        for file in schema.deps.iter().chain(std::iter::once(&*schema.file)) {
            let package = file.package();
            for m in &file.message_type {
                add_message(&mut types, file, package, package, m);
            }
            for e in &file.enum_type {
                types.insert(
                    join(package, e.name()),
                    TypeInfo {
                        package,
                        file,
                        message: None,
                    },
                );
            }
        }
        TypeTable {
            types,
            own_file: &schema.file,
        }
    }

    fn get(&self, type_name: &str) -> Option<&TypeInfo<'a>> {
        self.types
            .get(type_name.strip_prefix('.').unwrap_or(type_name))
    }
}

fn add_message<'a>(
    types: &mut HashMap<String, TypeInfo<'a>>,
    file: &'a FileDescriptorProto,
    package: &'a str,
    scope: &str,
    m: &'a DescriptorProto,
) {
    let full = join(scope, m.name());
    for n in &m.nested_type {
        add_message(types, file, package, &full, n);
    }
    for e in &m.enum_type {
        let info = TypeInfo {
            package,
            file,
            message: None,
        };
        types.insert(join(&full, e.name()), info);
    }
    types.insert(
        full,
        TypeInfo {
            package,
            file,
            message: Some(m),
        },
    );
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

fn is_map_entry(m: &DescriptorProto) -> bool {
    m.options
        .as_ref()
        .and_then(|o| o.map_entry)
        .unwrap_or(false)
}

/// A field's type as the diff sees it.
enum FieldType<'a> {
    Scalar(ScalarKind),
    Map(Box<FieldType<'a>>, Box<FieldType<'a>>),
    /// A message, by full name.
    Message(&'a str),
}

/// Scalars grouped by wire encoding: a change inside one group keeps data
/// readable (protobuf's "updating a message type" rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScalarKind {
    GeneralNumber,
    SignedNumber,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

struct Context<'a> {
    original: TypeTable<'a>,
    update: TypeTable<'a>,
    path: Vec<String>,
    /// Messages of the original schema being compared through a field type,
    /// so recursive types terminate.
    visiting: HashSet<String>,
    diffs: Vec<Difference>,
}

impl<'a> Context<'a> {
    fn add(&mut self, kind: DifferenceType) {
        self.diffs.push(Difference {
            kind,
            path: format!("#/{}", self.path.join("/")),
        });
    }

    fn with_path<R>(&mut self, part: impl Into<String>, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(part.into());
        let r = f(self);
        self.path.pop();
        r
    }

    fn compare_types(
        &mut self,
        (orig_msgs, orig_enums): (&'a [DescriptorProto], &'a [EnumDescriptorProto]),
        (upd_msgs, upd_enums): (&'a [DescriptorProto], &'a [EnumDescriptorProto]),
    ) {
        // Position among the (non map entry) messages of one level: the
        // message indexes of the wire format.
        let index =
            |msgs: &'a [DescriptorProto]| -> BTreeMap<&'a str, (usize, &'a DescriptorProto)> {
                msgs.iter()
                    .filter(|m| !is_map_entry(m))
                    .enumerate()
                    .map(|(i, m)| (m.name(), (i, m)))
                    .collect()
            };
        let (orig, upd) = (index(orig_msgs), index(upd_msgs));
        let names: BTreeSet<&str> = orig.keys().chain(upd.keys()).copied().collect();
        for name in names {
            self.with_path(name, |ctx| match (orig.get(name), upd.get(name)) {
                (Some(_), None) => ctx.add(DifferenceType::MessageRemoved),
                (None, Some(_)) => ctx.add(DifferenceType::MessageAdded),
                (Some((oi, om)), Some((ui, um))) => {
                    ctx.compare_message(om, um);
                    if oi != ui {
                        ctx.add(DifferenceType::MessageMoved);
                    }
                }
                (None, None) => {}
            });
        }
        let enums = |es: &'a [EnumDescriptorProto]| -> BTreeMap<&'a str, &'a EnumDescriptorProto> {
            es.iter().map(|e| (e.name(), e)).collect()
        };
        let (orig, upd) = (enums(orig_enums), enums(upd_enums));
        let names: BTreeSet<&str> = orig.keys().chain(upd.keys()).copied().collect();
        for name in names {
            self.with_path(name, |ctx| match (orig.get(name), upd.get(name)) {
                (Some(_), None) => ctx.add(DifferenceType::EnumRemoved),
                (None, Some(_)) => ctx.add(DifferenceType::EnumAdded),
                (Some(o), Some(u)) => ctx.compare_enum(o, u),
                (None, None) => {}
            });
        }
    }

    fn compare_enum(&mut self, orig: &EnumDescriptorProto, upd: &EnumDescriptorProto) {
        // With allow_alias the first name of a number stands for it.
        let (o, u) = (by_number(orig), by_number(upd));
        let numbers: BTreeSet<i32> = o.keys().chain(u.keys()).copied().collect();
        for n in numbers {
            self.with_path(n.to_string(), |ctx| match (o.get(&n), u.get(&n)) {
                (Some(_), None) => ctx.add(DifferenceType::EnumConstRemoved),
                (None, Some(_)) => ctx.add(DifferenceType::EnumConstAdded),
                (Some(a), Some(b)) if a != b => ctx.add(DifferenceType::EnumConstChanged),
                _ => {}
            });
        }
    }

    fn compare_message(&mut self, orig: &'a DescriptorProto, upd: &'a DescriptorProto) {
        message::compare(self, orig, upd);
        self.compare_types(
            (&orig.nested_type, &orig.enum_type),
            (&upd.nested_type, &upd.enum_type),
        );
    }
}

fn by_number(e: &EnumDescriptorProto) -> BTreeMap<i32, String> {
    let mut m = BTreeMap::new();
    for v in &e.value {
        m.entry(v.number()).or_insert_with(|| v.name().to_string());
    }
    m
}
