//! The object and array parts of the JSON Schema diff: properties against
//! open, partially open and closed content models, required properties,
//! dependencies, additional properties; items, tuples and additional items.
//!
//! Content models: an object is open when it allows any additional
//! property (no `additionalProperties`, or `true`, and no
//! `patternProperties`), closed when `additionalProperties` is `false`, and
//! partially open when a schema (additional or pattern) covers new names.
//! A property may be added to a closed model (nothing could have held it),
//! and removed from an open one (it is still allowed).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::compat::DiffType as D;
use super::diff::{classify, compare, compare_opt, At, Class, Ctx};
use super::diff_scalar::limit;

type Obj = Map<String, Value>;

fn props(m: &Obj) -> Option<&Obj> {
    m.get("properties").and_then(Value::as_object)
}

fn required(m: &Obj) -> Vec<&str> {
    m.get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `additionalProperties` (or `additionalItems`): (permits any, schema).
fn additional<'a>(m: &'a Obj, key: &str) -> (bool, Option<&'a Value>) {
    match m.get(key) {
        None | Some(Value::Bool(true)) => (true, None),
        Some(Value::Bool(false)) => (false, None),
        Some(s) => (true, Some(s)),
    }
}

fn is_open_object(m: &Obj) -> bool {
    additional(m, "additionalProperties") == (true, None)
        && m.get("patternProperties")
            .and_then(Value::as_object)
            .is_none_or(|p| p.is_empty())
}

/// The schema a partially open object gives a property it does not list:
/// a matching pattern property, else its additional-properties schema.
/// Patterns are matched as literal substrings (we carry no regex engine);
/// a pattern that is not a plain string covers nothing.
fn partial_schema<'a>(m: &'a Obj, name: &str) -> Option<&'a Value> {
    if let Some(pp) = m.get("patternProperties").and_then(Value::as_object) {
        for (pattern, s) in pp {
            let literal = pattern.trim_start_matches('^').trim_end_matches('$');
            let plain = !literal.chars().any(|c| "\\.[]()*+?{}|".contains(c));
            let hit = plain
                && match (pattern.starts_with('^'), pattern.ends_with('$')) {
                    (true, true) => name == literal,
                    (true, false) => name.starts_with(literal),
                    (false, true) => name.ends_with(literal),
                    (false, false) => name.contains(literal),
                };
            if pattern.is_empty() || pattern == ".*" || hit {
                return Some(s);
            }
        }
    }
    additional(m, "additionalProperties").1
}

fn has_default(v: &Value) -> bool {
    v.get("default").is_some()
}

