//! The JSON Schema diff, after Confluent's (`json/diff/SchemaDiff` and its
//! helpers): walk an original and an updated schema side by side and list
//! typed differences with their JSON paths; which difference types are
//! compatible is in `compat.rs`. Backward compatibility is the diff from
//! the old schema to the new one having only compatible differences.
//!
//! Schemas are classified the way Confluent's JSON Schema library loads
//! them (empty, false, object, array, string, number, boolean, null, enum,
//! combined, not, reference) and compared per class.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::compat::{is_compatible, DiffType as D};
use super::diff_combined::combined;
use super::diff_object;
use super::diff_scalar::{number, string};
use super::JsonSchema;

/// A schema position: its document (for `$ref` resolution) and its JSON.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub doc: usize,
    pub v: &'a Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Difference {
    pub kind: D,
    pub path: String,
}

/// The state of one comparison: both schemas, the current path, the
/// differences found, and the pairs being compared (a pair met again inside
/// itself is a recursive `$ref` and counts as compatible).
pub(crate) struct Ctx<'a> {
    pub orig: &'a JsonSchema,
    pub upd: &'a JsonSchema,
    pub path: Vec<String>,
    pub diffs: Vec<Difference>,
    in_progress: HashSet<(usize, usize)>,
    /// Comparisons left, shared with every trial context: nested
    /// combinations compare pairwise, so a hostile schema could otherwise
    /// make the diff take exponential time.
    budget: Rc<Cell<usize>>,
    /// Current nesting: `$ref`s can chain far deeper than the document
    /// nests, and the diff must not run out of stack.
    depth: usize,
}

/// Deeper than any schema people write; a deeper pair is reported as a
/// type change rather than recursed into.
const MAX_DEPTH: usize = 128;

/// Enough for any schema people write; a diff that needs more comparisons
/// than this is refused as a type change rather than left to run.
const COMPARISON_BUDGET: usize = 100_000;

impl<'a> Ctx<'a> {
    pub fn new(orig: &'a JsonSchema, upd: &'a JsonSchema) -> Self {
        Ctx {
            orig,
            upd,
            path: Vec::new(),
            diffs: Vec::new(),
            in_progress: HashSet::new(),
            budget: Rc::new(Cell::new(COMPARISON_BUDGET)),
            depth: 0,
        }
    }

    /// A context for a trial comparison at the current path.
    pub fn sub(&self) -> Ctx<'a> {
        Ctx {
            orig: self.orig,
            upd: self.upd,
            path: self.path.clone(),
            diffs: Vec::new(),
            in_progress: self.in_progress.clone(),
            budget: self.budget.clone(),
            depth: self.depth,
        }
    }

    pub fn add(&mut self, kind: D) {
        let path = format!("#/{}", self.path.join("/"));
        self.diffs.push(Difference { kind, path });
    }

    pub fn add_at(&mut self, attribute: &str, kind: D) {
        self.path.push(attribute.to_string());
        self.add(kind);
        self.path.pop();
    }

    pub fn within<R>(&mut self, segment: impl Into<String>, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(segment.into());
        let r = f(self);
        self.path.pop();
        r
    }

    pub fn is_compatible(&self) -> bool {
        self.diffs.iter().all(|d| is_compatible(d.kind))
    }
}

