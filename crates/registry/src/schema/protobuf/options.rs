//! The standard options (`java_package`, `deprecated`, `packed`, ...) both
//! ways: set from an option statement into the descriptor's typed fields, and
//! listed back from a descriptor for printing.
//!
//! Custom options (`(my.ext) = ...`) are accepted and dropped: a descriptor
//! keeps them as extension fields prost cannot represent, so keeping them on
//! the text side only would make the text and descriptor forms of one schema
//! differ. The canonical form therefore ignores them on both sides.

use prost_types::field_options::{CType, JsType};
use prost_types::file_options::OptimizeMode;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumOptions, EnumValueDescriptorProto, EnumValueOptions,
    FieldDescriptorProto, FieldOptions, FileDescriptorProto, FileOptions, MessageOptions,
    MethodDescriptorProto, MethodOptions, ServiceDescriptorProto, ServiceOptions,
};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum OptionValue {
    Str(String),
    /// An integer or float, as written (sign included).
    Number(String),
    /// `true`, `false` or an enum constant.
    Ident(String),
    /// `{ ... }` text-format value (custom options only).
    Aggregate,
}

impl OptionValue {
    fn boolean(&self) -> Option<bool> {
        match self {
            OptionValue::Ident(s) if s == "true" => Some(true),
            OptionValue::Ident(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    fn string(&self) -> Option<String> {
        match self {
            OptionValue::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

pub(super) fn set_file(file: &mut FileDescriptorProto, name: &str, v: &OptionValue) {
    let o = file.options.get_or_insert_with(FileOptions::default);
    match name {
        "java_package" => o.java_package = v.string(),
        "java_outer_classname" => o.java_outer_classname = v.string(),
        "java_multiple_files" => o.java_multiple_files = v.boolean(),
        "java_string_check_utf8" => o.java_string_check_utf8 = v.boolean(),
        "optimize_for" => {
            o.optimize_for = match v {
                OptionValue::Ident(s) => OptimizeMode::from_str_name(s).map(|m| m as i32),
                _ => None,
            }
        }
        "go_package" => o.go_package = v.string(),
        "cc_generic_services" => o.cc_generic_services = v.boolean(),
        "java_generic_services" => o.java_generic_services = v.boolean(),
        "py_generic_services" => o.py_generic_services = v.boolean(),
        "deprecated" => o.deprecated = v.boolean(),
        "cc_enable_arenas" => o.cc_enable_arenas = v.boolean(),
        "objc_class_prefix" => o.objc_class_prefix = v.string(),
        "csharp_namespace" => o.csharp_namespace = v.string(),
        "swift_prefix" => o.swift_prefix = v.string(),
        "php_class_prefix" => o.php_class_prefix = v.string(),
        "php_namespace" => o.php_namespace = v.string(),
        "php_metadata_namespace" => o.php_metadata_namespace = v.string(),
        "ruby_package" => o.ruby_package = v.string(),
        _ => {}
    }
    if file.options == Some(FileOptions::default()) {
        file.options = None;
    }
}

pub(super) fn set_message(msg: &mut DescriptorProto, name: &str, v: &OptionValue) {
    let o = msg.options.get_or_insert_with(MessageOptions::default);
    match name {
        "message_set_wire_format" => o.message_set_wire_format = v.boolean(),
        "no_standard_descriptor_accessor" => o.no_standard_descriptor_accessor = v.boolean(),
        "deprecated" => o.deprecated = v.boolean(),
        "map_entry" => o.map_entry = v.boolean(),
        _ => {}
    }
    if msg.options == Some(MessageOptions::default()) {
        msg.options = None;
    }
}

pub(super) fn set_field(field: &mut FieldDescriptorProto, name: &str, v: &OptionValue) {
    match name {
        // Pseudo-options: stored in the field itself.
        "default" => {
            field.default_value = Some(match v {
                OptionValue::Str(s) | OptionValue::Number(s) | OptionValue::Ident(s) => s.clone(),
                OptionValue::Aggregate => String::new(),
            });
            return;
        }
        "json_name" => {
            field.json_name = v.string();
            return;
        }
        _ => {}
    }
    let o = field.options.get_or_insert_with(FieldOptions::default);
    match name {
        "ctype" => {
            o.ctype = match v {
                OptionValue::Ident(s) => CType::from_str_name(s).map(|t| t as i32),
                _ => None,
            }
        }
        "jstype" => {
            o.jstype = match v {
                OptionValue::Ident(s) => JsType::from_str_name(s).map(|t| t as i32),
                _ => None,
            }
        }
        "packed" => o.packed = v.boolean(),
        "lazy" => o.lazy = v.boolean(),
        "deprecated" => o.deprecated = v.boolean(),
        "weak" => o.weak = v.boolean(),
        _ => {}
    }
    if field.options == Some(FieldOptions::default()) {
        field.options = None;
    }
}

pub(super) fn set_enum(e: &mut EnumDescriptorProto, name: &str, v: &OptionValue) {
    let o = e.options.get_or_insert_with(EnumOptions::default);
    match name {
        "allow_alias" => o.allow_alias = v.boolean(),
        "deprecated" => o.deprecated = v.boolean(),
        _ => {}
    }
    if e.options == Some(EnumOptions::default()) {
        e.options = None;
    }
}

pub(super) fn set_enum_value(ev: &mut EnumValueDescriptorProto, name: &str, v: &OptionValue) {
    if name == "deprecated" {
        ev.options = Some(EnumValueOptions {
            deprecated: v.boolean(),
            ..Default::default()
        });
    }
}

pub(super) fn set_service(s: &mut ServiceDescriptorProto, name: &str, v: &OptionValue) {
    if name == "deprecated" {
        s.options = Some(ServiceOptions {
            deprecated: v.boolean(),
            ..Default::default()
        });
    }
}

pub(super) fn set_method(m: &mut MethodDescriptorProto, name: &str, v: &OptionValue) {
    if name == "deprecated" {
        m.options = Some(MethodOptions {
            deprecated: v.boolean(),
            ..Default::default()
        });
    }
}

/// `(name, value as .proto text)` of each option set, in a fixed order.
pub(super) fn file_list(o: &FileOptions) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    push_str(&mut out, "java_package", &o.java_package);
    push_str(&mut out, "java_outer_classname", &o.java_outer_classname);
    push_bool(&mut out, "java_multiple_files", o.java_multiple_files);
    push_bool(&mut out, "java_string_check_utf8", o.java_string_check_utf8);
    if let Some(m) = o.optimize_for.and_then(|m| OptimizeMode::try_from(m).ok()) {
        out.push(("optimize_for", m.as_str_name().to_string()));
    }
    push_str(&mut out, "go_package", &o.go_package);
    push_bool(&mut out, "cc_generic_services", o.cc_generic_services);
    push_bool(&mut out, "java_generic_services", o.java_generic_services);
    push_bool(&mut out, "py_generic_services", o.py_generic_services);
    push_bool(&mut out, "deprecated", o.deprecated);
    push_bool(&mut out, "cc_enable_arenas", o.cc_enable_arenas);
    push_str(&mut out, "objc_class_prefix", &o.objc_class_prefix);
    push_str(&mut out, "csharp_namespace", &o.csharp_namespace);
    push_str(&mut out, "swift_prefix", &o.swift_prefix);
    push_str(&mut out, "php_class_prefix", &o.php_class_prefix);
    push_str(&mut out, "php_namespace", &o.php_namespace);
    push_str(
        &mut out,
        "php_metadata_namespace",
        &o.php_metadata_namespace,
    );
    push_str(&mut out, "ruby_package", &o.ruby_package);
    out
}

pub(super) fn message_list(o: &MessageOptions) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    push_bool(
        &mut out,
        "message_set_wire_format",
        o.message_set_wire_format,
    );
    push_bool(
        &mut out,
        "no_standard_descriptor_accessor",
        o.no_standard_descriptor_accessor,
    );
    push_bool(&mut out, "deprecated", o.deprecated);
    // map_entry is implied by the `map<K, V>` syntax the printer uses.
    out
}

pub(super) fn field_list(o: &FieldOptions) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(t) = o.ctype.and_then(|t| CType::try_from(t).ok()) {
        out.push(("ctype", t.as_str_name().to_string()));
    }
    push_bool(&mut out, "packed", o.packed);
    if let Some(t) = o.jstype.and_then(|t| JsType::try_from(t).ok()) {
        out.push(("jstype", t.as_str_name().to_string()));
    }
    push_bool(&mut out, "lazy", o.lazy);
    push_bool(&mut out, "deprecated", o.deprecated);
    push_bool(&mut out, "weak", o.weak);
    out
}

pub(super) fn enum_list(o: &EnumOptions) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    push_bool(&mut out, "allow_alias", o.allow_alias);
    push_bool(&mut out, "deprecated", o.deprecated);
    out
}

pub(super) fn deprecated_list(deprecated: Option<bool>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    push_bool(&mut out, "deprecated", deprecated);
    out
}

fn push_str(out: &mut Vec<(&'static str, String)>, name: &'static str, v: &Option<String>) {
    if let Some(s) = v {
        out.push((name, quote(s)));
    }
}

fn push_bool(out: &mut Vec<(&'static str, String)>, name: &'static str, v: Option<bool>) {
    if let Some(b) = v {
        out.push((name, b.to_string()));
    }
}

/// A .proto string literal for `s`.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
