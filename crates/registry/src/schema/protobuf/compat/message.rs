//! The diff inside one message: fields by number, oneofs by name, and each
//! field's type (scalar group, message, map).

use std::collections::{BTreeMap, BTreeSet};

use super::{is_map_entry, Context, DifferenceType as D, FieldType, ScalarKind, TypeTable};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto};

/// A field's real oneof (proto3 `optional` fields sit in a synthetic oneof
/// that the schema never wrote: they count as plain fields).
fn oneof_of(m: &DescriptorProto, f: &FieldDescriptorProto) -> Option<String> {
    if f.proto3_optional == Some(true) {
        return None;
    }
    let i = usize::try_from(f.oneof_index?).ok()?;
    m.oneof_decl.get(i).map(|o| o.name().to_string())
}

pub(super) fn compare<'a>(
    ctx: &mut Context<'a>,
    orig: &'a DescriptorProto,
    upd: &'a DescriptorProto,
) {
    // Plain (non-oneof) fields by number; all fields by number; each oneof's
    // fields by oneof name (BTreeMaps: differences come out in a stable order).
    let mut orig_plain: BTreeMap<i32, &FieldDescriptorProto> = BTreeMap::new();
    let mut upd_plain: BTreeMap<i32, &FieldDescriptorProto> = BTreeMap::new();
    let mut orig_oneof_of: BTreeMap<i32, String> = BTreeMap::new();
    let mut upd_oneof_of: BTreeMap<i32, String> = BTreeMap::new();
    let mut orig_oneofs: BTreeMap<String, Vec<&FieldDescriptorProto>> = BTreeMap::new();
    // Update's oneofs in declaration order (for the "moved into" checks).
    let mut upd_oneofs: Vec<(String, Vec<&FieldDescriptorProto>)> = Vec::new();
    for f in &orig.field {
        match oneof_of(orig, f) {
            Some(o) => {
                orig_oneof_of.insert(f.number(), o.clone());
                orig_oneofs.entry(o).or_default().push(f);
            }
            None => {
                orig_plain.insert(f.number(), f);
            }
        }
    }
    for f in &upd.field {
        match oneof_of(upd, f) {
            Some(o) => {
                upd_oneof_of.insert(f.number(), o.clone());
                match upd_oneofs.iter_mut().find(|(name, _)| *name == o) {
                    Some((_, fields)) => fields.push(f),
                    None => upd_oneofs.push((o, vec![f])),
                }
            }
            None => {
                upd_plain.insert(f.number(), f);
            }
        }
    }
    let orig_all: BTreeMap<i32, &FieldDescriptorProto> =
        orig.field.iter().map(|f| (f.number(), f)).collect();
    let upd_all: BTreeMap<i32, &FieldDescriptorProto> =
        upd.field.iter().map(|f| (f.number(), f)).collect();

    // Fields moving into a oneof: one plain field may become a oneof (its
    // data stays readable); two cannot (a reader would keep one of them).
    for (name, fields) in &upd_oneofs {
        ctx.with_path(name.clone(), |ctx| {
            let mut moved = 0;
            let mut existing = 0;
            for f in fields {
                // Taken out of the plain fields: moved, not removed.
                if orig_plain.remove(&f.number()).is_some() {
                    moved += 1;
                } else if orig_oneof_of.contains_key(&f.number()) {
                    existing += 1;
                }
            }
            if moved > 1 {
                ctx.add(D::MultipleFieldsMovedToOneof);
            } else if moved == 1 && existing > 0 {
                ctx.add(D::FieldMovedToExistingOneof);
            }
        });
    }

    let upd_oneof_map: BTreeMap<&str, &Vec<&FieldDescriptorProto>> =
        upd_oneofs.iter().map(|(n, f)| (n.as_str(), f)).collect();
    let names: BTreeSet<&str> = orig_oneofs
        .keys()
        .map(String::as_str)
        .chain(upd_oneof_map.keys().copied())
        .collect();
    for name in names {
        ctx.with_path(name, |ctx| {
            match (orig_oneofs.get(name), upd_oneof_map.get(name)) {
                (Some(_), None) => ctx.add(D::OneofRemoved),
                (None, Some(_)) => ctx.add(D::OneofAdded),
                (Some(o), Some(u)) => {
                    let o: BTreeMap<i32, &FieldDescriptorProto> =
                        o.iter().map(|f| (f.number(), *f)).collect();
                    let u: BTreeMap<i32, &FieldDescriptorProto> =
                        u.iter().map(|f| (f.number(), *f)).collect();
                    let tags: BTreeSet<i32> = o.keys().chain(u.keys()).copied().collect();
                    for tag in tags {
                        ctx.with_path(tag.to_string(), |ctx| match (o.get(&tag), u.get(&tag)) {
                            // Left the oneof but still in the message: relocated,
                            // which only relaxes this oneof.
                            (Some(_), None) if !upd_all.contains_key(&tag) => {
                                ctx.add(D::OneofFieldRemoved)
                            }
                            (None, Some(_)) => ctx.add(D::OneofFieldAdded),
                            (Some(a), Some(b)) => compare_field(ctx, a, b),
                            _ => {}
                        });
                    }
                }
                (None, None) => {}
            }
        });
    }

    let tags: BTreeSet<i32> = orig_plain.keys().chain(upd_plain.keys()).copied().collect();
    for tag in tags {
        ctx.with_path(tag.to_string(), |ctx| {
            match (orig_plain.get(&tag), upd_plain.get(&tag)) {
                (Some(o), None) if o.label == Some(Label::Required as i32) => {
                    ctx.add(D::RequiredFieldRemoved)
                }
                (Some(_), None) => ctx.add(D::FieldRemoved),
                (None, Some(u)) if u.label == Some(Label::Required as i32) => {
                    ctx.add(D::RequiredFieldAdded)
                }
                (None, Some(_)) => ctx.add(D::FieldAdded),
                (Some(o), Some(u)) => compare_field(ctx, o, u),
                (None, None) => {}
            }
        });
    }

    // Fields whose oneof membership changed (moved in or out, or their oneof
    // renamed) were not compared above: compare their contents here.
    for (tag, o) in &orig_all {
        let Some(u) = upd_all.get(tag) else { continue };
        let (oo, uo) = (orig_oneof_of.get(tag), upd_oneof_of.get(tag));
        let compared = (oo.is_none() && uo.is_none()) || (oo.is_some() && oo == uo);
        if !compared {
            ctx.with_path(tag.to_string(), |ctx| compare_field(ctx, o, u));
        }
    }
}

