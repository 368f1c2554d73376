//! Aggregate functions over the records of a key (or of a key and a
//! window). The accumulator is a `Value`, so it is what the state store
//! and its changelog hold, and `result` turns it into the output.
//!
//! Each function reads one input value per record, chosen by the caller
//! (a field, the whole value); nulls are skipped by every function but
//! COUNT(*) ([`Aggregate::Count`] counts records).
//!
//! COUNT_DISTINCT is exact: the accumulator keeps the distinct values (so
//! its memory grows with them). TOPK keeps the k largest.

use std::collections::BTreeSet;

use crate::value::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregate {
    /// Records, nulls included (COUNT(*)).
    Count,
    /// Non-null values.
    CountValues,
    Sum,
    Min,
    Max,
    Avg,
    /// The value of the record with the largest offset seen (the last).
    LatestByOffset,
    /// The value of the first record seen.
    EarliestByOffset,
    CollectList,
    CollectSet,
    /// The k largest values, largest first.
    TopK(usize),
    CountDistinct,
}

impl Aggregate {
    /// The accumulator of an empty group.
    pub fn init(&self) -> Value {
        match self {
            Aggregate::Count | Aggregate::CountValues => Value::Int(0),
            Aggregate::Avg => Value::Array(vec![Value::Double(0.0), Value::Int(0)]),
            Aggregate::CollectList
            | Aggregate::CollectSet
            | Aggregate::TopK(_)
            | Aggregate::CountDistinct => Value::Array(Vec::new()),
            _ => Value::Null,
        }
    }

    /// Folds one input value into the accumulator.
    pub fn add(&self, acc: Value, v: &Value) -> Value {
        if v.is_null() && *self != Aggregate::Count {
            return acc;
        }
        match self {
            Aggregate::Count | Aggregate::CountValues => Value::Int(acc.as_i64().unwrap_or(0) + 1),
            Aggregate::Sum => add_numbers(&acc, v),
            Aggregate::Min => match acc {
                Value::Null => v.clone(),
                a => a.min(v.clone()),
            },
            Aggregate::Max => match acc {
                Value::Null => v.clone(),
                a => a.max(v.clone()),
            },
            Aggregate::Avg => {
                let (sum, n) = avg_parts(&acc);
                Value::Array(vec![
                    Value::Double(sum + v.as_f64().unwrap_or(0.0)),
                    Value::Int(n + 1),
                ])
            }
            Aggregate::LatestByOffset => v.clone(),
            Aggregate::EarliestByOffset => match acc {
                Value::Null => v.clone(),
                a => a,
            },
            Aggregate::CollectList => push(acc, v.clone()),
            Aggregate::CollectSet | Aggregate::CountDistinct => {
                let mut set: BTreeSet<Value> = items(acc).into_iter().collect();
                set.insert(v.clone());
                Value::Array(set.into_iter().collect())
            }
            Aggregate::TopK(k) => {
                let mut top = items(acc);
                top.push(v.clone());
                top.sort_by(|a, b| b.cmp(a));
                top.truncate(*k);
                Value::Array(top)
            }
        }
    }

    /// Takes one input value back out (a table row that changed or went):
    /// None when the function cannot (MIN, MAX, ... would need every value).
    pub fn subtract(&self, acc: Value, v: &Value) -> Option<Value> {
        if v.is_null() && *self != Aggregate::Count {
            return Some(acc);
        }
        Some(match self {
            Aggregate::Count | Aggregate::CountValues => Value::Int(acc.as_i64().unwrap_or(0) - 1),
            Aggregate::Sum => add_numbers(&acc, &negate(v)),
            Aggregate::Avg => {
                let (sum, n) = avg_parts(&acc);
                Value::Array(vec![
                    Value::Double(sum - v.as_f64().unwrap_or(0.0)),
                    Value::Int(n - 1),
                ])
            }
            Aggregate::CollectList => {
                let mut list = items(acc);
                if let Some(i) = list.iter().position(|x| x == v) {
                    list.remove(i);
                }
                Value::Array(list)
            }
            _ => return None,
        })
    }

    /// Two accumulators as one (sessions that a record joins): `a` holds
    /// the earlier records, `b` the later.
    pub fn merge(&self, a: Value, b: Value) -> Value {
        match self {
            Aggregate::Count | Aggregate::CountValues | Aggregate::Sum => match (&a, &b) {
                (Value::Null, _) => b,
                (_, Value::Null) => a,
                _ => add_numbers(&a, &b),
            },
            Aggregate::Min => merge_nullable(a, b, Value::min),
            Aggregate::Max => merge_nullable(a, b, Value::max),
            Aggregate::Avg => {
                let ((s1, n1), (s2, n2)) = (avg_parts(&a), avg_parts(&b));
                Value::Array(vec![Value::Double(s1 + s2), Value::Int(n1 + n2)])
            }
            Aggregate::LatestByOffset => merge_nullable(a, b, |_, later| later),
            Aggregate::EarliestByOffset => merge_nullable(a, b, |earlier, _| earlier),
            Aggregate::CollectList => {
                let mut list = items(a);
                list.extend(items(b));
                Value::Array(list)
            }
            Aggregate::CollectSet | Aggregate::CountDistinct => {
                let set: BTreeSet<Value> = items(a).into_iter().chain(items(b)).collect();
                Value::Array(set.into_iter().collect())
            }
            Aggregate::TopK(k) => {
                let mut top = items(a);
                top.extend(items(b));
                top.sort_by(|x, y| y.cmp(x));
                top.truncate(*k);
                Value::Array(top)
            }
        }
    }