pub(crate) fn object(ctx: &mut Ctx, od: usize, o: &Obj, ud: usize, u: &Obj) {
    let empty = Obj::new();
    let (op, up) = (props(o).unwrap_or(&empty), props(u).unwrap_or(&empty));
    let (oreq, ureq) = (required(o), required(u));

    ctx.within("required", |ctx| {
        for name in op.keys().filter(|k| up.contains_key(*k)) {
            let (was, is) = (oreq.contains(&name.as_str()), ureq.contains(&name.as_str()));
            if was && !is {
                ctx.add_at(name, D::RequiredAttributeRemoved);
            } else if !was && is {
                let kind = if has_default(&up[name]) {
                    D::RequiredAttributeWithDefaultAdded
                } else {
                    D::RequiredAttributeAdded
                };
                ctx.add_at(name, kind);
            }
        }
    });

    ctx.within("properties", |ctx| {
        let names: BTreeSet<&String> = op.keys().chain(up.keys()).collect();
        for name in names {
            ctx.within(name.as_str(), |ctx| match (op.get(name), up.get(name)) {
                (Some(ov), Some(uv)) => compare(ctx, At { doc: od, v: ov }, At { doc: ud, v: uv }),
                (Some(ov), None) => removed(ctx, At { doc: od, v: ov }, ud, u, name),
                (None, Some(uv)) => added(
                    ctx,
                    od,
                    o,
                    At { doc: ud, v: uv },
                    name,
                    ureq.contains(&name.as_str()),
                ),
                (None, None) => {}
            });
        }
    });

    ctx.within("dependencies", |ctx| {
        let (odeps, udeps) = (
            o.get("dependencies")
                .and_then(Value::as_object)
                .unwrap_or(&empty),
            u.get("dependencies")
                .and_then(Value::as_object)
                .unwrap_or(&empty),
        );
        let names: BTreeSet<&String> = odeps.keys().chain(udeps.keys()).collect();
        for name in names {
            ctx.within(name.as_str(), |ctx| {
                match (odeps.get(name), udeps.get(name)) {
                    (Some(Value::Array(a)), Some(Value::Array(b))) => {
                        if a != b {
                            let kind = if a.iter().all(|x| b.contains(x)) {
                                D::DependencyArrayExtended
                            } else if b.iter().all(|x| a.contains(x)) {
                                D::DependencyArrayNarrowed
                            } else {
                                D::DependencyArrayChanged
                            };
                            ctx.add(kind);
                        }
                    }
                    (Some(Value::Array(_)), None) => ctx.add(D::DependencyArrayRemoved),
                    (None, Some(Value::Array(_))) => ctx.add(D::DependencyArrayAdded),
                    (Some(_), None) => ctx.add(D::DependencySchemaRemoved),
                    (None, Some(_)) => ctx.add(D::DependencySchemaAdded),
                    (Some(a), Some(b)) => compare(ctx, At { doc: od, v: a }, At { doc: ud, v: b }),
                    (None, None) => {}
                }
            });
        }
    });

    ctx.within("additionalProperties", |ctx| {
        let ((op, os), (up, us)) = (
            additional(o, "additionalProperties"),
            additional(u, "additionalProperties"),
        );
        if op != up {
            ctx.add(if up {
                D::AdditionalPropertiesAdded
            } else {
                D::AdditionalPropertiesRemoved
            });
        } else {
            match (os, us) {
                (None, Some(_)) => ctx.add(D::AdditionalPropertiesNarrowed),
                (Some(_), None) => ctx.add(D::AdditionalPropertiesExtended),
                (Some(a), Some(b)) => compare(ctx, At { doc: od, v: a }, At { doc: ud, v: b }),
                (None, None) => {}
            }
        }
    });

    use D::*;
    limit(
        ctx,
        "maxProperties",
        o,
        u,
        [
            MaxPropertiesAdded,
            MaxPropertiesRemoved,
            MaxPropertiesIncreased,
            MaxPropertiesDecreased,
        ],
    );
    limit(
        ctx,
        "minProperties",
        o,
        u,
        [
            MinPropertiesAdded,
            MinPropertiesRemoved,
            MinPropertiesIncreased,
            MinPropertiesDecreased,
        ],
    );
}

/// A property of the original missing from the update: only the update's
/// content model matters (does it still accept the property's values?).
fn removed(ctx: &mut Ctx, orig: At, ud: usize, u: &Obj, name: &str) {
    if is_open_object(u) {
        ctx.add(D::PropertyRemovedFromOpenContentModel);
    } else if let Some(partial) = partial_schema(u, name) {
        let mut sub = ctx.sub();
        compare(
            &mut sub,
            orig,
            At {
                doc: ud,
                v: partial,
            },
        );
        let ok = sub.is_compatible();
        ctx.diffs.extend(sub.diffs);
        ctx.add(if ok {
            D::PropertyRemovedIsCoveredByPartiallyOpenContentModel
        } else {
            D::PropertyRemovedNotCoveredByPartiallyOpenContentModel
        });
    } else if matches!(classify(orig.v), Class::False) {
        ctx.add(D::PropertyWithFalseRemovedFromClosedContentModel);
    } else {
        ctx.add(D::PropertyRemovedFromClosedContentModel);
    }
}

/// A property of the update missing from the original: only the
/// original's content model matters (could old data hold it?).
fn added(ctx: &mut Ctx, od: usize, o: &Obj, upd: At, name: &str, is_required: bool) {
    if is_open_object(o) {
        ctx.add(if matches!(classify(upd.v), Class::Empty) {
            D::PropertyWithEmptySchemaAddedToOpenContentModel
        } else {
            D::PropertyAddedToOpenContentModel
        });
        return;
    }
    if let Some(partial) = partial_schema(o, name) {
        let mut sub = ctx.sub();
        compare(
            &mut sub,
            At {
                doc: od,
                v: partial,
            },
            upd,
        );
        let ok = sub.is_compatible();
        ctx.diffs.extend(sub.diffs);
        ctx.add(if ok {
            D::PropertyAddedIsCoveredByPartiallyOpenContentModel
        } else {
            D::PropertyAddedNotCoveredByPartiallyOpenContentModel
        });
    }
    ctx.add(match (is_required, has_default(upd.v)) {
        (true, true) => D::RequiredPropertyWithDefaultAddedToUnopenContentModel,
        (true, false) => D::RequiredPropertyAddedToUnopenContentModel,
        (false, _) => D::OptionalPropertyAddedToUnopenContentModel,
    });
}