/// What a schema is, as the diff sees it.
pub(crate) enum Class<'a> {
    Empty,
    False,
    Object(&'a Map<String, Value>),
    Array(&'a Map<String, Value>),
    String(&'a Map<String, Value>),
    Number(&'a Map<String, Value>, bool),
    Boolean,
    Null,
    Enum(Vec<&'a Value>),
    Const(&'a Value),
    Combined(Criterion, Vec<Value>),
    Not(&'a Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criterion {
    All,
    Any,
    One,
}

impl Criterion {
    pub(super) fn keyword(self) -> &'static str {
        match self {
            Criterion::All => "allOf",
            Criterion::Any => "anyOf",
            Criterion::One => "oneOf",
        }
    }
}

const OBJECT_WORDS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "propertyNames",
];
const ARRAY_WORDS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
];
const STRING_WORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];
const NUMBER_WORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

/// Follows `$ref`s (a chain of them too) to the schema they name.
pub(crate) fn resolve<'a>(s: &'a JsonSchema, mut at: At<'a>) -> At<'a> {
    for _ in 0..32 {
        let Some(r) = at.v.get("$ref").and_then(Value::as_str) else {
            return at;
        };
        match s.resolve(at.doc, r) {
            Some((doc, v)) => at = At { doc, v },
            None => return at,
        }
    }
    at
}

pub(crate) fn classify(v: &Value) -> Class<'_> {
    let m = match v {
        Value::Bool(true) => return Class::Empty,
        Value::Bool(false) => return Class::False,
        Value::Object(m) => m,
        _ => return Class::Empty,
    };
    for c in [Criterion::All, Criterion::Any, Criterion::One] {
        if let Some(Value::Array(subs)) = m.get(c.keyword()) {
            // Other keywords beside the combiner apply too: as allOf of the
            // rest and the combination.
            let mut rest = m.clone();
            rest.remove(c.keyword());
            if has_constraints(&rest) {
                let inner = Value::Object(
                    [(c.keyword().to_string(), Value::Array(subs.clone()))]
                        .into_iter()
                        .collect(),
                );
                return Class::Combined(Criterion::All, vec![Value::Object(rest), inner]);
            }
            return Class::Combined(c, subs.clone());
        }
    }
    if let Some(Value::Array(types)) = m.get("type") {
        if types.len() > 1 {
            let subs = types
                .iter()
                .map(|t| {
                    let mut one = m.clone();
                    one.insert("type".into(), t.clone());
                    Value::Object(one)
                })
                .collect();
            return Class::Combined(Criterion::Any, subs);
        }
    }
    if let Some(Value::Array(values)) = m.get("enum") {
        return Class::Enum(values.iter().collect());
    }
    if let Some(c) = m.get("const") {
        return Class::Const(c);
    }
    if let Some(n) = m.get("not") {
        return Class::Not(n);
    }
    let ty = match m.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(t)) => t.first().and_then(Value::as_str),
        _ => None,
    };
    let has = |words: &[&str]| words.iter().any(|w| m.contains_key(*w));
    match ty {
        Some("object") => Class::Object(m),
        Some("array") => Class::Array(m),
        Some("string") => Class::String(m),
        Some("number") => Class::Number(m, false),
        Some("integer") => Class::Number(m, true),
        Some("boolean") => Class::Boolean,
        Some("null") => Class::Null,
        _ if has(OBJECT_WORDS) => Class::Object(m),
        _ if has(ARRAY_WORDS) => Class::Array(m),
        _ if has(STRING_WORDS) => Class::String(m),
        _ if has(NUMBER_WORDS) => Class::Number(m, false),
        _ => Class::Empty,
    }
}

/// Whether an object has keywords that constrain values (not only
/// annotations such as title or description).
fn has_constraints(m: &Map<String, Value>) -> bool {
    m.keys().any(|k| {
        !matches!(
            k.as_str(),
            "title"
                | "description"
                | "default"
                | "$id"
                | "id"
                | "$schema"
                | "definitions"
                | "$defs"
                | "$comment"
                | "examples"
        )
    })
}

fn class_id(c: &Class) -> u8 {
    match c {
        Class::Empty => 0,
        Class::False => 1,
        Class::Object(_) => 2,
        Class::Array(_) => 3,
        Class::String(_) => 4,
        Class::Number(..) => 5,
        Class::Boolean => 6,
        Class::Null => 7,
        Class::Enum(_) => 8,
        Class::Combined(..) => 9,
        Class::Not(_) => 10,
        Class::Const(_) => 11,
    }
}

/// Compares an optional original with an optional update.
pub(crate) fn compare_opt(ctx: &mut Ctx, orig: Option<At>, upd: Option<At>) {
    match (orig, upd) {
        (None, None) => {}
        (None, Some(_)) => ctx.add(D::SchemaAdded),
        (Some(_), None) => ctx.add(D::SchemaRemoved),
        (Some(o), Some(u)) => compare(ctx, o, u),
    }
}

