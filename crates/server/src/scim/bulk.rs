//! `/Bulk` (RFC 7644 §3.7) and the search at the root (§3.4.3).
//!
//! Bulk operations are decided in order and committed together as one batched write
//! (see `crate::batch`): each is all-or-nothing, and a failed one leaves the others
//! applied, as the RFC describes. `bulkId:` references in a
//! path or anywhere in `data` (a group's `members`, typically) name resources created
//! earlier in the same request. `failOnErrors` stops processing after that many errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use roster_model::Id;
use roster_ops::scim::{groups, users};
use roster_ops::{Ctx, OpError, Outcome};
use roster_scim::patch;
use roster_scim::schema::{get_ci, BULK_RESPONSE, LIST_RESPONSE};
use roster_scim::{ScimError, ScimType};
use serde_json::{json, Value};

use super::discovery::MAX_BULK_OPERATIONS;
use super::list::ListQuery;
use super::resources::{self, Kind};
use super::wire::{Body, Fail, Reply, ScimAuth};
use crate::batch::{BatchOp, Decide};

/// `POST /Bulk`.
pub async fn bulk(auth: ScimAuth, Body(body): Body) -> Result<Reply, Fail> {
    let syntax = |detail: &str| Fail(ScimError::bad(ScimType::InvalidSyntax, detail));
    let Value::Object(mut object) = body else {
        return Err(syntax("a bulk request is a JSON object"));
    };
    let key = object
        .keys()
        .find(|k| k.eq_ignore_ascii_case("Operations"))
        .cloned()
        .unwrap_or_default();
    let Some(Value::Array(operations)) = object.remove(&key) else {
        return Err(syntax("a bulk request needs an `Operations` array"));
    };
    if operations.len() > MAX_BULK_OPERATIONS {
        return Err(Fail(ScimError {
            status: 413,
            scim_type: Some(ScimType::TooMany),
            detail: format!("a bulk request holds at most {MAX_BULK_OPERATIONS} operations"),
        }));
    }
    let fail_on_errors = match get_ci(&object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            Fail(ScimError::bad(
                ScimType::InvalidValue,
                "`failOnErrors` must be a positive integer",
            ))
        })?),
    };
    // Every operation is decided in one batch, in order; `bulkId`s resolve to what the
    // operations before created, and after `failOnErrors` errors the rest are skipped.
    let shared = Arc::new(Mutex::new(Progress::default()));
    // What the response names of each operation, kept before the operations move.
    let named: Vec<(String, Option<String>)> = operations
        .iter()
        .map(|o| {
            let method = o.get("method").and_then(Value::as_str).unwrap_or_default();
            let bulk_id = o.get("bulkId").and_then(Value::as_str).map(str::to_owned);
            (method.to_ascii_uppercase(), bulk_id)
        })
        .collect();
    let batch: Vec<BatchOp<'static, Done>> = operations
        .into_iter()
        .map(|operation| {
            let shared = shared.clone();
            let op: Decide<'static, Done> = Box::new(move |ctx: &Ctx| {
                let mut progress = shared.lock().unwrap_or_else(|p| p.into_inner());
                if fail_on_errors.is_some_and(|limit| progress.errors >= limit) {
                    return Ok(Outcome::unchanged(Done::Skipped));
                }
                if progress.spent >= MAX_BULK_COST {
                    progress.errors += 1;
                    return Err(OpError::Scim(ScimError::bad(
                        ScimType::TooMany,
                        format!(
                            "this bulk request has spent what one request may cost \
                             ({MAX_BULK_COST}: one per operation plus the members of each \
                             group written); send the remaining operations in another request"
                        ),
                    )));
                }
                progress.spent = progress.spent.saturating_add(cost(ctx, &operation));
                let bulk_id = operation
                    .get("bulkId")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let decided = decide(ctx, operation, &progress.created);
                match &decided {
                    Ok(outcome) => {
                        if let (
                            Done::Written {
                                id, created: true, ..
                            },
                            Some(bulk_id),
                        ) = (&outcome.value, bulk_id)
                        {
                            progress.created.insert(bulk_id, *id);
                        }
                    }
                    Err(_) => progress.errors += 1,
                }
                decided
            });
            (auth.actor, op)
        })
        .collect();
    let (results, _) = auth
        .roster
        .write_batch(auth.workspace, batch)
        .await
        .map_err(Fail::from)?;
    let mut entries = Vec::with_capacity(results.len());
    let state = auth.handle.read();
    for ((method, bulk_id), result) in named.into_iter().zip(results) {
        let mut entry = json!({"method": method});
        if let Some(id) = bulk_id {
            entry["bulkId"] = Value::from(id);
        }
        match result {
            Ok(Done::Skipped) => continue,
            Ok(Done::Deleted) => entry["status"] = Value::from("204"),
            Ok(Done::Written { kind, id, created }) => {
                entry["status"] = Value::from(if created { "201" } else { "200" });
                if let Some((location, version)) = resources::location(&state, &auth.base, kind, id)
                {
                    entry["location"] = Value::from(location);
                    entry["version"] = Value::from(version);
                }
            }
            Err(refused) => {
                let error = super::wire::from_op(refused);
                entry["status"] = Value::from(error.status.to_string());
                entry["response"] = error.to_json();
            }
        }
        entries.push(entry);
    }
    drop(state);
    Ok(Reply::ok(json!({
        "schemas": [BULK_RESPONSE],
        "Operations": entries,
    })))
}

