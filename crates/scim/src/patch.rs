//! PATCH (RFC 7644 §3.5.2) applied to a resource as JSON, and the normalisation every
//! written resource goes through.
//!
//! Beyond the RFC it takes what identity providers are documented to send: operation
//! names in any case; `add` on a single-valued attribute (meaning `replace`); a value
//! object without `path` whose keys are dotted (`name.givenName`) or URN-qualified
//! (`urn:…:enterprise:2.0:User:department`); `remove` of `members` with a `value` list,
//! which removes only those members; `add`/`replace` of `emails[type eq "work"].value`
//! when no work email exists yet, which creates it; booleans as the strings `"True"` and
//! `"False"`; and read-only attributes (`id`, `meta`, `groups`) sent back unchanged, which
//! are ignored.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::eval;
use crate::filter::{parse_path, AttrPath, CompareOp, Filter, PatchPath, Value as Operand};
use crate::schema::{get_ci, Attribute, Kind, Mutability, Resolved, ResourceSchema};

/// Most operations one PATCH request may hold. Applying them is linear in the
/// operations and the values they name; the cap keeps one request's work (done while
/// the workspace's writes wait) to milliseconds.
pub const MAX_OPERATIONS: usize = 1000;

/// Most values a written resource may hold in one multi-valued attribute (`emails`,
/// `phoneNumbers`, `addresses`, …). A group's `members` is the group itself and is not
/// capped here; how many members one request may change is capped where groups are
/// written (`roster_ops::scim::groups::MAX_MEMBER_CHANGES`).
pub const MAX_VALUES: usize = 100;

/// What one PATCH may cost beyond its indexed steps, in values visited: each operation
/// that is not an indexed add or remove of a multi-valued attribute (a rename, a filtered
/// replace, `emails[type eq "work"].value`) visits every value the resource holds.
pub const MAX_PATCH_COST: usize = 200_000;

fn too_many(detail: String) -> ScimError {
    ScimError::bad(ScimType::TooMany, detail)
}

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Adds values (or sets a single-valued attribute).
    Add,
    /// Removes the attribute or the selected values.
    Remove,
    /// Replaces the attribute or the selected values.
    Replace,
}

/// One operation of a PATCH request, parsed.
#[derive(Debug, Clone)]
pub struct Operation {
    /// What to do.
    pub op: Op,
    /// Where; `None` means the resource itself.
    pub path: Option<PatchPath>,
    /// With what.
    pub value: Option<Value>,
}