pub(crate) fn compare(ctx: &mut Ctx, orig: At, upd: At) {
    let left = ctx.budget.get();
    if left == 0 || ctx.depth >= MAX_DEPTH {
        ctx.add(D::TypeChanged);
        return;
    }
    ctx.budget.set(left - 1);
    let orig = resolve(ctx.orig, orig);
    let upd = resolve(ctx.upd, upd);
    let key = (
        orig.v as *const Value as usize,
        upd.v as *const Value as usize,
    );
    if !ctx.in_progress.insert(key) {
        return;
    }
    ctx.depth += 1;
    compare_resolved(ctx, orig, upd);
    ctx.depth -= 1;
    ctx.in_progress.remove(&key);
}

fn compare_resolved(ctx: &mut Ctx, orig: At, upd: At) {
    let (oc, uc) = (classify(orig.v), classify(upd.v));
    match (&oc, &uc) {
        (c, Class::Combined(crit, subs)) if !matches!(c, Class::Combined(..)) => {
            if subs.len() == 1 {
                let mut sub = ctx.sub();
                compare(
                    &mut sub,
                    orig,
                    At {
                        doc: upd.doc,
                        v: &subs[0],
                    },
                );
                if sub.is_compatible() {
                    ctx.diffs.extend(sub.diffs);
                    return;
                }
            } else if *crit != Criterion::All {
                // A type that became one of several: compatible if one of
                // them takes everything the old type did.
                for s in subs {
                    let mut sub = ctx.sub();
                    compare(&mut sub, orig, At { doc: upd.doc, v: s });
                    if sub.is_compatible() {
                        ctx.diffs.extend(sub.diffs);
                        ctx.add(D::SumTypeExtended);
                        return;
                    }
                }
            }
        }
        (Class::Combined(_, subs), c) if !matches!(c, Class::Combined(..)) && subs.len() == 1 => {
            let mut sub = ctx.sub();
            compare(
                &mut sub,
                At {
                    doc: orig.doc,
                    v: &subs[0],
                },
                upd,
            );
            if sub.is_compatible() {
                ctx.diffs.extend(sub.diffs);
                return;
            }
        }
        _ => {}
    }
    if class_id(&oc) != class_id(&uc) {
        // Anything may become the empty schema; false may become anything.
        if !matches!(oc, Class::False) && !matches!(uc, Class::Empty) {
            ctx.add(D::TypeChanged);
        }
        return;
    }
    for (key, kind) in [
        ("$id", D::IdChanged),
        ("title", D::TitleChanged),
        ("description", D::DescriptionChanged),
        ("default", D::DefaultChanged),
    ] {
        if orig.v.get(key) != upd.v.get(key) {
            ctx.add(kind);
        }
    }
    match (oc, uc) {
        (Class::Object(o), Class::Object(u)) => diff_object::object(ctx, orig.doc, o, upd.doc, u),
        (Class::Array(o), Class::Array(u)) => diff_object::array(ctx, orig.doc, o, upd.doc, u),
        (Class::String(o), Class::String(u)) => string(ctx, o, u),
        (Class::Number(o, oi), Class::Number(u, ui)) => {
            if oi && !ui {
                ctx.add(D::TypeExtended);
            } else if !oi && ui {
                ctx.add(D::TypeNarrowed);
            }
            number(ctx, o, u);
        }
        (Class::Enum(o), Class::Enum(u)) if o != u => {
            let kind = if o.iter().all(|x| u.contains(x)) {
                D::EnumArrayExtended
            } else if u.iter().all(|x| o.contains(x)) {
                D::EnumArrayNarrowed
            } else {
                D::EnumArrayChanged
            };
            ctx.add_at("enum", kind);
        }
        (Class::Const(o), Class::Const(u)) if o != u => {
            ctx.add_at("const", D::EnumArrayChanged);
        }
        (Class::Combined(oc, os), Class::Combined(uc, us)) => {
            combined(ctx, orig.doc, oc, &os, upd.doc, uc, &us)
        }
        (Class::Not(o), Class::Not(u)) => {
            // The new schema accepts more when what it excludes shrinks.
            let mut sub = ctx.sub();
            compare(
                &mut sub,
                At { doc: upd.doc, v: u },
                At {
                    doc: orig.doc,
                    v: o,
                },
            );
            ctx.add(if sub.is_compatible() {
                D::NotTypeNarrowed
            } else {
                D::NotTypeExtended
            });
        }
        _ => {}
    }
}