/// What the operations of one `/Bulk` request may cost together, decided while the
/// workspace's writes wait: one per operation, plus, for an operation on an existing
/// group, the members recorded in it (a group write reads and compares its whole member
/// list), plus 25 for each member its data lists. Once spent, the remaining operations are `400 tooMany`; the operation that
/// crosses it still runs, so a group of any size can be written. About 100 ms of one
/// core (docs/security.md).
pub const MAX_BULK_COST: usize = 100_000;

/// What the operations of a bulk request have done so far.
#[derive(Default)]
struct Progress {
    created: HashMap<String, Id>,
    errors: u64,
    /// What the operations so far cost (see [`MAX_BULK_COST`]).
    spent: usize,
}

/// What deciding one bulk operation costs (see [`MAX_BULK_COST`]).
fn cost(ctx: &Ctx, operation: &Value) -> usize {
    let group = operation
        .get("path")
        .and_then(Value::as_str)
        .and_then(|path| {
            let mut segments = path.trim_matches('/').split('/');
            let kind = segments.next()?;
            let id = segments.next()?;
            kind.eq_ignore_ascii_case("groups")
                .then(|| Id::parse_str(id).ok())
                .flatten()
        });
    let listed = operation.get("data").map_or(0, listed_members);
    1 + group.map_or(0, |id| ctx.state.static_member_count(&id))
        + listed.saturating_mul(LISTED_MEMBER_COST)
}

/// What one member listed in an operation's data costs to decide, against one already
/// recorded in the group it writes: a listed member is checked, recorded and its
/// membership change predicted (measured: a `/Bulk` creating 20 groups of 1,000 members
/// took 400 to 800 ms, about 25 times what comparing 20,000 recorded members costs).
const LISTED_MEMBER_COST: usize = 25;

