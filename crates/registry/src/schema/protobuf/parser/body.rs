//! Declarations inside a file: messages (fields, maps, oneofs, reserved
//! ranges, extensions), enums, `extend` blocks and services.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    descriptor_proto, enum_descriptor_proto, DescriptorProto, EnumDescriptorProto,
    EnumValueDescriptorProto, FieldDescriptorProto, MethodDescriptorProto, OneofDescriptorProto,
    ServiceDescriptorProto,
};

use super::{scalar_type, Parser, MAX_FIELD_NUMBER};
use crate::schema::protobuf::lexer::Tok;
use crate::schema::protobuf::options;
use crate::schema::protobuf::printer::camel_case;
use crate::schema::protobuf::ProtoError;

impl Parser {
    pub(super) fn message(&mut self) -> Result<DescriptorProto, ProtoError> {
        if self.depth >= super::MAX_DEPTH {
            return Err(self.error(format!(
                "messages nested more than {} levels deep",
                super::MAX_DEPTH
            )));
        }
        self.depth += 1;
        let msg = self.message_body();
        self.depth -= 1;
        msg
    }

    fn message_body(&mut self) -> Result<DescriptorProto, ProtoError> {
        let name = self.ident()?;
        let mut msg = DescriptorProto {
            name: Some(name),
            ..Default::default()
        };
        self.expect('{')?;
        // Synthetic oneofs of proto3 `optional` fields come after the real
        // ones, as protoc orders them; collected here, appended at the end.
        let mut synthetic: Vec<(usize, String)> = Vec::new();
        while self.next_in_body("message", msg.name())? {
            match self.peek() {
                Some(Tok::Ident(kw)) => match kw.as_str() {
                    "message" => {
                        self.pos += 1;
                        let nested = self.message()?;
                        msg.nested_type.push(nested);
                    }
                    "enum" => {
                        self.pos += 1;
                        let e = self.enumeration()?;
                        msg.enum_type.push(e);
                    }
                    "option" => {
                        self.pos += 1;
                        let (name, value) = self.option_body()?;
                        self.expect(';')?;
                        options::set_message(&mut msg, &name, &value);
                    }
                    "oneof" => {
                        self.pos += 1;
                        self.oneof(&mut msg)?;
                    }
                    "reserved" => {
                        self.pos += 1;
                        self.message_reserved(&mut msg)?;
                    }
                    "extensions" => {
                        self.pos += 1;
                        for (start, end) in self.ranges(MAX_FIELD_NUMBER)? {
                            msg.extension_range.push(descriptor_proto::ExtensionRange {
                                start: Some(start),
                                end: Some(end + 1),
                                options: None,
                            });
                        }
                        self.bracket_options()?;
                        self.expect(';')?;
                    }
                    "extend" => {
                        self.pos += 1;
                        let fields = self.extend()?;
                        msg.extension.extend(fields);
                    }
                    _ => {
                        let (field, nested) = self.field(None)?;
                        if field.proto3_optional == Some(true) {
                            synthetic.push((msg.field.len(), format!("_{}", field.name())));
                        }
                        msg.field.push(field);
                        msg.nested_type.extend(nested);
                    }
                },
                // A field whose type is fully qualified (`.pkg.Type`).
                Some(Tok::Sym('.')) => {
                    let (field, _) = self.field(None)?;
                    msg.field.push(field);
                }
                _ => {
                    return Err(self.error(format!(
                        "expected a field or declaration in message {}, found {}",
                        msg.name(),
                        self.describe_next()
                    )))
                }
            }
        }
        for (field_index, oneof_name) in synthetic {
            msg.field[field_index].oneof_index = Some(msg.oneof_decl.len() as i32);
            msg.oneof_decl.push(OneofDescriptorProto {
                name: Some(oneof_name),
                options: None,
            });
        }
        Ok(msg)
    }

