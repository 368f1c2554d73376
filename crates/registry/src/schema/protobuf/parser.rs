//! .proto text (proto2 and proto3) to a `FileDescriptorProto`, as protoc
//! would build it before linking: type names stay as written here and are
//! qualified by `resolve.rs`. Map fields become nested `XxxEntry` messages and
//! proto3 `optional` fields get their synthetic oneof, exactly as protoc
//! does, so a schema registered as text and the descriptor a client generated
//! from the same file compare equal.
//!
//! Why hand-written: the grammar is small, and the crates that parse it pull
//! in diagnostics frameworks (miette, logos) we would build on 2 cores for a
//! few hundred lines of work.

use prost_types::field_descriptor_proto::Type;
use prost_types::FileDescriptorProto;

use super::lexer::{tokenize, Tok, Token};
use super::options::{self, OptionValue};
use super::ProtoError;

mod body;

/// Highest field number (2^29 - 1).
pub(super) const MAX_FIELD_NUMBER: i32 = 536_870_911;

pub(super) fn parse_file(name: &str, src: &str) -> Result<FileDescriptorProto, ProtoError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        proto3: false,
        depth: 0,
    };
    let mut file = FileDescriptorProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    if p.peek_ident("syntax") {
        p.next();
        p.expect('=')?;
        let syntax = p.string()?;
        match syntax.as_str() {
            "proto2" => {}
            "proto3" => p.proto3 = true,
            other => return Err(p.error(format!("unknown syntax \"{other}\""))),
        }
        p.expect(';')?;
        // protoc leaves proto2 (the default) unsaid in descriptors.
        if p.proto3 {
            file.syntax = Some(syntax);
        }
    } else if p.peek_ident("edition") {
        return Err(
            p.error("protobuf editions are not supported (use syntax proto2 or proto3)".into())
        );
    }
    while !p.at_end() {
        if p.eat(';') {
            continue;
        }
        let kw = p.ident()?;
        match kw.as_str() {
            "package" => {
                if file.package.is_some() {
                    return Err(p.error("more than one package statement".into()));
                }
                file.package = Some(p.full_ident()?);
                p.expect(';')?;
            }
            "import" => {
                let mut kind = "";
                if p.peek_ident("public") || p.peek_ident("weak") {
                    kind = if p.ident()? == "public" {
                        "public"
                    } else {
                        "weak"
                    };
                }
                let path = p.string()?;
                p.expect(';')?;
                let index = file.dependency.len() as i32;
                match kind {
                    "public" => file.public_dependency.push(index),
                    "weak" => file.weak_dependency.push(index),
                    _ => {}
                }
                file.dependency.push(path);
            }
            "option" => {
                let (name, value) = p.option_body()?;
                p.expect(';')?;
                options::set_file(&mut file, &name, &value);
            }
            "message" => {
                let msg = p.message()?;
                file.message_type.push(msg);
            }
            "enum" => {
                let e = p.enumeration()?;
                file.enum_type.push(e);
            }
            "service" => {
                let s = p.service()?;
                file.service.push(s);
            }
            "extend" => {
                let fields = p.extend()?;
                file.extension.extend(fields);
            }
            other => return Err(p.error_at_prev(format!("unexpected `{other}` at top level"))),
        }
    }
    Ok(file)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    proto3: bool,
    /// Message nesting depth, capped so a hostile schema cannot overflow
    /// the stack (the parser recurses into nested messages).
    depth: usize,
}

