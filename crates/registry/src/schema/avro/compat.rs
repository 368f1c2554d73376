//! Avro schema resolution: can a reader schema read data written with a
//! writer schema. The rules and the error types are Avro's
//! (`SchemaCompatibility`), the descriptions Confluent's, with the same
//! paths (`/fields/1/type`, `/symbols`, `/name` ...).
//!
//! Recursive types: a (reader, writer) pair of named types met again while
//! it is being checked is assumed compatible, as in Avro.

use std::collections::{HashMap, HashSet};

use super::model::{type_name, Field, NamedKind, NamedType, Node, Prim};
use super::AvroSchema;
use crate::schema::Incompatibility;

/// The incompatibilities met when `reader` reads data written with
/// `writer`. `reader_is_new` picks the wording ("in the new schema" ...)
/// the way Confluent words backward and forward checks.
pub fn check(
    reader: &AvroSchema,
    writer: &AvroSchema,
    reader_is_new: bool,
) -> Vec<Incompatibility> {
    let mut c = Checker {
        r: &reader.types,
        w: &writer.types,
        reader_is_new,
        in_progress: HashSet::new(),
        memo: HashMap::new(),
        depth: 0,
    };
    c.compat(&reader.root, &writer.root, &mut Vec::new())
}

#[derive(Clone, Copy)]
enum Kind {
    ReaderFieldMissingDefaultValue,
    TypeMismatch,
    MissingEnumSymbols,
    MissingUnionBranch,
    NameMismatch,
    FixedSizeMismatch,
}

struct Checker<'a> {
    r: &'a [NamedType],
    w: &'a [NamedType],
    reader_is_new: bool,
    in_progress: HashSet<(usize, usize)>,
    memo: HashMap<(usize, usize), Vec<Incompatibility>>,
    /// Current nesting: named types referenced by name can chain far deeper
    /// than the JSON nests, and the check must not run out of stack.
    depth: usize,
}

/// Deeper than any schema people write; a deeper pair is reported as a
/// type mismatch rather than recursed into.
const MAX_DEPTH: usize = 128;

