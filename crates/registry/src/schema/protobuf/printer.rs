//! A linked `FileDescriptorProto` printed as .proto text. One fixed layout
//! (syntax, package, imports, options, then each message with its options,
//! fields in declaration order with oneofs at their first field, reserved
//! ranges, nested enums and messages), so the output doubles as the
//! canonical form: the same schema registered as text or as a descriptor
//! prints the same. Parsing the output gives back the same descriptor.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};

use super::options::{self, quote};

pub(super) fn print(file: &FileDescriptorProto) -> String {
    let mut p = Printer {
        out: String::new(),
        package: file.package().to_string(),
        proto3: file.syntax() == "proto3",
    };
    p.file(file);
    p.out
}

struct Printer {
    out: String,
    package: String,
    proto3: bool,
}

impl Printer {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn file(&mut self, file: &FileDescriptorProto) {
        let syntax = if self.proto3 { "proto3" } else { "proto2" };
        self.line(0, &format!("syntax = \"{syntax}\";"));
        if !self.package.is_empty() {
            self.line(0, &format!("package {};", self.package));
        }
        if !file.dependency.is_empty() {
            self.out.push('\n');
            for (i, dep) in file.dependency.iter().enumerate() {
                let i = i as i32;
                let kind = if file.public_dependency.contains(&i) {
                    "public "
                } else if file.weak_dependency.contains(&i) {
                    "weak "
                } else {
                    ""
                };
                self.line(0, &format!("import {kind}{};", quote(dep)));
            }
        }
        if let Some(o) = &file.options {
            let list = options::file_list(o);
            if !list.is_empty() {
                self.out.push('\n');
                for (name, value) in list {
                    self.line(0, &format!("option {name} = {value};"));
                }
            }
        }
        for m in &file.message_type {
            self.out.push('\n');
            self.message(0, m);
        }
        for e in &file.enum_type {
            self.out.push('\n');
            self.enumeration(0, e);
        }
        self.extensions(0, &file.extension);
        for s in &file.service {
            self.out.push('\n');
            self.line(0, &format!("service {} {{", s.name()));
            let deprecated = s.options.as_ref().and_then(|o| o.deprecated);
            for (name, value) in options::deprecated_list(deprecated) {
                self.line(1, &format!("option {name} = {value};"));
            }
            for m in &s.method {
                let cs = if m.client_streaming() { "stream " } else { "" };
                let ss = if m.server_streaming() { "stream " } else { "" };
                let head = format!(
                    "rpc {}({cs}{}) returns ({ss}{})",
                    m.name(),
                    self.type_ref(m.input_type()),
                    self.type_ref(m.output_type())
                );
                let opts = options::deprecated_list(m.options.as_ref().and_then(|o| o.deprecated));
                if opts.is_empty() {
                    self.line(1, &format!("{head};"));
                } else {
                    self.line(1, &format!("{head} {{"));
                    for (name, value) in opts {
                        self.line(2, &format!("option {name} = {value};"));
                    }
                    self.line(1, "}");
                }
            }
            self.line(0, "}");
        }
    }

    /// How a type is written: its full name less this file's package
    /// (resolves the same from anywhere in the file, as in Confluent's
    /// printed schemas), or the full name for other packages.
    fn type_ref(&self, full: &str) -> String {
        let full = full.strip_prefix('.').unwrap_or(full);
        if !self.package.is_empty() {
            if let Some(local) = full
                .strip_prefix(&self.package)
                .and_then(|r| r.strip_prefix('.'))
            {
                return local.to_string();
            }
        }
        full.to_string()
    }