    /// Whether `subtract` works (a table aggregation needs it).
    pub fn can_subtract(&self) -> bool {
        matches!(
            self,
            Aggregate::Count
                | Aggregate::CountValues
                | Aggregate::Sum
                | Aggregate::Avg
                | Aggregate::CollectList
        )
    }

    /// The output of an accumulator.
    pub fn result(&self, acc: &Value) -> Value {
        match self {
            Aggregate::Avg => {
                let (sum, n) = avg_parts(acc);
                if n == 0 {
                    Value::Null
                } else {
                    Value::Double(sum / n as f64)
                }
            }
            Aggregate::CountDistinct => Value::Int(items(acc.clone()).len() as i64),
            _ => acc.clone(),
        }
    }
}

fn merge_nullable(a: Value, b: Value, both: impl FnOnce(Value, Value) -> Value) -> Value {
    match (a, b) {
        (Value::Null, b) => b,
        (a, Value::Null) => a,
        (a, b) => both(a, b),
    }
}

fn items(acc: Value) -> Vec<Value> {
    match acc {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

fn push(acc: Value, v: Value) -> Value {
    let mut a = items(acc);
    a.push(v);
    Value::Array(a)
}

fn avg_parts(acc: &Value) -> (f64, i64) {
    match acc {
        Value::Array(a) if a.len() == 2 => {
            (a[0].as_f64().unwrap_or(0.0), a[1].as_i64().unwrap_or(0))
        }
        _ => (0.0, 0),
    }
}

fn negate(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::Int(i.wrapping_neg()),
        Value::Double(d) => Value::Double(-d),
        other => other.clone(),
    }
}

/// Integer sums stay integers (wrapping, as Java's long does); any double
/// makes the sum a double; a non-number leaves the sum as it was.
fn add_numbers(acc: &Value, v: &Value) -> Value {
    match (acc, v) {
        (Value::Null, Value::Int(_) | Value::Double(_)) => v.clone(),
        (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Value::Double(x + y),
            _ => a.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(a: &Aggregate, vals: &[Value]) -> Value {
        let acc = vals.iter().fold(a.init(), |acc, v| a.add(acc, v));
        a.result(&acc)
    }

    #[test]
    fn every_function_on_one_sequence() {
        let vals = [
            Value::Int(3),
            Value::Null,
            Value::Int(7),
            Value::Int(3),
            Value::Int(5),
        ];
        assert_eq!(fold(&Aggregate::Count, &vals), Value::Int(5));
        assert_eq!(fold(&Aggregate::CountValues, &vals), Value::Int(4));
        assert_eq!(fold(&Aggregate::Sum, &vals), Value::Int(18));
        assert_eq!(fold(&Aggregate::Min, &vals), Value::Int(3));
        assert_eq!(fold(&Aggregate::Max, &vals), Value::Int(7));
        assert_eq!(fold(&Aggregate::Avg, &vals), Value::Double(4.5));
        assert_eq!(fold(&Aggregate::LatestByOffset, &vals), Value::Int(5));
        assert_eq!(fold(&Aggregate::EarliestByOffset, &vals), Value::Int(3));
        assert_eq!(
            fold(&Aggregate::CollectList, &vals),
            Value::Array(vec![
                Value::Int(3),
                Value::Int(7),
                Value::Int(3),
                Value::Int(5)
            ])
        );
        assert_eq!(
            fold(&Aggregate::CollectSet, &vals),
            Value::Array(vec![Value::Int(3), Value::Int(5), Value::Int(7)])
        );
        assert_eq!(
            fold(&Aggregate::TopK(2), &vals),
            Value::Array(vec![Value::Int(7), Value::Int(5)])
        );
        assert_eq!(fold(&Aggregate::CountDistinct, &vals), Value::Int(3));
        assert_eq!(fold(&Aggregate::Avg, &[]), Value::Null);
        assert_eq!(
            fold(&Aggregate::Sum, &[Value::Int(1), Value::Double(0.5)]),
            Value::Double(1.5)
        );
    }

    #[test]
    fn merging_two_halves_equals_folding_the_whole() {
        let vals: Vec<Value> = [4, 9, 1, 9, 6].into_iter().map(Value::Int).collect();
        for a in [
            Aggregate::Count,
            Aggregate::Sum,
            Aggregate::Min,
            Aggregate::Max,
            Aggregate::Avg,
            Aggregate::LatestByOffset,
            Aggregate::EarliestByOffset,
            Aggregate::CollectList,
            Aggregate::CollectSet,
            Aggregate::TopK(3),
            Aggregate::CountDistinct,
        ] {
            let (x, y) = vals.split_at(2);
            let fold_part = |p: &[Value]| p.iter().fold(a.init(), |acc, v| a.add(acc, v));
            let merged = a.merge(fold_part(x), fold_part(y));
            assert_eq!(a.result(&merged), fold(&a, &vals), "{a:?}");
        }
    }

    #[test]
    fn subtract_retracts_what_add_folded_in() {
        for a in [
            Aggregate::Count,
            Aggregate::Sum,
            Aggregate::Avg,
            Aggregate::CollectList,
        ] {
            let acc = a.add(a.add(a.init(), &Value::Int(4)), &Value::Int(6));
            let back = a.subtract(acc, &Value::Int(6)).expect("subtractable");
            assert_eq!(
                a.result(&back),
                a.result(&a.add(a.init(), &Value::Int(4))),
                "{a:?}"
            );
        }
        assert_eq!(Aggregate::Max.subtract(Value::Int(1), &Value::Int(1)), None);
    }
}