/// (tuple item schemas, the schema of every item, additional items key).
fn item_parts(m: &Obj) -> (&[Value], Option<&Value>, &'static str) {
    if let Some(Value::Array(prefix)) = m.get("prefixItems") {
        // 2020-12: `items` is then the schema of the items after the tuple.
        return (prefix, None, "items");
    }
    match m.get("items") {
        Some(Value::Array(tuple)) => (tuple, None, "additionalItems"),
        Some(all) => (&[], Some(all), "additionalItems"),
        None => (&[], None, "additionalItems"),
    }
}

pub(crate) fn array(ctx: &mut Ctx, od: usize, o: &Obj, ud: usize, u: &Obj) {
    let (otuple, oall, oadd_key) = item_parts(o);
    let (utuple, uall, uadd_key) = item_parts(u);
    ctx.within("items", |ctx| {
        compare_opt(
            ctx,
            oall.map(|v| At { doc: od, v }),
            uall.map(|v| At { doc: ud, v }),
        );
    });
    let (oadd, uadd) = (additional(o, oadd_key), additional(u, uadd_key));
    let open = |a: (bool, Option<&Value>)| a == (true, None);
    for i in 0..otuple.len().max(utuple.len()) {
        ctx.within(format!("items/{i}"), |ctx| {
            match (otuple.get(i), utuple.get(i)) {
                (Some(a), Some(b)) => compare(ctx, At { doc: od, v: a }, At { doc: ud, v: b }),
                (Some(a), None) => {
                    if open(uadd) {
                        ctx.add(D::ItemRemovedFromOpenContentModel);
                    } else if let Some(p) = uadd.1 {
                        let mut sub = ctx.sub();
                        compare(&mut sub, At { doc: od, v: a }, At { doc: ud, v: p });
                        let ok = sub.is_compatible();
                        ctx.diffs.extend(sub.diffs);
                        ctx.add(if ok {
                            D::ItemRemovedIsCoveredByPartiallyOpenContentModel
                        } else {
                            D::ItemRemovedNotCoveredByPartiallyOpenContentModel
                        });
                    } else if matches!(classify(a), Class::False) {
                        ctx.add(D::ItemWithFalseRemovedFromClosedContentModel);
                    } else {
                        ctx.add(D::ItemRemovedFromClosedContentModel);
                    }
                }
                (None, Some(b)) => {
                    if open(oadd) {
                        ctx.add(if matches!(classify(b), Class::Empty) {
                            D::ItemWithEmptySchemaAddedToOpenContentModel
                        } else {
                            D::ItemAddedToOpenContentModel
                        });
                    } else if let Some(p) = oadd.1 {
                        let mut sub = ctx.sub();
                        compare(&mut sub, At { doc: od, v: p }, At { doc: ud, v: b });
                        let ok = sub.is_compatible();
                        ctx.diffs.extend(sub.diffs);
                        ctx.add(if ok {
                            D::ItemAddedIsCoveredByPartiallyOpenContentModel
                        } else {
                            D::ItemAddedNotCoveredByPartiallyOpenContentModel
                        });
                    } else {
                        ctx.add(D::ItemAddedToClosedContentModel);
                    }
                }
                (None, None) => {}
            }
        });
    }
    if !otuple.is_empty() || !utuple.is_empty() {
        ctx.within(uadd_key, |ctx| {
            if oadd.0 != uadd.0 {
                ctx.add(if oadd.0 {
                    D::AdditionalItemsRemoved
                } else {
                    D::AdditionalItemsAdded
                });
            } else {
                match (oadd.1, uadd.1) {
                    (None, Some(_)) => ctx.add(D::AdditionalItemsNarrowed),
                    (Some(_), None) => ctx.add(D::AdditionalItemsExtended),
                    (Some(a), Some(b)) => compare(ctx, At { doc: od, v: a }, At { doc: ud, v: b }),
                    (None, None) => {}
                }
            }
        });
    }
    use D::*;
    limit(
        ctx,
        "maxItems",
        o,
        u,
        [
            MaxItemsAdded,
            MaxItemsRemoved,
            MaxItemsIncreased,
            MaxItemsDecreased,
        ],
    );
    limit(
        ctx,
        "minItems",
        o,
        u,
        [
            MinItemsAdded,
            MinItemsRemoved,
            MinItemsIncreased,
            MinItemsDecreased,
        ],
    );
    let unique = |m: &Obj| m.get("uniqueItems") == Some(&Value::Bool(true));
    match (unique(o), unique(u)) {
        (true, false) => ctx.add_at("uniqueItems", UniqueItemsRemoved),
        (false, true) => ctx.add_at("uniqueItems", UniqueItemsAdded),
        _ => {}
    }
}
