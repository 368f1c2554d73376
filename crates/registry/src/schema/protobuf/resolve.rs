//! Linking: qualifies every type name in a file (`Foo` -> `.pkg.Foo`), sets
//! each field's type to MESSAGE or ENUM, and checks what protoc checks before
//! it accepts a file: undefined types, duplicate names and field numbers,
//! reserved numbers and names in use. Works the same on a parsed .proto
//! (relative names) and on a client's descriptor (already qualified names,
//! which are then only checked to exist).

use std::collections::{HashMap, HashSet};

use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};

use super::ProtoError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SymbolKind {
    Message,
    Enum,
    /// Any other name a lookup may meet: a package, a service, a value.
    Other,
}

/// Every symbol visible to one file: its own and those of the files it
/// imports (transitively; lenient where protoc would demand a direct import).
#[derive(Default)]
pub(super) struct Symbols {
    map: HashMap<String, SymbolKind>,
}

impl Symbols {
    /// Adds the symbols of `file`; a name defined twice is an error.
    pub(super) fn add_file(
        &mut self,
        file: &FileDescriptorProto,
        own: bool,
    ) -> Result<(), ProtoError> {
        let package = file.package();
        if !package.is_empty() {
            let mut prefix = String::new();
            for part in package.split('.') {
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(part);
                self.map.entry(prefix.clone()).or_insert(SymbolKind::Other);
            }
        }
        let mut added = Vec::new();
        for m in &file.message_type {
            self.add_message(package, m, &mut added);
        }
        for e in &file.enum_type {
            added.push((join(package, e.name()), SymbolKind::Enum));
            for v in &e.value {
                // Enum values live in the enum's enclosing scope (C++ rules).
                added.push((join(package, v.name()), SymbolKind::Other));
            }
        }
        for s in &file.service {
            added.push((join(package, s.name()), SymbolKind::Other));
        }
        let mut seen = HashSet::new();
        for (name, kind) in added {
            if !seen.insert(name.clone())
                || (own && self.map.contains_key(&name) && kind != SymbolKind::Other)
            {
                return Err(ProtoError::Invalid(format!(
                    "\"{name}\" is already defined"
                )));
            }
            self.map.insert(name, kind);
        }
        Ok(())
    }

    fn add_message(&self, scope: &str, m: &DescriptorProto, out: &mut Vec<(String, SymbolKind)>) {
        let full = join(scope, m.name());
        out.push((full.clone(), SymbolKind::Message));
        for n in &m.nested_type {
            self.add_message(&full, n, out);
        }
        for e in &m.enum_type {
            out.push((join(&full, e.name()), SymbolKind::Enum));
            for v in &e.value {
                out.push((join(&full, v.name()), SymbolKind::Other));
            }
        }
    }