/// Reads the `Operations` of a PATCH body. The `schemas` member is not required, and
/// member names and operation names are read in any case.
pub fn operations(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let syntax = |detail: &str| ScimError::bad(ScimType::InvalidSyntax, detail);
    let object = body
        .as_object()
        .ok_or_else(|| syntax("a PATCH body is a JSON object with `Operations`"))?;
    let list = get_ci(object, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body needs an `Operations` array"))?;
    if list.is_empty() {
        return Err(syntax("`Operations` is empty"));
    }
    if list.len() > MAX_OPERATIONS {
        return Err(too_many(format!(
            "a PATCH holds at most {MAX_OPERATIONS} operations and this one holds {}; \
             send the rest in another PATCH",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(index, item)| {
            let item = item
                .as_object()
                .ok_or_else(|| syntax(&format!("operation {index} is not an object")))?;
            let op = match get_ci(item, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(op) if op == "add" => Op::Add,
                Some(op) if op == "remove" => Op::Remove,
                Some(op) if op == "replace" => Op::Replace,
                _ => {
                    return Err(syntax(&format!(
                        "operation {index}: `op` must be `add`, `remove` or `replace`"
                    )))
                }
            };
            let path = match get_ci(item, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) if text.trim().is_empty() => None,
                Some(Value::String(text)) => Some(parse_path(text).map_err(|e| {
                    ScimError::bad(ScimType::InvalidPath, format!("operation {index}: {e}"))
                })?),
                Some(_) => {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        format!("operation {index}: `path` must be a string"),
                    ))
                }
            };
            Ok(Operation {
                op,
                path,
                value: get_ci(item, "value").cloned(),
            })
        })
        .collect()
}

/// Applies operations to a resource in order; on error the resource may be half
/// changed, so callers apply to a copy. The result is [`normalize`]d.
///
/// The work is linear: an add, a replace or a listed remove of a multi-valued attribute
/// without `primary` (a group's `members`), and a remove of `members[value eq "…"]`,
/// act on that attribute held aside with an index of its values, so each costs the
/// values it names. Any other operation visits the resource and is charged every value
/// it holds; past [`MAX_PATCH_COST`] the PATCH is `400 tooMany`.
pub fn apply(
    resource: &mut Map<String, Value>,
    operations: &[Operation],
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let mut open = Open::default();
    let mut cost = 0usize;
    for operation in operations {
        if open.fast(resource, operation, schema)? {
            continue;
        }
        open.flush(resource);
        cost = cost.saturating_add(1).saturating_add(values_held(resource));
        if cost > MAX_PATCH_COST {
            return Err(too_many(format!(
                "this PATCH visits the resource's values more than {MAX_PATCH_COST} times \
                 in all; send fewer operations that rewrite a large attribute, or send them \
                 in several PATCH requests"
            )));
        }
        apply_one(resource, operation, schema)?;
    }
    open.flush(resource);
    normalize(resource, schema)
}

/// How many values the multi-valued attributes of a resource hold, its extensions'
/// included: what an operation that visits the resource may touch.
fn values_held(resource: &Map<String, Value>) -> usize {
    resource
        .values()
        .map(|value| match value {
            Value::Array(items) => items.len(),
            Value::Object(inner) => inner
                .values()
                .map(|v| v.as_array().map_or(0, Vec::len))
                .sum(),
            _ => 0,
        })
        .sum()
}

/// Multi-valued attributes taken out of the resource while operations apply, each
/// with an index of its values by [`identity`].
#[derive(Default)]
struct Open {
    held: Vec<Held>,
}

/// One attribute held aside: where it goes back, its values (`None` once removed) and
/// where each identity sits.
struct Held {
    extension: Option<String>,
    name: String,
    items: Vec<Option<Value>>,
    index: std::collections::HashMap<String, Vec<usize>>,
}

impl Held {
    fn add(&mut self, incoming: Vec<Value>) {
        for item in incoming {
            let key = identity(&item);
            if let std::collections::hash_map::Entry::Vacant(slot) = self.index.entry(key) {
                slot.insert(vec![self.items.len()]);
                self.items.push(Some(item));
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(positions) = self.index.remove(key) {
            for position in positions {
                if let Some(slot) = self.items.get_mut(position) {
                    *slot = None;
                }
            }
        }
    }

    fn clear(&mut self) {
        self.items.clear();
        self.index.clear();
    }
}

impl Open {
    /// Applies an operation to a held attribute when it is one of the indexed kinds;
    /// `false` when it must be applied to the resource instead.
    fn fast(
        &mut self,
        resource: &mut Map<String, Value>,
        operation: &Operation,
        schema: &ResourceSchema,
    ) -> Result<bool, ScimError> {
        let Some(path) = &operation.path else {
            return Ok(false);
        };
        if path.sub.is_some() || path.attr.sub.is_some() {
            return Ok(false);
        }
        let Some(target) = resolve_path(schema, &path.attr)? else {
            return Ok(false);
        };
        let attribute = target.attribute;
        let indexable = attribute.multi
            && attribute.kind == Kind::Complex
            && target.sub.is_none()
            && !ignored(attribute)
            && attribute.sub("primary").is_none()
            && attribute.sub("value").is_some_and(|v| v.case_exact);
        if !indexable {
            return Ok(false);
        }
        // Which values the operation names, or that it rewrites the whole attribute.
        enum Step {
            Add(Vec<Value>),
            Replace(Vec<Value>),
            Remove(Vec<String>),
            Clear,
        }
        let listed = |value: &Value| match value {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            single => vec![single.clone()],
        };
        let step = match (&path.filter, operation.op) {
            (None, Op::Add) | (None, Op::Replace) => {
                let Some(value) = &operation.value else {
                    return Ok(false);
                };
                if operation.op == Op::Add {
                    Step::Add(listed(value))
                } else {
                    Step::Replace(listed(value))
                }
            }
            (None, Op::Remove) => match &operation.value {
                Some(Value::Array(items)) if !items.is_empty() => {
                    Step::Remove(items.iter().map(identity).collect())
                }
                Some(item @ Value::Object(_)) => Step::Remove(vec![identity(item)]),
                _ => Step::Clear,
            },
            (Some(Filter::Compare(on, CompareOp::Eq, Operand::String(v))), Op::Remove)
                if on.uri.is_none()
                    && on.sub.is_none()
                    && on.name.eq_ignore_ascii_case("value") =>
            {
                Step::Remove(vec![format!("v:{v}")])
            }
            _ => return Ok(false),
        };
        let held = self.take(resource, target.extension, &attribute.name);
        match step {
            Step::Add(items) => held.add(items),
            Step::Replace(items) => {
                held.clear();
                held.add(items);
            }
            Step::Remove(keys) => keys.iter().for_each(|k| held.remove(k)),
            Step::Clear => held.clear(),
        }
        Ok(true)
    }

    /// The held attribute, taken out of the resource (and indexed) the first time.
    fn take(
        &mut self,
        resource: &mut Map<String, Value>,
        extension: Option<&str>,
        name: &str,
    ) -> &mut Held {
        let found = self
            .held
            .iter()
            .position(|h| h.name == name && h.extension.as_deref() == extension);
        let position = match found {
            Some(position) => position,
            None => {
                let current = container(resource, extension).and_then(|h| remove_ci(h, name));
                let items = match current {
                    Some(Value::Array(items)) => items,
                    Some(Value::Null) | None => Vec::new(),
                    Some(single) => vec![single],
                };
                let mut index: std::collections::HashMap<String, Vec<usize>> =
                    std::collections::HashMap::with_capacity(items.len());
                for (position, item) in items.iter().enumerate() {
                    index.entry(identity(item)).or_default().push(position);
                }
                self.held.push(Held {
                    extension: extension.map(str::to_owned),
                    name: name.to_owned(),
                    items: items.into_iter().map(Some).collect(),
                    index,
                });
                self.held.len() - 1
            }
        };
        &mut self.held[position]
    }

    /// Puts every held attribute back into the resource.
    fn flush(&mut self, resource: &mut Map<String, Value>) {
        for held in self.held.drain(..) {
            let items: Vec<Value> = held.items.into_iter().flatten().collect();
            if items.is_empty() {
                continue;
            }
            if let Some(holder) = container(resource, held.extension.as_deref()) {
                holder.insert(held.name, Value::Array(items));
            }
        }
    }
}

fn apply_one(
    resource: &mut Map<String, Value>,
    operation: &Operation,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let Some(path) = &operation.path else {
        if operation.op == Op::Remove {
            return Err(ScimError::bad(
                ScimType::NoTarget,
                "`remove` needs a `path`",
            ));
        }
        let Some(Value::Object(values)) = &operation.value else {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                "an operation without `path` needs an object `value`",
            ));
        };
        for (key, value) in values {
            if let Some(extension) = schema.extension(key) {
                // `{"urn:…:enterprise:2.0:User": {"department": "…"}}`
                let Value::Object(inner) = value else {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        format!("`{key}` must be an object"),
                    ));
                };
                let urn = extension.id.clone();
                for (name, value) in inner {
                    if let Some(target) = schema.resolve(Some(&urn), name, None) {
                        set_at(resource, target, operation.op, value.clone())?;
                    }
                }
                continue;
            }
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            // Unknown attributes and schema URIs are ignored, as clients expect.
            if let Some(target) = schema.resolve_name(key) {
                set_at(resource, target, operation.op, value.clone())?;
            }
        }
        return Ok(());
    };
    let Some(target) = resolve_path(schema, &path.attr)? else {
        return Ok(());
    };
    match (&path.filter, operation.op) {
        (None, Op::Remove) => remove(resource, target, operation.value.as_ref()),
        (None, op) => {
            let value = operation.value.clone().ok_or_else(|| {
                ScimError::bad(ScimType::InvalidValue, "the operation needs a `value`")
            })?;
            set_at(resource, target, op, value)
        }
        (Some(filter), op) => filtered(
            resource,
            target,
            filter,
            path.sub.as_deref(),
            op,
            operation.value.as_ref(),
        ),
    }
}