/// The members an operation's data lists: a group's `members`, and the values of PATCH
/// operations (`value` as a list, or an object with `members`).
fn listed_members(data: &Value) -> usize {
    let members = |value: &Value| {
        value
            .get("members")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    let patched: usize = data
        .get("Operations")
        .and_then(Value::as_array)
        .map_or(0, |operations| {
            operations
                .iter()
                .filter_map(|o| o.get("value"))
                .map(|value| match value {
                    Value::Array(values) => values.len(),
                    other => members(other),
                })
                .sum()
        });
    members(data).saturating_add(patched)
}

/// What one bulk operation did.
enum Done {
    /// Skipped after `failOnErrors` errors.
    Skipped,
    /// Created or changed a resource.
    Written { kind: Kind, id: Id, created: bool },
    /// Deleted one.
    Deleted,
}

fn scim_error(error: ScimError) -> OpError {
    OpError::Scim(error)
}

/// Decides one bulk operation.
fn decide(
    ctx: &Ctx,
    mut operation: Value,
    created: &HashMap<String, Id>,
) -> Result<Outcome<Done>, OpError> {
    let invalid = |detail: String| scim_error(ScimError::bad(ScimType::InvalidValue, detail));
    let text = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let method = text("method").unwrap_or_default().to_ascii_uppercase();
    let version = text("version");
    let has_bulk_id = text("bulkId").is_some();
    let path = text("path").ok_or_else(|| invalid("each bulk operation needs a `path`".into()))?;
    let path = resolve_refs(&Value::from(path), created)?;
    let path = path.as_str().unwrap_or_default().to_owned();
    let mut data = match operation.get_mut("data").map(Value::take) {
        Some(data) if mentions_bulk_id(&data) => resolve_refs(&data, created)?,
        Some(data) => data,
        None => Value::Null,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let kind = match segments.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("users") => Kind::User,
        Some("groups") => Kind::Group,
        _ => return Err(invalid(format!("`{path}` is not /Users or /Groups"))),
    };
    let id = match segments.get(1) {
        Some(raw) => Some(Id::parse_str(raw).map_err(|_| {
            scim_error(ScimError::not_found(if kind == Kind::User {
                "user"
            } else {
                "group"
            }))
        })?),
        None => None,
    };
    let written = |id: Id, created: bool| Done::Written { kind, id, created };
    let version = version.as_deref();
    match (method.as_str(), id) {
        ("POST", None) => {
            if !has_bulk_id {
                return Err(invalid("a bulk POST needs a `bulkId`".into()));
            }
            if let Value::Object(map) = &mut data {
                map.remove("id");
            }
            let outcome = match kind {
                Kind::User => users::create(ctx, data)?,
                Kind::Group => groups::create(ctx, data)?,
            };
            Ok(map(outcome, |id| written(id, true)))
        }
        ("PUT", Some(id)) => {
            let outcome = match kind {
                Kind::User => users::replace(ctx, id, data, version)?,
                Kind::Group => groups::replace(ctx, id, data, version)?,
            };
            Ok(map(outcome, |id| written(id, false)))
        }
        ("PATCH", Some(id)) => {
            let operations = patch::operations(&data).map_err(scim_error)?;
            let outcome = match kind {
                Kind::User => users::patch(ctx, id, &operations, version)?,
                Kind::Group => groups::patch(ctx, id, &operations, version)?,
            };
            Ok(map(outcome, |id| written(id, false)))
        }
        ("DELETE", Some(id)) => {
            let outcome = match kind {
                Kind::User => users::delete(ctx, id, version)?,
                Kind::Group => groups::delete(ctx, id, version)?,
            };
            Ok(map(outcome, |()| Done::Deleted))
        }
        (method, _) => Err(invalid(format!(
            "`{method} {path}` is not a bulk operation (POST to a collection; PUT, PATCH or DELETE to a resource)"
        ))),
    }
}

fn map<A, B>(outcome: Outcome<A>, f: impl FnOnce(A) -> B) -> Outcome<B> {
    Outcome {
        value: f(outcome.value),
        events: outcome.events,
        audit: outcome.audit,
    }
}

/// Whether any string in a value refers to a `bulkId`.
fn mentions_bulk_id(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("bulkId:"),
        Value::Array(items) => items.iter().any(mentions_bulk_id),
        Value::Object(map) => map.values().any(mentions_bulk_id),
        _ => false,
    }
}

/// Replaces every `bulkId:ID` string with the id the operation of that bulkId created.
/// A reference to a bulkId not (yet) created is a `409` (RFC 7644 §3.7.2).
fn resolve_refs(value: &Value, created: &HashMap<String, Id>) -> Result<Value, OpError> {
    Ok(match value {
        Value::String(s) => match s.find("bulkId:") {
            Some(at) => {
                let reference = &s[at + "bulkId:".len()..];
                let (name, rest) = reference
                    .split_once('/')
                    .map_or((reference, ""), |(n, r)| (n, r));
                let id = created.get(name).ok_or_else(|| {
                    scim_error(ScimError::status(
                        409,
                        format!(
                            "bulkId `{name}` names no resource created earlier in this request"
                        ),
                    ))
                })?;
                let tail = if rest.is_empty() {
                    String::new()
                } else {
                    format!("/{rest}")
                };
                Value::from(format!("{}{id}{tail}", &s[..at]))
            }
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| resolve_refs(i, created))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_refs(v, created)?)))
                .collect::<Result<_, OpError>>()?,
        ),
        other => other.clone(),
    })
}

/// `POST /.search`: users and groups together, users first.
pub async fn search_root(auth: ScimAuth, Body(body): Body) -> Result<Reply, Fail> {
    let query = ListQuery::from_body(&body)?;
    // Each kind's first `startIndex - 1 + count` matches are enough to cut the page from;
    // the scan of each stays within its budget.
    let mut everything = query.clone();
    everything.start_index = 1;
    everything.count = (query.start_index - 1).saturating_add(query.count);
    let (mut all, mut total) = (Vec::new(), 0usize);
    for kind in [Kind::User, Kind::Group] {
        let (found, matched) = resources::search_all(&auth, kind, &everything).await?;
        all.extend(found);
        total += matched;
    }
    let page: Vec<Value> = all
        .into_iter()
        .skip(query.start_index - 1)
        .take(query.count)
        .collect();
    Ok(Reply::ok(json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    })))
}