    /// One field declaration (the label keyword, if any, is next). Returns
    /// the field and, for a map field, its synthesized entry message.
    fn field(
        &mut self,
        oneof_index: Option<i32>,
    ) -> Result<(FieldDescriptorProto, Option<DescriptorProto>), ProtoError> {
        let mut label = None;
        if oneof_index.is_none() {
            for (word, l) in [
                ("optional", Label::Optional),
                ("required", Label::Required),
                ("repeated", Label::Repeated),
            ] {
                if self.peek_ident(word) {
                    self.pos += 1;
                    label = Some(l);
                    break;
                }
            }
        }
        if label == Some(Label::Required) && self.proto3 {
            return Err(self.error_at_prev("required fields are not allowed in proto3".into()));
        }
        if self.peek_ident("group") {
            return Err(self.error("proto2 groups are not supported".into()));
        }
        let mut field = FieldDescriptorProto::default();
        let mut entry = None;
        if self.peek_ident("map")
            && self.toks.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::Sym('<'))
        {
            if label.is_some() || oneof_index.is_some() {
                return Err(
                    self.error("a map field takes no label and cannot be in a oneof".into())
                );
            }
            self.pos += 2;
            let key_type = self.full_ident()?;
            self.expect(',')?;
            let value_type = self.full_ident()?;
            self.expect('>')?;
            let name = self.ident()?;
            let entry_name = map_entry_name(&name);
            let mut key = typed_field("key", 1, &key_type);
            let mut value = typed_field("value", 2, &value_type);
            key.label = Some(Label::Optional as i32);
            value.label = Some(Label::Optional as i32);
            if key.r#type.is_none()
                || matches!(key.r#type(), Type::Float | Type::Double | Type::Bytes)
            {
                return Err(self.error_at_prev(format!("invalid map key type `{key_type}`")));
            }
            entry = Some(DescriptorProto {
                name: Some(entry_name.clone()),
                field: vec![key, value],
                options: Some(prost_types::MessageOptions {
                    map_entry: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            });
            field.name = Some(name);
            field.label = Some(Label::Repeated as i32);
            field.type_name = Some(entry_name);
            field.r#type = Some(Type::Message as i32);
        } else {
            let type_name = self.full_ident()?;
            let name = self.ident()?;
            field = typed_field(&name, 0, &type_name);
            field.label = Some(label.unwrap_or(Label::Optional) as i32);
            if label == Some(Label::Optional) && self.proto3 {
                field.proto3_optional = Some(true);
            }
        }
        self.expect('=')?;
        field.number = Some(self.field_number()?);
        field.oneof_index = oneof_index;
        for (name, value) in self.bracket_options()? {
            options::set_field(&mut field, &name, &value);
        }
        if self.proto3 && field.default_value.is_some() {
            return Err(self.error("default values are not allowed in proto3".into()));
        }
        self.expect(';')?;
        Ok((field, entry))
    }

    fn oneof(&mut self, msg: &mut DescriptorProto) -> Result<(), ProtoError> {
        let name = self.ident()?;
        let index = msg.oneof_decl.len() as i32;
        msg.oneof_decl.push(OneofDescriptorProto {
            name: Some(name.clone()),
            options: None,
        });
        self.expect('{')?;
        let mut count = 0;
        while self.next_in_body("oneof", &name)? {
            if self.peek_ident("option") {
                self.pos += 1;
                self.option_body()?;
                self.expect(';')?;
                continue;
            }
            if self.peek_ident("optional")
                || self.peek_ident("required")
                || self.peek_ident("repeated")
            {
                return Err(self.error("fields in a oneof take no label".into()));
            }
            let (field, _) = self.field(Some(index))?;
            msg.field.push(field);
            count += 1;
        }
        if count == 0 {
            return Err(self.error_at_prev(format!("oneof {name} has no fields")));
        }
        Ok(())
    }

    /// `2, 15, 9 to 11, 40 to max` (inclusive bounds).
    fn ranges(&mut self, max: i32) -> Result<Vec<(i32, i32)>, ProtoError> {
        let mut out = Vec::new();
        loop {
            let start = self.int()?;
            let end = if self.peek_ident("to") {
                self.pos += 1;
                if self.peek_ident("max") {
                    self.pos += 1;
                    max as i64
                } else {
                    self.int()?
                }
            } else {
                start
            };
            if start > end || start < i32::MIN as i64 || end > max as i64 {
                return Err(self.error_at_prev(format!("invalid range {start} to {end}")));
            }
            out.push((start as i32, end as i32));
            if !self.eat(',') {
                return Ok(out);
            }
        }
    }

    /// `reserved` ranges or names; `None` when names were read into `names`.
    fn reserved(
        &mut self,
        max: i32,
        names: &mut Vec<String>,
    ) -> Result<Vec<(i32, i32)>, ProtoError> {
        let ranges = if matches!(self.peek(), Some(Tok::Str(_))) {
            loop {
                names.push(self.string()?);
                if !self.eat(',') {
                    break;
                }
            }
            Vec::new()
        } else {
            self.ranges(max)?
        };
        self.expect(';')?;
        Ok(ranges)
    }

    fn message_reserved(&mut self, msg: &mut DescriptorProto) -> Result<(), ProtoError> {
        for (start, end) in self.reserved(MAX_FIELD_NUMBER, &mut msg.reserved_name)? {
            msg.reserved_range.push(descriptor_proto::ReservedRange {
                start: Some(start),
                end: Some(end + 1),
            });
        }
        Ok(())
    }

    /// Steps to the next item of a `{ ... }` body (after its `{`): false
    /// at the closing `}`, an error at the end of the input; empty
    /// statements (`;`) are skipped. Message, oneof, enum, extend and
    /// service bodies all end and skip the same way, so they share this.
    fn next_in_body(&mut self, what: &str, name: &str) -> Result<bool, ProtoError> {
        loop {
            if self.eat('}') {
                return Ok(false);
            }
            if self.at_end() {
                return Err(self.error(format!("missing `}}` closing {what} {name}")));
            }
            if !self.eat(';') {
                return Ok(true);
            }
        }
    }

    pub(super) fn enumeration(&mut self) -> Result<EnumDescriptorProto, ProtoError> {
        let name = self.ident()?;
        let mut e = EnumDescriptorProto {
            name: Some(name.clone()),
            ..Default::default()
        };
        self.expect('{')?;
        while self.next_in_body("enum", &name)? {
            let word = self.ident()?;
            match word.as_str() {
                "option" => {
                    let (oname, value) = self.option_body()?;
                    self.expect(';')?;
                    options::set_enum(&mut e, &oname, &value);
                }
                "reserved" => {
                    for (start, end) in self.reserved(i32::MAX, &mut e.reserved_name)? {
                        e.reserved_range
                            .push(enum_descriptor_proto::EnumReservedRange {
                                start: Some(start),
                                end: Some(end),
                            });
                    }
                }
                _ => {
                    self.expect('=')?;
                    let n = self.int()?;
                    let number = i32::try_from(n).map_err(|_| {
                        self.error_at_prev(format!("enum value {n} is out of range"))
                    })?;
                    let mut value = EnumValueDescriptorProto {
                        name: Some(word),
                        number: Some(number),
                        options: None,
                    };
                    for (oname, ovalue) in self.bracket_options()? {
                        options::set_enum_value(&mut value, &oname, &ovalue);
                    }
                    self.expect(';')?;
                    e.value.push(value);
                }
            }
        }
        if e.value.is_empty() {
            return Err(self.error_at_prev(format!("enum {name} has no values")));
        }
        if self.proto3 && e.value[0].number() != 0 {
            return Err(self.error_at_prev(format!(
                "the first value of enum {name} must be zero in proto3"
            )));
        }
        Ok(e)
    }

    pub(super) fn extend(&mut self) -> Result<Vec<FieldDescriptorProto>, ProtoError> {
        let extendee = self.full_ident()?;
        self.expect('{')?;
        let mut out = Vec::new();
        while self.next_in_body("extend", &extendee)? {
            let (mut field, entry) = self.field(None)?;
            if entry.is_some() {
                return Err(self.error_at_prev("an extension cannot be a map".into()));
            }
            field.extendee = Some(extendee.clone());
            field.proto3_optional = None;
            out.push(field);
        }
        Ok(out)
    }

    pub(super) fn service(&mut self) -> Result<ServiceDescriptorProto, ProtoError> {
        let name = self.ident()?;
        let mut s = ServiceDescriptorProto {
            name: Some(name.clone()),
            ..Default::default()
        };
        self.expect('{')?;
        while self.next_in_body("service", &name)? {
            let word = self.ident()?;
            match word.as_str() {
                "option" => {
                    let (oname, value) = self.option_body()?;
                    self.expect(';')?;
                    options::set_service(&mut s, &oname, &value);
                }
                "rpc" => {
                    let mut m = MethodDescriptorProto {
                        name: Some(self.ident()?),
                        ..Default::default()
                    };
                    self.expect('(')?;
                    if self.peek_ident("stream") {
                        self.pos += 1;
                        m.client_streaming = Some(true);
                    }
                    m.input_type = Some(self.full_ident()?);
                    self.expect(')')?;
                    if self.ident()? != "returns" {
                        return Err(self.error_at_prev("expected `returns`".into()));
                    }
                    self.expect('(')?;
                    if self.peek_ident("stream") {
                        self.pos += 1;
                        m.server_streaming = Some(true);
                    }
                    m.output_type = Some(self.full_ident()?);
                    self.expect(')')?;
                    if self.eat('{') {
                        while !self.eat('}') {
                            if self.eat(';') {
                                continue;
                            }
                            if self.ident()? != "option" {
                                return Err(
                                    self.error_at_prev("expected `option` in rpc body".into())
                                );
                            }
                            let (oname, value) = self.option_body()?;
                            self.expect(';')?;
                            options::set_method(&mut m, &oname, &value);
                        }
                    } else {
                        self.expect(';')?;
                    }
                    s.method.push(m);
                }
                other => {
                    return Err(
                        self.error_at_prev(format!("unexpected `{other}` in service {name}"))
                    )
                }
            }
        }
        Ok(s)
    }
}

/// A field whose type is a scalar keyword (type set) or a named type (type
/// left unset; `resolve.rs` fills it in).
fn typed_field(name: &str, number: i32, type_name: &str) -> FieldDescriptorProto {
    let mut f = FieldDescriptorProto {
        name: Some(name.to_string()),
        json_name: None,
        ..Default::default()
    };
    if number != 0 {
        f.number = Some(number);
    }
    match scalar_type(type_name) {
        Some(t) => f.r#type = Some(t as i32),
        None => f.type_name = Some(type_name.to_string()),
    }
    f
}

/// protoc's entry message name: `my_field` -> `MyFieldEntry`.
fn map_entry_name(field: &str) -> String {
    let mut out = camel_case(field, true);
    out.push_str("Entry");
    out
}
