//! What a response shows of a resource: `attributes` and `excludedAttributes`
//! (RFC 7644 §3.4.2.5), and the order `sortBy` gives a list (§3.4.2.3).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::schema::{get_ci, Kind, Resolved, ResourceSchema, Returned};

/// Keeps only the attributes named (with those always returned), or drops the ones
/// excluded (but those always returned). Names may be dotted or URN-qualified; names
/// the resource type does not have are ignored.
pub fn project(
    resource: &mut Map<String, Value>,
    schema: &ResourceSchema,
    attributes: &[String],
    excluded: &[String],
) {
    if !attributes.is_empty() {
        let full = std::mem::take(resource);
        for key in ["schemas", "id"] {
            if let Some(v) = full.get(key) {
                resource.insert(key.into(), v.clone());
            }
        }
        for name in attributes {
            let Some(target) = schema.resolve_name(name) else {
                continue;
            };
            copy(&full, resource, target);
        }
        return;
    }
    for name in excluded {
        let Some(target) = schema.resolve_name(name) else {
            continue;
        };
        if target.leaf().returned == Returned::Always {
            continue;
        }
        let holder = match target.extension {
            Some(urn) => match resource.get_mut(urn).and_then(Value::as_object_mut) {
                Some(h) => h,
                None => continue,
            },
            None => &mut *resource,
        };
        match target.sub {
            None => {
                holder.remove(&target.attribute.name);
            }
            Some(sub) => match holder.get_mut(&target.attribute.name) {
                Some(Value::Object(o)) => {
                    o.remove(&sub.name);
                }
                Some(Value::Array(items)) => items.iter_mut().for_each(|item| {
                    if let Value::Object(o) = item {
                        o.remove(&sub.name);
                    }
                }),
                _ => {}
            },
        }
    }
}

/// Copies what `target` names from `from` into `to`.
fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, target: Resolved<'_>) {
    let (source, dest) = match target.extension {
        Some(urn) => {
            let Some(source) = from.get(urn).and_then(Value::as_object) else {
                return;
            };
            let dest = to
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match dest.as_object_mut() {
                Some(dest) => (source, dest),
                None => return,
            }
        }
        None => (from, to),
    };
    let name = &target.attribute.name;
    let Some(value) = source.get(name) else {
        return;
    };
    let Some(sub) = target.sub else {
        dest.insert(name.clone(), value.clone());
        return;
    };
    let pick = |v: &Value| -> Value {
        let mut kept = Map::new();
        if let Some(x) = v.as_object().and_then(|o| o.get(&sub.name)) {
            kept.insert(sub.name.clone(), x.clone());
        }
        Value::Object(kept)
    };
    let picked = match value {
        Value::Array(items) => Value::Array(items.iter().map(pick).collect()),
        other => pick(other),
    };
    merge(dest, name, picked);
}

/// Puts `value` at `name`, merging objects (and arrays of objects, by position) with what
/// is there, so that `name.givenName,name.familyName` keeps both.
fn merge(dest: &mut Map<String, Value>, name: &str, value: Value) {
    match (dest.get_mut(name), value) {
        (Some(Value::Object(have)), Value::Object(add)) => have.extend(add),
        (Some(Value::Array(have)), Value::Array(add)) if have.len() == add.len() => {
            for (h, a) in have.iter_mut().zip(add) {
                if let (Value::Object(h), Value::Object(a)) = (h, a) {
                    h.extend(a);
                }
            }
        }
        (_, value) => {
            dest.insert(name.to_owned(), value);
        }
    }
}

/// The value a resource sorts by under `sortBy`: the attribute's value, or for a
/// multi-valued attribute its primary (else first) value's `value`. Text that is not
/// case-exact sorts case-insensitively.
pub fn sort_key(resource: &Value, schema: &ResourceSchema, sort_by: &str) -> Option<Value> {
    let target = schema.resolve_name(sort_by)?;
    let object = resource.as_object()?;
    let holder = match target.extension {
        Some(urn) => get_ci(object, urn)?.as_object()?,
        None => object,
    };
    let mut value = get_ci(holder, &target.attribute.name)?;
    if let Value::Array(items) = value {
        value = items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?;
    }
    let sub = match target.sub {
        Some(sub) => Some(sub.name.as_str()),
        None if target.attribute.kind == Kind::Complex => Some("value"),
        None => None,
    };
    if let Some(sub) = sub {
        value = value.as_object().and_then(|o| get_ci(o, sub))?;
    }
    Some(match value {
        Value::String(s) if !target.leaf().case_exact => Value::String(s.to_lowercase()),
        other => other.clone(),
    })
}

/// Orders sort keys: missing values last, then numbers, booleans and strings by value.
pub fn compare_keys(a: &Option<Value>, b: &Option<Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => match (a, b) {
            (Value::Number(x), Value::Number(y)) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}