    fn message(&mut self, depth: usize, m: &DescriptorProto) {
        self.line(depth, &format!("message {} {{", m.name()));
        let inner = depth + 1;
        if let Some(o) = &m.options {
            for (name, value) in options::message_list(o) {
                self.line(inner, &format!("option {name} = {value};"));
            }
        }
        let mut printed_oneofs = Vec::new();
        for f in &m.field {
            match f.oneof_index {
                Some(i) if f.proto3_optional != Some(true) => {
                    if printed_oneofs.contains(&i) {
                        continue;
                    }
                    printed_oneofs.push(i);
                    let name = m
                        .oneof_decl
                        .get(i as usize)
                        .map(|o| o.name())
                        .unwrap_or_default();
                    self.line(inner, &format!("oneof {name} {{"));
                    for member in m.field.iter().filter(|g| g.oneof_index == Some(i)) {
                        let text = self.field(m, member, true);
                        self.line(inner + 1, &text);
                    }
                    self.line(inner, "}");
                }
                _ => {
                    let text = self.field(m, f, false);
                    self.line(inner, &text);
                }
            }
        }
        if !m.reserved_range.is_empty() {
            let ranges: Vec<String> = m
                .reserved_range
                .iter()
                .map(|r| {
                    range_text(
                        r.start(),
                        r.end().saturating_sub(1),
                        super::parser::MAX_FIELD_NUMBER,
                    )
                })
                .collect();
            self.line(inner, &format!("reserved {};", ranges.join(", ")));
        }
        if !m.reserved_name.is_empty() {
            let names: Vec<String> = m.reserved_name.iter().map(|n| quote(n)).collect();
            self.line(inner, &format!("reserved {};", names.join(", ")));
        }
        if !m.extension_range.is_empty() {
            let ranges: Vec<String> = m
                .extension_range
                .iter()
                .map(|r| {
                    range_text(
                        r.start(),
                        r.end().saturating_sub(1),
                        super::parser::MAX_FIELD_NUMBER,
                    )
                })
                .collect();
            self.line(inner, &format!("extensions {};", ranges.join(", ")));
        }
        for e in &m.enum_type {
            self.enumeration(inner, e);
        }
        for n in &m.nested_type {
            if !is_map_entry(n) {
                self.message(inner, n);
            }
        }
        self.extensions(inner, &m.extension);
        self.line(depth, "}");
    }