    /// protobuf's scoping: `name` used inside `scope` is looked up in
    /// `scope`, then each enclosing scope; a leading dot means fully
    /// qualified. Returns the full name (no leading dot) and its kind.
    fn lookup(&self, scope: &str, name: &str) -> Option<(String, SymbolKind)> {
        if let Some(full) = name.strip_prefix('.') {
            return self.map.get(full).map(|k| (full.to_string(), *k));
        }
        let first = name.split('.').next().unwrap_or(name);
        let mut scope = scope.to_string();
        loop {
            // As protoc: the first component decides the scope; the rest of
            // the name must then exist inside it.
            let candidate_first = join(&scope, first);
            if self.map.contains_key(&candidate_first) {
                let full = join(&scope, name);
                if let Some(kind) = self.map.get(&full) {
                    return Some((full, *kind));
                }
            }
            if scope.is_empty() {
                return None;
            }
            scope = match scope.rfind('.') {
                Some(i) => scope[..i].to_string(),
                None => String::new(),
            };
        }
    }
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// Qualifies and checks `file` against `symbols` (which must already hold
/// the file's own symbols and those of its imports).
pub(super) fn link(file: &mut FileDescriptorProto, symbols: &Symbols) -> Result<(), ProtoError> {
    let package = file.package().to_string();
    for m in &mut file.message_type {
        link_message(&package, m, symbols)?;
    }
    for f in &mut file.extension {
        link_field(&package, f, symbols, "extension")?;
    }
    for s in &mut file.service {
        let service = s.name().to_string();
        for m in &mut s.method {
            let method = m.name().to_string();
            for (what, t) in [("input", &mut m.input_type), ("output", &mut m.output_type)] {
                let name = t.clone().unwrap_or_default();
                match symbols.lookup(&package, &name) {
                    Some((full, SymbolKind::Message)) => *t = Some(format!(".{full}")),
                    _ => {
                        return Err(ProtoError::Invalid(format!(
                            "{what} type \"{name}\" of method {service}.{method} is not a defined message"
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

fn link_message(scope: &str, m: &mut DescriptorProto, symbols: &Symbols) -> Result<(), ProtoError> {
    let full = join(scope, m.name());
    let mut numbers = HashMap::new();
    let mut names = HashSet::new();
    for f in &m.field {
        let where_ = format!("{full}.{}", f.name());
        if let Some(other) = numbers.insert(f.number(), f.name().to_string()) {
            return Err(ProtoError::Invalid(format!(
                "field number {} of {where_} is already used by field {other}",
                f.number()
            )));
        }
        if !names.insert(f.name().to_string()) {
            return Err(ProtoError::Invalid(format!(
                "field {where_} is defined twice"
            )));
        }
        if m.reserved_range
            .iter()
            .any(|r| (r.start()..r.end()).contains(&f.number()))
        {
            return Err(ProtoError::Invalid(format!(
                "field {where_} uses reserved number {}",
                f.number()
            )));
        }
        if m.reserved_name.iter().any(|n| n == f.name()) {
            return Err(ProtoError::Invalid(format!(
                "field {where_} uses a reserved name"
            )));
        }
        if let Some(i) = f.oneof_index {
            if i < 0 || i as usize >= m.oneof_decl.len() {
                return Err(ProtoError::Invalid(format!(
                    "field {where_} names a oneof that does not exist"
                )));
            }
        }
    }
    for f in &mut m.field {
        link_field(&full, f, symbols, &full)?;
    }
    for f in &mut m.extension {
        link_field(&full, f, symbols, &full)?;
    }
    for e in &m.enum_type {
        check_enum(&join(&full, e.name()), e)?;
    }
    for n in &mut m.nested_type {
        link_message(&full, n, symbols)?;
    }
    Ok(())
}

pub(super) fn check_file_enums(file: &FileDescriptorProto) -> Result<(), ProtoError> {
    for e in &file.enum_type {
        check_enum(&join(file.package(), e.name()), e)?;
    }
    Ok(())
}

fn check_enum(full: &str, e: &prost_types::EnumDescriptorProto) -> Result<(), ProtoError> {
    let allow_alias = e
        .options
        .as_ref()
        .and_then(|o| o.allow_alias)
        .unwrap_or(false);
    let mut numbers = HashMap::new();
    for v in &e.value {
        if let Some(other) = numbers.insert(v.number(), v.name()) {
            if !allow_alias {
                return Err(ProtoError::Invalid(format!(
                    "value {} of enum {full} uses number {} already used by {other} (set allow_alias to allow it)",
                    v.name(),
                    v.number()
                )));
            }
        }
    }
    Ok(())
}

fn link_field(
    scope: &str,
    f: &mut FieldDescriptorProto,
    symbols: &Symbols,
    owner: &str,
) -> Result<(), ProtoError> {
    if let Some(extendee) = f.extendee.clone() {
        match symbols.lookup(scope, &extendee) {
            Some((full, SymbolKind::Message)) => f.extendee = Some(format!(".{full}")),
            _ => {
                return Err(ProtoError::Invalid(format!(
                    "\"{extendee}\" extended by {owner}.{} is not a defined message",
                    f.name()
                )))
            }
        }
    }
    let Some(name) = f.type_name.clone() else {
        if f.r#type.is_none() {
            return Err(ProtoError::Invalid(format!(
                "field {owner}.{} has no type",
                f.name()
            )));
        }
        return Ok(());
    };
    let resolved = symbols.lookup(scope, &name);
    let (full, kind) = match resolved {
        Some((full, kind @ (SymbolKind::Message | SymbolKind::Enum))) => (full, kind),
        _ => {
            return Err(ProtoError::Invalid(format!(
                "type \"{name}\" of field {owner}.{} is not defined (a message or enum of this file or of an import)",
                f.name()
            )))
        }
    };
    f.type_name = Some(format!(".{full}"));
    let expected = if kind == SymbolKind::Enum {
        Type::Enum
    } else {
        Type::Message
    };
    match f.r#type.and_then(|t| Type::try_from(t).ok()) {
        // A group keeps its type; otherwise the descriptor must agree.
        Some(Type::Group) if kind == SymbolKind::Message => {}
        Some(t)
            if f.type_name.is_some() && t != expected && t != Type::Message && t != Type::Enum =>
        {
            return Err(ProtoError::Invalid(format!(
                "field {owner}.{} has a named type and scalar kind {t:?}",
                f.name()
            )))
        }
        _ => f.r#type = Some(expected as i32),
    }
    Ok(())
}