fn compare_field<'a>(
    ctx: &mut Context<'a>,
    orig: &'a FieldDescriptorProto,
    upd: &'a FieldDescriptorProto,
) {
    if orig.name() != upd.name() {
        ctx.add(D::FieldNameChanged);
    }
    let o = field_type(&ctx.original, orig);
    let u = field_type(&ctx.update, upd);
    compare_types(ctx, &o, &u);
}

fn field_type<'a>(table: &TypeTable<'a>, f: &'a FieldDescriptorProto) -> FieldType<'a> {
    let t = f.r#type.and_then(|t| Type::try_from(t).ok());
    match t {
        Some(Type::Message | Type::Group) | None => {
            let name = f.type_name();
            match table.get(name) {
                Some(info) => match info.message {
                    Some(m) if is_map_entry(m) && m.field.len() == 2 => FieldType::Map(
                        Box::new(field_type(table, &m.field[0])),
                        Box::new(field_type(table, &m.field[1])),
                    ),
                    Some(_) => FieldType::Message(name.strip_prefix('.').unwrap_or(name)),
                    // An enum whose kind the descriptor did not say.
                    None => FieldType::Scalar(ScalarKind::GeneralNumber),
                },
                None => FieldType::Message(name.strip_prefix('.').unwrap_or(name)),
            }
        }
        Some(Type::Enum) => FieldType::Scalar(ScalarKind::GeneralNumber),
        Some(t) => FieldType::Scalar(scalar_kind(t)),
    }
}

/// Protobuf's groups of wire-compatible scalars (enums count as int32).
fn scalar_kind(t: Type) -> ScalarKind {
    match t {
        Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 | Type::Bool | Type::Enum => {
            ScalarKind::GeneralNumber
        }
        Type::Sint32 | Type::Sint64 => ScalarKind::SignedNumber,
        Type::String | Type::Bytes => ScalarKind::StringOrBytes,
        Type::Fixed32 | Type::Sfixed32 => ScalarKind::Fixed32,
        Type::Fixed64 | Type::Sfixed64 => ScalarKind::Fixed64,
        Type::Float => ScalarKind::Float,
        Type::Double => ScalarKind::Double,
        // Never a scalar: field_type handles these.
        Type::Message | Type::Group => ScalarKind::GeneralNumber,
    }
}

fn compare_types<'a>(ctx: &mut Context<'a>, o: &FieldType<'a>, u: &FieldType<'a>) {
    match (o, u) {
        (FieldType::Scalar(a), FieldType::Scalar(b)) => {
            if a != b {
                ctx.add(D::FieldScalarKindChanged);
            }
        }
        (FieldType::Map(ok, ov), FieldType::Map(uk, uv)) => {
            compare_types(ctx, ok, uk);
            compare_types(ctx, ov, uv);
        }
        (FieldType::Message(a), FieldType::Message(b)) => compare_message_types(ctx, a, b),
        _ => ctx.add(D::FieldKindChanged),
    }
}

/// Two message-typed fields: the types must have the same name (less their
/// package). Types of this schema's own file are compared where they are
/// declared; a type from an import whose file changed is compared here, and
/// any breaking change inside it breaks the field too.
fn compare_message_types<'a>(ctx: &mut Context<'a>, o: &'a str, u: &'a str) {
    let (Some(oi), Some(ui)) = (ctx.original.get(o), ctx.update.get(u)) else {
        if o != u {
            ctx.add(D::FieldNamedTypeChanged);
        }
        return;
    };
    let local = |full: &'a str, package: &str| -> &'a str {
        if package.is_empty() {
            full
        } else {
            full.strip_prefix(package)
                .and_then(|r| r.strip_prefix('.'))
                .unwrap_or(full)
        }
    };
    let (ol, ul) = (local(o, oi.package), local(u, ui.package));
    if ol != ul {
        ctx.add(D::FieldNamedTypeChanged);
        return;
    }
    let both_local =
        std::ptr::eq(oi.file, ctx.original.own_file) && std::ptr::eq(ui.file, ctx.update.own_file);
    if both_local || oi.file == ui.file {
        return;
    }
    let (Some(om), Some(um)) = (oi.message, ui.message) else {
        return;
    };
    if !ctx.visiting.insert(o.to_string()) {
        return;
    }
    let saved_path = std::mem::replace(&mut ctx.path, ol.split('.').map(str::to_string).collect());
    let saved_diffs = std::mem::take(&mut ctx.diffs);
    ctx.compare_message(om, um);
    let sub = std::mem::replace(&mut ctx.diffs, saved_diffs);
    ctx.path = saved_path;
    ctx.visiting.remove(o);
    let breaking = sub.iter().any(|d| !d.kind.is_compatible());
    ctx.diffs.extend(sub);
    if breaking {
        ctx.add(D::FieldNamedTypeChanged);
    }
}