/// Deepest message nesting accepted (protoc's own limit is 100 too).
const MAX_DEPTH: usize = 100;

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == word)
    }

    fn peek_sym(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Sym(c))
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }

    fn error(&self, msg: String) -> ProtoError {
        match self.toks.get(self.pos).or_else(|| self.toks.last()) {
            Some(t) => ProtoError::Syntax {
                line: t.line,
                col: t.col,
                msg,
            },
            None => ProtoError::Syntax {
                line: 1,
                col: 1,
                msg,
            },
        }
    }

    fn error_at_prev(&mut self, msg: String) -> ProtoError {
        self.pos = self.pos.saturating_sub(1);
        self.error(msg)
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Int(n)) => format!("`{n}`"),
            Some(Tok::Float(f)) => format!("`{f}`"),
            Some(Tok::Str(s)) => format!("\"{s}\""),
            Some(Tok::Sym(c)) => format!("`{c}`"),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek_sym(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ProtoError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`, found {}", self.describe_next())))
        }
    }

    fn ident(&mut self) -> Result<String, ProtoError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error(format!("expected a name, found {}", self.describe_next()))),
        }
    }

    /// `a.b.c`, optionally with a leading dot (fully qualified type names).
    fn full_ident(&mut self) -> Result<String, ProtoError> {
        let mut s = String::new();
        if self.eat('.') {
            s.push('.');
        }
        s.push_str(&self.ident()?);
        while self.peek_sym('.') {
            self.pos += 1;
            s.push('.');
            s.push_str(&self.ident()?);
        }
        Ok(s)
    }

    /// One or more adjacent string literals, concatenated.
    fn string(&mut self) -> Result<String, ProtoError> {
        let mut s = match self.peek() {
            Some(Tok::Str(s)) => s.clone(),
            _ => {
                return Err(self.error(format!("expected a string, found {}", self.describe_next())))
            }
        };
        self.pos += 1;
        while let Some(Tok::Str(more)) = self.peek() {
            s.push_str(more);
            self.pos += 1;
        }
        Ok(s)
    }

    fn int(&mut self) -> Result<i64, ProtoError> {
        let neg = self.eat('-');
        match self.peek() {
            Some(Tok::Int(n)) if *n <= i64::MAX as u64 => {
                let n = *n as i64;
                self.pos += 1;
                Ok(if neg { -n } else { n })
            }
            _ => Err(self.error(format!(
                "expected an integer, found {}",
                self.describe_next()
            ))),
        }
    }

    fn field_number(&mut self) -> Result<i32, ProtoError> {
        let n = self.int()?;
        if !(1..=MAX_FIELD_NUMBER as i64).contains(&n) {
            return Err(self.error_at_prev(format!(
                "field number {n} is out of range (1 to {MAX_FIELD_NUMBER})"
            )));
        }
        Ok(n as i32)
    }

    /// `name = value` of an option statement; `name` may be a custom option
    /// `(foo.bar).baz`.
    fn option_body(&mut self) -> Result<(String, OptionValue), ProtoError> {
        let mut name = String::new();
        loop {
            if self.eat('(') {
                name.push('(');
                name.push_str(&self.full_ident()?);
                self.expect(')')?;
                name.push(')');
            } else {
                name.push_str(&self.ident()?);
            }
            if !self.eat('.') {
                break;
            }
            name.push('.');
        }
        self.expect('=')?;
        let value = self.option_value()?;
        Ok((name, value))
    }

    fn option_value(&mut self) -> Result<OptionValue, ProtoError> {
        if self.peek_sym('{') {
            // A text-format aggregate (custom options only): skipped whole.
            let mut depth = 0;
            loop {
                match self.next() {
                    Some(Tok::Sym('{')) => depth += 1,
                    Some(Tok::Sym('}')) => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(OptionValue::Aggregate);
                        }
                    }
                    Some(_) => {}
                    None => return Err(self.error("unterminated option value `{`".into())),
                }
            }
        }
        let neg = self.eat('-');
        if !neg {
            self.eat('+');
        }
        let sign = if neg { "-" } else { "" };
        match self.peek().cloned() {
            Some(Tok::Str(_)) => Ok(OptionValue::Str(self.string()?)),
            Some(Tok::Int(n)) => {
                self.pos += 1;
                Ok(OptionValue::Number(format!("{sign}{n}")))
            }
            Some(Tok::Float(f)) => {
                self.pos += 1;
                Ok(OptionValue::Number(format!("{sign}{f}")))
            }
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                match s.as_str() {
                    "inf" | "nan" => Ok(OptionValue::Number(format!("{sign}{s}"))),
                    _ if neg => Err(self.error_at_prev(format!("`-{s}` is not a value"))),
                    _ => Ok(OptionValue::Ident(s)),
                }
            }
            _ => Err(self.error(format!(
                "expected an option value, found {}",
                self.describe_next()
            ))),
        }
    }

    /// `[a = 1, (b) = "x"]` after a field or enum value; empty when absent.
    fn bracket_options(&mut self) -> Result<Vec<(String, OptionValue)>, ProtoError> {
        let mut out = Vec::new();
        if self.eat('[') {
            loop {
                out.push(self.option_body()?);
                if self.eat(']') {
                    break;
                }
                self.expect(',')?;
            }
        }
        Ok(out)
    }
}

pub(super) fn scalar_type(name: &str) -> Option<Type> {
    Some(match name {
        "double" => Type::Double,
        "float" => Type::Float,
        "int64" => Type::Int64,
        "uint64" => Type::Uint64,
        "int32" => Type::Int32,
        "fixed64" => Type::Fixed64,
        "fixed32" => Type::Fixed32,
        "bool" => Type::Bool,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "uint32" => Type::Uint32,
        "sfixed32" => Type::Sfixed32,
        "sfixed64" => Type::Sfixed64,
        "sint32" => Type::Sint32,
        "sint64" => Type::Sint64,
        _ => return None,
    })
}
