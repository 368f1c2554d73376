//! The JSON Schema diff of strings and numbers: length and range limits,
//! pattern, multipleOf (see `diff.rs`).

use serde_json::{Map, Value};

use super::compat::DiffType as D;
use super::diff::Ctx;

/// An optional number keyword compared between original and update: the
/// difference to report when it was added, removed, increased, decreased.
pub(crate) fn limit(
    ctx: &mut Ctx,
    key: &str,
    o: &Map<String, Value>,
    u: &Map<String, Value>,
    [added, removed, increased, decreased]: [D; 4],
) {
    let (ov, uv) = (
        o.get(key).and_then(Value::as_f64),
        u.get(key).and_then(Value::as_f64),
    );
    let kind = match (ov, uv) {
        (None, Some(_)) => added,
        (Some(_), None) => removed,
        (Some(a), Some(b)) if a < b => increased,
        (Some(a), Some(b)) if a > b => decreased,
        _ => return,
    };
    ctx.add_at(key, kind);
}

pub(super) fn string(ctx: &mut Ctx, o: &Map<String, Value>, u: &Map<String, Value>) {
    use D::*;
    limit(
        ctx,
        "maxLength",
        o,
        u,
        [
            MaxLengthAdded,
            MaxLengthRemoved,
            MaxLengthIncreased,
            MaxLengthDecreased,
        ],
    );
    limit(
        ctx,
        "minLength",
        o,
        u,
        [
            MinLengthAdded,
            MinLengthRemoved,
            MinLengthIncreased,
            MinLengthDecreased,
        ],
    );
    match (o.get("pattern"), u.get("pattern")) {
        (None, Some(_)) => ctx.add_at("pattern", PatternAdded),
        (Some(_), None) => ctx.add_at("pattern", PatternRemoved),
        (Some(a), Some(b)) if a != b => ctx.add_at("pattern", PatternChanged),
        _ => {}
    }
}

pub(super) fn number(ctx: &mut Ctx, o: &Map<String, Value>, u: &Map<String, Value>) {
    use D::*;
    limit(
        ctx,
        "maximum",
        o,
        u,
        [
            MaximumAdded,
            MaximumRemoved,
            MaximumIncreased,
            MaximumDecreased,
        ],
    );
    limit(
        ctx,
        "minimum",
        o,
        u,
        [
            MinimumAdded,
            MinimumRemoved,
            MinimumIncreased,
            MinimumDecreased,
        ],
    );
    limit(
        ctx,
        "exclusiveMaximum",
        o,
        u,
        [
            ExclusiveMaximumAdded,
            ExclusiveMaximumRemoved,
            ExclusiveMaximumIncreased,
            ExclusiveMaximumDecreased,
        ],
    );
    limit(
        ctx,
        "exclusiveMinimum",
        o,
        u,
        [
            ExclusiveMinimumAdded,
            ExclusiveMinimumRemoved,
            ExclusiveMinimumIncreased,
            ExclusiveMinimumDecreased,
        ],
    );
    let (om, um) = (
        o.get("multipleOf").and_then(Value::as_f64),
        u.get("multipleOf").and_then(Value::as_f64),
    );
    let kind = match (om, um) {
        (None, Some(_)) => MultipleOfAdded,
        (Some(_), None) => MultipleOfRemoved,
        (Some(a), Some(b)) if a != b => {
            if is_multiple(b, a) {
                MultipleOfExpanded
            } else if is_multiple(a, b) {
                MultipleOfReduced
            } else {
                MultipleOfChanged
            }
        }
        _ => return,
    };
    ctx.add_at("multipleOf", kind);
}

fn is_multiple(x: f64, of: f64) -> bool {
    let q = x / of;
    (q - q.round()).abs() < 1e-9
}