/// Resolves a PATCH path. A URI the resource type does not know is ignored (`None`);
/// an attribute it does not know is an `invalidPath`.
fn resolve_path<'s>(
    schema: &'s ResourceSchema,
    attr: &AttrPath,
) -> Result<Option<Resolved<'s>>, ScimError> {
    if let Some(uri) = &attr.uri {
        let known = uri.eq_ignore_ascii_case(&schema.core.id) || schema.extension(uri).is_some();
        if !known {
            return Ok(None);
        }
    }
    schema
        .resolve(attr.uri.as_deref(), &attr.name, attr.sub.as_deref())
        .map(Some)
        .ok_or_else(|| ScimError::bad(ScimType::InvalidPath, format!("no attribute `{attr}`")))
}

fn ignored(attribute: &Attribute) -> bool {
    matches!(
        attribute.mutability,
        Mutability::ReadOnly | Mutability::WriteOnly
    )
}

/// The object holding a target's attribute: the resource, or its extension's object
/// (made when missing, and made an object when a client left something else there).
fn container<'r>(
    resource: &'r mut Map<String, Value>,
    extension: Option<&str>,
) -> Option<&'r mut Map<String, Value>> {
    let Some(urn) = extension else {
        return Some(resource);
    };
    let key = take_key(resource, urn).unwrap_or_else(|| urn.to_owned());
    let slot = resource
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// The key under which an object holds `name` in any case, so that writes replace it.
fn take_key(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// Removes `name` in any case, returning its value.
fn remove_ci(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = take_key(object, name)?;
    object.remove(&key)
}

/// Sets, adds to or replaces the attribute a target names (with an optional
/// sub-attribute already resolved as `target.sub`).
fn set_at(
    resource: &mut Map<String, Value>,
    target: Resolved<'_>,
    op: Op,
    value: Value,
) -> Result<(), ScimError> {
    let attribute = target.attribute;
    if ignored(attribute) || target.sub.is_some_and(ignored) {
        return Ok(());
    }
    let Some(holder) = container(resource, target.extension) else {
        return Ok(());
    };
    if let Some(sub) = target.sub {
        // `name.givenName`: set the sub-attribute of a singular complex attribute; on a
        // multi-valued one it applies to every value.
        let current = remove_ci(holder, &attribute.name).unwrap_or(Value::Null);
        let updated = match current {
            Value::Array(mut items) => {
                for item in &mut items {
                    if let Value::Object(o) = item {
                        remove_ci(o, &sub.name);
                        o.insert(sub.name.clone(), value.clone());
                    }
                }
                Value::Array(items)
            }
            Value::Object(mut o) => {
                remove_ci(&mut o, &sub.name);
                o.insert(sub.name.clone(), value);
                Value::Object(o)
            }
            _ => {
                let mut o = Map::new();
                o.insert(sub.name.clone(), value);
                Value::Object(o)
            }
        };
        holder.insert(attribute.name.clone(), updated);
        return Ok(());
    }
    if attribute.multi {
        let incoming = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            single => vec![single],
        };
        let current = remove_ci(holder, &attribute.name);
        let mut items = match (op, current) {
            (Op::Add, Some(Value::Array(items))) => items,
            _ => Vec::new(),
        };
        let mut seen: std::collections::HashSet<String> = items.iter().map(identity).collect();
        for item in incoming {
            if item_is_primary(&item) {
                for existing in &mut items {
                    if let Value::Object(o) = existing {
                        remove_ci(o, "primary");
                    }
                }
            }
            if seen.insert(identity(&item)) {
                items.push(item);
            }
        }
        if !items.is_empty() {
            holder.insert(attribute.name.clone(), Value::Array(items));
        }
        return Ok(());
    }
    if attribute.kind == Kind::Complex {
        // A singular complex attribute: the given sub-attributes are set, the others kept
        // (RFC 7644 §3.5.2.1 and §3.5.2.3).
        if let Value::Object(given) = value {
            let mut merged = match remove_ci(holder, &attribute.name) {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            for (k, v) in given {
                remove_ci(&mut merged, &k);
                merged.insert(k, v);
            }
            holder.insert(attribute.name.clone(), Value::Object(merged));
            return Ok(());
        }
    }
    remove_ci(holder, &attribute.name);
    if !value.is_null() {
        holder.insert(attribute.name.clone(), value);
    }
    Ok(())
}

/// What makes two values of a multi-valued attribute the same: their `value` when they
/// have one (members, emails), else the whole value.
fn identity(item: &Value) -> String {
    match item.as_object().and_then(|o| get_ci(o, "value")) {
        Some(Value::String(v)) => format!("v:{v}"),
        Some(other) => format!("v:{other}"),
        None => format!("j:{item}"),
    }
}

fn item_is_primary(item: &Value) -> bool {
    match item.as_object().and_then(|o| get_ci(o, "primary")) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// `remove` without a filter: the attribute (or sub-attribute), or, for a multi-valued
/// attribute given a `value` list, only the listed values.
fn remove(
    resource: &mut Map<String, Value>,
    target: Resolved<'_>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attribute = target.attribute;
    if ignored(attribute) {
        return Ok(());
    }
    let Some(holder) = container(resource, target.extension) else {
        return Ok(());
    };
    if let Some(sub) = target.sub {
        if let Some(current) = take_key(holder, &attribute.name).and_then(|k| holder.get_mut(&k)) {
            match current {
                Value::Object(o) => {
                    remove_ci(o, &sub.name);
                }
                Value::Array(items) => items.iter_mut().for_each(|item| {
                    if let Value::Object(o) = item {
                        remove_ci(o, &sub.name);
                    }
                }),
                _ => {}
            }
        }
        return Ok(());
    }
    let listed = match value {
        Some(Value::Array(items)) if attribute.multi && !items.is_empty() => Some(items.clone()),
        Some(item @ Value::Object(_)) if attribute.multi => Some(vec![item.clone()]),
        _ => None,
    };
    match listed {
        None => {
            remove_ci(holder, &attribute.name);
        }
        Some(listed) => {
            let gone: std::collections::HashSet<String> = listed.iter().map(identity).collect();
            if let Some(Value::Array(mut items)) = remove_ci(holder, &attribute.name) {
                items.retain(|item| !gone.contains(&identity(item)));
                if !items.is_empty() {
                    holder.insert(attribute.name.clone(), Value::Array(items));
                }
            }
        }
    }
    Ok(())
}

/// An operation on the values a filter selects (`members[value eq "…"]`,
/// `emails[type eq "work"].value`).
fn filtered(
    resource: &mut Map<String, Value>,
    target: Resolved<'_>,
    filter: &Filter,
    sub: Option<&str>,
    op: Op,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attribute = target.attribute;
    if attribute.kind != Kind::Complex || !attribute.multi {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!(
                "`{}[…]` needs a multi-valued complex attribute",
                attribute.name
            ),
        ));
    }
    if ignored(attribute) {
        return Ok(());
    }
    let sub = match sub {
        Some(name) => Some(
            attribute
                .sub(name)
                .ok_or_else(|| {
                    ScimError::bad(ScimType::InvalidPath, format!("no sub-attribute `{name}`"))
                })?
                .name
                .clone(),
        ),
        None => None,
    };
    let element_schema = crate::schema::element_resource(attribute);
    eval::check(filter, &element_schema)?;
    let Some(holder) = container(resource, target.extension) else {
        return Ok(());
    };
    let mut items = match remove_ci(holder, &attribute.name) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(single) => vec![single],
    };
    let selected: Vec<bool> = items
        .iter()
        .map(|item| eval::matches(filter, item, &element_schema))
        .collect();
    let any = selected.iter().any(|s| *s);
    match op {
        Op::Remove => {
            let mut keep = selected.iter().map(|s| !s);
            match &sub {
                None => items.retain(|_| keep.next().unwrap_or(true)),
                Some(sub) => {
                    for (item, chosen) in items.iter_mut().zip(&selected) {
                        if let (true, Value::Object(o)) = (chosen, item) {
                            remove_ci(o, sub);
                        }
                    }
                }
            }
        }
        Op::Add | Op::Replace => {
            let value = value.cloned().ok_or_else(|| {
                ScimError::bad(ScimType::InvalidValue, "the operation needs a `value`")
            })?;
            if any {
                for (item, chosen) in items.iter_mut().zip(&selected) {
                    if !chosen {
                        continue;
                    }
                    match (&sub, item) {
                        (Some(sub), Value::Object(o)) => {
                            remove_ci(o, sub);
                            o.insert(sub.clone(), value.clone());
                        }
                        (None, Value::Object(o)) => {
                            if let Value::Object(given) = &value {
                                for (k, v) in given {
                                    remove_ci(o, k);
                                    o.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                // Nothing selected: `add`, and `replace` of a sub-attribute, create the
                // value the filter describes, as Entra ID expects of
                // `emails[type eq "work"].value`; a whole-value `replace` has no target.
                let creates = op == Op::Add || sub.is_some();
                let mut created = equalities(filter).filter(|_| creates).ok_or_else(|| {
                    ScimError::bad(
                        ScimType::NoTarget,
                        format!("no value of `{}` matches the filter", attribute.name),
                    )
                })?;
                match (&sub, value) {
                    (Some(sub), value) => {
                        created.insert(sub.clone(), value);
                    }
                    (None, Value::Object(given)) => created.extend(given),
                    (None, _) => {
                        return Err(ScimError::bad(
                            ScimType::InvalidValue,
                            "the value of a filtered path must be an object",
                        ))
                    }
                }
                items.push(Value::Object(created));
            }
        }
    }
    if !items.is_empty() {
        holder.insert(attribute.name.clone(), Value::Array(items));
    }
    Ok(())
}

/// The values a filter of `eq` comparisons joined by `and` pins down
/// (`type eq "work"` gives `{"type": "work"}`); `None` for any other filter.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::And(a, b) => {
            let mut left = equalities(a)?;
            left.extend(equalities(b)?);
            Some(left)
        }
        Filter::Compare(path, CompareOp::Eq, operand)
            if path.uri.is_none() && path.sub.is_none() =>
        {
            let value = match operand {
                Operand::String(s) => Value::from(s.clone()),
                Operand::Bool(b) => Value::from(*b),
                Operand::Number(n) => Value::Number(n.clone()),
                Operand::Null => return None,
            };
            let mut map = Map::new();
            map.insert(path.name.clone(), value);
            Some(map)
        }
        _ => None,
    }
}

/// Brings a resource to the form Roster keeps: attribute names in their schema's case,
/// attributes the type does not have dropped (as are unknown schema URIs), read-only and
/// write-only attributes dropped (the server sets the former and never keeps the
/// latter), booleans sent as `"True"`/`"False"` made booleans, numbers sent for text
/// made text, and text sent for numbers made numbers. A value that cannot be made the
/// attribute's type is an `invalidValue`.
pub fn normalize(
    resource: &mut Map<String, Value>,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let taken = std::mem::take(resource);
    for (key, value) in taken {
        if let Some(extension) = schema.extension(&key) {
            let Value::Object(inner) = value else {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("`{key}` must be an object"),
                ));
            };
            let mut kept = Map::new();
            for (name, value) in inner {
                if let Some(attribute) = extension.attribute(&name) {
                    if let Some(value) = coerce(attribute, value)? {
                        kept.insert(attribute.name.clone(), value);
                    }
                }
            }
            if !kept.is_empty() {
                resource.insert(extension.id.clone(), Value::Object(kept));
            }
            continue;
        }
        let Some(attribute) = schema.core.attribute(&key) else {
            if key.eq_ignore_ascii_case("externalId") {
                match value {
                    Value::Null => {}
                    Value::String(s) => {
                        resource.insert("externalId".into(), Value::String(s));
                    }
                    other => {
                        resource.insert("externalId".into(), Value::String(plain(&other)));
                    }
                }
            }
            continue;
        };
        if ignored(attribute) {
            continue;
        }
        if let Some(value) = coerce(attribute, value)? {
            resource.insert(attribute.name.clone(), value);
        }
    }
    Ok(())
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value made the attribute's type; `None` when it is empty (`null`, `[]`, `{}`).
fn coerce(attribute: &Attribute, value: Value) -> Result<Option<Value>, ScimError> {
    if attribute.multi {
        let items = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => items,
            single => vec![single],
        };
        if items.len() > MAX_VALUES && attribute.name != "members" {
            return Err(too_many(format!(
                "`{}` holds at most {MAX_VALUES} values and this one would hold {}",
                attribute.name,
                items.len()
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(item) = coerce_one(attribute, item)? {
                out.push(item);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    coerce_one(attribute, value)
}

fn coerce_one(attribute: &Attribute, value: Value) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| {
        ScimError::bad(
            ScimType::InvalidValue,
            format!("`{}` must be {what}", attribute.name),
        )
    };
    Ok(match (attribute.kind, value) {
        (_, Value::Null) => None,
        (Kind::Complex, Value::Object(given)) => {
            let mut kept = Map::new();
            for (name, value) in given {
                // `$ref: null` and unknown sub-attributes are dropped.
                if let Some(sub) = attribute.sub(&name) {
                    if sub.mutability == Mutability::ReadOnly {
                        continue;
                    }
                    if let Some(value) = coerce_one(sub, value)? {
                        kept.insert(sub.name.clone(), value);
                    }
                }
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        (Kind::Complex, _) => return Err(wrong("an object")),
        (Kind::Boolean, Value::Bool(b)) => Some(Value::Bool(b)),
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Some(Value::Bool(true))
        }
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Some(Value::Bool(false))
        }
        (Kind::Boolean, _) => return Err(wrong("true or false")),
        (Kind::Decimal | Kind::Integer, Value::Number(n)) => Some(Value::Number(n)),
        (Kind::Decimal | Kind::Integer, Value::String(s)) => {
            let number: f64 = s.trim().parse().map_err(|_| wrong("a number"))?;
            Some(
                serde_json::Number::from_f64(number)
                    .map(Value::Number)
                    .ok_or_else(|| wrong("a finite number"))?,
            )
        }
        (Kind::Decimal | Kind::Integer, _) => return Err(wrong("a number")),
        (_, Value::String(s)) => Some(Value::String(s)),
        (_, Value::Number(n)) => Some(Value::String(n.to_string())),
        (_, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (_, _) => return Err(wrong("a string")),
    })
}