impl Checker<'_> {
    fn incompatible(&self, kind: Kind, loc: &[String], info: String) -> Incompatibility {
        let path = format!("/{}", loc.join("/"));
        let (this, other) = if self.reader_is_new {
            ("new", "old")
        } else {
            ("old", "new")
        };
        let (error_type, description) = match kind {
            Kind::ReaderFieldMissingDefaultValue => (
                "READER_FIELD_MISSING_DEFAULT_VALUE",
                format!("The field '{info}' at path '{path}' in the {this} schema has no default value and is missing in the {other} schema"),
            ),
            Kind::TypeMismatch => (
                "TYPE_MISMATCH",
                format!("The type (path '{path}') of a field in the {this} schema does not match with the {other} schema"),
            ),
            Kind::MissingEnumSymbols => (
                "MISSING_ENUM_SYMBOLS",
                format!("The {this} schema is missing enum symbols '{info}' at path '{path}' in the {other} schema"),
            ),
            Kind::MissingUnionBranch => (
                "MISSING_UNION_BRANCH",
                format!("The {this} schema is missing a type inside a union field at path '{path}' in the {other} schema"),
            ),
            Kind::NameMismatch => (
                "NAME_MISMATCH",
                format!("The name of the schema has changed (path '{path}')"),
            ),
            Kind::FixedSizeMismatch => (
                "FIXED_SIZE_MISMATCH",
                format!("The size of FIXED type field at path '{path}' in the {this} schema does not match with the {other} schema"),
            ),
        };
        Incompatibility {
            error_type: error_type.to_string(),
            description,
            additional_info: info,
        }
    }

    fn mismatch(&self, r: &Node, w: &Node, loc: &[String]) -> Vec<Incompatibility> {
        let info = format!(
            "reader type: {} not compatible with writer type: {}",
            type_name(r, self.r),
            type_name(w, self.w)
        );
        vec![self.incompatible(Kind::TypeMismatch, loc, info)]
    }

    fn compat(&mut self, r: &Node, w: &Node, loc: &mut Vec<String>) -> Vec<Incompatibility> {
        if self.depth >= MAX_DEPTH {
            return self.mismatch(r, w, loc);
        }
        self.depth += 1;
        let out = self.compat_named(r, w, loc);
        self.depth -= 1;
        out
    }

    fn compat_named(&mut self, r: &Node, w: &Node, loc: &mut Vec<String>) -> Vec<Incompatibility> {
        if let (Node::Named(ri), Node::Named(wi)) = (r, w) {
            let key = (*ri, *wi);
            if let Some(done) = self.memo.get(&key) {
                return done.clone();
            }
            if !self.in_progress.insert(key) {
                return Vec::new();
            }
            let result = self.calculate(r, w, loc);
            self.in_progress.remove(&key);
            self.memo.insert(key, result.clone());
            return result;
        }
        self.calculate(r, w, loc)
    }

    fn calculate(&mut self, r: &Node, w: &Node, loc: &mut Vec<String>) -> Vec<Incompatibility> {
        use Node as N;
        match (r, w) {
            (N::Primitive { kind: rk, .. }, N::Primitive { kind: wk, .. }) if rk == wk => {
                Vec::new()
            }
            (N::Array { items: ri, .. }, N::Array { items: wi, .. }) => {
                self.nested("items", ri, wi, loc)
            }
            (N::Map { values: rv, .. }, N::Map { values: wv, .. }) => {
                self.nested("values", rv, wv, loc)
            }
            (N::Union(_), N::Union(wb)) => {
                // Every branch the writer may have written must be readable.
                let mut out = Vec::new();
                for (i, b) in wb.iter().enumerate() {
                    loc.push(i.to_string());
                    if !self.compat(r, b, loc).is_empty() {
                        let info =
                            format!("reader union lacking writer type: {}", type_name(b, self.w));
                        out.push(self.incompatible(Kind::MissingUnionBranch, loc, info));
                    }
                    loc.pop();
                }
                out
            }
            (_, N::Union(wb)) => {
                let mut out = Vec::new();
                for (i, b) in wb.iter().enumerate() {
                    loc.push(i.to_string());
                    out.extend(self.compat(r, b, loc));
                    loc.pop();
                }
                out
            }
            (N::Union(rb), _) => {
                // Branches that cannot match are skipped without recursing:
                // unions of many named types stay linear, not quadratic.
                for b in rb {
                    if self.may_read(b, w) && self.compat(b, w, loc).is_empty() {
                        return Vec::new();
                    }
                }
                let info = format!("reader union lacking writer type: {}", type_name(w, self.w));
                vec![self.incompatible(Kind::MissingUnionBranch, loc, info)]
            }
            (N::Primitive { kind: rk, .. }, N::Primitive { kind: wk, .. }) => {
                // Avro's promotions: int→long→float→double, string↔bytes.
                let promotes = matches!(
                    (rk, wk),
                    (Prim::Long, Prim::Int)
                        | (Prim::Float, Prim::Int | Prim::Long)
                        | (Prim::Double, Prim::Int | Prim::Long | Prim::Float)
                        | (Prim::Bytes, Prim::String)
                        | (Prim::String, Prim::Bytes)
                );
                if promotes {
                    Vec::new()
                } else {
                    self.mismatch(r, w, loc)
                }
            }
            (N::Named(ri), N::Named(wi)) => self.named(&self.r[*ri], &self.w[*wi], r, w, loc),
            _ => self.mismatch(r, w, loc),
        }
    }

    /// A cheap necessary condition for `r` to read `w`: the same kind of
    /// type (or a promotion), and for named types the same name or an alias.
    fn may_read(&self, r: &Node, w: &Node) -> bool {
        use Node as N;
        match (r, w) {
            (N::Primitive { .. }, N::Primitive { .. })
            | (N::Array { .. }, N::Array { .. })
            | (N::Map { .. }, N::Map { .. }) => true,
            (N::Named(ri), N::Named(wi)) => {
                let (rt, wt) = (&self.r[*ri], &self.w[*wi]);
                std::mem::discriminant(&rt.kind) == std::mem::discriminant(&wt.kind)
                    && (rt.short_name() == wt.short_name() || rt.aliases.contains(&wt.name))
            }
            _ => false,
        }
    }

    fn nested(
        &mut self,
        at: &str,
        r: &Node,
        w: &Node,
        loc: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        loc.push(at.to_string());
        let out = self.compat(r, w, loc);
        loc.pop();
        out
    }

    fn named(
        &mut self,
        rt: &NamedType,
        wt: &NamedType,
        r: &Node,
        w: &Node,
        loc: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        let mut out = Vec::new();
        let same_kind = matches!(
            (&rt.kind, &wt.kind),
            (NamedKind::Record { .. }, NamedKind::Record { .. })
                | (NamedKind::Enum { .. }, NamedKind::Enum { .. })
                | (NamedKind::Fixed { .. }, NamedKind::Fixed { .. })
        );
        if !same_kind {
            return self.mismatch(r, w, loc);
        }
        // Avro compares unqualified names; a reader alias names the writer in full.
        if rt.short_name() != wt.short_name() && !rt.aliases.contains(&wt.name) {
            loc.push("name".into());
            out.push(self.incompatible(Kind::NameMismatch, loc, format!("expected: {}", wt.name)));
            loc.pop();
        }
        match (&rt.kind, &wt.kind) {
            (NamedKind::Fixed { size: rs }, NamedKind::Fixed { size: ws }) if rs != ws => {
                loc.push("size".into());
                out.push(self.incompatible(
                    Kind::FixedSizeMismatch,
                    loc,
                    format!("expected: {ws}, found: {rs}"),
                ));
                loc.pop();
            }
            (
                NamedKind::Enum {
                    symbols: rsyms,
                    default: rdefault,
                },
                NamedKind::Enum { symbols: wsyms, .. },
            ) => {
                // Sorted, as Avro reports them.
                let mut missing: Vec<&str> = wsyms
                    .iter()
                    .filter(|s| !rsyms.contains(s))
                    .map(String::as_str)
                    .collect();
                missing.sort_unstable();
                // A reader enum default stands in for unknown symbols.
                if !missing.is_empty() && rdefault.is_none() {
                    loc.push("symbols".into());
                    let info = format!("[{}]", missing.join(", "));
                    out.push(self.incompatible(Kind::MissingEnumSymbols, loc, info));
                    loc.pop();
                }
            }
            (NamedKind::Record { fields: rf, .. }, NamedKind::Record { fields: wf, .. }) => {
                out.extend(self.fields(rf, wf, loc));
            }
            _ => {}
        }
        out
    }

    fn fields(
        &mut self,
        rf: &[Field],
        wf: &[Field],
        loc: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        let mut out = Vec::new();
        loc.push("fields".into());
        for (i, f) in rf.iter().enumerate() {
            loc.push(i.to_string());
            // The writer's field of the same name, or of one of the reader
            // field's aliases (a rename the reader declares).
            let writer_field = wf.iter().find(|x| x.name == f.name).or_else(|| {
                f.aliases
                    .iter()
                    .find_map(|a| wf.iter().find(|x| x.name == *a))
            });
            match writer_field {
                Some(w) => out.extend(self.nested("type", &f.ty, &w.ty, loc)),
                None if f.default.is_none() => out.push(self.incompatible(
                    Kind::ReaderFieldMissingDefaultValue,
                    loc,
                    f.name.clone(),
                )),
                None => {}
            }
            loc.pop();
        }
        loc.pop();
        out
    }
}