    fn field(&self, owner: &DescriptorProto, f: &FieldDescriptorProto, in_oneof: bool) -> String {
        let mut text = String::new();
        let label = f.label.and_then(|l| Label::try_from(l).ok());
        if let Some(entry) = self.map_entry(owner, f) {
            let key = self.type_name(&entry.field[0]);
            let value = self.type_name(&entry.field[1]);
            let _ = write!(text, "map<{key}, {value}> ");
        } else {
            if !in_oneof {
                match label {
                    Some(Label::Repeated) => text.push_str("repeated "),
                    Some(Label::Required) => text.push_str("required "),
                    _ if f.proto3_optional == Some(true) || !self.proto3 => {
                        text.push_str("optional ")
                    }
                    _ => {}
                }
            }
            text.push_str(&self.type_name(f));
            text.push(' ');
        }
        let _ = write!(text, "{} = {}", f.name(), f.number());
        let mut opts = Vec::new();
        if let Some(d) = &f.default_value {
            let value = match f.r#type.and_then(|t| Type::try_from(t).ok()) {
                Some(Type::String | Type::Bytes) => quote(d),
                _ => d.clone(),
            };
            opts.push(format!("default = {value}"));
        }
        if let Some(j) = &f.json_name {
            // protoc fills json_name in every descriptor; only a name the
            // user chose is part of the schema.
            if *j != default_json_name(f.name()) {
                opts.push(format!("json_name = {}", quote(j)));
            }
        }
        if let Some(o) = &f.options {
            for (name, value) in options::field_list(o) {
                opts.push(format!("{name} = {value}"));
            }
        }
        if !opts.is_empty() {
            let _ = write!(text, " [{}]", opts.join(", "));
        }
        text.push(';');
        text
    }

    fn type_name(&self, f: &FieldDescriptorProto) -> String {
        match f.r#type.and_then(|t| Type::try_from(t).ok()) {
            Some(Type::Message | Type::Enum | Type::Group) | None => self.type_ref(f.type_name()),
            Some(t) => scalar_name(t).to_string(),
        }
    }

    /// The entry message of a map field: a repeated message field whose type
    /// is a `map_entry` message nested in `owner`.
    fn map_entry<'a>(
        &self,
        owner: &'a DescriptorProto,
        f: &FieldDescriptorProto,
    ) -> Option<&'a DescriptorProto> {
        if f.label != Some(Label::Repeated as i32) {
            return None;
        }
        let simple = f.type_name().rsplit('.').next()?;
        owner
            .nested_type
            .iter()
            .find(|n| n.name() == simple && is_map_entry(n) && n.field.len() == 2)
    }

    fn enumeration(&mut self, depth: usize, e: &EnumDescriptorProto) {
        self.line(depth, &format!("enum {} {{", e.name()));
        if let Some(o) = &e.options {
            for (name, value) in options::enum_list(o) {
                self.line(depth + 1, &format!("option {name} = {value};"));
            }
        }
        for v in &e.value {
            let deprecated = v.options.as_ref().and_then(|o| o.deprecated);
            let opts: Vec<String> = options::deprecated_list(deprecated)
                .into_iter()
                .map(|(n, val)| format!("{n} = {val}"))
                .collect();
            let suffix = if opts.is_empty() {
                String::new()
            } else {
                format!(" [{}]", opts.join(", "))
            };
            self.line(
                depth + 1,
                &format!("{} = {}{suffix};", v.name(), v.number()),
            );
        }
        if !e.reserved_range.is_empty() {
            let ranges: Vec<String> = e
                .reserved_range
                .iter()
                .map(|r| range_text(r.start(), r.end(), i32::MAX))
                .collect();
            self.line(depth + 1, &format!("reserved {};", ranges.join(", ")));
        }
        if !e.reserved_name.is_empty() {
            let names: Vec<String> = e.reserved_name.iter().map(|n| quote(n)).collect();
            self.line(depth + 1, &format!("reserved {};", names.join(", ")));
        }
        self.line(depth, "}");
    }

    /// `extend` blocks, one per extendee in first-seen order.
    fn extensions(&mut self, depth: usize, fields: &[FieldDescriptorProto]) {
        let mut extendees: Vec<&str> = Vec::new();
        for f in fields {
            if !extendees.contains(&f.extendee()) {
                extendees.push(f.extendee());
            }
        }
        let dummy = DescriptorProto::default();
        for extendee in extendees {
            if depth == 0 {
                self.out.push('\n');
            }
            self.line(depth, &format!("extend {} {{", self.type_ref(extendee)));
            // Extensions always carry a label, proto3 included.
            let saved = self.proto3;
            self.proto3 = false;
            for f in fields.iter().filter(|f| f.extendee() == extendee) {
                let text = self.field(&dummy, f, false);
                self.line(depth + 1, &text);
            }
            self.proto3 = saved;
            self.line(depth, "}");
        }
    }
}

fn is_map_entry(m: &DescriptorProto) -> bool {
    m.options
        .as_ref()
        .and_then(|o| o.map_entry)
        .unwrap_or(false)
}

/// An inclusive range as `reserved`/`extensions` write it.
fn range_text(start: i32, end: i32, max: i32) -> String {
    if start == end {
        start.to_string()
    } else if end == max {
        format!("{start} to max")
    } else {
        format!("{start} to {end}")
    }
}

/// protoc's default JSON name: `foo_bar_baz` -> `fooBarBaz`.
pub(super) fn default_json_name(name: &str) -> String {
    camel_case(name, false)
}

/// `name` without its underscores, each letter after one upper-cased (the
/// first too if `upper_first`). protoc derives JSON names and map entry
/// names (parser/body.rs) with this same rule, so they share it.
pub(super) fn camel_case(name: &str, upper_first: bool) -> String {
    let mut out = String::new();
    let mut upper = upper_first;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group | Type::Message | Type::Enum => "message",
    }
}
