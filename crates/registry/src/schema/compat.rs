//! Compatibility levels over a subject's history.
//!
//! Backward: the new schema reads data written with the old one. Forward: the
//! old schema reads data written with the new one. Full: both. A transitive
//! level checks against every earlier version, the others against the latest
//! only. As in Confluent, earlier versions are checked newest first and the
//! check stops at the first version that fails, reporting that version's
//! reasons only.

use super::{reader_incompatibilities, CompatibilityLevel, Incompatibility, ParsedSchema};

/// `previous` is every earlier live version of the subject, oldest first
/// (version number, schema); only the latest is used by non-transitive
/// levels. Returns the incompatibilities, each with the version it breaks
/// against; empty means compatible.
pub fn check_compatibility(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[(i32, &ParsedSchema)],
) -> Vec<(i32, Incompatibility)> {
    use CompatibilityLevel as L;
    let (backward, forward) = match level {
        L::None => return Vec::new(),
        L::Backward | L::BackwardTransitive => (true, false),
        L::Forward | L::ForwardTransitive => (false, true),
        L::Full | L::FullTransitive => (true, true),
    };
    let transitive = matches!(
        level,
        L::BackwardTransitive | L::ForwardTransitive | L::FullTransitive
    );
    let against: &[(i32, &ParsedSchema)] = if transitive {
        previous
    } else {
        match previous.len() {
            0 => &[],
            n => &previous[n - 1..],
        }
    };
    for &(version, old) in against.iter().rev() {
        let mut found = Vec::new();
        if backward {
            found.extend(reader_incompatibilities(new, old, true));
        }
        if forward {
            found.extend(reader_incompatibilities(old, new, false));
        }
        if !found.is_empty() {
            return found.into_iter().map(|i| (version, i)).collect();
        }
    }
    Vec::new()
}
