//! The JSON Schema diff of combined schemas (allOf/anyOf/oneOf): the
//! criterion, the number of subschemas, and a maximum matching of old
//! subschemas to compatible new ones (see `diff.rs`).

use serde_json::Value;

use super::compat::DiffType as D;
use super::diff::{compare, At, Criterion, Ctx, Difference};

/// allOf/anyOf/oneOf against allOf/anyOf/oneOf: the criterion, the number
/// of subschemas, and a matching of old subschemas to compatible new ones.
pub(super) fn combined(
    ctx: &mut Ctx,
    odoc: usize,
    oc: Criterion,
    os: &[Value],
    udoc: usize,
    uc: Criterion,
    us: &[Value],
) {
    let changed = match (oc, uc) {
        _ if oc == uc => None,
        (_, Criterion::Any) => Some(D::CombinedTypeExtended),
        (_, Criterion::One) if os.len() == 1 => Some(D::CombinedTypeExtended),
        (_, Criterion::All) if os.len() == 1 && us.len() == 1 => Some(D::CombinedTypeExtended),
        _ => Some(D::CombinedTypeChanged),
    };
    if let Some(kind) = changed {
        ctx.add(kind);
        if kind == D::CombinedTypeChanged {
            return;
        }
    }
    let dedup = |v: &[Value]| -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for x in v {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        out
    };
    let (os, us) = (dedup(os), dedup(us));
    if os.len() < us.len() {
        ctx.add(if uc == Criterion::All {
            D::ProductTypeExtended
        } else {
            D::SumTypeExtended
        });
    } else if os.len() > us.len() {
        ctx.add(if uc == Criterion::All {
            D::ProductTypeNarrowed
        } else {
            D::SumTypeNarrowed
        });
    }
    // edges[i] = (j, differences) for each compatible pair.
    let mut edges: Vec<Vec<(usize, Vec<Difference>)>> = Vec::new();
    for (i, o) in os.iter().enumerate() {
        let mut row = Vec::new();
        for (j, u) in us.iter().enumerate() {
            let mut sub = ctx.sub();
            sub.path.push(format!("{}/{i}", oc.keyword()));
            compare(&mut sub, At { doc: odoc, v: o }, At { doc: udoc, v: u });
            if sub.is_compatible() {
                row.push((j, sub.diffs));
            }
        }
        edges.push(row);
    }
    let matched = max_matching(&edges, us.len());
    let mut count = 0;
    for (i, j) in matched.iter().enumerate() {
        if let Some(j) = j {
            count += 1;
            let diffs = edges[i]
                .iter()
                .find(|(x, _)| x == j)
                .map(|(_, d)| d.clone());
            ctx.diffs.extend(diffs.unwrap_or_default());
        }
    }
    if count < os.len().min(us.len()) {
        ctx.add(D::CombinedTypeSubschemasChanged);
    }
}

/// A maximum bipartite matching (augmenting paths; subschema lists are
/// short): for each left index, its right partner.
fn max_matching<T>(edges: &[Vec<(usize, T)>], right: usize) -> Vec<Option<usize>> {
    fn augment<T>(
        i: usize,
        edges: &[Vec<(usize, T)>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for (j, _) in &edges[i] {
            if seen[*j] {
                continue;
            }
            seen[*j] = true;
            if owner[*j].is_none_or(|k| augment(k, edges, seen, owner)) {
                owner[*j] = Some(i);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; right];
    for i in 0..edges.len() {
        augment(i, edges, &mut vec![false; right], &mut owner);
    }
    let mut partner = vec![None; edges.len()];
    for (j, o) in owner.iter().enumerate() {
        if let Some(i) = o {
            partner[*i] = Some(j);
        }
    }
    partner
}
